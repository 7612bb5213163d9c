"""Loaders: CoNLL BIO, BRAT standoff, local tables, BigBio KB rows; conversion losses are counted."""

import dataclasses
import json
from collections import Counter

import pytest

from biomed.benchmarks.bio import entities
from biomed.benchmarks.loaders import _kb_row, load_task_data, parse_brat_ann, read_conll, text_to_bio, to_bio
from biomed.benchmarks.tasks import TASKS
from biomed.errors import BiomedError


def test_io_tags_become_bio_and_bio_stays():
    assert to_bio(["DISO", "DISO", "O", "CHEM", "DISO"]) == ["B-DISO", "I-DISO", "O", "B-CHEM", "B-DISO"]
    assert to_bio(["B-X", "I-X", "B-X", "O", "I-Y"]) == ["B-X", "I-X", "B-X", "O", "B-Y"]


def test_conll_reader(tmp_path):
    path = tmp_path / "train.txt"
    path.write_text("-DOCSTART- O\n\nLe O\ndiabète B-DISO\nsucré I-DISO\n\nFoie ANAT\n", encoding="utf-8")
    assert read_conll(path) == [
        {"tokens": ["Le", "diabète", "sucré"], "tags": ["O", "B-DISO", "I-DISO"]},
        {"tokens": ["Foie"], "tags": ["B-ANAT"]},
    ]
    path.write_text("lonely\n", encoding="utf-8")
    with pytest.raises(BiomedError, match="line 1"):
        read_conll(path)


def test_brat_discontinuous_overlap_and_sentences():
    text = "Une cirrhose du foie est notée.\nPas de fièvre."
    stats = Counter()
    ann = (
        "T1\tDISO 4 20\tcirrhose du foie\nT2\tANAT 16 20\tfoie\nT3\tDISO 39 45;45 45\tfièvre\nR1\tX Arg1:T1 Arg2:T2\n"
    )
    spans = parse_brat_ann(ann, "doc.ann", stats)
    records = text_to_bio(text, spans, stats)
    assert records == [
        {
            "tokens": ["Une", "cirrhose", "du", "foie", "est", "notée", "."],
            "tags": ["O", "B-DISO", "I-DISO", "I-DISO", "O", "O", "O"],
        },
        {"tokens": ["Pas", "de", "fièvre", "."], "tags": ["O", "O", "B-DISO", "O"]},
    ]
    assert stats == {"overlapping_entities_dropped": 1, "discontinuous_entities_joined": 1}


def test_bundled_fixtures_load_with_their_losses_counted():
    brat = load_task_data(TASKS["fixtures/ner-brat"])
    assert brat.labels == ["ANAT", "CHEM", "DISO"]
    assert brat.stats["overlapping_entities_dropped"] == 2 and brat.stats["discontinuous_entities_joined"] == 1
    bio = load_task_data(TASKS["fixtures/ner-bio"])
    assert [len(bio.splits[s]) for s in ("train", "dev", "test")] == [48, 12, 12]
    multi = load_task_data(TASKS["fixtures/cls-multi"])
    assert multi.labels == ["douleur", "fièvre", "oedème", "toux"]
    assert any(r["labels"] == [] for r in multi.splits["train"])  # no label at all is a valid multi-label example
    single = load_task_data(TASKS["fixtures/cls-single"], limit=5)
    assert all(len(r["labels"]) == 1 for r in single.splits["train"]) and len(single.splits["train"]) == 5


def test_local_copy_wins_and_missing_dev_is_carved(tmp_path):
    folder = tmp_path / "cas1"
    folder.mkdir()
    for split, n in (("train", 20), ("test", 3)):
        (folder / f"{split}.txt").write_text("\n\n".join(f"mot{i} O\nfoie B-ANAT" for i in range(n)), encoding="utf-8")
    task = TASKS["cbio/cas1"]
    task = type(task)(**{**task.__dict__, "source": type(task.source)(format="conll", local_format="conll")})
    data = load_task_data(task, data_dir=tmp_path)
    assert (len(data.splits["train"]), len(data.splits["dev"])) == (18, 2)
    assert data.stats["dev_carved_from_train"] == 2 and data.labels == ["ANAT"]
    with pytest.raises(BiomedError, match="does not exist"):
        load_task_data(task, data_paths={task.name: str(tmp_path / "nope")})


def test_local_table_formats_and_label_check(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"text": "a", "label": "x"}, {"text": "b", "label": "y"}]
    (tmp_path / "train.jsonl").write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    (tmp_path / "dev.tsv").write_text("text\tlabel\nc\tx\n", encoding="utf-8")
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "test.parquet")
    data = load_task_data(TASKS["fixtures/cls-single"], data_paths={"fixtures/cls-single": str(tmp_path)})
    assert data.splits["dev"] == [{"text": "c", "labels": ["x"]}] and data.labels == ["x", "y"]
    with pytest.raises(BiomedError, match=r"labels \['x', 'y'\] in the data are not in the task's label set"):
        load_task_data(TASKS["en/chemprot"], data_paths={"en/chemprot": str(tmp_path)})


def test_bigbio_kb_rows_become_bio():
    row = {
        "passages": [
            {"text": ["Aspirin and cancer."], "offsets": [[0, 19]]},
            {"text": ["Tamoxifen works."], "offsets": [[20, 36]]},
        ],
        "entities": [
            {"type": "Chemical", "offsets": [[0, 7]]},
            {"type": "Disease", "offsets": [[12, 18]]},
            {"type": "Chemical", "offsets": [[20, 29]]},
        ],
    }
    assert _kb_row(row, Counter()) == [
        {"tokens": ["Aspirin", "and", "cancer", "."], "tags": ["B-Chemical", "O", "B-Disease", "O"]},
        {"tokens": ["Tamoxifen", "works", "."], "tags": ["B-Chemical", "O", "O"]},
    ]


def test_hub_style_parquet_with_class_labels(tmp_path):
    import datasets

    features = datasets.Features(
        {
            "tokens": datasets.Sequence(datasets.Value("string")),
            "ner_tags": datasets.Sequence(datasets.ClassLabel(names=["O", "B-DISO", "I-DISO"])),
        }
    )
    rows = {"tokens": [["une", "cirrhose", "hépatique"]], "ner_tags": [[0, 1, 2]]}
    for split in ("train", "validation", "test"):
        datasets.Dataset.from_dict(rows, features=features).to_parquet(str(tmp_path / f"{split}.parquet"))
    task = TASKS["fr/quaero-emea"]
    source = type(task.source)(
        format="hub-tokens", hub_id=str(tmp_path), columns={"tokens": "tokens", "tags": "ner_tags"}
    )
    data = load_task_data(type(task)(**{**task.__dict__, "source": source}))
    assert data.splits["test"] == [{"tokens": ["une", "cirrhose", "hépatique"], "tags": ["O", "B-DISO", "I-DISO"]}]
    assert data.origin.startswith(str(tmp_path))


def test_unreachable_hub_dataset_says_how_to_use_a_local_copy(monkeypatch):
    import datasets

    def offline(*args, **kwargs):
        raise ConnectionError("no network")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(BiomedError, match=r"could not load DrBenchmark/QUAERO.*refs/convert/parquet.*data_paths"):
        load_task_data(TASKS["cbio/emea"])


def _with_hub_id(name: str, hub_id: str):
    task = TASKS[name]
    return dataclasses.replace(task, source=dataclasses.replace(task.source, hub_id=hub_id))


def test_french_quaero_reads_tabibs_hub_documents_with_nested_entities(local_hub):
    """rntc/tabib-emea as tabib's upload script pushes it: a DatasetDict train/val/test of BRAT documents."""
    import datasets

    assert TASKS["fr/quaero-emea"].source.hub_id == "rntc/tabib-emea"
    assert TASKS["fr/quaero-medline"].source.hub_id == "rntc/tabib-medline"
    text = "Cancer du foie.\nDouleur abdominale."
    entities = [
        {"start": 0, "end": 14, "label": "DISO", "text": "Cancer du foie", "fragments": [{"begin": 0, "end": 14}]},
        {"start": 10, "end": 14, "label": "ANAT", "text": "foie", "fragments": [{"begin": 10, "end": 14}]},
        {"start": 16, "end": 34, "label": "DISO", "text": "Douleur abdominale", "fragments": [
            {"begin": 16, "end": 23}, {"begin": 24, "end": 34}]},
    ]  # fmt: skip
    document = {"doc_id": ["EMEA_1"], "text": [text], "entities": [entities]}
    repo_id = f"{local_hub.user}/tabib-emea"
    datasets.DatasetDict(
        {split: datasets.Dataset.from_dict(document) for split in ("train", "val", "test")}
    ).push_to_hub(repo_id)
    data = load_task_data(_with_hub_id("fr/quaero-emea", repo_id))
    # every entity is a word span, the nested ANAT included; the tags hold the outer one
    expected = [
        {
            "tokens": ["Cancer", "du", "foie", "."],
            "tags": ["B-DISO", "I-DISO", "I-DISO", "O"],
            "spans": [[0, 2, "DISO"], [2, 2, "ANAT"]],
        },
        {"tokens": ["Douleur", "abdominale", "."], "tags": ["B-DISO", "I-DISO", "O"], "spans": [[0, 1, "DISO"]]},
    ]
    assert data.splits["dev"] == data.splits["test"] == expected  # dev is tabib's "val" split, not carved
    # the nested ANAT is kept (not dropped) and the two-fragment DISO joined, counted once per split
    assert data.stats == {"overlapping_entities_kept": 3, "discontinuous_entities_joined": 3}
    assert data.labels == ["ANAT", "CHEM", "DEVI", "DISO", "GEOG", "LIVB", "OBJC", "PHEN", "PHYS", "PROC"]


def test_nested_brat_keeps_every_entity_and_never_cuts_one(tmp_path):
    """A local BRAT copy of a nested task: crossing and nested entities are word spans, a record never ends inside
    any of them (a flat task cuts where its tags allow)."""
    text = "Douleur du foie\ngauche. Fin."
    # DISO "Douleur du foie\ngauche" crosses the line end; ANAT "foie" is nested; "du foie" (PROC) crosses nothing
    ann = "T1\tDISO 0 22\tx\nT2\tANAT 11 15\tfoie\nT3\tPROC 8 15\tdu foie\nT4\tANAT 11 15\tfoie\n"
    for split in ("train", "dev", "test"):
        (tmp_path / split).mkdir()
        (tmp_path / split / "doc.txt").write_text(text, encoding="utf-8")
        (tmp_path / split / "doc.ann").write_text(ann, encoding="utf-8")
    data = load_task_data(TASKS["fr/quaero-emea"], data_paths={"fr/quaero-emea": str(tmp_path)})
    assert data.splits["test"] == [
        {
            "tokens": ["Douleur", "du", "foie", "gauche", "."],
            "tags": ["B-DISO", "I-DISO", "I-DISO", "I-DISO", "O"],
            "spans": [[0, 3, "DISO"], [1, 2, "PROC"], [2, 2, "ANAT"]],
        },
        {"tokens": ["Fin", "."], "tags": ["O", "O"], "spans": []},
    ]
    assert data.stats == {"overlapping_entities_kept": 9, "entities_merged_on_same_words": 3}


def test_a_nested_task_never_cuts_an_entity_a_flat_one_drops():
    text = "Douleur du\nfoie gauche."
    spans = [(0, 10, "DISO"), (8, 15, "ANAT")]  # "du\nfoie" crosses the tagged DISO and the line end
    flat, kept = Counter(), Counter()
    assert text_to_bio(text, spans, flat) == [
        {"tokens": ["Douleur", "du"], "tags": ["B-DISO", "I-DISO"]},
        {"tokens": ["foie", "gauche", "."], "tags": ["O", "O", "O"]},
    ]
    assert text_to_bio(text, spans, kept, nested=True) == [
        {
            "tokens": ["Douleur", "du", "foie", "gauche", "."],
            "tags": ["B-DISO", "I-DISO", "O", "O", "O"],
            "spans": [[0, 1, "DISO"], [1, 2, "ANAT"]],
        }
    ]
    assert flat == {"overlapping_entities_dropped": 1} and kept == {"overlapping_entities_kept": 1}


def test_e3c_reads_tabibs_layers(local_hub):
    """rntc/legacy_e3c: layer 2 trains and validates, layer 1 tests (tabib data/e3c.py; ch4 l.39)."""
    import datasets

    def layer(word: str) -> datasets.Dataset:
        return datasets.Dataset.from_dict(
            {
                "text": [f"{word} aigu"],
                "tokens": [[word, "aigu"]],
                "tokens_offsets": [[[0, len(word)], [len(word) + 1, len(word) + 5]]],
                "clinical_entity_tags": [[1, 2]],
            }
        )

    repo_id = f"{local_hub.user}/legacy_e3c"
    splits = {"fr.layer2": "train", "fr.layer2.validation": "dev", "fr.layer1": "test", "en.layer1": None}
    datasets.DatasetDict({name: layer(name.replace(".", "")) for name in splits}).push_to_hub(repo_id)
    data = load_task_data(_with_hub_id("cbio/e3c", repo_id))
    for theirs, ours in splits.items():
        if ours:
            assert data.splits[ours] == [
                {"tokens": [theirs.replace(".", ""), "aigu"], "tags": ["B-CLINENTITY", "I-CLINENTITY"]}
            ]
    assert data.labels == ["CLINENTITY"] and "dev_carved_from_train" not in data.stats


def test_a_nested_task_on_tagged_data_gets_the_spans_of_its_tags():
    task = TASKS["fixtures/ner-bio"]
    nested = dataclasses.replace(task, source=dataclasses.replace(task.source, nested=True))
    flat, kept = load_task_data(task), load_task_data(nested)
    for before, after in zip(flat.splits["test"], kept.splits["test"], strict=True):
        assert after["tokens"] == before["tokens"] and after["tags"] == before["tags"]
        assert after["spans"] == sorted([s, e, t] for t, s, e in entities(before["tags"], "strict"))
    assert any(r["spans"] for r in kept.splits["test"]) and "spans" not in flat.splits["test"][0]
