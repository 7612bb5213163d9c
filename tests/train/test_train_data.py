"""Sources -> packed rows with EOS between documents -> cache -> weighted, seeded mixture."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from transformers import AutoTokenizer

from biomed.errors import BiomedError
from biomed.train import data as data_module
from biomed.train.config import DataConfig, SourceConfig
from biomed.train.data import build_mixture, iter_documents, mixture_order, pack_source


@pytest.fixture(scope="module")
def tokenizer(tiny_modernbert):
    return AutoTokenizer.from_pretrained(tiny_modernbert)


def test_rows_are_full_start_with_cls_and_separate_documents_with_eos(tmp_path, tokenizer, variant_dir):
    source = SourceConfig(name="s", path=str(variant_dir), config="BE-Small")
    packed = pack_source(source, tokenizer, max_length=32, cache_dir=tmp_path, progress=False)
    rows = np.fromfile(packed.tokens_file, dtype=np.uint32).reshape(packed.rows, 32)

    assert (rows[:, 0] == tokenizer.cls_token_id).all()
    stream = []
    for text in iter_documents(source):
        stream += tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.sep_token_id]
    body = rows[:, 1:].reshape(-1).tolist()
    assert body == stream[: len(body)]  # every position is a real token: no padding anywhere
    assert len(stream) - len(body) < 31  # only the tail shorter than a row is dropped
    assert packed.meta["documents"] == 40


def test_cache_is_reused_and_keyed_by_length_and_tokenizer(tmp_path, tiny_modernbert, variant_dir, monkeypatch):
    tokenizer = AutoTokenizer.from_pretrained(tiny_modernbert)  # modified below: not the shared one
    source = SourceConfig(name="s", path=str(variant_dir), config="BE-Small")
    first = pack_source(source, tokenizer, max_length=32, cache_dir=tmp_path, progress=False)

    def no_reading(*_):
        raise AssertionError("the cache should have been reused")

    monkeypatch.setattr(data_module, "iter_documents", no_reading)
    again = pack_source(source, tokenizer, max_length=32, cache_dir=tmp_path, progress=False)
    assert again.folder == first.folder and again.rows == first.rows
    with pytest.raises(AssertionError, match="reused"):
        pack_source(source, tokenizer, max_length=64, cache_dir=tmp_path, progress=False)
    tokenizer.add_tokens(["zzznewtoken"])
    with pytest.raises(AssertionError, match="reused"):
        pack_source(source, tokenizer, max_length=32, cache_dir=tmp_path, progress=False)


def test_interrupted_pack_is_redone(tmp_path, tokenizer, variant_dir):
    source = SourceConfig(name="s", path=str(variant_dir), config="BE-Small")
    packed = pack_source(source, tokenizer, max_length=32, cache_dir=tmp_path, progress=False)
    (packed.folder / "meta.json").unlink()  # as if killed before the done marker
    (packed.folder / "tokens.u32").write_bytes(b"garbage")
    redone = pack_source(source, tokenizer, max_length=32, cache_dir=tmp_path, progress=False)
    assert redone.rows == packed.rows
    assert redone.tokens_file.stat().st_size == packed.rows * 32 * 4


def test_mixture_follows_weights_and_seed():
    source_ids, row_ids = mixture_order([50, 500], [0.2, 0.8], 20_000, seed=42)
    share = np.bincount(source_ids) / len(source_ids)
    assert abs(share[0] - 0.2) < 0.01
    # The small source is repeated by epochs: each epoch visits all its rows once, in a new order.
    small = row_ids[source_ids == 0]
    assert sorted(small[:50].tolist()) == list(range(50)) and not np.array_equal(small[:50], small[50:100])
    again = mixture_order([50, 500], [0.2, 0.8], 20_000, seed=42)
    assert np.array_equal(again[0], source_ids) and np.array_equal(again[1], row_ids)
    other = mixture_order([50, 500], [0.2, 0.8], 20_000, seed=43)
    assert not np.array_equal(other[1], row_ids)


def test_build_mixture_manifest_and_cache_keyed_by_weights(tmp_path, tokenizer, variant_dir):
    cfg = DataConfig(
        sources=[
            SourceConfig(name="big", path=str(variant_dir), config="BE-Test", weight=3),
            SourceConfig(name="small", path=str(variant_dir), config="BE-Small", weight=1),
        ],
        max_length=32,
        cache_dir=str(tmp_path),
    )
    dataset, manifest = build_mixture(cfg, tokenizer, 400, progress=False)
    assert len(dataset) == 400
    item = dataset[7]
    assert (
        item["index"] == 7 and item["input_ids"].shape == (32,) and item["input_ids"].dtype.is_floating_point is False
    )
    assert [s["name"] for s in manifest["sources"]] == ["big", "small"]
    assert manifest["sources"][0]["share"] == 0.75
    assert sum(s["samples_drawn"] for s in manifest["sources"]) == 400
    json.dumps(manifest)  # goes to disk as is

    cfg.sources[1].weight = 2
    _, reweighted = build_mixture(cfg, tokenizer, 400, progress=False)
    assert [s["cache"] for s in reweighted["sources"]] == [s["cache"] for s in manifest["sources"]]  # no repack
    assert reweighted["mixture_key"] != manifest["mixture_key"]


def test_filters_templates_and_jsonl(tmp_path):
    folder = tmp_path / "qa"
    folder.mkdir()
    rows = [{"q": f"question {i}", "a": f"answer {i}", "lang": "fr" if i % 2 else "en", "score": i} for i in range(6)]
    (folder / "part.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    source = SourceConfig(
        name="qa", path=str(folder), template="Q: {q}\nA: {a}", where={"lang": "fr", "score": {">=": 3}}
    )
    assert list(iter_documents(source)) == ["Q: question 3\nA: answer 3", "Q: question 5\nA: answer 5"]


def test_missing_sources_say_where_to_get_them(tmp_path, variant_dir):
    mimic = SourceConfig(name="mimic", path=str(tmp_path / "nope"), access="get it from PhysioNet")
    with pytest.raises(BiomedError, match="nope does not exist; get it from PhysioNet"):
        list(iter_documents(mimic))
    with pytest.raises(BiomedError, match="no variant 'BE-Nope'.*available: BE-Small, BE-Test"):
        list(iter_documents(SourceConfig(name="v", path=str(variant_dir), config="BE-Nope")))
    with pytest.raises(BiomedError, match="no column 'body'"):
        list(iter_documents(SourceConfig(name="v", path=str(variant_dir), config="BE-Small", text_column="body")))


def test_too_little_text_is_an_error(tmp_path, tokenizer):
    folder = tmp_path / "tiny"
    folder.mkdir()
    pq.write_table(pa.table({"text": ["two words"]}), folder / "a.parquet")
    with pytest.raises(BiomedError, match="fewer than one row of 32"):
        pack_source(
            SourceConfig(name="t", path=str(folder)), tokenizer, max_length=32, cache_dir=tmp_path, progress=False
        )


def test_hub_source_with_config_and_revision(local_hub, tmp_path, tokenizer, sample_texts):
    from datasets import Dataset

    repo_id = f"{local_hub.user}/fr-med"
    Dataset.from_dict({"text": sample_texts[:30]}).push_to_hub(repo_id, config_name="notes")
    revision = local_hub.api.list_repo_refs(repo_id, repo_type="dataset").branches[0].target_commit
    source = SourceConfig(name="hub", hub=repo_id, config="notes", revision=revision)
    packed = pack_source(source, tokenizer, max_length=32, cache_dir=tmp_path, progress=False)
    assert packed.meta["documents"] == 30
    assert packed.meta["source"]["revision"] == revision


@pytest.mark.slow
def test_multiprocess_tokenisation_gives_the_same_rows(tmp_path, tokenizer, variant_dir):
    source = SourceConfig(name="s", path=str(variant_dir), config="BE-Test")
    one = pack_source(source, tokenizer, max_length=32, cache_dir=tmp_path / "a", progress=False, batch_size=16)
    two = pack_source(
        source, tokenizer, max_length=32, cache_dir=tmp_path / "b", num_proc=2, progress=False, batch_size=16
    )
    assert one.tokens_file.read_bytes() == two.tokens_file.read_bytes()


def test_hidden_work_folders_are_never_read_as_training_text(tmp_path):
    """A rehydrated release and a killed extract keep partial or duplicate text in hidden folders: never trained on."""
    root = tmp_path / "release"
    (root / "data" / "BE-Test").mkdir(parents=True)
    pq.write_table(pa.table({"text": ["kept paragraph"]}), root / "data" / "BE-Test" / "train-00000.parquet")
    hidden = {
        ".rehydrate/texts/a.parquet": "rehydrate cache",
        ".build/data/BE-Test/train-00000.parquet": "build work folder",
        "data/BE-Test/.task-3/part.parquet": "killed task",
        ".biomed/notes.jsonl": "ownership folder",
        "data/BE-Test/.part.jsonl": "hidden file",
    }
    for name, text in hidden.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name.endswith(".parquet"):
            pq.write_table(pa.table({"text": [text]}), path)
        else:
            path.write_text(json.dumps({"text": text}) + "\n", encoding="utf-8")
    assert list(iter_documents(SourceConfig(name="all", path=str(root)))) == ["kept paragraph"]
    assert list(iter_documents(SourceConfig(name="variant", path=str(root), config="BE-Test"))) == ["kept paragraph"]
    assert data_module.local_files(SourceConfig(name="all", path=str(root))) == [
        root / "data" / "BE-Test" / "train-00000.parquet"
    ]
