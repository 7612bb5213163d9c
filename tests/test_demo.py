"""`biomed demo` end to end on the embedded sample, and each of its legs alone (biomed/demo.py)."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from biomed.demo import demo_classify, demo_eval, demo_pretrain


def test_the_readme_first_command_biomed_demo_runs_every_stage(tmp_path):
    """`biomed demo` exactly as the README's first command runs it: a fresh process, default --out, here."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    first_command = re.search(r"```bash\n(.*?)```", readme, re.S).group(1).strip().split(" && ")[-1]
    assert first_command == "biomed demo"
    script = Path(sys.executable).with_name("biomed")  # the console script `pip install -e .` put beside python
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "biomed.cli"]
    result = subprocess.run([*command, "demo"], cwd=tmp_path, capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = tmp_path / "demo_output"
    assert json.loads((out / "extracted" / "summary.json").read_text())["paragraphs_written"] == 130
    assert pq.read_table(out / "annotated" / "annotations.parquet").num_rows == 130
    scored = pq.read_table(sorted((out / "classify" / "scored" / "data").glob("*.parquet")))
    assert {"type", "domain", "educational_score"} <= set(scored.column_names) and scored.num_rows == 130
    assert (out / "release" / "README.md").is_file()
    checkpoint = out / "pretrain" / "run" / "final"
    assert (checkpoint / "config.json").is_file() and (checkpoint / "README.md").is_file()
    assert (out / "eval" / "report" / "report.md").is_file()
    decoder = out / "decoder" / "eval"
    assert (decoder / "curves.png").is_file()  # the decoder leg: 3 models x 10 tasks of the suite
    assert len(list((decoder / "results").rglob("*.json"))) == 30
    printed = result.stdout
    assert "Extracted 130 paragraphs" in printed and 'load_dataset("' in printed and "| demo |" in printed


def test_demo_classify_learns_the_sample_gold_labels_and_scores_every_paragraph(sample_extract, tmp_path):
    from transformers import AutoModel, AutoTokenizer

    from biomed.dataset_builder.annotate.agreement import shipped_gold_path
    from biomed.dataset_builder.classify.data import load_labelled_paragraphs, split_by_article
    from biomed.dataset_builder.classify.train import evaluate_classifier

    checkpoint, scored_dir = demo_classify(shipped_gold_path(), sample_extract, tmp_path / "demo")
    rows = load_labelled_paragraphs(shipped_gold_path(), sample_extract)
    train_rows = rows.select(split_by_article(rows.article_id, dev_fraction=0.0, test_fraction=0.3)["train"])
    assert json.loads((checkpoint / "metrics.json").read_text())["split_sizes"]["train"] == len(train_rows)
    model, tokenizer = AutoModel.from_pretrained(str(checkpoint)), AutoTokenizer.from_pretrained(str(checkpoint))
    after = evaluate_classifier(model, tokenizer, train_rows)
    for head in ("type", "domain"):
        majority = np.bincount(getattr(train_rows, head)).max() / len(train_rows)
        assert after[head]["accuracy"] > majority + 0.2, (head, majority, after[head])
    constant_mae = np.abs(train_rows.educational - np.median(train_rows.educational)).mean()
    assert after["educational"]["mae"] < 0.6 * constant_mae

    extracted = pa.concat_tables(pq.read_table(p) for p in sorted((sample_extract / "data").glob("*.parquet")))
    result = pa.concat_tables(pq.read_table(p) for p in sorted((scored_dir / "data").glob("*.parquet")))
    assert result.num_rows == extracted.num_rows == len(rows)
    assert set(result.column("classifier_version").to_pylist()) == {"biomed-classifier-demo-tiny"}


@pytest.fixture(scope="module")
def sample_texts() -> list[str]:
    """Paragraph texts of the embedded sample's articles (package data: always present)."""
    from importlib.resources import files
    from pathlib import Path

    from lxml import etree

    folder = Path(str(files("biomed.dataset_builder") / "sample" / "articles"))
    texts = [
        " ".join("".join(p.itertext()).split())
        for a in sorted(folder.glob("*.nxml"))
        for p in etree.parse(a).iter("p")
    ]
    return [t for t in texts if len(t) > 40]


@pytest.mark.slow  # test_demo_runs_every_stage runs it too
def test_demo_pretrain_gives_a_loadable_checkpoint_with_its_card(tmp_path, sample_texts):
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForMaskedLM

    final = demo_pretrain(sample_texts, tmp_path)

    model = AutoModelForMaskedLM.from_pretrained(final)
    assert type(model).__name__ == "ModernBertForMaskedLM"
    initial = load_file(tmp_path / "tiny-modernbert" / "model.safetensors")
    assert not torch.equal(model.model.layers[0].attn.Wqkv.weight.float(), initial["model.layers.0.attn.Wqkv.weight"])
    summary = json.loads((final / "training_summary.json").read_text())
    assert [(p["objective"], p["end_step"] - p["start_step"]) for p in summary["phases"]] == [("clm", 8), ("mlm", 4)]
    card = (final / "README.md").read_text()
    assert "# tiny-modernbert-bio-demo" in card and "CLM detour" in card
    assert (final / "loss.png").stat().st_size > 0


@pytest.mark.slow  # 4 runs of 12 epochs; test_demo_runs_every_stage runs it too
def test_demo_eval_writes_the_report_beside_published_rows(tmp_path):
    from biomed.tiny import eval_fixture_texts, save_tiny_model

    checkpoint = save_tiny_model(eval_fixture_texts(), tmp_path / "tiny-bert", "bert", mlm_head=False)
    report = demo_eval(checkpoint, tmp_path / "eval", seeds=2)
    text = report.read_text(encoding="utf-8")
    assert report == tmp_path / "eval" / "report" / "report.md"
    assert "| demo | " in text and "Fixture NER (BIO)<br>*strict micro F1*" in text
    assert "*CamemBERT-bio-base (biomed-fr) (published)*" in text
    assert "*ModernBERT-bio-large (CLM detour, 50B) (published)*" in text
    summary = json.loads((tmp_path / "eval" / "summary.json").read_text())
    assert {t: row["n"] for t, row in summary["tasks"].items()} == {"fixtures/ner-bio": 2, "fixtures/cls-single": 2}
    assert (tmp_path / "eval" / "report" / "report.png").stat().st_size > 1000
