"""FrACCO and FRASIMED become document-level multi-label tasks exactly as tabib builds them (top-k, drops, split).

Each fixture corpus is laid out as tabib reads it; the expected codes and splits are computed here independently.
"""

import csv
import random
import zipfile
from collections import Counter

import pytest

from biomed.benchmarks.doc_codes import build_code_task, read_fracco, read_frasimed, split_documents
from biomed.benchmarks.loaders import load_task_data
from biomed.benchmarks.tasks import TASKS
from biomed.errors import BiomedError


N_CODES = 40  # code j occurs in 40 - j documents: distinct frequencies, so no tie at any cut
N_DOCS = 60


def _assignment() -> dict[str, list[str]]:
    codes: dict[str, list[str]] = {f"doc{i:03d}": [] for i in range(N_DOCS)}
    for j in range(N_CODES):
        for m in range(N_CODES - j):
            codes[f"doc{(j * 7 + m) % N_DOCS:03d}"].append(f"C{j:02d}")
    # documents whose only codes are rare (frequency 1, below every cut): dropped by a top-30 cut
    for k in range(4):
        codes[f"rare{k}"] = [f"R{k}"]
    return codes


ASSIGNED = _assignment()


def _expected(top_k: int, rule: str):
    """Independent computation: document frequency, top-k, drop, shuffle of sorted names, tabib's counts."""
    frequency = Counter(code for codes in ASSIGNED.values() for code in set(codes) if codes)
    counts = sorted(frequency.values(), reverse=True)
    kept = {code for code, count in frequency.items() if len(counts) <= top_k or count > counts[top_k]}
    docs = sorted(doc for doc, codes in ASSIGNED.items() if set(codes) & kept)
    random.Random(42).shuffle(docs)
    n = len(docs)
    if rule == "frasimed":
        sizes = (int(n * 0.8), int(n * 0.1))
    else:  # largest remainder over 0.8 / 0.1 / (1 - 0.8 - 0.1)
        exact = [n * 0.8, n * 0.1, n * (1 - 0.8 - 0.1)]
        counts = [int(x) for x in exact]
        for i in sorted(range(3), key=lambda i: exact[i] - int(exact[i]), reverse=True)[: n - sum(counts)]:
            counts[i] += 1
        sizes = (counts[0], counts[1])
    return kept, {
        "train": docs[: sizes[0]],
        "dev": docs[sizes[0] : sizes[0] + sizes[1]],
        "test": docs[sizes[0] + sizes[1] :],
    }


def _write_fracco(root):
    folder = root / "FRACCO"
    (folder / "ann_txt_files").mkdir(parents=True)
    for doc in ASSIGNED:
        (folder / "ann_txt_files" / f"{doc}.txt").write_text(f"Compte rendu {doc}.", encoding="utf-8")
    (folder / "ann_txt_files" / "nocode.txt").write_text("Sans code.", encoding="utf-8")
    with open(folder / "DetectOnco_Final.csv", "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["doc_name", "label", "code", "span"])
        writer.writeheader()
        for doc, codes in ASSIGNED.items():
            for code in codes:
                writer.writerow({"doc_name": f"{doc}.ann", "label": "expression_CIM", "code": code, "span": "x"})
                writer.writerow({"doc_name": f"{doc}.ann", "label": "topographie", "code": "T999", "span": "x"})
            writer.writerow({"doc_name": f"{doc}.ann", "label": "expression_CIM", "code": " ", "span": "x"})
        writer.writerow({"doc_name": "notext.ann", "label": "expression_CIM", "code": "C00", "span": "x"})
    return folder


def _write_frasimed(root, subset: str, first_snomed_only: bool = False):
    folder = root / "FRASIMED" / subset
    folder.mkdir(parents=True)
    for doc, codes in ASSIGNED.items():
        lines = ["T0\tmorphology-onco 0 5\tsans note"]
        for n, code in enumerate(codes, 1):
            lines.append(f"T{n}\tmorphology-onco 0 5;6 8\tmasse")
            if subset.startswith("CANTEMIST") and not (first_snomed_only and doc == "doc000" and n == 1):
                lines.append(f"#{n}\tICD-O-3.1 T{n}\t{code}")
            lines.append(
                f"#{n}b\tSNOMED T{n}\t{code}" if not subset.startswith("CANTEMIST") else f"#{n}b\tSNOMED T{n}\tS{n}"
            )
        (folder / f"{doc}.ann").write_text("\n".join(lines) + "\n", encoding="utf-8")
        (folder / f"{doc}.txt").write_text(f"Cas clinique {doc}.", encoding="utf-8")
    (folder / "orphan.ann").write_text("T1\tmorphology-onco 0 5\tx\n#1\tICD-O-3.1 T1\tC00\n", encoding="utf-8")
    (folder / "empty.ann").write_text("", encoding="utf-8")
    (folder / "empty.txt").write_text("Rien.", encoding="utf-8")
    return root / "FRASIMED"


def _check(built, top_k, rule):
    kept, splits = _expected(top_k, rule)
    assert built.vocabulary == sorted(kept)
    for name, docs in splits.items():
        assert [r["doc_name"] for r in built.splits[name]] == docs, name
        assert all(r["labels"] == sorted(set(ASSIGNED[r["doc_name"]]) & kept) for r in built.splits[name])


@pytest.mark.parametrize("top_k", [30, 100])
def test_fracco_documents_top_k_and_split_as_tabib(tmp_path, top_k):
    folder = _write_fracco(tmp_path)
    texts, codes = read_fracco(folder)
    assert "nocode.ann" in texts and "notext.ann" in codes and codes["doc000.ann"][0] == "C00"
    built = build_code_task(texts, codes, top_k, "fracco")
    renamed = {f"{doc}.ann": c for doc, c in ASSIGNED.items()}
    assert {doc: sorted(set(c)) for doc, c in codes.items() if doc != "notext.ann"} == {
        doc: sorted(set(c)) for doc, c in renamed.items()
    }
    for split in built.splits.values():
        for record in split:
            record["doc_name"] = record["doc_name"].removesuffix(".ann")
    _check(built, top_k, "fracco")
    assert built.stats["documents_without_codes"] == 1  # nocode
    assert built.stats["documents_without_kept_codes"] == (4 if top_k == 30 else 0)  # the rare-code documents
    assert built.stats["top_k_ties_left_out"] == 0
    # the archive tabib also reads gives the same task
    archive = tmp_path / "FRACCO.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                z.write(path, path.relative_to(tmp_path).as_posix())
    assert read_fracco(archive) == (texts, codes)


@pytest.mark.parametrize("subset", ["CANTEMIST-FRASIMED", "DISTEMIST-FRASIMED"])
def test_frasimed_documents_top_100_and_split_as_tabib(tmp_path, subset):
    root = _write_frasimed(tmp_path, subset)
    texts, codes, code_type = read_frasimed(root, subset.split("-")[0].lower())
    assert code_type == ("ICD-O-3.1" if subset.startswith("CANTEMIST") else "SNOMED")
    assert "orphan" not in texts and codes["empty"] == []
    assert {doc: c for doc, c in codes.items() if doc != "empty"} == ASSIGNED
    built = build_code_task(texts, codes, 100, "frasimed")
    _check(built, 100, "frasimed")
    assert built.stats["documents_without_codes"] == 1


def test_frasimed_code_type_is_that_of_the_first_coded_entity(tmp_path):
    root = _write_frasimed(tmp_path, "CANTEMIST-FRASIMED", first_snomed_only=True)
    _, codes, code_type = read_frasimed(root / "CANTEMIST-FRASIMED", "cantemist")
    # tabib's "auto": doc000's T1 carries a SNOMED note only, so SNOMED codes are collected everywhere
    assert code_type == "SNOMED" and codes["doc000"][:2] == ["S1", "S2"]


def test_the_two_adapters_cut_splits_differently():
    names = [f"d{i}" for i in range(15)]
    fracco, frasimed = split_documents(names, "fracco"), split_documents(names, "frasimed")
    assert [len(fracco[s]) for s in ("train", "dev", "test")] == [12, 2, 1]
    assert [len(frasimed[s]) for s in ("train", "dev", "test")] == [12, 1, 2]
    order = sorted(names)
    random.Random(42).shuffle(order)
    assert fracco["train"] + fracco["dev"] + fracco["test"] == order
    assert [len(split_documents([f"e{i}" for i in range(23)], "fracco")[s]) for s in ("train", "dev", "test")] == [
        19,
        2,
        2,
    ]


def test_ties_at_the_cut_keep_the_first_codes_met_and_are_counted():
    texts = {"a": "x", "b": "y", "c": "z"}
    codes = {"a": ["K2", "K1"], "b": ["K3", "K1"], "c": ["K3", "K2", "K9"]}
    built = build_code_task(texts, codes, 2, "fracco")
    # K1, K2, K3 occur twice each: K2 and K1 come first in document a
    assert built.vocabulary == ["K1", "K2"] and built.stats["top_k_ties_left_out"] == 1
    with pytest.raises(BiomedError, match="no document has both"):
        build_code_task({"a": "x"}, {}, 2, "fracco")


def test_the_french_tasks_read_their_corpora_through_the_loader(tmp_path):
    fracco = _write_fracco(tmp_path / "f")
    frasimed = _write_frasimed(tmp_path / "s", "DISTEMIST-FRASIMED")
    data = load_task_data(TASKS["fr/fracco-30"], data_paths={"fr/fracco-30": str(fracco.parent)})
    kept, splits = _expected(30, "fracco")
    assert data.labels == sorted(kept) and {k: len(v) for k, v in data.splits.items()} == {
        k: len(v) for k, v in splits.items()
    }
    assert data.stats["documents_without_kept_codes"] == 4
    data = load_task_data(
        TASKS["fr/distemist"], data_dir=tmp_path / "none", data_paths={"fr/distemist": str(frasimed)}
    )
    assert len(data.labels) == N_CODES + 4 and set(data.splits["test"][0]) == {"text", "labels"}
    with pytest.raises(BiomedError, match="FRACCO"):
        load_task_data(TASKS["fr/fracco-100"])
    with pytest.raises(BiomedError, match="expected FrACCO"):
        load_task_data(TASKS["fr/fracco-100"], data_paths={"fr/fracco-100": str(tmp_path)})
