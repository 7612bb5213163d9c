"""`biomed data classify`: the three-head model, training on labels, save/load, split by article, scoring, resume.

A tiny XLM-R (2 layers, width 64) and a tokenizer trained on the fly; texts whose words carry their labels, so a
few seconds of training must beat chance on the training set.
"""

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
import yaml
from typer.testing import CliRunner

from biomed.cli import app
from biomed.config import ConfigError, resolve_config
from biomed.dataset_builder.classify import inference as inference_module
from biomed.dataset_builder.classify import score as score_module
from biomed.dataset_builder.classify.data import article_split, load_labelled_paragraphs, split_by_article
from biomed.dataset_builder.classify.score import (
    SCORE_COLUMNS,
    VERSION_METADATA_KEY,
    ClassifyScoreConfig,
    ParagraphScorer,
    plan_batches,
    run_classify_score,
)
from biomed.dataset_builder.classify.train import ClassifyTrainConfig, evaluate_classifier, run_classify_train
from biomed.errors import BiomedError
from biomed.labels import DOMAIN_LABELS, TYPE_LABELS
from biomed.tiny import save_tiny_model


TYPE_WORDS = {
    "review": "review literature meta-analysis surveyed",
    "study": "measured cohort randomized results",
    "clinical_case": "patient presented admitted year-old",
    "other": "funding acknowledge thanks grant",
}
DOMAIN_WORDS = {
    "clinical": "treatment hospital diagnosis therapy",
    "biomedical": "protein gene cell mouse",
    "other": "economics policy software survey",
}
EDU_WORDS = ["noise junk", "basic simple", "explained described", "defined clearly", "mechanism taught"]
FILLER = "the of and in to with was for on by".split()
MAX_LENGTH = 64
TINY_TRAINING = {
    "num_train_epochs": 20,
    "learning_rate": 3e-3,
    "per_device_train_batch_size": 8,
    "save_strategy": "no",
    "logging_strategy": "no",
    "disable_tqdm": True,
    "use_cpu": True,
}
EXTRACT_COLUMNS = {
    "article_id": pa.string(),
    "pmcid": pa.string(),
    "pmid": pa.string(),
    "doi": pa.string(),
    "file": pa.string(),
    "path": pa.string(),
    "paragraph_index": pa.int32(),
    "section": pa.string(),
    "text": pa.string(),
    "article_type": pa.string(),
    "journal": pa.string(),
    "year": pa.int32(),
    "language": pa.string(),
    "license": pa.string(),
    "license_group": pa.string(),
    "n_chars": pa.int32(),
    "n_tokens": pa.int32(),
}


def labelled_rows(n_articles: int = 20, per_article: int = 6, seed: int = 0) -> list[dict]:
    """Paragraphs whose words are drawn mostly from pools tied to their type, domain and educational score."""
    rng = random.Random(seed)
    rows = []
    for a in range(n_articles):
        for p in range(per_article):
            type_, domain, edu = TYPE_LABELS[(a + p) % 4], DOMAIN_LABELS[(2 * a + p) % 3], 1 + (a + 3 * p) % 5
            pools = [TYPE_WORDS[type_].split(), DOMAIN_WORDS[domain].split(), EDU_WORDS[edu - 1].split(), FILLER]
            words = [rng.choice(rng.choices(pools, weights=[3, 3, 3, 1])[0]) for _ in range(rng.randint(6, 14))]
            rows.append(
                {
                    "article_id": f"{31000000 + a}",
                    "path": f"sec[{p // 2}]/p[{p % 2}]",
                    "text": " ".join(words),
                    "type": type_,
                    "domain": domain,
                    "educational_score": edu,
                }
            )
    return rows


def write_annotations(rows: list[dict], path: Path) -> Path:
    records = [
        dict(row, model="tiny-llm", prompt_version="annotate_v1", raw_answer="{}", latency_s=0.1, tokens_in=10,
             tokens_out=5, status="ok", error=None)
        for row in rows
    ]  # fmt: skip
    failed = dict(records[0], path="sec[9]/p[9]", type=None, domain=None, educational_score=None, status="failed")
    pq.write_table(pa.Table.from_pylist([*records, failed]), path)
    return path


def write_extraction(rows: list[dict], folder: Path, shards: int = 4) -> Path:
    """Extraction shards with every contract column; the first paragraph of shard 0 is far longer than MAX_LENGTH."""
    (folder / "data").mkdir(parents=True)
    for shard in range(shards):
        part = []
        for i, row in enumerate(rows[shard::shards]):
            text = " ".join([row["text"]] * 12) if shard == 0 and i == 0 else row["text"]
            part.append(
                {
                    "article_id": row["article_id"], "pmcid": None, "pmid": row["article_id"], "doi": None,
                    "file": f"{row['article_id']}.nxml", "path": row["path"], "paragraph_index": i,
                    "section": "Results", "text": text, "article_type": "research-article", "journal": "J Test",
                    "year": 2021, "language": "en", "license": "CC BY", "license_group": "commercial",
                    "n_chars": len(text), "n_tokens": len(text.split()),
                }
            )  # fmt: skip
        table = pa.Table.from_pylist(part, schema=pa.schema(EXTRACT_COLUMNS))
        pq.write_table(
            table.replace_schema_metadata({b"biomed.extract": b"test"}), folder / "data" / f"{shard:05d}.parquet"
        )
    return folder


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("classify")
    rows = labelled_rows()
    return {
        "rows": rows,
        "annotations": write_annotations(rows, root / "annotations.parquet"),
        "extracted": write_extraction(rows, root / "extracted"),
        "backbone": save_tiny_model(
            [r["text"] for r in rows], root / "backbone", "xlm-roberta", mlm_head=False, vocab_size=200
        ),
        "root": root,
    }


def train_config(corpus: dict, out: Path, **options) -> ClassifyTrainConfig:
    values = {
        "annotations": str(corpus["annotations"]),
        "output_dir": str(out),
        "backbone": str(corpus["backbone"]),
        "max_length": MAX_LENGTH,
        "classifier_dropout": 0.0,
        "dev_fraction": 0.1,
        "test_fraction": 0.2,
        "training": TINY_TRAINING,
    }
    values.update(options)
    return resolve_config(ClassifyTrainConfig, options=values)


@pytest.fixture(scope="module")
def trained(corpus) -> Path:
    out = corpus["root"] / "classifier"
    run_classify_train(train_config(corpus, out))
    return out


def score_config(classifier: Path, extracted: Path, out: Path, **options) -> ClassifyScoreConfig:
    values = {"classifier": str(classifier), "inputs": str(extracted), "output_dir": str(out), "progress": False}
    values.update(options)
    return resolve_config(ClassifyScoreConfig, options=values)


@pytest.fixture(scope="module")
def scored(corpus, trained) -> Path:
    out = corpus["root"] / "scored"
    run_classify_score(score_config(trained, corpus["extracted"], out))
    return out


# --- data and split ------------------------------------------------------------------------------------------------


def test_split_by_article_is_deterministic_and_never_splits_an_article(corpus):
    rows = load_labelled_paragraphs(corpus["annotations"])
    assert len(rows) == len(corpus["rows"]) and rows.skipped == 1  # the failed annotation is left out
    splits = split_by_article(rows.article_id, dev_fraction=0.1, test_fraction=0.2)
    assert sorted(i for part in splits.values() for i in part) == list(range(len(rows)))
    split_of = {}
    for name, indices in splits.items():
        for i in indices:
            assert split_of.setdefault(rows.article_id[i], name) == name
    assert splits == split_by_article(list(rows.article_id), dev_fraction=0.1, test_fraction=0.2)
    shares = [article_split(f"PMC{i}", 0.1, 0.2) for i in range(4000)]
    assert 0.17 < shares.count("test") / 4000 < 0.23 and 0.07 < shares.count("dev") / 4000 < 0.13
    with pytest.raises(BiomedError, match="sum to less than 1"):
        split_by_article(rows.article_id, dev_fraction=0.5, test_fraction=0.5)


def test_gold_labels_without_text_take_it_from_the_extraction(corpus, tmp_path):
    gold = tmp_path / "gold.jsonl"
    keys = corpus["rows"][:5]
    gold.write_text("".join(json.dumps({k: r[k] for k in r if k != "text"}) + "\n" for r in keys), encoding="utf-8")
    rows = load_labelled_paragraphs(gold, corpus["extracted"])
    assert [r["text"] for r in keys[1:]] == rows.text[1:]  # the first one is the deliberately long paragraph
    assert rows.text[0].startswith(keys[0]["text"]) and rows.prompt_versions == []
    with pytest.raises(BiomedError, match="--paragraphs"):
        load_labelled_paragraphs(gold)


def test_bad_annotations_give_clear_errors(corpus, tmp_path):
    with pytest.raises(BiomedError, match="does not exist"):
        load_labelled_paragraphs(tmp_path / "missing.parquet")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        json.dumps({"article_id": "1", "text": "x", "type": "study", "domain": "clinical", "educational_score": 3})
        + "\n"
        + json.dumps({"article_id": "2", "text": "y", "type": "essay", "domain": "clinical", "educational_score": 3})
        + "\n",
        encoding="utf-8",
    )
    with pytest.raises(BiomedError, match=r"bad.jsonl, row 2: invalid_type"):
        load_labelled_paragraphs(bad)
    with pytest.raises(ConfigError, match="training.output_dir is set by the kit"):
        train_config(corpus, tmp_path, training={"output_dir": "x"})
    with pytest.raises(BiomedError, match="cannot load backbone"):
        run_classify_train(train_config(corpus, tmp_path / "c", backbone=str(tmp_path / "no-such-model")))


# --- training ------------------------------------------------------------------------------------------------------


def test_training_on_labels_beats_chance_on_the_training_set(corpus, trained):
    from transformers import AutoModel, AutoTokenizer

    rows = load_labelled_paragraphs(corpus["annotations"])
    train_rows = rows.select(split_by_article(rows.article_id, 0.1, 0.2)["train"])
    model, tokenizer = AutoModel.from_pretrained(str(trained)), AutoTokenizer.from_pretrained(str(trained))
    after = evaluate_classifier(model, tokenizer, train_rows, MAX_LENGTH)
    majority = {head: np.bincount(getattr(train_rows, head)).max() / len(train_rows) for head in ("type", "domain")}
    constant_mae = np.abs(train_rows.educational - np.median(train_rows.educational)).mean()
    assert after["type"]["accuracy"] > majority["type"] + 0.3, after["type"]
    assert after["domain"]["accuracy"] > majority["domain"] + 0.2, after["domain"]
    assert after["educational"]["mae"] < 0.6 * constant_mae and after["educational"]["pearson_r"] > 0.8


def test_training_rerun_resumes_its_own_run_and_refuses_another_recipe(corpus, tmp_path, caplog):
    out = tmp_path / "resumable"
    steps = {"save_strategy": "steps", "save_steps": 3, "lr_scheduler_type": "constant", "warmup_steps": 0}
    cfg = train_config(corpus, out, training={**TINY_TRAINING, **steps, "max_steps": 3})
    first = run_classify_train(cfg)
    marker = out / "trainer" / "checkpoint-3" / ".biomed-checkpoint.json"
    old_identity = json.loads(marker.read_text())["identity"]
    weights = (out / "model.safetensors").read_bytes()
    with caplog.at_level("WARNING", logger="biomed.dataset_builder.classify.train"):
        again = run_classify_train(cfg)  # the same run: resumed from its last checkpoint (nothing left to train)
    assert "resuming training from" in caplog.text and "checkpoint-3" in caplog.text
    assert again.classifier_version == first.classifier_version and (out / "model.safetensors").read_bytes() == weights
    # another plan into the same folder: refused, naming the ways out (it used to resume into the new plan)
    longer = train_config(corpus, out, training={**TINY_TRAINING, **steps, "max_steps": 6})
    with pytest.raises(BiomedError, match="another training .*--overwrite.*--out") as refused:
        run_classify_train(longer)
    assert "\n" not in str(refused.value)
    run_classify_train(longer, overwrite=True)  # starts afresh: no checkpoint-3 of the old plan is resumed
    state = json.loads((out / "trainer" / "checkpoint-6" / "trainer_state.json").read_text())
    assert state["global_step"] == 6 and json.loads(marker.read_text())["identity"] != old_identity


def test_the_manifest_says_finished_once_the_classifier_is_exported_and_only_then(corpus, tmp_path, monkeypatch):
    from biomed.dataset_builder.classify import train as train_module
    from biomed.runtime.ownership import read_manifest

    out = tmp_path / "classifier"
    cfg = train_config(corpus, out, training={**TINY_TRAINING, "max_steps": 2})

    def export_classifier(*args, **kwargs):
        raise KeyboardInterrupt  # trained, not exported yet

    monkeypatch.setattr(train_module, "export_classifier", export_classifier)
    with pytest.raises(KeyboardInterrupt):
        run_classify_train(cfg)
    monkeypatch.undo()
    assert not (out / "config.json").exists() and read_manifest(out)["state"] == "running"
    summary = run_classify_train(cfg)
    manifest = read_manifest(out)
    assert manifest["state"] == "finished"  # used to stay `running` for ever
    assert manifest["produced"] == {"version": summary.classifier_version, "splits": summary.split_sizes}


@pytest.mark.slow
def test_a_killed_training_job_resumes_to_the_weights_of_an_uninterrupted_run(corpus, tmp_path):
    """SIGKILL of a real `classify train` process saving a checkpoint every step, then the same command again."""
    import signal
    import time

    from safetensors.torch import load_file

    recipe = tmp_path / "tiny.yaml"
    steps = {"save_strategy": "steps", "save_steps": 1, "max_steps": 24, "lr_scheduler_type": "linear"}
    recipe.write_text(yaml.safe_dump({"classifier_dropout": 0.1, "training": {**TINY_TRAINING, **steps}}))
    out = tmp_path / "killed"
    args = ["data", "classify", "train", str(corpus["annotations"]), "--backbone", str(corpus["backbone"]),
            "--max-length", "64", "--config", str(recipe)]  # fmt: skip
    job = subprocess.Popen([sys.executable, "-m", "biomed.cli", *args, "--out", str(out)], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while not (out / "trainer" / "checkpoint-2").is_dir() and job.poll() is None:
            assert time.monotonic() < deadline, "no checkpoint after 300 s"
            time.sleep(0.02)
        os.kill(job.pid, signal.SIGKILL)
    finally:
        job.kill()
        job.wait(timeout=60)
    assert job.returncode == -signal.SIGKILL and not (out / "config.json").exists(), "finished before the kill"

    runner = CliRunner()
    resumed = runner.invoke(app, [*args, "--out", str(out)])
    assert resumed.exit_code == 0, resumed.output
    straight = runner.invoke(app, [*args, "--out", str(tmp_path / "straight")])
    assert straight.exit_code == 0, straight.output
    a, b = load_file(out / "model.safetensors"), load_file(tmp_path / "straight" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    version = json.loads((out / "config.json").read_text())["classifier_version"]
    assert version == json.loads((tmp_path / "straight" / "config.json").read_text())["classifier_version"]


def test_new_annotations_into_a_trained_folder_are_refused_not_stamped_on_old_weights(corpus, tmp_path):
    annotations = write_annotations(corpus["rows"], tmp_path / "annotations.parquet")
    out = tmp_path / "clf"
    short = {**TINY_TRAINING, "max_steps": 1}
    trained = run_classify_train(train_config(corpus, out, annotations=str(annotations), training=short))
    weights = (out / "model.safetensors").read_bytes()
    relabelled = [dict(row, educational_score=6 - row["educational_score"]) for row in corpus["rows"]]
    write_annotations(relabelled, annotations)  # annotated again, same file
    with pytest.raises(BiomedError, match="another version .*--overwrite") as refused:
        run_classify_train(train_config(corpus, out, annotations=str(annotations), training=short))
    assert "\n" not in str(refused.value)
    assert (out / "model.safetensors").read_bytes() == weights
    assert json.loads((out / "config.json").read_text())["classifier_version"] == trained.classifier_version
    # a pinned version does not hide the new data: the annotations themselves are part of the run's identity
    pinned = train_config(corpus, tmp_path / "pinned", annotations=str(annotations), training=short, version="v1")
    run_classify_train(pinned)
    write_annotations(corpus["rows"], annotations)
    with pytest.raises(BiomedError, match="another input \\(annotations.parquet changed\\)"):
        run_classify_train(pinned)


def test_checkpoint_has_metrics_beside_the_paper_plots_card_and_config(trained):
    metrics = json.loads((trained / "metrics.json").read_text())
    test = metrics["test"]
    assert metrics["split_sizes"]["test"] == test["type"]["n"] > 0
    assert metrics["prompt_versions"] == ["annotate_v1"]
    assert metrics["paper_reference"]["educational"] == {"pearson_r": 0.876, "mae": 0.326}
    assert set(test["type"]["f1_per_class"]) == set(TYPE_LABELS) and "cohen_kappa" in test["type"]
    assert np.asarray(test["domain"]["confusion_matrix"]).sum() == test["domain"]["n"]
    for key in ("pearson_r", "spearman_rho", "mae", "f1_ge3", "accuracy", "f1_macro"):
        assert key in test["educational"]
    for head in ("type", "domain", "educational"):
        assert (trained / f"confusion_{head}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    config = json.loads((trained / "config.json").read_text())
    version = config["classifier_version"]
    assert version.startswith("biomed-classifier-backbone-") and config["model_type"] == "biomed_classifier"
    assert config["auto_map"]["AutoModel"] == "modeling_biomed_classifier.BiomedClassifierModel"
    assert (trained / "modeling_biomed_classifier.py").is_file()
    card = (trained / "README.md").read_text()
    assert version in card and "annotate_v1" in card and "clinical_case" in card and "trust_remote_code" in card
    assert f"| type | {test['type']['f1_macro_name']} | {test['type']['f1_macro']:.3f} | 0.925 |" in card
    assert "model-index" in card and "pipeline_tag: text-classification" in card
    saved = yaml.safe_load((trained / "config.yaml").read_text())
    assert saved["training"]["learning_rate"] == 3e-3 and saved["training"]["report_to"] == "none"


def test_save_then_load_in_a_fresh_process_gives_identical_scores(trained, tmp_path):
    """Without the kit (trust_remote_code, offline) and with it (registered classes): the same numbers."""
    texts = ["patient presented admitted treatment hospital", "protein gene cell review literature explained"]
    program = f"""
import sys, numpy as np, torch
from transformers import AutoModel, AutoTokenizer
tokenizer = AutoTokenizer.from_pretrained({str(trained)!r})
batch = tokenizer({texts!r}, padding=True, return_tensors="pt")
for mode in ("remote", "kit"):
    if mode == "kit":
        from biomed.dataset_builder.classify.modeling_biomed_classifier import register_auto_classes
        register_auto_classes()
    else:
        assert "biomed" not in sys.modules
    model = AutoModel.from_pretrained({str(trained)!r}, trust_remote_code=mode == "remote").eval()
    assert ("transformers_modules" in type(model).__module__) == (mode == "remote"), type(model).__module__
    with torch.inference_mode():
        out = model(**batch)
        first = model(**batch, first_token_only=True)  # the model card's faster call, in both modes
    torch.testing.assert_close(first.type_logits, out.type_logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(first.educational_score, out.educational_score, atol=1e-5, rtol=1e-5)
    scores = torch.cat([out.type_logits, out.domain_logits, out.educational_score[:, None]], 1).numpy()
    np.save(sys.argv[1] + "/" + mode + ".npy", scores)
    if mode == "remote":  # a stock text-classification pipeline reports the type head
        from transformers import pipeline

        classify = pipeline("text-classification", model={str(trained)!r}, trust_remote_code=True)
        labels = [r["label"] for r in classify({texts!r})]
        assert labels == [model.config.type_labels[i] for i in out.type_logits.argmax(-1).tolist()], labels
"""
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_MODULES_CACHE=str(tmp_path / "modules"))
    done = subprocess.run([sys.executable, "-c", program, str(tmp_path)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    results = {mode: np.load(tmp_path / f"{mode}.npy") for mode in ("remote", "kit")}
    assert np.array_equal(results["remote"], results["kit"])
    scores = ParagraphScorer.load(trained, device="cpu", dtype="float32").score(texts)
    expected = np.concatenate(
        [
            _softmax(results["kit"][:, :4]),
            _softmax(results["kit"][:, 4:7]),
            results["kit"][:, 7:],
        ],
        axis=1,
    )
    got = np.concatenate([scores.type_probs, scores.domain_probs, scores.educational[:, None]], axis=1)
    np.testing.assert_allclose(got, expected, atol=1e-5)  # the scorer pads differently: float noise only


def _softmax(logits: np.ndarray) -> np.ndarray:
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


# --- scoring -------------------------------------------------------------------------------------------------------


def test_scored_shards_keep_every_input_column_and_add_the_scores(corpus, trained, scored):
    version = json.loads((trained / "config.json").read_text())["classifier_version"]
    for source in sorted((corpus["extracted"] / "data").glob("*.parquet")):
        original, result = pq.read_table(source), pq.read_table(scored / "data" / source.name)
        assert result.column_names == original.column_names + list(SCORE_COLUMNS)
        assert result.select(original.column_names).equals(original)  # annotate, don't mutate: same rows, order
        assert result.schema.field("type_probs").type == pa.list_(pa.float32())
        assert result.schema.field("educational_score").type == pa.float32()
        assert result.schema.field("educational_score_int").type == pa.int8()
        metadata = result.schema.metadata
        assert metadata[VERSION_METADATA_KEY] == version.encode() and metadata[b"biomed.extract"] == b"test"
        type_probs = np.array(result.column("type_probs").to_pylist())
        domain_probs = np.array(result.column("domain_probs").to_pylist())
        np.testing.assert_allclose(type_probs.sum(1), 1, rtol=1e-5)
        np.testing.assert_allclose(domain_probs.sum(1), 1, rtol=1e-5)
        assert result.column("type").to_pylist() == [TYPE_LABELS[i] for i in type_probs.argmax(1)]
        assert result.column("domain").to_pylist() == [DOMAIN_LABELS[i] for i in domain_probs.argmax(1)]
        edu = result.column("educational_score").to_numpy()
        assert (result.column("educational_score_int").to_numpy() == np.clip(np.rint(edu), 1, 5)).all()
        assert set(result.column("classifier_version").to_pylist()) == {version}
    summary = json.loads((scored / "summary.json").read_text())
    assert summary["paragraphs"] == len(corpus["rows"]) and summary["shards"] == 4
    assert yaml.safe_load((scored / "config.yaml").read_text())["classifier"] == str(trained)


def test_a_paragraph_longer_than_the_maximum_length_is_scored_and_counted(corpus, trained, scored):
    summary = json.loads((scored / "summary.json").read_text())
    assert summary["truncated"] == 1  # only the 12-fold paragraph of shard 0 exceeds 64 tokens
    marker = json.loads((scored / "done" / "00000.json").read_text())
    assert marker["truncated"] == 1 and marker["paragraphs"] == 30

    scorer = ParagraphScorer.load(trained, device="cpu", max_length=16)
    long_text = "patient presented admitted treatment hospital " * 20
    scores = scorer.score([long_text, "patient presented", ""])
    assert scores.truncated.tolist() == [True, False, False]
    assert scores.n_tokens[0] == 16 and np.isfinite(scores.type_probs).all()
    texts = [long_text, "Patiënte, 54 ans: fièvre à 39,5 °C (J+3).", "", "x" * 300, "β-lactam  resistance\n"]
    ids, truncated = scorer.tokenize(texts)
    assert ids == scorer.tokenizer(texts, truncation=True, max_length=16)["input_ids"]
    assert truncated.tolist() == [len(scorer.tokenizer(text)["input_ids"]) > 16 for text in texts]


def test_a_shard_is_streamed_in_chunks_with_the_same_scores_and_rows(corpus, trained, scored, tmp_path):
    import pyarrow.parquet as pq

    # chunks of 7 rows: each 30-row shard is read, scored and written in 5 pieces
    streamed = tmp_path / "streamed"
    run_classify_score(score_config(trained, corpus["extracted"], streamed, chunk_size=7, dtype="float32"))
    whole = tmp_path / "whole"
    run_classify_score(score_config(trained, corpus["extracted"], whole, dtype="float32"))
    for shard in sorted((whole / "data").glob("*.parquet")):
        expected, got = pq.read_table(shard), pq.read_table(streamed / "data" / shard.name)
        assert got.schema == expected.schema and got.schema.metadata == expected.schema.metadata
        assert pq.ParquetFile(streamed / "data" / shard.name).metadata.num_row_groups > 1
        for name in expected.column_names:
            if name in ("type_probs", "domain_probs", "educational_score"):
                np.testing.assert_allclose(
                    np.array(got.column(name).to_pylist()), np.array(expected.column(name).to_pylist()), atol=1e-5
                )
            else:
                assert got.column(name).to_pylist() == expected.column(name).to_pylist(), name
    marker = json.loads((streamed / "done" / "00000.json").read_text())
    assert marker["paragraphs"] == 30 and marker["truncated"] == 1


def test_an_empty_shard_between_others_is_written_and_marked(corpus, trained, tmp_path):
    import pyarrow.parquet as pq

    extracted = tmp_path / "extracted"
    (extracted / "data").mkdir(parents=True)
    rows = pq.read_table(corpus["extracted"] / "data" / "00000.parquet")
    for name, table in (("00000", rows), ("00001", rows.slice(0, 0)), ("00002", rows.slice(0, 5))):
        pq.write_table(table, extracted / "data" / f"{name}.parquet")
    summary = run_classify_score(score_config(trained, extracted, tmp_path / "out", chunk_size=8))
    assert summary.paragraphs == 35 and summary.shards_scored_now == 3
    empty = pq.read_table(tmp_path / "out" / "data" / "00001.parquet")
    assert empty.num_rows == 0 and empty.column_names == rows.column_names + list(SCORE_COLUMNS)
    assert json.loads((tmp_path / "out" / "done" / "00001.json").read_text())["paragraphs"] == 0
    last = pq.read_table(tmp_path / "out" / "data" / "00002.parquet")
    assert last.column("path").to_pylist() == rows.slice(0, 5).column("path").to_pylist()


def test_score_chunks_reads_one_chunk_ahead_only(trained):
    scorer = ParagraphScorer.load(trained, device="cpu")
    pulled = []

    def chunks():
        for index in range(6):
            pulled.append(index)
            yield [f"patient presented admitted {index} " * (index + 1)] * 3

    for index, scores in enumerate(scorer.score_chunks(chunks())):
        # the next chunk is tokenised while this one is scored, and no further one is read
        assert len(pulled) <= index + 2 and len(scores.n_tokens) == 3
    assert pulled == list(range(6)) and index == 5
    empty = scorer.score([])
    assert empty.type_probs.shape == (0, len(TYPE_LABELS)) and empty.n_tokens.shape == (0,)


def test_a_shard_damaged_after_its_footer_is_reported_by_name(corpus, trained, tmp_path):
    import pyarrow.parquet as pq

    rows = pq.read_table(next((corpus["extracted"] / "data").glob("*.parquet")))
    extracted = tmp_path / "extracted"
    (extracted / "data").mkdir(parents=True)
    shard = extracted / "data" / "00000.parquet"
    pq.write_table(rows, shard, compression="none", row_group_size=10)
    data = bytearray(shard.read_bytes())
    # overwrite the first row group's text (its footer still reads): the error comes while the shard is streamed
    start = data.index(rows.column("text")[0].as_py()[:20].encode())
    data[start - 64 : start + 4000] = b"\xff" * len(data[start - 64 : start + 4000])
    shard.write_bytes(bytes(data))
    assert pq.ParquetFile(shard).metadata.num_rows == rows.num_rows  # the footer reads: streaming finds the damage
    with pytest.raises(BiomedError, match="cannot read .*00000.parquet as Parquet"):
        run_classify_score(score_config(trained, extracted, tmp_path / "out"))
    assert not (tmp_path / "out" / "done" / "00000.json").exists()


def test_a_batch_too_large_for_the_device_says_which_setting_to_lower(trained):
    import torch

    scorer = ParagraphScorer.load(trained, device="cpu", max_batch_tokens=4096)

    def out_of_memory(**inputs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    scorer._forward = out_of_memory
    with pytest.raises(BiomedError, match=r"lower max_batch_tokens \(now 4,096\), e.g. --max-batch-tokens 2048"):
        scorer.score(["patient presented admitted " * 5])


def test_batches_respect_the_token_budget_and_cover_everything():
    lengths = np.array(sorted([512, 300, 300, 64, 64, 64, 10, 10, 3, 1], reverse=True))
    batches = plan_batches(lengths, batch_size=4, max_batch_tokens=700)
    assert batches[0] == (0, 1) and batches[-1][1] == len(lengths)
    assert all(end - start <= 4 and (end - start) * lengths[start] <= 700 for start, end in batches)
    assert [i for start, end in batches for i in range(start, end)] == list(range(len(lengths)))


def _encoder_configs():
    from transformers import BertConfig, CamembertConfig, ModernBertConfig, XLMRobertaConfig

    shape = {"vocab_size": 120, "hidden_size": 32, "num_hidden_layers": 3, "num_attention_heads": 4,
             "intermediate_size": 64, "max_position_embeddings": 80, "pad_token_id": 1}  # fmt: skip
    modernbert = {"vocab_size": 120, "hidden_size": 32, "num_hidden_layers": 3, "num_attention_heads": 4,
                  "intermediate_size": 64, "pad_token_id": 1, "global_attn_every_n_layers": 1}  # fmt: skip
    return {
        "xlm-roberta": (XLMRobertaConfig(**shape), True),
        "bert": (BertConfig(**shape), True),
        "camembert": (CamembertConfig(**shape), True),
        "modernbert": (ModernBertConfig(**modernbert), False),  # another layer layout: the full encoder runs
    }


@pytest.mark.parametrize("family", ["xlm-roberta", "bert", "camembert", "modernbert"])
def test_first_token_only_gives_the_full_encoders_scores(family):
    import torch

    from biomed.dataset_builder.classify.modeling_biomed_classifier import (
        BiomedClassifierConfig,
        BiomedClassifierModel,
    )

    encoder, trimmed = _encoder_configs()[family]
    torch.manual_seed(0)
    model = BiomedClassifierModel(BiomedClassifierConfig(encoder_config=encoder)).eval()
    assert model._has_first_token_path() is trimmed
    input_ids = torch.randint(3, 120, (5, 30))
    mask = torch.ones_like(input_ids)
    mask[1, 9:], mask[3, 24:] = 0, 0
    input_ids[mask == 0] = 1
    with torch.inference_mode():
        for attention_mask in (mask, None):  # padded batch, and a batch of equal lengths (no mask)
            full = model(input_ids=input_ids, attention_mask=attention_mask)
            first = model(input_ids=input_ids, attention_mask=attention_mask, first_token_only=True)
            for name in ("type_logits", "domain_logits", "educational_score"):
                torch.testing.assert_close(getattr(first, name), getattr(full, name), atol=1e-5, rtol=1e-5)
        # the trimmed path really skips work: the last layer's feed-forward sees one token per paragraph
        if trimmed:
            seen = []
            last = model.encoder.encoder.layer[-1]
            handle = last.intermediate.register_forward_hook(lambda module, args, out: seen.append(out.shape[1]))
            model(input_ids=input_ids, attention_mask=mask, first_token_only=True)
            model(input_ids=input_ids, attention_mask=mask)
            handle.remove()
            assert seen == [1, 30]


def test_first_token_path_needs_sdpa_and_is_off_in_training():
    import torch

    from biomed.dataset_builder.classify.modeling_biomed_classifier import (
        BiomedClassifierConfig,
        BiomedClassifierModel,
    )

    encoder, _ = _encoder_configs()["xlm-roberta"]
    model = BiomedClassifierModel(BiomedClassifierConfig(encoder_config=encoder)).eval()
    model.encoder.set_attn_implementation("eager")
    assert not model._has_first_token_path()
    model.encoder.set_attn_implementation("sdpa")
    assert model._has_first_token_path()
    seen = []
    model.encoder.encoder.layer[-1].intermediate.register_forward_hook(lambda m, a, out: seen.append(out.shape[1]))
    model.train()
    model(input_ids=torch.randint(3, 120, (2, 12)), first_token_only=True)
    assert seen == [12]  # training runs the whole encoder whatever the flag


def test_auto_dtype_is_bfloat16_on_a_cpu_with_native_bfloat16_only(monkeypatch):
    import torch

    from biomed.dataset_builder.classify.score import resolve_dtype

    cpu = torch.device("cpu")
    native = score_module.cpu_has_native_bf16()  # this machine's answer: either way, auto follows it
    assert resolve_dtype("auto", cpu) == (torch.bfloat16 if native else torch.float32)
    monkeypatch.setattr(inference_module, "cpu_has_native_bf16", lambda: True)
    assert resolve_dtype("auto", cpu) == torch.bfloat16
    monkeypatch.setattr(inference_module, "cpu_has_native_bf16", lambda: False)
    assert resolve_dtype("auto", cpu) == torch.float32
    assert resolve_dtype("float16", cpu) == torch.float16


def test_bfloat16_scores_agree_with_float32_and_are_recorded(corpus, trained, tmp_path):
    texts = [row["text"] for row in corpus["rows"]]
    exact = ParagraphScorer.load(trained, device="cpu", dtype="float32").score(texts)
    half = ParagraphScorer.load(trained, device="cpu", dtype="bfloat16").score(texts)
    assert (half.type_probs.argmax(1) == exact.type_probs.argmax(1)).mean() > 0.9
    assert np.abs(half.educational - exact.educational).max() < 0.2
    out = tmp_path / "bf16"
    run_classify_score(score_config(trained, corpus["extracted"], out, dtype="bfloat16", device="cpu"))
    marker = json.loads((out / "done" / "00000.json").read_text())
    assert marker["dtype"] == "bfloat16" and marker["device"] == "cpu"
    assert pq.read_schema(out / "data" / "00000.parquet").metadata[b"biomed.classifier_dtype"] == b"bfloat16"


@pytest.mark.filterwarnings("ignore::DeprecationWarning:torch.jit")  # importing torch.compile
def test_cpu_batches_side_by_side_give_the_same_scores_and_restore_torch_threads(corpus, trained, tmp_path):
    import torch

    texts = [row["text"] for row in corpus["rows"]]
    threads_before = torch.get_num_threads()
    one = ParagraphScorer.load(trained, device="cpu", dtype="float32", max_batch_tokens=256, batch_threads=1)
    three = ParagraphScorer.load(trained, device="cpu", dtype="float32", max_batch_tokens=256, batch_threads=3)
    seen = []
    side_by_side = three.score(texts, on_batch=seen.append)
    sequential = one.score(texts)
    assert three.batch_threads == 3 and one.batch_threads == 1 and len(seen) > 3 and sum(seen) == len(texts)
    for name in ("type_probs", "domain_probs", "educational"):
        np.testing.assert_allclose(getattr(side_by_side, name), getattr(sequential, name), atol=1e-5)
    assert torch.get_num_threads() == threads_before
    assert ParagraphScorer.load(trained, device="cpu", compile=True, batch_threads=4).batch_threads == 1

    out = tmp_path / "threads"
    run_classify_score(score_config(trained, corpus["extracted"], out, device="cpu", cpu_batch_threads=2))
    assert json.loads((out / "done" / "00000.json").read_text())["cpu_batch_threads"] == 2
    with pytest.raises(ConfigError, match="cpu_batch_threads must be 0"):
        score_config(trained, corpus["extracted"], out, cpu_batch_threads=-1)


def test_killed_run_rerun_scores_only_the_missing_shards(corpus, trained, scored, tmp_path, monkeypatch):
    out = tmp_path / "resumed"
    real_run_model, real_score_shards = ParagraphScorer._run_model, score_module.score_shards
    model_calls, calls = [], []

    def dies_on_third_chunk(self, ids, lengths, on_batch):
        model_calls.append(len(ids))
        if len(model_calls) == 3:  # each 30-row shard is one chunk: the kill comes while shard 00002 is scored
            (out / "data" / "00002.parquet.tmp").write_bytes(b"half a parquet file")  # what a kill leaves
            raise KeyboardInterrupt
        return real_run_model(self, ids, lengths, on_batch)

    monkeypatch.setattr(ParagraphScorer, "_run_model", dies_on_third_chunk)
    with pytest.raises(KeyboardInterrupt):
        run_classify_score(score_config(trained, corpus["extracted"], out))
    # the shards scored before the kill are complete and marked; the one cut short is not
    assert sorted(p.name for p in (out / "done").glob("*.json")) == ["00000.json", "00001.json"]
    assert sorted(p.name for p in (out / "data").iterdir()) == ["00000.parquet", "00001.parquet", "00002.parquet.tmp"]

    monkeypatch.setattr(ParagraphScorer, "_run_model", real_run_model)

    def recorded(scorer, jobs, *args, **kwargs):
        calls.extend(source.name for source, _ in jobs)
        return real_score_shards(scorer, jobs, *args, **kwargs)

    monkeypatch.setattr(score_module, "score_shards", recorded)
    summary = run_classify_score(score_config(trained, corpus["extracted"], out))
    assert calls == ["00002.parquet", "00003.parquet"]
    assert summary.shards_scored_now == 2 and summary.paragraphs == len(corpus["rows"]) and summary.truncated == 1
    for name in ("00000", "00001", "00002", "00003"):
        assert pq.read_table(out / "data" / f"{name}.parquet").equals(
            pq.read_table(scored / "data" / f"{name}.parquet")
        )
    assert not list((out / "data").glob("*.tmp"))

    calls.clear()
    again = run_classify_score(score_config(trained, corpus["extracted"], out))
    assert calls == [] and again.shards_scored_now == 0 and again.paragraphs == len(corpus["rows"])


def test_datatrove_tasks_share_the_shards(corpus, trained, scored, tmp_path):
    out = tmp_path / "tasks"
    summary = run_classify_score(score_config(trained, corpus["extracted"], out, **{"executor.tasks": 2}))
    assert summary.shards_scored_now == 4
    for name in ("00000", "00001", "00002", "00003"):
        assert pq.read_table(out / "data" / f"{name}.parquet").equals(
            pq.read_table(scored / "data" / f"{name}.parquet")
        )

    # another task count after a lost shard: datatrove's per-task marks do not hide the shard's new task
    (out / "done" / "00003.json").unlink()
    again = run_classify_score(score_config(trained, corpus["extracted"], out, **{"executor.tasks": 3}))
    assert again.shards_scored_now == 1 and again.paragraphs == len(corpus["rows"])


def test_local_cpu_workers_share_the_cores(corpus, trained, scored, tmp_path):
    out = tmp_path / "workers"
    options = {"executor.workers": 2, "device": "cpu"}
    summary = run_classify_score(score_config(trained, corpus["extracted"], out, **options))
    assert summary.shards_scored_now == 4
    cores = len(os.sched_getaffinity(0))
    threads = {json.loads(marker.read_text())["cpu_threads"] for marker in (out / "done").glob("*.json")}
    assert threads == {max(1, cores // 2)}  # two processes at once: each takes half the cores, not all of them
    for name in ("00000", "00003"):  # the same scores, up to the float noise of another thread count
        mine, reference = (pq.read_table(folder / "data" / f"{name}.parquet") for folder in (out, scored))
        assert mine.column_names == reference.column_names and mine.num_rows == reference.num_rows
        np.testing.assert_allclose(
            mine.column("educational_score").to_numpy(), reference.column("educational_score").to_numpy(), atol=1e-2
        )


def test_a_cluster_submission_reports_pending_shards(corpus, trained, tmp_path, monkeypatch):
    submitted = []

    class SubmitOnly:
        def run(self):
            submitted.append(True)  # a Slurm executor returns once the job array is queued

    monkeypatch.setattr("biomed.runtime.executors.build_executor", lambda *args, **kwargs: SubmitOnly())
    options = {"executor.kind": "slurm", "executor.partition": "gpu", "executor.workers": 2}
    summary = run_classify_score(score_config(trained, corpus["extracted"], tmp_path / "slurm", **options))
    assert submitted == [True] and summary.pending == 4
    assert "submitted: 4 of 4 shard(s)" in summary.render() and "rerun the same command" in summary.render()


def test_scoring_refuses_mixed_classifiers_and_bad_inputs(corpus, trained, scored, tmp_path):
    marker = json.loads((scored / "done" / "00000.json").read_text())
    other = tmp_path / "other"
    (other / "done").mkdir(parents=True)
    (other / "done" / "00000.json").write_text(json.dumps(dict(marker, classifier_version="old-classifier")))
    with pytest.raises(BiomedError, match="holds scores by classifier 'old-classifier'"):
        run_classify_score(score_config(trained, corpus["extracted"], other))
    with pytest.raises(BiomedError, match="no .parquet shards"):
        run_classify_score(score_config(trained, tmp_path, tmp_path / "x"))
    with pytest.raises(BiomedError, match="not a biomed classifier"):
        run_classify_score(score_config(corpus["backbone"], corpus["extracted"], tmp_path / "y"))
    with pytest.raises(BiomedError, match="already has column"):
        run_classify_score(score_config(trained, scored, tmp_path / "z"))


@pytest.mark.gpu
def test_gpu_scores_match_cpu_scores(corpus, trained):
    texts = [row["text"] for row in corpus["rows"]] + ["patient presented admitted " * 60]
    cpu = ParagraphScorer.load(trained, device="cpu", dtype="float32").score(texts)
    exact = ParagraphScorer.load(trained, device="cuda", dtype="float32").score(texts)
    np.testing.assert_allclose(exact.type_probs, cpu.type_probs, atol=1e-4)
    np.testing.assert_allclose(exact.educational, cpu.educational, atol=1e-3)
    half = ParagraphScorer.load(trained, device="cuda").score(texts)  # bfloat16 (or float16) weights
    assert (half.type_probs.argmax(1) == cpu.type_probs.argmax(1)).mean() > 0.9
    assert np.abs(half.educational - cpu.educational).max() < 0.2
    assert half.truncated.tolist() == cpu.truncated.tolist() and half.truncated[-1]


@pytest.mark.slow
def test_compiled_scorer_gives_the_same_scores(trained):
    texts = ["patient presented admitted " * k for k in range(1, 40)]
    eager = ParagraphScorer.load(trained, device="cpu", dtype="float32", max_batch_tokens=256).score(texts)
    compiled_scorer = ParagraphScorer.load(trained, device="cpu", dtype="float32", max_batch_tokens=256, compile=True)
    compiled = compiled_scorer.score(texts)
    np.testing.assert_allclose(compiled.type_probs, eager.type_probs, atol=1e-5)
    np.testing.assert_allclose(compiled.educational, eager.educational, atol=1e-4)


def test_recipes_resolve():
    recipes = Path(__file__).resolve().parents[3] / "recipes" / "classify"
    train = resolve_config(ClassifyTrainConfig, recipes / "xlm-roberta-base.yaml")
    assert train.backbone == "FacebookAI/xlm-roberta-base" and train.max_length == 512
    assert {k: train.training[k] for k in ("num_train_epochs", "learning_rate", "warmup_steps", "seed")} == {
        "num_train_epochs": 3, "learning_rate": 2e-5, "warmup_steps": 0.1, "seed": 42,
    }  # fmt: skip
    assert train.training["per_device_train_batch_size"] == 8 and train.training["lr_scheduler_type"] == "linear"
    for name in ("score-gpu.yaml", "score-slurm.yaml"):
        assert resolve_config(ClassifyScoreConfig, recipes / name).max_batch_tokens == 131072


# --- command line --------------------------------------------------------------------------------------------------


def test_cli_help_lists_every_option():
    runner = CliRunner()
    for command, options in {
        "train": ("--out", "--paragraphs", "--backbone", "--max-length", "--version", "--config", "--set",
                  "--dry-run"),
        "score": ("--classifier", "--out", "--batch-size", "--max-batch-tokens", "--max-length", "--device",
                  "--dtype", "--tasks", "--workers", "--config", "--set", "--dry-run"),
    }.items():  # fmt: skip
        result = runner.invoke(app, ["data", "classify", command, "--help"])
        assert result.exit_code == 0, result.output
        for option in options:
            assert option in result.stdout, (command, option)


def test_a_read_only_out_is_refused_in_one_line(corpus, tmp_path, monkeypatch, capsys):
    from biomed.cli import main

    locked = tmp_path / "ro"
    locked.mkdir()
    locked.chmod(0o500)
    argv = ["biomed", "data", "classify", "train", str(corpus["annotations"]), "--out", str(locked / "clf"),
            "--backbone", str(corpus["backbone"]), "--max-length", "64"]  # fmt: skip
    monkeypatch.setattr(sys, "argv", argv)
    try:
        if os.access(locked, os.W_OK):  # root ignores permissions: the kernel's answer to anyone else
            monkeypatch.setattr("pathlib.Path.mkdir", _read_only_mkdir)
        with pytest.raises(SystemExit) as exited:  # used to train, then stop on a PermissionError traceback
            main()
    finally:
        locked.chmod(0o700)
    error = capsys.readouterr().err.strip()
    assert exited.value.code == 2 and error.startswith("Error: ") and "\n" not in error
    assert "cannot write to --out" in error and "Permission denied" in error


def _read_only_mkdir(self, *args, **kwargs):
    raise PermissionError(13, "Permission denied", str(self))


def test_cli_train_then_score_happy_path(corpus, tmp_path):
    runner = CliRunner()
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(
        yaml.safe_dump({"classifier_dropout": 0.0, "training": {**TINY_TRAINING, "num_train_epochs": 2}})
    )
    classifier = tmp_path / "clf"
    args = ["data", "classify", "train", str(corpus["annotations"]), "--out", str(classifier),
            "--backbone", str(corpus["backbone"]), "--max-length", "64", "--version", "clf-cli-1",
            "--config", str(recipe)]  # fmt: skip
    dry = runner.invoke(app, [*args, "--set", "test_fraction=0.25", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    printed = yaml.safe_load(dry.stdout)
    assert printed["test_fraction"] == 0.25 and printed["training"]["num_train_epochs"] == 2
    assert printed["training"]["warmup_steps"] == 0.1  # the paper's settings stay under a partial override
    assert not classifier.exists()

    trained = runner.invoke(app, args)
    assert trained.exit_code == 0, trained.output
    assert "trained clf-cli-1 on train" in trained.stdout and (classifier / "model.safetensors").is_file()

    out = tmp_path / "scored"
    result = runner.invoke(
        app, ["data", "classify", "score", str(corpus["extracted"]), "--classifier", str(classifier),
              "--out", str(out), "--batch-size", "8", "--device", "cpu"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"scored {len(corpus['rows'])} paragraphs in 4 shard(s) with clf-cli-1" in result.stdout
    assert "truncated at the classifier's maximum length: 1" in result.stdout
    assert set(pq.read_table(out / "data" / "00003.parquet").column("classifier_version").to_pylist()) == {"clf-cli-1"}

    missing = runner.invoke(app, ["data", "classify", "score", str(corpus["extracted"]), "--out", str(out)])
    assert missing.exit_code != 0 and "no classifier given" in str(missing.exception)
