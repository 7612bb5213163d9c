"""Reproducible, optionally stratified sampling of extracted paragraphs, and the append-only answer cache."""

import json
from collections import Counter

import pyarrow.parquet as pq
import pytest
from dataset_builder.paragraph_shards import write_paragraph_shards

from biomed.dataset_builder.annotate.cache import AnnotationCache, answer_key
from biomed.dataset_builder.annotate.sampling import SamplingConfig, sample_paragraphs
from biomed.errors import BiomedError


def keys(table):
    return list(zip(table.column("article_id").to_pylist(), table.column("path").to_pylist(), strict=True))


def test_same_seed_same_sample_other_seed_other_sample(tmp_path):
    source = write_paragraph_shards(tmp_path, 200, shards=3, row_group_size=16)
    a = sample_paragraphs(source, SamplingConfig(n=30, seed=7))
    b = sample_paragraphs(source, SamplingConfig(n=30, seed=7))
    c = sample_paragraphs(source, SamplingConfig(n=30, seed=8))
    assert keys(a) == keys(b) and keys(a) != keys(c)
    assert len(set(keys(a))) == 30


def test_rows_read_from_row_groups_match_the_full_shards(tmp_path):
    """Only the row groups holding sampled rows are read: the rows must still be the right ones, text included."""
    source = write_paragraph_shards(tmp_path, 200, shards=3, row_group_size=16)
    full = pq.read_table(sorted((source / "data").glob("*.parquet"))).to_pylist()
    by_key = {(row["article_id"], row["path"]): row for row in full}
    sample = sample_paragraphs(source, SamplingConfig(n=50, seed=1)).to_pylist()
    for row in sample:
        original = by_key[(row["article_id"], row["path"])]
        assert row["text"] == original["text"] and row["section"] == original["section"]
    positions = [full.index(by_key[(row["article_id"], row["path"])]) for row in sample]
    assert positions == sorted(positions)  # sample order is corpus order


def test_n_larger_than_corpus_takes_everything(tmp_path):
    source = write_paragraph_shards(tmp_path, 20, shards=2)
    assert sample_paragraphs(source, SamplingConfig(n=1000)).num_rows == 20


def test_proportional_strata_get_exact_shares(tmp_path):
    source = write_paragraph_shards(tmp_path, 200, shards=2)  # language: 1 in 5 is "fr"
    sample = sample_paragraphs(source, SamplingConfig(n=50, seed=0, stratify_by=["language"]))
    assert Counter(sample.column("language").to_pylist()) == {"en": 40, "fr": 10}
    both = sample_paragraphs(source, SamplingConfig(n=40, seed=0, stratify_by=["language", "license_group"]))
    counts = Counter(zip(both.column("language").to_pylist(), both.column("license_group").to_pylist(), strict=True))
    assert sum(counts.values()) == 40 and len(counts) == 4
    assert counts[("fr", "commercial")] + counts[("fr", "non_commercial")] == 8


def test_equal_allocation_caps_small_strata_and_spreads_the_rest(tmp_path):
    source = write_paragraph_shards(tmp_path, 100, shards=1)  # 20 "fr", 80 "en"
    sample = sample_paragraphs(source, SamplingConfig(n=60, seed=0, stratify_by=["language"], allocation="equal"))
    assert Counter(sample.column("language").to_pylist()) == {"fr": 20, "en": 40}
    even = sample_paragraphs(source, SamplingConfig(n=30, seed=0, stratify_by=["language"], allocation="equal"))
    assert Counter(even.column("language").to_pylist()) == {"fr": 15, "en": 15}


def test_sampling_errors(tmp_path):
    with pytest.raises(BiomedError, match="does not exist"):
        sample_paragraphs(tmp_path / "missing", SamplingConfig())
    (tmp_path / "empty").mkdir()
    with pytest.raises(BiomedError, match="no .parquet shards"):
        sample_paragraphs(tmp_path / "empty", SamplingConfig())
    with pytest.raises(ValueError, match="cannot stratify by 'journal'"):
        SamplingConfig(stratify_by=["journal"])


def test_cache_survives_a_line_cut_by_a_kill(tmp_path):
    path = tmp_path / "cache" / "answers.jsonl"
    with AnnotationCache(path) as cache:
        cache.append("k1", {"status": "ok", "type": "study"})
    with path.open("ab") as handle:  # what a kill in the middle of a write leaves
        handle.write(b'{"key":"k2","status":"o')
    with AnnotationCache(path) as cache:
        assert cache.skipped_lines == 1 and "k1" in cache and "k2" not in cache
        cache.append("k3", {"status": "ok", "type": "review"})
    with AnnotationCache(path) as cache:
        assert cache.get("k3") == {"status": "ok", "type": "review"} and len(cache) == 2
    assert json.loads(path.read_text().splitlines()[-1])["key"] == "k3"


def test_cache_refuses_a_second_writer(tmp_path):
    path = tmp_path / "answers.jsonl"
    with AnnotationCache(path), pytest.raises(BiomedError, match="another `biomed data annotate`"):
        AnnotationCache(path).open()


def test_answer_key_covers_every_input():
    base = ("m", "v1", "A1", "sec[0]/p[0]", "text")
    variants = [("m2", *base[1:]), (base[0], "v2", *base[2:]), (*base[:2], "A2", *base[3:]),
                (*base[:3], "sec[0]/p[1]", base[4]), (*base[:4], "text!")]  # fmt: skip
    assert len({answer_key(*base), *(answer_key(*v) for v in variants)}) == 6
    assert answer_key("a|b", "c", "", "", "") != answer_key("a", "b|c", "", "", "")  # no ambiguous joining
