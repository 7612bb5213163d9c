"""Scores equal seqeval's and scikit-learn's; strict IOB2 and default chunking differ where they should."""

import numpy as np
from seqeval.metrics import f1_score
from seqeval.scheme import IOB2
from sklearn.metrics import f1_score as sk_f1

from biomed.eval.metrics import (
    classification_scores,
    entities,
    metric_counts,
    metric_from_counts,
    ner_scores,
    span_scores,
)


# I- without B- (an entity for conlleval, nothing for strict IOB2), a type switch inside a span, a clean entity
GOLD = [["B-DISO", "I-DISO", "O", "B-CHEM"], ["B-ANAT", "I-ANAT", "O"], ["O", "B-DISO", "O", "B-CHEM", "I-CHEM"]]
PRED = [["I-DISO", "I-DISO", "O", "B-CHEM"], ["B-ANAT", "I-DISO", "O"], ["O", "B-DISO", "O", "B-CHEM", "I-CHEM"]]


def test_strict_and_default_read_entities_differently():
    assert entities(["I-DISO", "I-DISO", "O"], "default") == {("DISO", 0, 1)}
    assert entities(["I-DISO", "I-DISO", "O"], "strict") == set()
    assert entities(["B-ANAT", "I-DISO"], "strict") == {("ANAT", 0, 0)}
    assert entities(["B-ANAT", "I-DISO"], "default") == {("ANAT", 0, 0), ("DISO", 1, 1)}


def test_ner_scores_match_seqeval_in_both_modes():
    scores = ner_scores(GOLD, PRED, ["ANAT", "CHEM", "DISO"])
    for average in ("micro", "macro", "weighted"):
        strict = f1_score(GOLD, PRED, average=average, mode="strict", scheme=IOB2)
        default = f1_score(GOLD, PRED, average=average)
        assert np.isclose(scores[f"f1_{average}_strict"], strict), average
        assert np.isclose(scores[f"f1_{average}_default"], default), average
    assert scores["f1_micro_strict"] != scores["f1_micro_default"]  # the fixture is built so that they differ


def test_classification_scores_match_sklearn():
    gold = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0], [0, 1, 1]])
    pred = np.array([[1, 0, 0], [0, 0, 1], [0, 0, 1], [0, 1, 0], [0, 1, 1]])
    scores = classification_scores(gold, pred)
    for average in ("micro", "macro", "weighted"):
        assert np.isclose(scores[f"f1_{average}"], sk_f1(gold, pred, average=average, zero_division=0)), average
    assert scores["accuracy"] == 0.6


def test_counts_sum_back_to_the_score():
    counts = metric_counts("ner", "f1_macro_strict", GOLD, PRED, ["ANAT", "CHEM", "DISO"])
    assert counts.shape == (3, 3, 3)
    assert np.isclose(
        metric_from_counts("f1_macro_strict", counts.sum(0)),
        f1_score(GOLD, PRED, average="macro", mode="strict", scheme=IOB2),
    )
    single = metric_counts("single_label", "f1_macro", [["a"], ["b"]], [["a"], ["a"]], ["a", "b"])
    assert single.sum(0).tolist() == [[1, 1, 0], [0, 0, 1]]


def test_multi_label_macro_f1_counts_every_label_of_the_vocabulary():
    # issue 22's example: the third label has no gold and no prediction; scikit-learn counts it as 0
    gold = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0]])
    pred = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 0]])
    assert round(classification_scores(gold, pred)["f1_macro"], 3) == 0.556
    assert np.isclose(
        classification_scores(gold, pred)["f1_macro"], sk_f1(gold, pred, average="macro", zero_division=0)
    )


def test_classification_scores_equal_sklearn_on_random_matrices_with_absent_labels():
    rng = np.random.default_rng(0)
    for trial in range(40):
        n, labels = int(rng.integers(1, 30)), int(rng.integers(2, 12))
        gold = (rng.random((n, labels)) < 0.2).astype(int)
        pred = (rng.random((n, labels)) < 0.2).astype(int)
        absent = rng.choice(labels, size=int(rng.integers(1, labels)), replace=False)
        gold[:, absent] = 0  # labels nobody annotated; some of them are not predicted either
        pred[:, absent[: len(absent) // 2 + 1]] = 0
        scores = classification_scores(gold, pred)
        for average in ("micro", "macro", "weighted"):
            expected = sk_f1(gold, pred, average=average, zero_division=0)
            assert np.isclose(scores[f"f1_{average}"], expected), (trial, average)
        counts = metric_counts(
            "multi_label",
            "f1_macro",
            [[str(i) for i in np.flatnonzero(r)] for r in gold],
            [[str(i) for i in np.flatnonzero(r)] for r in pred],
            [str(i) for i in range(labels)],
        )
        assert np.isclose(metric_from_counts("f1_macro", counts.sum(0), "multi_label"), scores["f1_macro"])


def test_single_label_macro_f1_is_sklearns_on_class_ids():
    # scikit-learn on class ids averages over the classes found in gold or predictions, not the vocabulary
    labels = ["a", "b", "c", "d"]
    gold, pred = [0, 1, 1, 0, 2], [0, 1, 0, 0, 2]
    one_hot = np.eye(len(labels), dtype=int)
    scores = classification_scores(one_hot[gold], one_hot[pred], "single_label")
    for average in ("micro", "macro", "weighted"):
        assert np.isclose(scores[f"f1_{average}"], sk_f1(gold, pred, average=average, zero_division=0)), average
    counts = metric_counts(
        "single_label", "f1_macro", [[labels[i]] for i in gold], [[labels[i]] for i in pred], labels
    )
    assert np.isclose(metric_from_counts("f1_macro", counts.sum(0), "single_label"), scores["f1_macro"])


# nested gold: "foie" (ANAT) inside a DISO, an ANAT at the start of a DISO; a wrong-width CHEM, a spurious ANAT/CHEM
SPAN_GOLD = [[[0, 2, "DISO"], [2, 2, "ANAT"], [4, 5, "CHEM"]], [[0, 0, "ANAT"], [0, 3, "DISO"]], []]
SPAN_PRED = [[[0, 2, "DISO"], [2, 2, "ANAT"], [4, 4, "CHEM"]], [[0, 3, "DISO"], [1, 1, "ANAT"]], [[2, 2, "CHEM"]]]


def tabib_exact(predictions: list[dict], references: list[dict]) -> dict[str, float]:
    """tabib's SpanEvaluator, exact branch, transcribed (evaluation/span_evaluator.py l.53-70, l.84-102, l.133-135)."""
    pred_spans = [set((s["start"], s["end"], s["label"]) for s in doc.get("entities", [])) for doc in predictions]
    gold_spans = [set((s["start"], s["end"], s["label"]) for s in doc.get("entities", [])) for doc in references]
    total_tp = total_fp = total_fn = 0
    for pred_set, gold_set in zip(pred_spans, gold_spans):
        total_tp += len(pred_set & gold_set)
        total_fp += len(pred_set - gold_set)
        total_fn += len(gold_set - pred_set)
    precision = total_tp / (total_tp + total_fp) if (total_tp + total_fp) > 0 else 0.0
    recall = total_tp / (total_tp + total_fn) if (total_tp + total_fn) > 0 else 0.0
    return {"exact_f1": 2 * precision * recall / (precision + recall) if (precision + recall) > 0 else 0.0}


def _docs(spans: list[list]) -> list[dict]:
    return [{"entities": [{"start": s, "end": e + 1, "label": t} for s, e, t in doc]} for doc in spans]


def test_span_f1_counts_nested_entities_as_tabibs_evaluator():
    scores = span_scores(SPAN_GOLD, SPAN_PRED, ["ANAT", "CHEM", "DISO"])
    # 3 hits (the nested ANAT among them), 3 spurious, 2 missed: 2*3 / (2*3 + 3 + 2)
    assert np.isclose(scores["f1_micro_span"], 6 / 11)
    assert np.isclose(scores["f1_micro_span"], tabib_exact(_docs(SPAN_PRED), _docs(SPAN_GOLD))["exact_f1"])
    # per type: ANAT 2*1/(2+1+1), CHEM 0, DISO 2*2/(4+0+0)
    assert np.isclose(scores["f1_macro_span"], (2 / 4 + 0 + 1) / 3)
    # a one-tag-per-word reading of the same gold loses the nested ANAT: the span score is not seqeval's
    flat_gold = [["B-DISO", "I-DISO", "I-DISO", "O", "B-CHEM", "I-CHEM"], ["B-DISO", "I-DISO", "I-DISO", "I-DISO"], []]
    flat_pred = [["B-DISO", "I-DISO", "I-DISO", "O", "B-CHEM", "O"], ["B-DISO", "I-DISO", "I-DISO", "I-DISO"], []]
    assert not np.isclose(ner_scores(flat_gold, flat_pred, ["ANAT", "CHEM", "DISO"])["f1_micro_strict"], 6 / 11)
    counts = metric_counts("ner", "f1_micro_span", SPAN_GOLD, SPAN_PRED, ["ANAT", "CHEM", "DISO"])
    assert counts.shape == (3, 3, 3)  # per example, for the paired bootstrap
    assert np.isclose(metric_from_counts("f1_micro_span", counts.sum(0), "ner"), 6 / 11)


def test_span_f1_equals_tabibs_on_random_nested_spans():
    rng = np.random.default_rng(0)
    types = ["ANAT", "CHEM", "DISO"]

    def draw():
        return [
            [[int(s), int(s + w), str(rng.choice(types))] for s, w in rng.integers(0, 4, size=(rng.integers(0, 6), 2))]
            for _ in range(30)
        ]

    gold, pred = draw(), draw()
    assert np.isclose(
        span_scores(gold, pred, types)["f1_micro_span"], tabib_exact(_docs(pred), _docs(gold))["exact_f1"]
    )
