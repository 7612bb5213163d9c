"""Scores equal seqeval's and scikit-learn's; strict IOB2 and default chunking differ where they should."""

import numpy as np
from seqeval.metrics import f1_score
from seqeval.scheme import IOB2
from sklearn.metrics import f1_score as sk_f1

from biomed.eval.metrics import classification_scores, entities, metric_counts, metric_from_counts, ner_scores


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
