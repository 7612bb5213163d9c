"""Document-level code sets of FrACCO and FRASIMED, built into multi-label tasks exactly as tabib builds them.

Example::

    from pathlib import Path
    from biomed.benchmarks.doc_codes import read_fracco, build_code_task

    texts, codes = read_fracco(Path("~/data/FRACCO").expanduser())
    built = build_code_task(texts, codes, top_k=30, split_rule="fracco")
    print(built.vocabulary, {name: len(rows) for name, rows in built.splits.items()})

tabib (github.com/Rian-T/tabib at 1664939) registers ``fracco_icd_doc_top30``, ``fracco_icd_doc_top100``
(``src/tabib/__init__.py`` l.36-37: ``FRACCODocumentICDAdapter(top_k=…)``), ``frasimed_cantemist_doc_top100`` and
``frasimed_distemist_doc_top100`` (l.74, l.76: ``FRASIMEDDocumentMultilabelAdapter(subset=…, top_k=100)``). Both
adapters (``src/tabib/data/fracco.py`` l.781-845, ``src/tabib/data/frasimed.py`` l.792-858):

1. keep the documents that have a text and at least one code, sorted by name;
2. count in how many of them each code occurs and keep the ``top_k`` most frequent;
3. drop the documents left with no kept code;
4. shuffle the sorted document names with ``random.Random(42)`` and cut 80/10/10 (FrACCO allocates the three counts
   by largest remainder, ``fracco.py`` l.104-152; FRASIMED takes ``int(n * 0.8)``, ``int(n * 0.1)`` and the rest,
   ``frasimed.py`` l.65-84).

A tie at the ``top_k`` cut is broken in tabib by the iteration order of Python sets (which varies between processes):
the kit keeps the codes that appear first in the sorted documents, a document's codes in file order, and counts the
codes left out at the cut's frequency (``top_k_ties_left_out``) so that a user sees whether the choice mattered.
"""

from __future__ import annotations

import csv
import io
import math
import random
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from biomed.errors import BiomedError


SPLIT_SEED = 42
"""tabib's split seed (``FRACCODocumentICDAdapter(seed=42)``, ``FRASIMEDDocumentMultilabelAdapter(seed=42)``)."""
TRAIN_RATIO, VAL_RATIO = 0.8, 0.1
"""tabib's ``SplitRatios`` (fracco.py l.58-71, frasimed.py l.50-62); test is the rest."""

FRACCO_CSV = "DetectOnco_Final.csv"
FRACCO_TEXTS = "ann_txt_files"
FRACCO_CODE_LABEL = "expression_CIM"
"""The FrACCO annotation label whose ``code`` column enters the code sets (fracco.py l.721-729)."""
FRASIMED_SUBSETS = {"cantemist": "CANTEMIST-FRASIMED", "distemist": "DISTEMIST-FRASIMED"}

SplitRule = Literal["fracco", "frasimed"]


@dataclass
class CodeTask:
    """A built document-level multi-label task.

    Attributes:
        splits: ``train``/``dev``/``test`` -> ``{"text", "labels", "doc_name"}`` records (labels sorted).
        vocabulary: the kept codes, sorted (tabib's ``_label_vocab``).
        stats: documents read, without codes, dropped by the cut; codes seen; ties left out at the cut.
    """

    splits: dict[str, list[dict]]
    vocabulary: list[str]
    stats: dict[str, int] = field(default_factory=dict)


def build_code_task(
    texts: dict[str, str], codes: dict[str, list[str]], top_k: int | None, split_rule: SplitRule
) -> CodeTask:
    """Top-k codes, documents without a kept code dropped, seeded 80/10/10 split of the sorted document names.

    Args:
        texts: document name -> text.
        codes: document name -> its codes in file order (repeats allowed; a document counts once per code).
        top_k: keep this many of the most frequent codes; ``None`` = all.
        split_rule: ``fracco`` or ``frasimed``: how each adapter turns the ratios into counts.
    """
    valid = sorted(doc for doc in texts if codes.get(doc))
    if not valid:
        raise BiomedError("no document has both a text and a code: is this the corpus tabib reads?")
    frequency: Counter = Counter()
    for doc in valid:
        frequency.update(dict.fromkeys(codes[doc], 1))  # document frequency, first-appearance order
    ranked = sorted(frequency, key=lambda code: -frequency[code])  # stable: ties keep first-appearance order
    kept = set(ranked if top_k is None else ranked[:top_k])
    ties = 0
    if top_k is not None and len(ranked) > top_k:
        cut = frequency[ranked[top_k - 1]]
        ties = sum(1 for code in ranked[top_k:] if frequency[code] == cut)
    filtered = [doc for doc in valid if any(code in kept for code in codes[doc])]
    names = split_documents(filtered, split_rule)
    splits = {
        ours: [{"text": texts[doc], "labels": sorted(set(codes[doc]) & kept), "doc_name": doc} for doc in names[ours]]
        for ours in ("train", "dev", "test")
    }
    stats = {
        "documents_read": len(texts),
        "documents_without_codes": len(texts) - len(valid),
        "documents_without_kept_codes": len(valid) - len(filtered),
        "codes_seen": len(frequency),
        "top_k_ties_left_out": ties,
    }
    return CodeTask(splits, sorted(kept), stats)


def split_documents(names: list[str], rule: SplitRule) -> dict[str, list[str]]:
    """tabib's document split: sort, shuffle with ``random.Random(42)``, cut train/dev/test."""
    shuffled = sorted(names)
    random.Random(SPLIT_SEED).shuffle(shuffled)
    total = len(shuffled)
    if rule == "fracco":
        n_train, n_val, _ = _largest_remainder(
            total, (TRAIN_RATIO, VAL_RATIO, max(0.0, 1.0 - TRAIN_RATIO - VAL_RATIO))
        )
    else:
        n_train, n_val = int(total * TRAIN_RATIO), int(total * VAL_RATIO)
    return {
        "train": shuffled[:n_train],
        "dev": shuffled[n_train : n_train + n_val],
        "test": shuffled[n_train + n_val :],
    }


def _largest_remainder(total: int, ratios: tuple[float, ...]) -> list[int]:
    # tabib fracco.py l.104-129 (_split_counts), floats included: 1 - 0.8 - 0.1 is 0.0999…, not 0.1
    floats = [total * r for r in ratios]
    counts = [int(x) for x in floats]
    order = sorted(
        ((i, floats[i] - math.floor(floats[i])) for i in range(len(ratios)) if ratios[i] > 0),
        key=lambda item: item[1],
        reverse=True,
    )
    for i in range(total - sum(counts)):
        if not order:
            break
        counts[order[i % len(order)][0]] += 1
    return counts


# --- readers ----------------------------------------------------------------------------------------------------


def read_fracco(path: Path) -> tuple[dict[str, str], dict[str, list[str]]]:
    """FrACCO as tabib reads it (fracco.py l.705-779): ``ann_txt_files/*.txt`` and ``DetectOnco_Final.csv``.

    ``path`` is the extracted ``FRACCO`` folder, a folder holding it, ``FRACCO.zip`` or a folder holding the zip.
    Document names are the text files' stems plus ``.ann``, as the CSV's ``doc_name`` column spells them.
    """
    for folder in (path, path / "FRACCO"):
        if (folder / FRACCO_TEXTS).is_dir() and (folder / FRACCO_CSV).is_file():
            texts = {
                f"{p.stem}.ann": p.read_text(encoding="utf-8", errors="replace")
                for p in sorted((folder / FRACCO_TEXTS).glob("*.txt"))
            }
            with open(folder / FRACCO_CSV, encoding="utf-8-sig", newline="") as handle:
                return texts, _fracco_codes(handle)
    archive = path if path.is_file() else path / "FRACCO.zip"
    if not archive.is_file():
        raise BiomedError(
            f"{path}: expected FrACCO as tabib reads it: a FRACCO folder with {FRACCO_TEXTS}/ and {FRACCO_CSV}, "
            "or FRACCO.zip"
        )
    with zipfile.ZipFile(archive) as z:
        texts = {
            f"{Path(name).stem}.ann": z.read(name).decode("utf-8", errors="replace")
            for name in sorted(z.namelist())
            if name.endswith(".txt") and f"{FRACCO_TEXTS}/" in name
        }
        try:
            with z.open(f"FRACCO/{FRACCO_CSV}") as raw:
                return texts, _fracco_codes(io.TextIOWrapper(raw, encoding="utf-8-sig"))
        except KeyError:
            raise BiomedError(f"{archive}: no FRACCO/{FRACCO_CSV} in the archive") from None


def _fracco_codes(handle) -> dict[str, list[str]]:
    codes: dict[str, list[str]] = {}
    for row in csv.DictReader(handle):
        if (row.get("label") or "").strip() != FRACCO_CODE_LABEL:
            continue
        code, doc = (row.get("code") or "").strip(), (row.get("doc_name") or "").strip()
        if code and doc:
            codes.setdefault(doc, []).append(code)
    return codes


def read_frasimed(path: Path, subset: str) -> tuple[dict[str, str], dict[str, list[str]], str]:
    """One FRASIMED subset as tabib reads it (frasimed.py l.714-765): ``<subset>/*.ann`` with ``#`` code notes.

    The code type is tabib's ``auto``: that of the first annotated entity carrying an ``ICD-O-3.1`` code
    (preferred) or a ``SNOMED`` code, in sorted file order; each document's codes of that type are collected.

    Args:
        path: the FRASIMED folder (holding ``CANTEMIST-FRASIMED/``, ``DISTEMIST-FRASIMED/``) or the subset's own.
        subset: ``cantemist`` or ``distemist``.

    Returns:
        Texts and codes by document name (the ``.ann`` stem), and the code type used.
    """
    folder_name = FRASIMED_SUBSETS[subset]
    folder = path / folder_name if (path / folder_name).is_dir() else path
    if not any(folder.glob("*.ann")):
        raise BiomedError(f"{path}: expected FRASIMED as tabib reads it: {folder_name}/ with .txt/.ann pairs")
    texts: dict[str, str] = {}
    entities: dict[str, list[dict[str, str]]] = {}
    code_type = None
    for ann in sorted(folder.glob("*.ann")):
        txt = ann.with_suffix(".txt")
        if not txt.exists():
            continue
        texts[ann.stem] = txt.read_text(encoding="utf-8", errors="replace")
        entities[ann.stem] = _frasimed_entity_codes(ann.read_text(encoding="utf-8", errors="replace"))
        if code_type is None:
            coded = next((c for c in entities[ann.stem] if "ICD-O-3.1" in c or "SNOMED" in c), None)
            if coded is not None:
                code_type = "ICD-O-3.1" if "ICD-O-3.1" in coded else "SNOMED"
    code_type = code_type or ("ICD-O-3.1" if subset == "cantemist" else "SNOMED")
    doc_codes = {doc: [c[code_type] for c in ents if c.get(code_type)] for doc, ents in entities.items()}
    return texts, doc_codes, code_type


def _frasimed_entity_codes(content: str) -> list[dict[str, str]]:
    """Each text-bound entity's codes (type -> value) from ``#`` notes, in entity order (frasimed.py l.87-166)."""
    order: list[str] = []
    notes: dict[str, dict[str, str]] = {}
    for line in content.splitlines():
        line = line.strip()
        parts = line.split("\t")
        if line.startswith("T") and len(parts) >= 3:
            offsets = " ".join(parts[1].split()[1:])
            if any(len(piece.split()) >= 2 for piece in offsets.split(";")) and parts[0] not in order:
                order.append(parts[0])
        elif line.startswith("#") and len(parts) >= 3 and len(parts[1].split()) >= 2:
            code_type, target = parts[1].split()[:2]
            notes.setdefault(target, {})[code_type] = parts[2]
    return [notes.get(t, {}) for t in order]
