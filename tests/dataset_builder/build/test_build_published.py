"""The release is a drop-in for the published Biomed-Enriched: `default`'s features and splits, the paper's
selections on the float score, BE-French, and the conversion from the published rows."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from dataset_builder.scored_shards import paragraph as P
from dataset_builder.scored_shards import score_extracted, scored_table

from biomed.config import resolve_config
from biomed.dataset_builder.build.published import published_features, release_table_from_scored
from biomed.dataset_builder.build.stage import BuildConfig, default_recipe, run_build


# `dataset_info.features` of the published card (huggingface.co/datasets/almanach/Biomed-Enriched, README.md),
# copied as it is written there.
PUBLISHED_CARD_FEATURES = """
- name: id
  dtype: string
- name: article_id
  dtype: string
- name: path
  dtype: string
- name: text
  dtype: string
- name: language
  dtype: string
- name: section_title
  dtype: string
- name: domain
  dtype: string
- name: document_type
  dtype: string
- name: educational_score
  dtype: float64
- name: domain_scores
  sequence: float64
- name: document_type_scores
  sequence: float64
- name: language_score
  dtype: float64
- name: authors
  sequence: string
- name: article_url
  dtype: string
- name: license_url
  dtype: string
"""
PUBLISHED_SPLITS = ["commercial", "noncommercial"]
DOMAINS = ["biomedical", "clinical", "other"]  # published order of domain_scores
DOCUMENT_TYPES = ["Clinical Case", "Other", "Review", "Study"]  # published order of document_type_scores


@pytest.fixture(scope="module")
def release(tmp_path_factory, sample_extract) -> Path:
    """The packaged recipe built from the embedded sample, extracted by the kit and given deterministic scores."""
    root = tmp_path_factory.mktemp("published")
    scored = score_extracted(sample_extract, root / "scored")
    options = {"input_dir": str(scored), "output_dir": str(root / "release"), "card.plots": False}
    return run_build(resolve_config(BuildConfig, default_recipe(), options=options)).output_dir


def _load(folder: Path, tmp_path: Path, **kwargs):
    # a cache per test: datasets may otherwise serve another test's folder of the same name from its cache
    return datasets.load_dataset(str(folder), cache_dir=str(tmp_path / "hf-cache"), **kwargs)


def _config(release: Path, name: str) -> list[dict]:
    files = sorted((release / "data" / name).glob("*.parquet"))
    return pa.concat_tables(pq.read_table(f) for f in files).to_pylist()


def test_default_loads_with_the_published_features_and_splits(release, tmp_path):
    spec = datasets.Features._from_yaml_list(yaml.safe_load(PUBLISHED_CARD_FEATURES))
    assert published_features() == spec

    default = _load(release, tmp_path)

    assert sorted(default) == PUBLISHED_SPLITS
    for split in default.values():
        assert list(split.features) == list(spec)  # the published column order
        for name, feature in spec.items():
            assert split.features[name] == feature, name
    rows = default["commercial"].to_list() + default["noncommercial"].to_list()
    assert all(r["text"] is not None for r in default["commercial"].to_list())
    assert all(r["text"] is None for r in default["noncommercial"].to_list())
    assert {r["domain"] for r in rows} == set(DOMAINS)
    assert {r["document_type"] for r in rows} == set(DOCUMENT_TYPES)
    for row in rows:
        # the label is the largest score, in the published list order
        assert DOMAINS[int(np.argmax(row["domain_scores"]))] == row["domain"]
        assert DOCUMENT_TYPES[int(np.argmax(row["document_type_scores"]))] == row["document_type"]
        assert row["id"].rsplit("_p", 1)[0] == row["article_id"] and row["id"].rsplit("_p", 1)[1].isdigit()
    assert len({r["id"] for r in rows}) == len(rows)
    assert len(rows) == len([r for r in _config(release, "BE-Base") if r["article_part"] == "body"])


def test_default_holds_the_body_paragraphs_numbered_as_published(release):
    # the published rows address <body> only, and its ids number the body's paragraphs: 30343930_p0 is
    # sec[0]/p[0] (Rian-T/biomed-enriched, examples/simple.py); the kit's abstracts stay in its own configs
    base = _config(release, "BE-Base")
    abstracts = [r for r in base if r["path"].split("/")[0].startswith(("abstract[", "trans-abstract["))]
    body = [r for r in base if r not in abstracts]
    assert abstracts and {r["article_part"] for r in abstracts} == {"abstract"}
    assert {r["article_part"] for r in body} == {"body"}
    default = _config(release, "default")
    assert sorted(r["id"] for r in default) == sorted(r["id"] for r in body)
    with_abstract = {r["article_id"] for r in abstracts}
    firsts = [r for r in default if r["path"] == "sec[0]/p[0]" and r["article_id"] in with_abstract]
    assert firsts and all(r["id"] == f"{r['article_id']}_p0" for r in firsts)
    for r in abstracts:  # numbered after the body, so no published id is taken
        assert int(r["id"].rsplit("_p", 1)[1]) >= max(
            x["paragraph_index"] for x in body if x["article_id"] == r["article_id"]
        )


def test_every_selection_is_on_the_float_score(release):
    base = _config(release, "BE-Base")
    between = [r for r in base if 2.5 <= r["educational_score"] < 3.0]
    assert between and all(r["educational_score_int"] == 3 for r in between)  # rounding would keep them
    cfg = resolve_config(BuildConfig, default_recipe())
    checked = 0
    for spec in cfg.variants:
        thresholds = [c.value for c in spec.keep if c.column == "educational_score"]
        if not thresholds:
            continue
        rows = _config(release, spec.name)
        assert rows, spec.name
        assert min(r["educational_score"] for r in rows) >= thresholds[0], spec.name
        kept = {(r["article_id"], r["path"]) for r in rows}
        expected = {(r["article_id"], r["path"]) for r in base if all(_passes(c, r) for c in spec.keep)}
        assert kept == expected, spec.name
        checked += 1
    assert checked == 8  # BE-Educational, BE-All, the encoder recipe, four decays, clinical_case_high_quality


def _passes(condition, row) -> bool:
    value = row[condition.column]
    return value is not None and {"==": value == condition.value, ">=": value >= condition.value}[condition.op]


def test_be_french_upsamples_every_article_containing_french_text(release):
    base = _config(release, "BE-Base")
    french = {r["article_id"] for r in base if r["language"] == "fr"}
    assert french and len(french) < len({r["article_id"] for r in base})
    copies = Counter((r["article_id"], r["path"]) for r in _config(release, "BE-French"))
    for row in base:
        assert copies[row["article_id"], row["path"]] == (10 if row["article_id"] in french else 1)
    # "articles containing French text" (thesis ch.2): one French paragraph among English ones is enough
    spec = next(s for s in resolve_config(BuildConfig, default_recipe()).variants if s.name == "BE-French")
    mixed = {"1": ("commercial", [P(language="en"), P(language="fr"), P(language="en")])}
    english = {"2": ("commercial", [P(language="en"), P(language="en")])}
    assert (
        spec.plan(release_table_from_scored(scored_table({**mixed, **english}))).copies.tolist() == [10] * 3 + [1] * 2
    )


def test_the_card_shows_the_published_columns_and_explains_the_other_configs(release):
    card = (release / "README.md").read_text()
    for name, feature in datasets.Features._from_yaml_list(yaml.safe_load(PUBLISHED_CARD_FEATURES)).items():
        dtype = feature.feature.dtype if isinstance(feature, datasets.List) else feature.dtype
        dtype = f"sequence: {dtype}" if isinstance(feature, datasets.List) else dtype
        assert f"| `{name}` | {dtype} |" in card, name
    assert "layout of the published Biomed-Enriched" in card and "splits `commercial` and `noncommercial`" in card
    assert "Every other config is a training variant or a subset" in card
    header = yaml.safe_load(card.split("---\n")[1])
    default = next(c for c in header["configs"] if c["config_name"] == "default")
    assert default["default"] is True and [f["split"] for f in default["data_files"]] == PUBLISHED_SPLITS


def test_variants_build_from_the_published_rows(release, tmp_path):
    # the published release's file layout: data/<split>-*.parquet with the fifteen features
    published = tmp_path / "almanach-biomed-enriched" / "data"
    published.mkdir(parents=True)
    for split in PUBLISHED_SPLITS:
        for i, f in enumerate(sorted((release / "data" / "default").glob(f"{split}-*.parquet"))):
            pq.write_table(pq.read_table(f).replace_schema_metadata(None), published / f"{split}-{i:05d}.parquet")
    options = {"input_dir": str(published.parent), "output_dir": str(tmp_path / "derived"), "card.plots": False}

    derived = run_build(resolve_config(BuildConfig, default_recipe(), options=options)).output_dir

    for split in PUBLISHED_SPLITS:
        again = _load(derived, tmp_path / "derived-cache", split=split)
        assert again.to_list() == _load(release, tmp_path / "release-cache", split=split).to_list()
    for name in ("BE-Educational", "BE-ClinicalCase", "BE-French", "BE-All", "clinical_case_high_quality"):
        # same body rows and copies (the published rows have no abstract); the order differs (the published files
        # hold one split after the other)
        keys = sorted((r["article_id"], r["path"], r["copy_index"], r["text"]) for r in _config(derived, name))
        original = [
            (r["article_id"], r["path"], r["copy_index"], r["text"])
            for r in _config(release, name)
            if r["article_part"] == "body"
        ]
        assert keys == sorted(original, key=lambda k: k[:3]), name
    row = _config(derived, "BE-Base")[0]
    assert row["classifier_version"] == "almanach/Biomed-Enriched-classifier"
    assert row["license_group"] in ("commercial", "non_commercial")
    # text withheld from such a build goes back in with the authors' rule, as for the published release itself
    from biomed.dataset_builder.extract.stage import embedded_sample_dir
    from biomed.dataset_builder.release.rehydrate import RehydrateConfig, run_rehydrate

    summary = run_rehydrate(
        RehydrateConfig(
            dataset=str(derived),
            pmc_xml=[str(embedded_sample_dir() / "articles")],
            output_dir=str(tmp_path / "rehydrated"),
        )
    )
    assert summary.text_rule == "published" and summary.filled == summary.unverified > 0
