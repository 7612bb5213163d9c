"""The English clinical corpora read and split as the BioClinical-ModernBERT code does (on hand-made raw files)."""

import pytest

from biomed.benchmarks.bioclinical import (
    cos_examples,
    deid_record,
    deid_type,
    read_deid,
    read_social_history,
    sklearn_split,
)
from biomed.benchmarks.loaders import load_task_data
from biomed.benchmarks.tasks import TASKS
from biomed.errors import BiomedError


def _record(n: int, body: str) -> str:
    return f"START_OF_RECORD={n}||||{n}||||\n{body}\n||||END_OF_RECORD\n"


def test_deid_tags_the_original_words_under_each_mask():
    text = _record(1, "Seen by Dr. John Smith on 2012-03-04 at\nGeneral Hospital, call 555-1234.")
    res = _record(1, "Seen by Dr. [**Name**] on [**2012-03-04**] at\n[**Hospital**], call [**Telephone/Fax**].")
    record = deid_record(text, res)
    pairs = [(t, g) for t, g in zip(record["tokens"], record["tags"], strict=True) if g != "O"]
    assert pairs == [
        ("John", "B-name"),
        ("Smith", "I-name"),
        ("2012-03-04", "B-date"),
        ("General", "B-location"),
        ("Hospital", "I-location"),
        ("555-1234", "B-phone_nb"),
    ]
    # plain text between masks is split on whitespace, so the comma after a mask is a word of its own
    assert record["tokens"][9:12] == ["Hospital", ",", "call"]
    assert record["tokens"][:3] == ["Seen", "by", "Dr."]
    assert deid_type("[**Age over 90 **]") == "age" and deid_type("[**E-mail address**]") == "other"
    assert deid_type("[**1959**]") == "date" and deid_type("[**Company 123**]") == "other"


def test_sklearn_split_is_scikit_learns():
    sklearn = pytest.importorskip("sklearn.model_selection")
    items = list(range(103))
    for test_size, seed in ((0.30, 42), (0.50, 42), (0.2, 7)):
        assert sklearn_split(items, test_size, seed) == tuple(
            sklearn.train_test_split(items, test_size=test_size, random_state=seed)
        )


def test_deid_folder_is_split_70_15_15_like_the_original(tmp_path):
    texts = "".join(_record(i, f"Patient {i} seen by Dr. Jones") for i in range(40))
    masked = "".join(_record(i, f"Patient {i} seen by Dr. [**Last Name**]") for i in range(40))
    (tmp_path / "id.text").write_text(texts, encoding="utf-8")
    (tmp_path / "id.res").write_text(masked, encoding="utf-8")
    splits = read_deid(tmp_path)
    assert [len(splits[s]) for s in ("train", "dev", "test")] == [28, 6, 6]
    order = list(range(40))
    train, rest = sklearn_split(order, 0.30, 42)
    dev, test = sklearn_split(rest, 0.50, 42)
    assert [r["tokens"][1] for r in splits["test"]] == [str(i) for i in test]
    assert [r["tokens"][1] for r in splits["train"]] == [str(i) for i in train]
    data = load_task_data(TASKS["en/deid"], data_paths={"en/deid": str(tmp_path)})
    assert data.labels == list(TASKS["en/deid"].labels) and len(data.splits["dev"]) == 6
    (tmp_path / "id.res").write_text(masked + _record(99, "extra"), encoding="utf-8")
    with pytest.raises(BiomedError, match="must pair up"):
        read_deid(tmp_path)


def test_cos_snippets_and_social_history_notes(tmp_path):
    ann = (
        "T1\tSnippet 100 130\tLeft femur shows a fracture.\n"
        "T2\tLoc 100 111\tLeft femur\n"
        "T3\tCos 119 127\tfracture\n"
        "T4\tSnippet 200 210\tNo change.\n"
        "T5\tCos 400 410\toutside\n"
    )
    first, second = cos_examples(ann)
    assert first["tokens"] == ["Left", "femur", "shows", "a", "fracture", "."]
    assert first["tags"] == ["B-Loc", "I-Loc", "O", "O", "B-Cos", "O"]
    assert second["tags"] == ["O", "O", "O"]
    for i in range(10):
        (tmp_path / f"note{i}.txt").write_text(f"Smokes {i} packs daily.", encoding="utf-8")
        (tmp_path / f"note{i}.ann").write_text("T1\tTobacco 0 6\tSmokes\nT2\tAmount 7 15\tx packs\n", encoding="utf-8")
    splits = read_social_history(tmp_path)
    assert sum(len(v) for v in splits.values()) == 10 and len(splits["train"]) == 7
    assert splits["train"][0]["tags"][:3] == ["B-Tobacco", "B-Amount", "I-Amount"]
