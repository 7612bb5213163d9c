"""Read a task's train/dev/test splits into plain records, whatever format the data comes in.

Example::

    from biomed.benchmarks.loaders import load_task_data
    from biomed.benchmarks.tasks import TASKS

    data = load_task_data(TASKS["fixtures/ner-brat"])
    print(data.labels, data.splits["train"][0], data.stats)

NER records are ``{"tokens": [...], "tags": [...]}`` with BIO tags, plus ``"spans": [[start, end, type], ...]`` (word
indices, end included: every entity, nested ones too) for a task whose source keeps nested entities
(``DataSource.nested``); classification records are
``{"text": str, "labels": [str, ...]}`` (one label for single-label tasks). Formats: CoNLL-style BIO files, BRAT
standoff folders, local tables (JSONL/JSON/Parquet/CSV/TSV), and Hub datasets (word/tag columns, BigBio KB schema,
text/label columns). Whatever is lost on the way (overlapping entities flattened, discontinuous spans joined) is
counted in ``TaskData.stats``, never dropped silently.
"""

from __future__ import annotations

import json
import logging
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

from biomed.benchmarks.bio import entities
from biomed.benchmarks.tasks import DataSource, TaskSpec
from biomed.errors import BiomedError


logger = logging.getLogger(__name__)

SPLITS = ("train", "dev", "test")
DEV_FRACTION = 0.1
"""Share of train held out as dev when a dataset has no dev split (fixed seed, so every model sees the same)."""

_WORD_RE = re.compile(r"\w+(?:[-'’]\w+)*|[^\w\s]", re.UNICODE)
_TABLE_SUFFIXES = (".jsonl", ".json", ".parquet", ".csv", ".tsv")
_CONLL_SUFFIXES = (".conll", ".txt", ".bio", ".iob", ".tsv")
_SPLIT_ALIASES = {"train": ("train",), "dev": ("dev", "validation", "valid", "val"), "test": ("test",)}


@dataclass
class TaskData:
    """The three splits of a task as records, its label set and what conversion cost.

    Attributes:
        splits: ``train``/``dev``/``test`` -> list of records.
        labels: entity types (NER, no B-/I- prefix) or class names, in a fixed order.
        stats: counts of conversion losses (``overlapping_entities_dropped``, ``discontinuous_entities_joined``…).
        origin: where the data was read from (for the run's JSON).
    """

    splits: dict[str, list[dict[str, Any]]]
    labels: list[str]
    stats: dict[str, int] = field(default_factory=dict)
    origin: str = ""


def load_task_data(
    task: TaskSpec,
    data_dir: Path | None = None,
    data_paths: dict[str, str] | None = None,
    limit: int | None = None,
) -> TaskData:
    """Load a task from a local path when one is given, else from the package or the Hub.

    Args:
        task: the task to load.
        data_dir: a folder holding one sub-folder per task, named by the task's short name (``cas1``) or its full
            key with ``/`` replaced by ``__`` (``cbio__cas1``).
        data_paths: task key -> local folder, wins over ``data_dir``.
        limit: keep at most this many examples per split (smoke runs).
    """
    stats: Counter = Counter()
    local = _local_path(task, data_dir, data_paths or {})
    source = task.source
    if local is not None:
        splits = _read_local(local, source.local_format, task, stats)
        origin = str(local)
    elif source.package_path is not None:
        folder = Path(str(files("biomed.benchmarks") / source.package_path))
        splits = _read_local(folder, source.format, task, stats)
        origin = f"biomed.benchmarks/{source.package_path}"
    elif source.hub_id is not None:
        splits = _read_hub(source, task, stats)
        origin = f"{source.hub_id}:{source.config or 'default'}@{source.revision or 'main'}"
    else:
        where = f"; get it from {source.access}" if source.access else ""
        raise BiomedError(
            f"task {task.name} ({task.title}) has no public copy the kit can download{where}. {source.note} "
            f"Then pass --data-dir DIR (with DIR/{task.short_name}/) or --set data_paths.{task.name}=FOLDER."
        )
    if "dev" not in splits or not splits["dev"]:
        splits["train"], splits["dev"] = _carve_dev(splits.get("train", []))
        stats["dev_carved_from_train"] = len(splits["dev"])
    for name in SPLITS:
        if not splits.get(name):
            raise BiomedError(f"task {task.name}: split {name!r} is empty or missing in {origin}")
    if task.kind == "ner" and task.source.nested:
        # a nested task read from one-tag-per-word data (CoNLL, a table) has the spans of its tags
        for records in splits.values():
            for record in records:
                record.setdefault("spans", sorted([s, e, t] for t, s, e in entities(record["tags"], "strict")))
    if limit is not None:
        splits = {name: records[:limit] for name, records in splits.items()}
    labels = _label_set(task, splits)
    return TaskData(splits={name: splits[name] for name in SPLITS}, labels=labels, stats=dict(stats), origin=origin)


# --- local files ----------------------------------------------------------------------------------------------


def _local_path(task: TaskSpec, data_dir: Path | None, data_paths: dict[str, str]) -> Path | None:
    if task.name in data_paths:
        path = Path(data_paths[task.name]).expanduser()
        if not path.exists():
            raise BiomedError(f"data path for {task.name} does not exist: {path}")
        return path
    if data_dir is not None:
        for candidate in (Path(data_dir) / task.short_name, Path(data_dir) / task.name.replace("/", "__")):
            if candidate.exists():
                return candidate
    return None


def _read_local(folder: Path, fmt: str, task: TaskSpec, stats: Counter) -> dict[str, list[dict]]:
    from biomed.benchmarks.bioclinical import READERS

    if fmt in READERS:  # raw English clinical corpora, split as the BioClinical-ModernBERT code splits them
        return READERS[fmt](folder)
    if fmt in ("fracco", "frasimed-cantemist", "frasimed-distemist"):
        return read_coded_corpus(folder, fmt, task.source.top_k, stats)
    if fmt == "brat":
        return {
            name: read_brat_folder(path, stats, task.source.nested)
            for name, path in _split_paths(folder, task, dirs=True).items()
        }
    if fmt == "conll":
        return {name: read_conll(path) for name, path in _split_paths(folder, task, _CONLL_SUFFIXES).items()}
    return {name: read_table(path, task) for name, path in _split_paths(folder, task, _TABLE_SUFFIXES).items()}


def _split_paths(folder: Path, task: TaskSpec, suffixes: tuple[str, ...] = (), dirs: bool = False) -> dict[str, Path]:
    if not folder.is_dir():
        raise BiomedError(f"{task.name}: {folder} is not a folder; expected train/dev/test files or folders in it")
    found: dict[str, Path] = {}
    for split, aliases in _SPLIT_ALIASES.items():
        for entry in sorted(folder.iterdir()):
            stem = entry.name.split(".", 1)[0].lower()
            ok = entry.is_dir() if dirs else (entry.is_file() and entry.name.lower().endswith(suffixes))
            if ok and stem in aliases:
                found[split] = entry
                break
    if "train" not in found or "test" not in found:
        kind = "folders" if dirs else "files ending in " + "/".join(suffixes)
        raise BiomedError(f"{task.name}: {folder} needs train and test {kind} (dev optional); found {sorted(found)}")
    return found


def read_coded_corpus(path: Path, fmt: str, top_k: int | None, stats: Counter) -> dict[str, list[dict]]:
    """FrACCO or a FRASIMED subset built into a document-level multi-label task as tabib builds it."""
    from biomed.benchmarks.doc_codes import build_code_task, read_fracco, read_frasimed

    if fmt == "fracco":
        texts, codes = read_fracco(path)
        built = build_code_task(texts, codes, top_k, "fracco")
    else:
        texts, codes, _ = read_frasimed(path, fmt.removeprefix("frasimed-"))
        built = build_code_task(texts, codes, top_k, "frasimed")
    stats.update({key: value for key, value in built.stats.items() if value})
    return {name: [{"text": r["text"], "labels": r["labels"]} for r in rows] for name, rows in built.splits.items()}


def read_conll(path: Path) -> list[dict]:
    """CoNLL-style BIO: one ``token ... TAG`` line per word (tag in the last column), blank line between sentences.

    ``-DOCSTART-`` lines are skipped; IO tags (no ``B-``) are converted to BIO.
    """
    records, tokens, tags = [], [], []
    with open(path, encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("-DOCSTART-"):
                if tokens:
                    records.append({"tokens": tokens, "tags": to_bio(tags)})
                    tokens, tags = [], []
                continue
            parts = line.split("\t") if "\t" in line else line.split()
            if len(parts) < 2:
                raise BiomedError(f"{path}, line {line_no}: expected 'token TAG', got {line!r}")
            tokens.append(parts[0])
            tags.append(parts[-1])
    if tokens:
        records.append({"tokens": tokens, "tags": to_bio(tags)})
    return records


def read_table(path: Path, task: TaskSpec) -> list[dict]:
    """A local JSONL/JSON/Parquet/CSV/TSV split with a text column and a ``label`` or ``labels`` column."""
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    elif suffix == ".json":
        rows = json.loads(path.read_text(encoding="utf-8"))
    elif suffix == ".parquet":
        import pyarrow.parquet as pq

        rows = pq.read_table(path).to_pylist()
    else:
        import csv

        with open(path, encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t" if suffix == ".tsv" else ","))
    if task.kind == "ner":
        return [{"tokens": list(r["tokens"]), "tags": to_bio([str(t) for t in r["tags"]])} for r in rows]
    columns = {"text": task.source.columns.get("text", "text"), "labels": task.source.columns.get("labels", "labels")}
    return [_classification_record(row, columns, None, path) for row in rows]


def read_brat_folder(folder: Path, stats: Counter, nested: bool = False) -> list[dict]:
    """Every ``.txt``/``.ann`` pair of a BRAT folder, cut into lines then sentences, as BIO records (with every
    entity's word span when ``nested``)."""
    records = []
    for text_path in sorted(folder.glob("*.txt")):
        ann_path = text_path.with_suffix(".ann")
        text = text_path.read_text(encoding="utf-8")
        spans = parse_brat_ann(ann_path.read_text(encoding="utf-8"), ann_path, stats) if ann_path.exists() else []
        records.extend(text_to_bio(text, spans, stats, nested))
    return records


def parse_brat_ann(content: str, path: Path | str, stats: Counter) -> list[tuple[int, int, str]]:
    """Text-bound annotations (``T`` lines) of a BRAT ``.ann`` file as (start, end, type) character spans.

    Discontinuous spans (``0 5;9 14``) are joined into one span from the first start to the last end and counted.
    Relations, events, attributes and notes are ignored: NER needs only the entities.
    """
    spans = []
    for line_no, line in enumerate(content.splitlines(), 1):
        if not line.startswith("T"):
            continue
        try:
            _, middle, _ = line.split("\t", 2)
            etype, offsets = middle.split(" ", 1)
            pieces = [tuple(int(x) for x in piece.split()) for piece in offsets.split(";")]
        except ValueError:
            raise BiomedError(f"{path}, line {line_no}: not a BRAT text-bound annotation: {line!r}") from None
        if len(pieces) > 1:
            stats["discontinuous_entities_joined"] += 1
        spans.append((pieces[0][0], pieces[-1][1], etype))
    return spans


def text_to_bio(text: str, spans: list[tuple[int, int, str]], stats: Counter, nested: bool = False) -> list[dict]:
    """Tokenise ``text`` (words and punctuation), tag entity spans in BIO, cut at line ends and sentence ends.

    Overlapping or nested entities cannot live in one BIO sequence: the longest wins (earliest on ties), the others
    are left out of the tags. Without ``nested`` they are dropped and counted in
    ``stats["overlapping_entities_dropped"]``; with ``nested`` every entity is kept as a word span in the record's
    ``spans`` (``[start, end, type]``, end included), the ones outside the tags counted in
    ``stats["overlapping_entities_kept"]``, and no record is cut inside any entity. Two entities of one type on the
    same words are one span (counted in ``stats["entities_merged_on_same_words"]``).
    """
    words = [(m.start(), m.end(), m.group()) for m in _WORD_RE.finditer(text)]
    tags = ["O"] * len(words)
    owner = [-1] * len(words)
    word_spans, tagged = [], []
    for index, (start, end, etype) in enumerate(sorted(spans, key=lambda s: (s[0], -(s[1] - s[0])))):
        covered = [i for i, (ws, we, _) in enumerate(words) if ws < end and we > start]
        if not covered:
            stats["entities_without_tokens"] += 1
            continue
        word_spans.append((covered[0], covered[-1], etype))
        if any(owner[i] >= 0 for i in covered):
            stats["overlapping_entities_kept" if nested else "overlapping_entities_dropped"] += 1
            continue
        tagged.append(word_spans[-1])
        for k, i in enumerate(covered):
            tags[i] = ("B-" if k == 0 else "I-") + etype
            owner[i] = index
    # a record never ends inside an entity the task keeps
    joined = [False] * (len(words) + 1)
    for first, last, _ in word_spans if nested else tagged:
        for i in range(first + 1, last + 1):
            joined[i] = True
    records, current = [], []
    for i, (start, _end, word) in enumerate(words):
        if current and "\n" in text[words[i - 1][1] : start] and not joined[i]:
            records.append(current)
            current = []
        current.append(i)
        if word in {".", "!", "?"} and not joined[i + 1]:
            records.append(current)
            current = []
    if current:
        records.append(current)
    records = [idx for idx in records if idx]
    out = [{"tokens": [words[i][2] for i in idx], "tags": [tags[i] for i in idx]} for idx in records]
    if nested:
        where = {i: (n, i - idx[0]) for n, idx in enumerate(records) for i in idx}
        kept: list[set] = [set() for _ in records]
        for first, last, etype in word_spans:
            n, local = where[first]
            span = (local, local + last - first, etype)
            if span in kept[n]:
                stats["entities_merged_on_same_words"] += 1
            kept[n].add(span)
        for record, found in zip(out, kept, strict=True):
            record["spans"] = [list(span) for span in sorted(found)]
    return out


def to_bio(tags: list[str]) -> list[str]:
    """Normalise a tag sequence to BIO: IO tags (``DISO``, ``I-DISO`` without ``B-``) start entities on type change."""
    out, previous = [], "O"
    for tag in tags:
        if tag in ("O", "", "0"):
            out.append("O")
            previous = "O"
            continue
        if tag.startswith(("B-", "I-")):
            prefix, etype = tag[:2], tag[2:]
        else:
            prefix, etype = "I-", tag
        if prefix == "I-" and previous != etype:
            prefix = "B-"
        out.append(prefix + etype)
        previous = etype
    return out


# --- Hub ------------------------------------------------------------------------------------------------------


def _read_hub(source: DataSource, task: TaskSpec, stats: Counter) -> dict[str, list[dict]]:
    import datasets

    try:
        dataset = datasets.load_dataset(source.hub_id, source.config, revision=source.revision)
    except Exception as err:  # network, missing revision, gated repo: all fixable by the user in the same ways
        raise BiomedError(
            f"could not load {source.hub_id} (config {source.config}, revision {source.revision}) for {task.name}: "
            f"{type(err).__name__}: {err}. {source.note} Or give a local copy with --set data_paths.{task.name}=DIR."
        ) from None
    splits: dict[str, list[dict]] = {}
    for ours, theirs in source.splits.items():
        if theirs not in dataset:
            # a pushed split may be named val, validation or dev whatever the source was written with
            theirs = next((name for name in _SPLIT_ALIASES[ours] if name in dataset), None)
            if theirs is None:
                continue
        part = dataset[theirs]
        if source.format == "hub-tokens":
            splits[ours] = _token_rows(part, source)
        elif source.format == "hub-kb":
            splits[ours] = [r for row in part for r in _kb_row(row, stats)]
        elif source.format == "hub-spans":
            splits[ours] = [r for row in part for r in _span_document(row, source, stats)]
        else:
            names = _class_names(part.features.get(source.columns.get("labels", "labels")))
            splits[ours] = [_classification_record(row, source.columns, names, source.hub_id) for row in part]
    return splits


def _token_rows(part, source: DataSource) -> list[dict]:
    tokens_col, tags_col = source.columns.get("tokens", "tokens"), source.columns.get("tags", "ner_tags")
    names = _class_names(part.features[tags_col]) or (list(source.tag_names) if source.tag_names else None)
    rows = []
    for row in part:
        tags = [names[t] if names is not None else str(t) for t in row[tags_col]]
        rows.append({"tokens": list(row[tokens_col]), "tags": to_bio(tags)})
    return rows


def _kb_row(row: dict, stats: Counter) -> list[dict]:
    """A BigBio KB-schema document: passages laid out at their offsets, entities as character spans."""
    length = max((p["offsets"][-1][1] for p in row["passages"]), default=0)
    chars = [" "] * length
    for passage in row["passages"]:
        for (start, end), piece in zip(passage["offsets"], passage["text"], strict=False):
            chars[start:end] = piece
        # passages are separate blocks (title, abstract): a line break keeps sentences from spanning them
        end = passage["offsets"][-1][1]
        if end < length:
            chars[end] = "\n"
    spans = []
    for entity in row["entities"]:
        if len(entity["offsets"]) > 1:
            stats["discontinuous_entities_joined"] += 1
        spans.append((entity["offsets"][0][0], entity["offsets"][-1][1], entity["type"]))
    return text_to_bio("".join(chars), spans, stats)


def _span_document(row: dict, source: DataSource, stats: Counter) -> list[dict]:
    """A document with character-offset entities (tabib's Hub copies of BRAT corpora) as BIO records.

    Discontinuous entities span their first to last fragment, as tabib's ``start``/``end`` do (data/brat.py
    l.365-368); nested ones cannot share a tag sequence: kept as word spans when the source is ``nested``, else
    dropped, counted either way by ``text_to_bio``.
    """
    entities = row[source.columns.get("entities", "entities")] or []
    spans = []
    for entity in entities:
        if len(entity.get("fragments") or []) > 1:
            stats["discontinuous_entities_joined"] += 1
        spans.append((int(entity["start"]), int(entity["end"]), str(entity["label"])))
    return text_to_bio(str(row[source.columns.get("text", "text")]), spans, stats, source.nested)


def _class_names(feature) -> list[str] | None:
    inner = getattr(feature, "feature", None)
    for candidate in (feature, inner):
        if candidate is not None and hasattr(candidate, "names"):
            return list(candidate.names)
    return None


def _classification_record(row: dict, columns: dict[str, str], names: list[str] | None, where) -> dict:
    text_col, label_col = columns.get("text", "text"), columns.get("labels", "labels")
    if label_col not in row and "label" in row:
        label_col = "label"
    if text_col not in row or label_col not in row:
        raise BiomedError(f"{where}: rows need a {text_col!r} column and a {label_col!r} column; got {sorted(row)}")
    value = row[label_col]
    values = value if isinstance(value, (list, tuple)) else [value]
    labels = [names[v] if names is not None and isinstance(v, int) else str(v) for v in values if v is not None]
    return {"text": str(row[text_col]), "labels": labels}


# --- helpers --------------------------------------------------------------------------------------------------


def _carve_dev(train: list[dict]) -> tuple[list[dict], list[dict]]:
    order = list(range(len(train)))
    random.Random(0).shuffle(order)
    n_dev = max(1, round(len(train) * DEV_FRACTION))
    dev_idx = set(order[:n_dev])
    return [r for i, r in enumerate(train) if i not in dev_idx], [r for i, r in enumerate(train) if i in dev_idx]


def _label_set(task: TaskSpec, splits: dict[str, list[dict]]) -> list[str]:
    if task.kind == "ner":
        seen = {tag[2:] for records in splits.values() for r in records for tag in r["tags"] if tag != "O"}
        seen |= {span[2] for records in splits.values() for r in records for span in r.get("spans", ())}
    else:
        seen = {label for records in splits.values() for r in records for label in r["labels"]}
    if not task.labels:
        return sorted(seen)
    unknown = sorted(seen - set(task.labels))
    if unknown:
        raise BiomedError(
            f"task {task.name}: labels {unknown} in the data are not in the task's label set {list(task.labels)}; "
            "the data is not the version this task describes"
        )
    return list(task.labels)
