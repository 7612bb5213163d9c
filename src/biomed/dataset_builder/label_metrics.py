"""Agreement of two labelings of the same paragraphs: one definition per metric, shared by every stage that prints one.

Example::

    from biomed.dataset_builder.label_metrics import confusion_matrix, macro_f1, macro_f1_name

    labels = ("review", "study", "clinical_case", "other")
    confusion = confusion_matrix(["study", "study"], ["study", "review"], labels)
    macro_f1(confusion)                    # 0.333: the mean over the 2 labels present in gold or predictions
    macro_f1_name(confusion, "type")       # "macro F1 over the 2 of 4 type labels present in gold or predictions"

The LLM-versus-gold agreement (``annotate/agreement.py``) and the classifier's test metrics
(``classify/metrics.py``) both call these, so a "macro F1" means the same thing in the annotate summary, the
classifier's ``metrics.json``, its model card and the dataset card.

Macro F1 runs over the labels present in gold or predictions (scikit-learn's ``f1_score(average="macro")``
without ``labels=``): a label absent from both sides has no evidence either way and is left out rather than
counted as 0. On gold ``[study, study, clinical_case, clinical_case]`` and predictions
``[study, study, clinical_case, study]`` that is 0.733 (2 labels), where counting the 2 absent type labels as
0 would give 0.367.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def confusion_matrix(gold: Sequence, predicted: Sequence, labels: Sequence) -> np.ndarray:
    """Counts with gold labels as rows and predictions as columns, in the order of ``labels``.

    Raises:
        ValueError: a value is not in ``labels``, or the two sequences differ in length.
    """
    index = {label: i for i, label in enumerate(labels)}
    confusion = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for g, p in zip(gold, predicted, strict=True):
        confusion[index[g], index[p]] += 1
    return confusion


def accuracy(confusion: np.ndarray) -> float:
    """Share of the diagonal; 0.0 for an empty matrix."""
    n = int(confusion.sum())
    return float(np.trace(confusion)) / n if n else 0.0


def f1_by_label(confusion: np.ndarray, labels: Sequence) -> dict[str, float | None]:
    """F1 of each label (2·hits / (gold count + predicted count)); ``None`` for a label absent from both sides."""
    out: dict[str, float | None] = {}
    for i, label in enumerate(labels):
        support, predicted, hits = confusion[i].sum(), confusion[:, i].sum(), confusion[i, i]
        out[str(label)] = None if support + predicted == 0 else float(2 * hits / (support + predicted))
    return out


def labels_present(confusion: np.ndarray) -> np.ndarray:
    """Boolean mask of the labels that occur in gold or predictions (the labels macro F1 averages over)."""
    return (confusion.sum(axis=0) + confusion.sum(axis=1)) > 0


def macro_f1(confusion: np.ndarray) -> float:
    """Unweighted mean of per-label F1 over the labels present in gold or predictions; 0.0 when there are none."""
    present = labels_present(confusion)
    if not present.any():
        return 0.0
    support, predicted, hits = confusion.sum(axis=1), confusion.sum(axis=0), np.diag(confusion)
    return float(np.mean(2 * hits[present] / (support[present] + predicted[present])))


def macro_f1_name(confusion: np.ndarray, head: str) -> str:
    """What :func:`macro_f1` averaged over, in words: ``macro F1 over the 3 of 4 type labels present …``."""
    present, total = int(labels_present(confusion).sum()), len(confusion)
    return f"macro F1 over the {present} of {total} {head} labels present in gold or predictions"


def cohen_kappa(confusion: np.ndarray, weights: str | None = None) -> float | None:
    """Cohen's kappa, 1 − observed / expected disagreement; ``None`` when undefined (no expected disagreement).

    Args:
        confusion: square counts, labels in their natural order (the order matters for ``weights="quadratic"``).
        weights: ``None`` (plain kappa, 0/1 disagreement) or ``"quadratic"`` (squared distance between positions,
            for ordinal labels such as the educational score).
    """
    size = len(confusion)
    if weights is None:
        cost = 1 - np.eye(size)
    elif weights == "quadratic":
        positions = np.arange(size)
        cost = (positions[:, None] - positions[None, :]) ** 2
    else:
        raise ValueError(f"weights must be None or 'quadratic', not {weights!r}")
    n = confusion.sum()
    if n == 0:
        return None
    expected = np.outer(confusion.sum(axis=1), confusion.sum(axis=0)) / n
    expected_disagreement = float((cost * expected).sum())
    if expected_disagreement == 0:
        return None
    return 1 - float((cost * confusion).sum()) / expected_disagreement


def pearson_r(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Pearson's correlation; ``None`` when undefined (fewer than 2 values, or either side constant)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    dx, dy = x - x.mean(), y - y.mean()
    return float(np.clip((dx @ dy) / np.sqrt((dx @ dx) * (dy @ dy)), -1.0, 1.0))


def spearman_rho(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rank correlation: Pearson's r of the ranks, ties sharing their mean rank; ``None`` if undefined."""
    return pearson_r(_ranks(x), _ranks(y))


def _ranks(values: Sequence[float]) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.arange(1, len(values) + 1)
    # ties: every member of a run of equal values gets the mean of the run's ranks
    uniques, inverse = np.unique(values, return_inverse=True)
    sums = np.bincount(inverse, weights=ranks, minlength=len(uniques))
    counts = np.bincount(inverse, minlength=len(uniques))
    return (sums / counts)[inverse]
