"""Test-set metrics of the paragraph classifier, per head, next to the paper's figures.

Example::

    from biomed.dataset_builder.classify.metrics import compute_metrics

    metrics = compute_metrics(gold, predicted)  # two ``HeadPredictions``-like mappings of numpy arrays
    metrics["type"]["f1_macro"], metrics["educational"]["pearson_r"]
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from biomed.dataset_builder.label_metrics import (
    accuracy,
    cohen_kappa,
    confusion_matrix,
    f1_by_label,
    macro_f1,
    macro_f1_name,
    pearson_r,
    spearman_rho,
)
from biomed.labels import EDU_THRESHOLD


PAPER_REFERENCE: dict[str, Any] = {
    "source": "Biomed-Enriched paper: XLM-RoBERTa-base student on 39,800 held-out paragraphs",
    "n_test": 39800,
    "type": {"f1": 0.925, "cohen_kappa": 0.821},
    "domain": {"f1": 0.954},
    "educational": {"pearson_r": 0.876, "mae": 0.326},
}
"""The figures reported for the paper's classifier, saved beside ours so that a real run can be compared."""


def classification_metrics(
    gold: Sequence[int], pred: Sequence[int], labels: Sequence[str], head: str = ""
) -> dict[str, Any]:
    """Accuracy, macro F1, per-class F1 and the confusion matrix (rows = gold, columns = predicted).

    ``f1_macro`` is :func:`~biomed.dataset_builder.label_metrics.macro_f1` (over the labels present in gold or
    predictions), ``f1_macro_name`` says so with the counts; a label absent from both sides has F1 ``None``.
    """
    ids = list(range(len(labels)))
    confusion = confusion_matrix(gold, pred, ids)
    return {
        "n": len(gold),
        "accuracy": accuracy(confusion),
        "f1_macro": macro_f1(confusion),
        "f1_macro_name": macro_f1_name(confusion, head or "head"),
        "f1_per_class": dict(zip(labels, f1_by_label(confusion, ids).values())),
        "labels": list(labels),
        "confusion_matrix": confusion.tolist(),
    }


def educational_metrics(gold: Sequence[float], score: Sequence[float], low: int = 1, high: int = 5) -> dict[str, Any]:
    """Regression metrics of the raw score, class metrics of the rounded score, F1 of the ``>= 3`` decision.

    The binary decision is taken on the rounded score (``educational_score_int >= 3``), as the class metrics are;
    the variants select on the float score instead (``educational_score >= 3.0``, recipes/build/biomed-enriched.yaml),
    so a paragraph scored 2.6 counts as kept here and is dropped by BE-Educational.
    """
    gold = np.asarray(gold, dtype=np.float64)
    score = np.asarray(score, dtype=np.float64)
    rounded = rounded_scores(score, low, high)
    classes = list(range(low, high + 1))
    out = classification_metrics(
        gold.astype(int) - low, rounded.astype(int) - low, [str(c) for c in classes], "educational score"
    )
    decision = confusion_matrix(gold >= EDU_THRESHOLD, rounded >= EDU_THRESHOLD, [False, True])
    out.update(
        {
            # correlations are undefined (None) when either side is constant (tiny or degenerate test sets)
            "pearson_r": pearson_r(gold, score),
            "spearman_rho": spearman_rho(gold, score),
            "mae": float(np.mean(np.abs(gold - score))),
            "mae_rounded": float(np.mean(np.abs(gold - rounded))),
            # F1 of the positive class (score >= 3) alone; 0 when neither side has a positive
            f"f1_ge{EDU_THRESHOLD}": f1_by_label(decision, [False, True])["True"] or 0.0,
        }
    )
    return out


def rounded_scores(score: np.ndarray, low: int = 1, high: int = 5) -> np.ndarray:
    """Round a raw educational score to the nearest integer and clip it to ``[low, high]`` (as ``int8``)."""
    return np.clip(np.rint(np.asarray(score, dtype=np.float64)), low, high).astype(np.int8)


def compute_metrics(
    gold: dict[str, np.ndarray],
    pred: dict[str, np.ndarray],
    type_labels: Sequence[str],
    domain_labels: Sequence[str],
) -> dict[str, Any]:
    """All three heads' metrics.

    Args:
        gold: ``type`` and ``domain`` as label ids, ``educational`` as 1-5 scores.
        pred: ``type`` and ``domain`` as predicted ids, ``educational`` as raw predicted scores.
        type_labels: label names of the type head, in id order.
        domain_labels: label names of the domain head, in id order.
    """
    type_metrics = classification_metrics(gold["type"], pred["type"], type_labels, "type")
    type_metrics["cohen_kappa"] = cohen_kappa(np.asarray(type_metrics["confusion_matrix"]))
    return {
        "type": type_metrics,
        "domain": classification_metrics(gold["domain"], pred["domain"], domain_labels, "domain"),
        "educational": educational_metrics(gold["educational"], pred["educational"]),
    }


def save_confusion_matrix(matrix: Sequence[Sequence[int]], labels: Sequence[str], title: str, path: Path) -> Path:
    """Draw a confusion matrix (rows = gold, columns = predicted) as a PNG, with counts in the cells."""
    # a bare Figure renders with Agg and leaves pyplot's global state (and the user's backend) alone
    from matplotlib.figure import Figure

    matrix = np.asarray(matrix)
    size = 1.2 + 0.9 * len(labels)
    fig = Figure(figsize=(size + 1.5, size))
    ax = fig.subplots()
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax)
    ax.set_xticks(range(len(labels)), labels=labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels=labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title(title)
    threshold = matrix.max() / 2 if matrix.size else 0
    for (row, col), count in np.ndenumerate(matrix):
        ax.text(col, row, str(count), ha="center", va="center", color="white" if count > threshold else "black")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path
