"""One definition of each agreement metric, shared by the LLM-vs-gold agreement and the classifier's test metrics."""

import numpy as np
import pytest

from biomed.dataset_builder.annotate.agreement import label_agreement
from biomed.dataset_builder.classify.metrics import classification_metrics, educational_metrics
from biomed.dataset_builder.label_metrics import (
    cohen_kappa,
    confusion_matrix,
    f1_by_label,
    macro_f1,
    macro_f1_name,
    pearson_r,
    spearman_rho,
)
from biomed.labels import TYPE_LABELS


GOLD = ["study", "study", "clinical_case", "clinical_case"]
PRED = ["study", "study", "clinical_case", "study"]


def test_macro_f1_leaves_out_labels_absent_from_both_sides_and_says_so():
    confusion = confusion_matrix(GOLD, PRED, TYPE_LABELS)
    # study 2·2/(2+3) = 0.8, clinical_case 2·1/(2+1) = 2/3; review and other absent on both sides
    assert f1_by_label(confusion, TYPE_LABELS) == pytest.approx(
        {"review": None, "study": 0.8, "clinical_case": 2 / 3, "other": None}
    )
    assert macro_f1(confusion) == pytest.approx(0.7333, abs=1e-4)  # not 0.3667, the mean over all 4
    assert macro_f1_name(confusion, "type") == "macro F1 over the 2 of 4 type labels present in gold or predictions"


def test_annotate_agreement_and_classifier_metrics_give_the_same_macro_f1():
    agreement = label_agreement("type", GOLD, PRED, TYPE_LABELS)
    ids = {label: i for i, label in enumerate(TYPE_LABELS)}
    classifier = classification_metrics([ids[g] for g in GOLD], [ids[p] for p in PRED], TYPE_LABELS, "type")
    assert agreement.macro_f1 == pytest.approx(classifier["f1_macro"]) == pytest.approx(0.7333, abs=1e-4)
    assert agreement.macro_f1_name == classifier["f1_macro_name"]
    assert agreement.macro_f1_name in agreement.render()
    assert classifier["f1_per_class"]["review"] is None  # absent: no F1, not a made-up 0


def test_metrics_agree_with_scikit_learn_and_scipy_on_random_labels():
    sk_metrics = pytest.importorskip("sklearn.metrics")
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    for _ in range(20):
        gold, pred = rng.integers(0, 5, 40), rng.integers(0, 4, 40)  # label 4 never predicted, maybe absent
        confusion = confusion_matrix(gold, pred, range(5))
        # scikit-learn's macro average without labels= runs over the labels present in gold or predictions
        assert macro_f1(confusion) == pytest.approx(sk_metrics.f1_score(gold, pred, average="macro"))
        assert cohen_kappa(confusion) == pytest.approx(sk_metrics.cohen_kappa_score(gold, pred))
        assert cohen_kappa(confusion, "quadratic") == pytest.approx(
            sk_metrics.cohen_kappa_score(gold, pred, weights="quadratic")
        )
        x, y = rng.normal(size=30), rng.integers(1, 6, 30).astype(float)  # ties in y
        assert pearson_r(x, y) == pytest.approx(stats.pearsonr(x, y).statistic)
        assert spearman_rho(x, y) == pytest.approx(stats.spearmanr(x, y).statistic)


def test_undefined_figures_are_none():
    assert pearson_r([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]) is None and spearman_rho([1.0], [2.0]) is None
    assert cohen_kappa(confusion_matrix(["study"] * 3, ["study"] * 3, TYPE_LABELS)) is None
    with pytest.raises(ValueError, match="quadratic"):
        cohen_kappa(np.eye(2), "linear")


def test_educational_decision_f1_of_the_positive_class():
    metrics = educational_metrics([1, 2, 4, 5], [1.2, 3.4, 3.6, 1.0])
    # rounded 1, 3, 4, 1: positives (>= 3) gold {4, 5}, predicted {2nd, 3rd}: hits 1 -> F1 2·1/(2+2) = 0.5
    assert metrics["f1_ge3"] == pytest.approx(0.5)
    assert educational_metrics([1, 2], [1.0, 2.0])["f1_ge3"] == 0.0  # no positive on either side
