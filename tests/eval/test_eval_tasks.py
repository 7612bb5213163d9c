"""The task table carries each paper's protocol; every suite resolves; data behind agreements says where to go."""

import pytest

from biomed.benchmarks.loaders import load_task_data
from biomed.benchmarks.tasks import SUITES, TASKS
from biomed.errors import BiomedError
from biomed.eval.metrics import METRIC_LABELS


def test_suites_list_the_papers_tasks():
    assert [TASKS[t].title for t in SUITES["fr"]] == [
        "FrACCO-30",
        "FrACCO-100",
        "CANTEMIST (fr)",
        "DisTEMIST (fr)",
        "MedDialog-FR",
        "DiaMED",
        "QUAERO EMEA",
        "QUAERO MEDLINE",
    ]
    assert [TASKS[t].title for t in SUITES["cbio"]] == ["CAS1", "CAS2", "E3C", "EMEA", "MEDLINE"]
    assert len(SUITES["en"]) == 11
    assert all(name in TASKS for names in SUITES.values() for name in names)


def test_every_task_is_consistent():
    for name, task in TASKS.items():
        assert task.name == name and "/" in name
        assert task.metric in METRIC_LABELS
        assert task.metric.endswith(("_strict", "_default", "_span")) == (task.kind == "ner"), name
        source = task.source
        assert task.metric.endswith("_span") == source.nested, name
        assert source.hub_id or source.package_path or source.note, f"{name}: no way to get the data documented"


def test_french_detour_protocol():
    cls, ner = TASKS["fr/fracco-30"], TASKS["fr/quaero-emea"]
    assert (cls.protocol.learning_rate, cls.protocol.batch_size, cls.protocol.epochs) == (2e-5, 4, 15)
    assert (cls.protocol.warmup, cls.protocol.weight_decay, cls.protocol.seeds) == (0.1, 0.01, 9)
    assert cls.protocol.head == "auto" and cls.protocol.early_stopping_patience is None
    assert cls.max_length == 4096 and cls.protocol.multi_label_loss == "weighted_bce" and cls.metric == "f1_macro"
    assert cls.dev_metric == "f1_micro" and cls.protocol.multi_label_fallback  # tabib multilabel_bert_4096.yaml
    # MedDialog-FR is multi-label at 4096 with weighted BCE (ch5 l.117; tabib data/meddialog.py), not single-label
    meddialog = TASKS["fr/meddialog"]
    assert (meddialog.kind, meddialog.max_length, meddialog.protocol.multi_label_loss) == (
        "multi_label",
        4096,
        "weighted_bce",
    )
    assert meddialog.source.hub_id == "rntc/tabib-meddialog-fr" and meddialog.source.columns["labels"] == "labels_raw"
    diamed = TASKS["fr/diamed"]
    assert diamed.max_length == 2048 and diamed.kind == "single_label"
    assert diamed.metric == "f1_weighted" and "f1_macro" in diamed.also  # tabib scores single-label in weighted F1
    p = ner.protocol
    assert (p.head, p.max_steps, p.learning_rate, p.head_learning_rate, p.batch_size) == ("span", 4000, 5e-5, 1e-3, 16)
    assert (p.eval_steps, p.max_grad_norm) == (500, 10.0)
    # tabib's span evaluator: exact (start, end, type) matches, nested entities kept (filter_nested=False)
    assert ner.max_length == 1024 and ner.metric == "f1_micro_span" and ner.source.nested
    assert not any(t.source.nested for name, t in TASKS.items() if not name.startswith("fr/quaero-"))


def test_camembert_bio_and_english_protocols():
    p = TASKS["cbio/cas1"].protocol
    assert (p.head, p.learning_rate, p.warmup, p.batch_size, p.max_steps, p.seeds) == (
        "auto",
        5e-5,
        0.224,
        16,
        2000,
        10,
    )
    assert (p.weight_decay, p.eval_steps) == (0.01, 100)  # tabib configs/base/ner_token_bert.yaml
    assert TASKS["cbio/emea"].metric == "f1_micro_strict"
    clinical = {"en/chemprot", "en/phenotype", "en/cos", "en/social-history", "en/deid"}
    for name in SUITES["en"]:
        task = TASKS[name]
        p = task.protocol
        assert (p.head, p.learning_rate, p.weight_decay, p.batch_size, p.seeds, p.early_stopping_patience) == (
            "auto",
            5e-5,
            0.01,
            16,
            5,
            3,
        )
        assert p.epochs == (10 if name in clinical else 20)  # thesis ch2 l.309
        assert task.max_length == (8192 if name in ("en/phenotype", "en/deid") else 512)
        # BioClinical-ModernBERT: seqeval default-mode overall F1 for NER, weighted F1 for classification
        assert task.metric == ("f1_micro_default" if task.kind == "ner" else "f1_weighted")
        assert task.dev_metric == task.metric
        assert task.metric not in task.also and all(m in METRIC_LABELS for m in task.also)


def test_english_clinical_corpora_are_those_of_the_bioclinical_code():
    deid = TASKS["en/deid"].source
    assert deid.local_format == "physionet-deid" and "Deidentified Medical Text" in deid.access
    assert "n2c2" not in deid.access
    assert TASKS["en/deid"].labels == ("age", "date", "location", "name", "other", "phone_nb")
    assert TASKS["en/cos"].source.local_format == "cos-snippets" and "washington" in TASKS["en/cos"].source.access
    assert TASKS["en/social-history"].source.local_format == "social-history"


def test_data_behind_an_agreement_says_where_to_get_it():
    with pytest.raises(BiomedError, match="data-use agreement.*--data-dir"):
        load_task_data(TASKS["cbio/cas1"])
    with pytest.raises(BiomedError, match="PhysioNet"):
        load_task_data(TASKS["en/phenotype"])
