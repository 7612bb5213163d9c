"""A source's `where` that cannot select is an error, not an empty mixture; a built release's article is one
document (thesis ch2 l.223: "we preserved the original structure of the article")."""

import re

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from transformers import AutoTokenizer

from biomed.config import ConfigError, resolve_config
from biomed.errors import BiomedError
from biomed.train.config import DataConfig, PretrainConfig, SourceConfig
from biomed.train.data import check_sources, iter_documents, pack_source


@pytest.fixture(scope="module")
def tokenizer(tiny_modernbert):
    return AutoTokenizer.from_pretrained(tiny_modernbert)


def _opened(variant_dir, where: dict) -> None:
    check_sources(DataConfig(sources=[SourceConfig(name="s", path=str(variant_dir), config="BE-Test", where=where)]))


def test_a_where_on_a_column_the_source_lacks_is_refused_when_it_is_opened(variant_dir):
    # the decay recipes once filtered BE-Base on `type`, a column the release does not have: an empty mixture
    message = (
        f"data source 's': `where` names column 'type', which {variant_dir} (config BE-Test) lacks; "
        "columns: text, educational_score"
    )
    with pytest.raises(BiomedError, match=f"^{re.escape(message)}$"):
        _opened(variant_dir, {"type": "study"})


@pytest.mark.parametrize(
    "where, message",
    [
        (
            {"educational_score": 7},
            "asks for 7, which column 'educational_score' of {d} never holds; its values: 1, 2",
        ),
        ({"educational_score": [1, 9]}, "asks for 9, which column 'educational_score'"),
        ({"educational_score": {"==": 0}}, "asks for 0, which column"),
        ({"educational_score": {">=": 6}}, "no value of column 'educational_score' of {d} is >= 6; its values run"),
        (
            {"educational_score": {"<": 1}},
            "no value of column 'educational_score' of {d} is < 1; its values run from 1",
        ),
        ({"educational_score": {">=": "4"}}, ">= '4' compares a str with column 'educational_score'"),
    ],
)
def test_a_value_or_bound_the_column_never_takes_is_refused(variant_dir, where, message):
    source = f"{variant_dir} (config BE-Test)"
    with pytest.raises(BiomedError, match=re.escape(message.format(d=source))):
        _opened(variant_dir, where)


def test_a_filter_that_can_select_opens(variant_dir):
    _opened(variant_dir, {"educational_score": {">=": 4}})
    _opened(variant_dir, {"educational_score": [4, 5], "text": {"!=": "never there"}})


@pytest.mark.parametrize(
    "where, message",
    [
        ({"score": {"~": 3}}, "where 'score': operator '~' is not one of >=, >, <=, <, ==, !="),
        ({"score": {">=": [3, 4]}}, "operator '>=' needs one value"),
        ({"score": []}, "where 'score' lists no value"),
        ({"score": {}}, "where 'score' has no operator"),
    ],
)
def test_a_malformed_where_is_refused_when_the_recipe_resolves(where, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        resolve_config(PretrainConfig, None, options={"data.sources": [{"name": "s", "path": "x", "where": where}]})


def test_a_source_selecting_no_row_stops_the_run_before_any_training_step(make_config, variant_dir, monkeypatch):
    from biomed.train.trainer import PretrainTrainer, run_pretrain

    def no_training(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(PretrainTrainer, "train", no_training)
    # each bound is reachable, together they select nothing: only reading the rows can tell
    none = (
        f"{{name: none, path: '{variant_dir}', config: BE-Test, where: {{educational_score: {{'>=': 5, '<=': 1}}}}}}"
    )
    cfg = make_config(f"data.sources=[{none}]")
    message = (
        "data source 'none' selects no rows: where {'educational_score': {'>=': 5, '<=': 1}} matched none of the "
        f"{_rows(variant_dir, 'BE-Test')} rows of {variant_dir} (config BE-Test)"
    )
    with pytest.raises(BiomedError, match=f"^{re.escape(message)}$"):
        run_pretrain(cfg, progress=False)


def _rows(root, config) -> int:
    return sum(pq.read_metadata(p).num_rows for p in (root / "data" / config).glob("*.parquet"))


@pytest.fixture
def articles_dir(tmp_path):
    """A built config's shape: paragraphs in article order, then the upsampled copies (copy_index 1)."""
    rows = [
        ("a1", 0, "alpha first paragraph of one"),
        ("a1", 0, "alpha second paragraph"),
        ("a2", 0, "beta only paragraph"),
        ("a2", 0, None),  # withheld text: skipped, the article stays one document
        ("a1", 1, "alpha first paragraph of one"),
        ("a1", 1, "alpha second paragraph"),
    ]
    folder = tmp_path / "release" / "data" / "BE-X"
    folder.mkdir(parents=True)
    table = pa.table(
        {
            "article_id": [r[0] for r in rows],
            "copy_index": pa.array([r[1] for r in rows], pa.int16()),
            "text": [r[2] for r in rows],
        }
    )
    pq.write_table(table.slice(0, 3), folder / "train-00000-of-00002.parquet")  # an article across two files
    pq.write_table(table.slice(3), folder / "train-00001-of-00002.parquet")
    return tmp_path / "release"


def test_an_article_is_one_document_its_paragraphs_joined_in_order(articles_dir, tokenizer, tmp_path):
    source = SourceConfig(name="be", path=str(articles_dir), config="BE-X", document_key=["article_id", "copy_index"])
    documents = list(iter_documents(source))
    assert documents == [
        "alpha first paragraph of one\nalpha second paragraph",
        "beta only paragraph",
        "alpha first paragraph of one\nalpha second paragraph",  # the copy is a document of its own
    ]
    paragraphs = list(iter_documents(SourceConfig(name="p", path=str(articles_dir), config="BE-X")))
    assert len(paragraphs) == 5  # without the key, every paragraph was a document with an EOS after it

    packed = pack_source(source, tokenizer, max_length=8, cache_dir=tmp_path / "cache", progress=False)
    stream = []
    for text in documents:
        stream += tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.sep_token_id]
    body = np.fromfile(packed.tokens_file, dtype=np.uint32).reshape(packed.rows, 8)[:, 1:].reshape(-1).tolist()
    assert body == stream[: len(body)] and packed.meta["documents"] == 3
    assert stream.count(tokenizer.sep_token_id) == 3  # one end-of-sequence per article copy, none per paragraph
    plain = pack_source(
        SourceConfig(name="be", path=str(articles_dir), config="BE-X"), tokenizer, max_length=8, cache_dir=tmp_path
    )
    assert plain.folder != packed.folder  # the key is part of the cache key


def test_a_document_key_the_source_lacks_is_refused(articles_dir):
    source = SourceConfig(name="be", path=str(articles_dir), config="BE-X", document_key=["article_id", "copy"])
    with pytest.raises(BiomedError, match="`document_key` names column 'copy', which .* lacks; columns: article_id"):
        check_sources(DataConfig(sources=[source]))


def test_a_hub_source_where_on_a_missing_column_is_refused_when_it_is_opened(local_hub, tokenizer, tmp_path):
    from datasets import Dataset

    repo_id = f"{local_hub.user}/notes"
    Dataset.from_dict({"text": ["a note about a patient"] * 4, "lang": ["fr"] * 4}).push_to_hub(repo_id)
    source = SourceConfig(name="notes", hub=repo_id, where={"language": "fr"})
    with pytest.raises(
        BiomedError, match=f"`where` names column 'language', which Hub dataset {repo_id} lacks; columns: text, lang$"
    ):
        pack_source(source, tokenizer, max_length=8, cache_dir=tmp_path, progress=False)
    nothing = SourceConfig(name="notes", hub=repo_id, where={"lang": "en"})
    with pytest.raises(
        BiomedError, match="^data source 'notes' selects no rows: where {'lang': 'en'} matched none of the 4 rows"
    ):
        pack_source(nothing, tokenizer, max_length=8, cache_dir=tmp_path, progress=False)
