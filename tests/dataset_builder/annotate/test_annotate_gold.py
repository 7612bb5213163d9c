"""Gold labels of the embedded sample, agreement metrics on known numbers, and annotations from gold (the demo)."""

import json

import pyarrow.parquet as pq
import pytest
from dataset_builder.fake_llm_server import FakeLlmServer

from biomed.config import resolve_config
from biomed.dataset_builder.annotate.agreement import (
    compare_with_gold,
    label_agreement,
    read_gold_labels,
    shipped_gold_path,
)
from biomed.dataset_builder.annotate.outputs import ANNOTATION_SCHEMA
from biomed.dataset_builder.annotate.stage import AnnotateConfig, annotate_from_gold, run_annotate
from biomed.errors import BiomedError
from biomed.labels import EDU_SCORES, TYPE_LABELS


def test_type_agreement_on_known_numbers():
    gold = ["review", "review", "study", "study", "clinical_case", "clinical_case"]
    pred = ["review", "study", "study", "study", "clinical_case", "review"]
    result = label_agreement("type", gold, pred, TYPE_LABELS)
    assert result.n == 6 and result.accuracy == pytest.approx(4 / 6)
    # F1: review 2·1/(2+2) = 0.5, study 2·2/(2+3) = 0.8, clinical_case 2·1/(2+1) = 2/3; "other" absent on both sides
    assert result.f1_by_label == pytest.approx({"review": 0.5, "study": 0.8, "clinical_case": 2 / 3})
    assert result.macro_f1 == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    # p_o = 4/6, p_e = (2·2 + 2·3 + 2·1)/36 = 1/3 -> kappa = (2/3 - 1/3) / (1 - 1/3) = 0.5
    assert result.kappa == pytest.approx(0.5)
    assert result.confusion[0] == [1, 1, 0, 0] and result.confusion[2] == [1, 0, 1, 0]


def test_score_agreement_and_weighted_kappa():
    gold = [1, 2, 3, 4, 5, 5]
    perfect = label_agreement("educational_score", gold, gold, EDU_SCORES)
    assert (perfect.accuracy, perfect.kappa, perfect.weighted_kappa) == (1.0, 1.0, 1.0)
    near = label_agreement("educational_score", gold, [2, 2, 3, 4, 4, 5], EDU_SCORES)
    far = label_agreement("educational_score", gold, [5, 2, 3, 4, 1, 5], EDU_SCORES)
    assert near.accuracy == far.accuracy == pytest.approx(4 / 6)
    assert near.weighted_kappa > 0.8 > far.weighted_kappa  # off by one costs less than off by four
    single = label_agreement("type", ["study"] * 3, ["study"] * 3, TYPE_LABELS)
    assert single.kappa is None and single.accuracy == 1.0  # undefined, not a made-up 1.0 or 0.0


def test_compare_with_gold_counts_failed_and_missing_apart():
    gold = {("A", "p0"): {"type": "study", "domain": "clinical", "educational_score": 3},
            ("A", "p1"): {"type": "review", "domain": "biomedical", "educational_score": 4},
            ("A", "p2"): {"type": "other", "domain": "other", "educational_score": 1}}  # fmt: skip
    rows = [
        {
            "article_id": "A",
            "path": "p0",
            "status": "ok",
            "type": "study",
            "domain": "clinical",
            "educational_score": 3,
        },
        {"article_id": "A", "path": "p1", "status": "failed", "type": None, "domain": None, "educational_score": None},
        {
            "article_id": "B",
            "path": "p9",
            "status": "ok",
            "type": "study",
            "domain": "clinical",
            "educational_score": 2,
        },
    ]
    report = compare_with_gold(rows, gold)
    assert (report.n_gold, report.n_scored, report.n_failed, report.n_missing) == (3, 1, 1, 1)
    assert report.fields["type"].accuracy == 1.0
    assert "1 of 3 gold paragraphs scored (1 failed, 1 not annotated)" in report.render()


def test_gold_file_errors_name_the_line(tmp_path):
    path = tmp_path / "gold.jsonl"
    path.write_text(
        '{"article_id": "A", "path": "p", "type": "study", "domain": "clinical", "educational_score": 3}\n'
        '{"article_id": "A", "path": "q", "type": "study", "domain": "clinical", "educational_score": 6}\n'
    )
    with pytest.raises(BiomedError, match=r"gold.jsonl, line 2: invalid_score"):
        read_gold_labels(path)


def test_shipped_gold_labels_cover_every_sample_paragraph(sample_extract):
    """Every paragraph the extractor yields from the embedded sample has exactly one valid gold label."""
    gold = read_gold_labels(shipped_gold_path())  # raises on any invalid label or duplicate
    table = pq.read_table(sorted((sample_extract / "data").glob("*.parquet")), columns=["article_id", "path"])
    extracted = set(zip(table.column("article_id").to_pylist(), table.column("path").to_pylist(), strict=True))
    assert extracted, "the sample extraction is empty"
    assert sorted(extracted - set(gold)) == [], "extracted sample paragraphs without a gold label"
    assert sorted(set(gold) - extracted) == [], "gold labels for paragraphs the extractor no longer yields"
    # the sample is meant to exercise every label
    assert {g["type"] for g in gold.values()} == set(TYPE_LABELS)
    assert {g["educational_score"] for g in gold.values()} == set(EDU_SCORES)


def test_annotate_from_gold_writes_annotations_for_the_demo(sample_extract, tmp_path):
    summary = annotate_from_gold(sample_extract, tmp_path / "ann")
    table = pq.read_table(tmp_path / "ann" / "annotations.parquet")
    assert table.schema.remove_metadata() == ANNOTATION_SCHEMA
    assert table.schema.metadata[b"biomed.source"] == b"gold"
    assert set(table.column("status").to_pylist()) == {"ok"} and set(table.column("model").to_pylist()) == {"gold"}
    assert summary.source == "gold" and summary.n_paragraphs == table.num_rows
    assert "gold labels (hand-made, no LLM)" in summary.render()
    assert json.loads((tmp_path / "ann" / "summary.json").read_text())["source"] == "gold"


def test_run_with_gold_reports_agreement(sample_extract, tmp_path, monkeypatch):
    """A fake LLM answering the gold labels except for 3 known scores: the report must show exactly those."""
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_DISABLE_TELEMETRY", True)
    monkeypatch.setenv("HF_TOKEN", "hf_x")
    gold = read_gold_labels(shipped_gold_path())
    rows = pq.read_table(sorted((sample_extract / "data").glob("*.parquet"))).to_pylist()
    by_prefix = {row["text"][:80]: (row["article_id"], row["path"]) for row in rows}
    assert len(by_prefix) == len(rows)  # the server tells paragraphs apart by their first 80 characters
    wrong = set(sorted(gold)[:3])

    def answer(prefix):
        labels = dict(gold[by_prefix[prefix]])
        if by_prefix[prefix] in wrong:
            labels["educational_score"] = 1 + labels["educational_score"] % 5
        return {name: labels[name] for name in ("type", "domain", "educational_score")}

    with FakeLlmServer(answer_fn=answer, key_pattern=r'"""\n(.{80})') as server:
        options = {"input_dir": str(sample_extract), "output_dir": str(tmp_path / "ann"), "gold": "sample",
                   "client.endpoint": server.url, "client.max_concurrency": 8}  # fmt: skip
        summary = run_annotate(resolve_config(AnnotateConfig, options=options), progress=False)
    n = len(gold)
    agreement = summary.agreement
    assert agreement["n_scored"] == n and agreement["fields"]["type"]["accuracy"] == 1.0
    assert agreement["fields"]["domain"]["kappa"] == pytest.approx(1.0)
    assert agreement["fields"]["educational_score"]["accuracy"] == pytest.approx((n - 3) / n)
    confusion = agreement["fields"]["educational_score"]["confusion"]
    assert sum(confusion[i][j] for i in range(5) for j in range(5) if i != j) == 3
    assert "agreement with gold" in summary.render()
    assert json.loads((tmp_path / "ann" / "summary.json").read_text())["agreement"]["n_gold"] == n
