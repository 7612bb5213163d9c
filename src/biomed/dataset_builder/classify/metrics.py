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


PAPER_REFERENCE: dict[str, Any] = {
    "source": "Biomed-Enriched paper: XLM-RoBERTa-base student on 39,800 held-out paragraphs",
    "n_test": 39800,
    "type": {"f1": 0.925, "cohen_kappa": 0.821},
    "domain": {"f1": 0.954},
    "educational": {"pearson_r": 0.876, "mae": 0.326},
}
"""The figures reported for the paper's classifier, saved beside ours so that a real run can be compared."""

EDU_THRESHOLD = 3
"""The educational score from which a paragraph counts as educational (the threshold the variants use)."""


def classification_metrics(gold: Sequence[int], pred: Sequence[int], labels: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro F1, per-class F1 and the confusion matrix (rows = gold, columns = predicted)."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

    ids = list(range(len(labels)))
    per_class = f1_score(gold, pred, labels=ids, average=None, zero_division=0)
    return {
        "n": len(gold),
        "accuracy": float(accuracy_score(gold, pred)),
        "f1_macro": float(f1_score(gold, pred, labels=ids, average="macro", zero_division=0)),
        "f1_per_class": {label: float(f1) for label, f1 in zip(labels, per_class)},
        "labels": list(labels),
        "confusion_matrix": confusion_matrix(gold, pred, labels=ids).tolist(),
    }


def educational_metrics(gold: Sequence[float], score: Sequence[float], low: int = 1, high: int = 5) -> dict[str, Any]:
    """Regression metrics of the raw score, class metrics of the rounded score, F1 of the ``>= 3`` decision.

    The binary decision uses the rounded score (``educational_score_int >= 3``), as the variants do.
    """
    from scipy.stats import pearsonr, spearmanr
    from sklearn.metrics import f1_score

    gold = np.asarray(gold, dtype=np.float64)
    score = np.asarray(score, dtype=np.float64)
    rounded = rounded_scores(score, low, high)
    classes = list(range(low, high + 1))
    out = classification_metrics(gold.astype(int) - low, rounded.astype(int) - low, [str(c) for c in classes])
    constant = len(gold) < 2 or np.ptp(gold) == 0 or np.ptp(score) == 0
    out.update(
        {
            # correlations are undefined when either side is constant (tiny or degenerate test sets)
            "pearson_r": None if constant else float(pearsonr(gold, score).statistic),
            "spearman_rho": None if constant else float(spearmanr(gold, score).statistic),
            "mae": float(np.mean(np.abs(gold - score))),
            "mae_rounded": float(np.mean(np.abs(gold - rounded))),
            f"f1_ge{EDU_THRESHOLD}": float(f1_score(gold >= EDU_THRESHOLD, rounded >= EDU_THRESHOLD, zero_division=0)),
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
    from sklearn.metrics import cohen_kappa_score

    type_metrics = classification_metrics(gold["type"], pred["type"], type_labels)
    agree_by_chance = len(set(gold["type"]) | set(pred["type"])) < 2
    type_metrics["cohen_kappa"] = None if agree_by_chance else float(cohen_kappa_score(gold["type"], pred["type"]))
    return {
        "type": type_metrics,
        "domain": classification_metrics(gold["domain"], pred["domain"], domain_labels),
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
