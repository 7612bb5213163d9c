"""Every shipped pre-training recipe, resolved and opened against the demo's release, selects rows (issue 22: a
filter that cannot select is an error), and each decay recipe selects exactly the rows the thesis names."""

import dataclasses
import itertools
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from biomed.config import PACKAGED_RECIPES, resolve_config
from biomed.errors import BiomedError
from biomed.train.config import DataConfig, PretrainConfig, SourceConfig
from biomed.train.data import check_sources, iter_documents


RECIPES = sorted((PACKAGED_RECIPES / "pretrain").glob("*.yaml"))
RELEASE_PATH = "biomed-enriched"  # the `path` of every Biomed-Enriched source of the shipped recipes


@pytest.fixture(scope="module")
def demo_release(tmp_path_factory, sample_extract) -> Path:
    """The demo's release: its extraction of the embedded sample and its build leg (``biomed.demo.demo_build``),
    with deterministic scores standing in for the tiny classifier's so that every label and score occurs."""
    from dataset_builder.scored_shards import score_extracted

    from biomed.demo import demo_build

    root = tmp_path_factory.mktemp("demo_release")
    demo_build(score_extracted(sample_extract, root / "scored"), root / "release")
    return root / "release"


def _on_release(source: SourceConfig, release: Path) -> SourceConfig:
    return dataclasses.replace(source, path=str(release))


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.stem)
def test_every_shipped_recipe_source_selects_rows_of_the_demo_release(recipe, demo_release):
    cfg = resolve_config(PretrainConfig, recipe)
    opened, others = [], []
    for source in cfg.data.sources:
        if source.path == RELEASE_PATH:
            opened.append(_on_release(source, demo_release))
        else:
            others.append(source.hub or source.path)
    if not opened:
        pytest.skip(
            f"no Biomed-Enriched source: {', '.join(others)} are Hub datasets or local corpora the kit does not build"
        )
    check_sources(DataConfig(sources=opened))  # every `where` and `document_key` names what the release holds
    for source in opened:
        counts: dict[str, int] = {}
        documents = list(iter_documents(source, counts))
        assert counts["selected"] > 0 and documents, f"{recipe.name}: source {source.name!r} selects nothing"


DECAYS = {
    "modernbert-be-encoder-clinical-decay-biomedical": ("domain", "biomedical"),  # ch2 l.409 "edu >= 4"
    "modernbert-be-encoder-clinical-decay-study": ("document_type", "Study"),
    "modernbert-be-encoder-clinical-decay-review": ("document_type", "Review"),
    "modernbert-be-encoder-clinical-decay-clinical-case": ("document_type", "Clinical Case"),
}


def _rows(release: Path, config: str) -> list[dict]:
    files = sorted((release / "data" / config).glob("*.parquet"))
    return pa.concat_tables(pq.read_table(f) for f in files).to_pylist()


@pytest.mark.parametrize("stem", DECAYS)
def test_each_decay_recipe_selects_its_label_at_a_float_educational_score_of_4(stem, demo_release):
    (source,) = resolve_config(PretrainConfig, PACKAGED_RECIPES / "pretrain" / f"{stem}.yaml").data.sources
    column, value = DECAYS[stem]
    base = _rows(demo_release, "BE-Base")
    wanted = [r for r in base if r[column] == value and r["educational_score"] >= 4.0]
    rounded_up = [r for r in base if r[column] == value and r["educational_score"] < 4.0 <= r["educational_score_int"]]
    assert wanted and rounded_up  # the release holds both sides of the float/rounded difference
    expected = []  # one document per article copy: its selected paragraphs joined in order (ch2 l.223)
    for _, group in itertools.groupby(wanted, key=lambda r: (r["article_id"], r["copy_index"])):
        texts = [r["text"] for r in group if r["text"]]
        if texts:
            expected.append("\n".join(texts))
    assert expected and list(iter_documents(_on_release(source, demo_release))) == expected


@pytest.mark.parametrize(
    "where, message",
    [
        ({"type": "study", "educational_score_int": {">=": 4}}, "`where` names column 'type', which"),
        ({"document_type": "study"}, "asks for 'study', which column 'document_type' of"),
    ],
)
def test_the_old_decay_filters_are_refused_when_the_source_is_opened(where, message, demo_release):
    # the decay recipes filtered BE-Base on a column the release lacks, in the kit's spelling: no row at all
    source = SourceConfig(name="decay", path=str(demo_release), config="BE-Base", where=where)
    with pytest.raises(BiomedError, match=message):
        check_sources(DataConfig(sources=[source]))
