"""Scores, each named with its exact definition: seqeval strict IOB2 vs default, micro vs macro vs weighted F1.

Example::

    from biomed.eval.metrics import ner_scores, METRIC_LABELS

    scores = ner_scores([["B-DISO", "I-DISO", "O"]], [["I-DISO", "I-DISO", "O"]], ["DISO"])
    print(scores["f1_micro_strict"], scores["f1_micro_default"])   # 0.0 1.0
    print(METRIC_LABELS["f1_micro_strict"])

Every score is computed from per-example true-positive / false-positive / false-negative counts per label, so that
the paired bootstrap resamples examples and sums counts instead of re-running seqeval thousands of times. The
values equal seqeval's (strict mode = ``mode="strict", scheme=IOB2``; default = conlleval-like chunking) and
scikit-learn's, which the tests check. Tasks whose entities nest (tabib's QUAERO) are scored on (start, end, type)
span sets instead (``span_scores``: tabib's exact span match).
"""

from __future__ import annotations

import numpy as np

from biomed.benchmarks.bio import entities


METRIC_LABELS: dict[str, str] = {
    "f1_micro_strict": "entity F1, micro, seqeval strict IOB2",
    "f1_macro_strict": "entity F1, macro over types, seqeval strict IOB2",
    "f1_weighted_strict": "entity F1, weighted by support, seqeval strict IOB2",
    "f1_micro_default": "entity F1, micro, seqeval default (conlleval chunking)",
    "f1_macro_default": "entity F1, macro over types, seqeval default (conlleval chunking)",
    "f1_weighted_default": "entity F1, weighted by support, seqeval default (conlleval chunking)",
    "f1_micro_span": "entity F1, micro, exact (start, end, type) span match, nested entities included",
    "f1_macro_span": "entity F1, macro over types, exact (start, end, type) span match, nested entities included",
    "f1_weighted_span": "entity F1, weighted by support, exact span match, nested entities included",
    "f1_micro": "F1, micro over labels",
    "f1_macro": "F1, macro over labels",
    "f1_weighted": "F1, weighted by label support",
    "accuracy": "accuracy (exact match for multi-label)",
}
"""Metric key -> definition, printed beside every number in reports and cards."""

SHORT_LABELS: dict[str, str] = {
    "f1_micro_strict": "strict micro F1",
    "f1_macro_strict": "strict macro F1",
    "f1_weighted_strict": "strict weighted F1",
    "f1_micro_default": "default micro F1",
    "f1_macro_default": "default macro F1",
    "f1_weighted_default": "default weighted F1",
    "f1_micro_span": "span micro F1",
    "f1_macro_span": "span macro F1",
    "f1_weighted_span": "span weighted F1",
    "f1_micro": "micro F1",
    "f1_macro": "macro F1",
    "f1_weighted": "weighted F1",
    "accuracy": "accuracy",
}


def ner_counts(gold: list[list[str]], pred: list[list[str]], labels: list[str], mode: str) -> np.ndarray:
    """Per-example counts, shape (n_examples, n_labels, 3) with columns tp, fp, fn."""
    index = {label: i for i, label in enumerate(labels)}
    counts = np.zeros((len(gold), len(labels), 3), dtype=np.int64)
    for n, (g_tags, p_tags) in enumerate(zip(gold, pred, strict=True)):
        g, p = entities(g_tags, mode), entities(p_tags, mode)
        for etype, *_ in g & p:
            counts[n, index[etype], 0] += 1
        for etype, *_ in p - g:
            if etype in index:  # models only predict known types; gold-free types are outside the label set
                counts[n, index[etype], 1] += 1
        for etype, *_ in g - p:
            counts[n, index[etype], 2] += 1
    return counts


def span_counts(gold: list[list], pred: list[list], labels: list[str]) -> np.ndarray:
    """Per-example exact span-match counts, shape (n_examples, n_labels, 3) with columns tp, fp, fn.

    Each example's gold and predicted entities are sets of (start, end, type), nested and overlapping ones included:
    a prediction is a hit when the same (start, end, type) is in gold, as tabib's span evaluator counts
    (evaluation/span_evaluator.py l.61, l.84-102).
    """
    index = {label: i for i, label in enumerate(labels)}
    counts = np.zeros((len(gold), len(labels), 3), dtype=np.int64)
    for n, (g_spans, p_spans) in enumerate(zip(gold, pred, strict=True)):
        g = {(int(s), int(e), str(t)) for s, e, t in g_spans}
        p = {(int(s), int(e), str(t)) for s, e, t in p_spans}
        for *_, etype in g & p:
            counts[n, index[etype], 0] += 1
        for *_, etype in p - g:
            if etype in index:
                counts[n, index[etype], 1] += 1
        for *_, etype in g - p:
            counts[n, index[etype], 2] += 1
    return counts


def span_scores(gold: list[list], pred: list[list], labels: list[str]) -> dict[str, float]:
    """Exact span-match F1 (micro/macro over the types present/weighted) over (start, end, type) sets per example.

    ``f1_micro_span`` is tabib's ``exact_f1`` (evaluation/span_evaluator.py l.39), the number its span NER results
    report; tabib computes no macro average (it lists ``<type>_exact_f1``): the macro here averages the types present,
    as seqeval's does.
    """
    counts = span_counts(gold, pred, labels).sum(axis=0)
    return {f"{key}_span": value for key, value in f1_from_counts(counts, "present").items()}


def classification_counts(gold: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Per-example counts from multi-hot gold/pred matrices (n, n_labels): shape (n, n_labels, 3) = tp, fp, fn."""
    gold, pred = gold.astype(bool), pred.astype(bool)
    return np.stack([gold & pred, ~gold & pred, gold & ~pred], axis=-1).astype(np.int64)


def f1_from_counts(counts: np.ndarray, macro_over: str = "vocabulary") -> dict[str, float]:
    """Micro, macro and support-weighted F1 from counts summed over examples, shape (n_labels, 3).

    Args:
        counts: tp, fp, fn per label.
        macro_over: which labels the macro average runs over. ``vocabulary``: every label of the task, a label with
            no gold and no prediction adding an F1 of 0, as scikit-learn's ``f1_score(average="macro",
            zero_division=0)`` does on multi-hot matrices (tabib tasks/multilabel.py, BCM src/metrics/metrics.py).
            ``present``: only the labels found in gold or predictions, as seqeval does for entity types and
            scikit-learn for class ids (both average over the labels read from ``y_true`` and ``y_pred``).
    """
    if macro_over not in ("vocabulary", "present"):
        raise ValueError(f"macro_over must be 'vocabulary' or 'present', not {macro_over!r}")
    tp, fp, fn = counts[:, 0].astype(float), counts[:, 1].astype(float), counts[:, 2].astype(float)
    denom = 2 * tp + fp + fn
    per_label = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    support = tp + fn
    micro_denom = 2 * tp.sum() + fp.sum() + fn.sum()
    averaged = denom > 0 if macro_over == "present" else np.ones_like(tp, dtype=bool)
    return {
        "f1_micro": float(2 * tp.sum() / micro_denom) if micro_denom else 0.0,
        "f1_macro": float(per_label[averaged].mean()) if averaged.any() else 0.0,
        "f1_weighted": float((per_label * support).sum() / support.sum()) if support.sum() else 0.0,
    }


def ner_scores(gold: list[list[str]], pred: list[list[str]], labels: list[str]) -> dict[str, float]:
    """Entity-level F1 (micro/macro/weighted) in seqeval strict IOB2 and default modes."""
    scores = {}
    for mode in ("strict", "default"):
        for key, value in f1_from_counts(ner_counts(gold, pred, labels, mode).sum(axis=0), "present").items():
            scores[f"{key}_{mode}"] = value
    return scores


def macro_scope(kind: str) -> str:
    """The labels macro F1 averages over for a task kind, as its reference implementation computes it.

    Multi-label: scikit-learn on multi-hot matrices counts every column of the vocabulary; single-label: on class
    ids it counts the classes present in gold or predictions; NER: seqeval counts the types present.
    """
    return "vocabulary" if kind == "multi_label" else "present"


def classification_scores(gold: np.ndarray, pred: np.ndarray, kind: str = "multi_label") -> dict[str, float]:
    """Label F1 (micro/macro/weighted) and accuracy from multi-hot matrices (one-hot for single-label).

    The matrices' columns are the task's label vocabulary; ``kind`` sets what macro F1 averages over
    (``macro_scope``).
    """
    scores = f1_from_counts(classification_counts(gold, pred).sum(axis=0), macro_scope(kind))
    scores["accuracy"] = float((gold.astype(bool) == pred.astype(bool)).all(axis=1).mean()) if len(gold) else 0.0
    return scores


def metric_counts(kind: str, metric: str, gold, pred, labels: list[str]) -> np.ndarray:
    """Per-example counts behind ``metric`` (for the bootstrap): exact spans for ``_span`` metrics (gold and
    predictions are (start, end, type) lists), NER in the metric's mode, else label counts."""
    if metric.endswith("_span"):
        return span_counts(gold, pred, labels)
    if kind == "ner":
        return ner_counts(gold, pred, labels, "strict" if metric.endswith("_strict") else "default")
    return classification_counts(multi_hot(gold, labels), multi_hot(pred, labels))


def metric_from_counts(metric: str, counts: np.ndarray, kind: str = "multi_label") -> float:
    """The value of ``metric`` (an F1 key) from counts summed over examples, for a task of ``kind``.

    Entity metrics (``_strict``/``_default``/``_span``) are NER's whatever ``kind`` says.
    """
    base = metric.removesuffix("_strict").removesuffix("_default").removesuffix("_span")
    return f1_from_counts(counts, macro_scope("ner" if base != metric else kind))[base]


def multi_hot(label_lists: list[list[str]], labels: list[str]) -> np.ndarray:
    """Lists of label names -> a (n, n_labels) 0/1 matrix in ``labels`` order (unknown names are ignored)."""
    index = {label: i for i, label in enumerate(labels)}
    matrix = np.zeros((len(label_lists), len(labels)), dtype=np.int64)
    for n, names in enumerate(label_lists):
        for name in names:
            if name in index:
                matrix[n, index[name]] = 1
    return matrix
