"""Labelled paragraphs for the classifier: LLM annotations (or gold labels) and a deterministic split by article.

Example::

    from biomed.dataset_builder.classify.data import load_labelled_paragraphs, split_by_article

    rows = load_labelled_paragraphs("annotated/annotations.parquet")
    splits = split_by_article(rows.article_id, dev_fraction=0.1, test_fraction=0.1)  # {"train": [...], ...}
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from biomed.errors import BiomedError
from biomed.labels import DOMAIN_LABELS, TYPE_LABELS, LabelError, check_labels


SPLITS = ("train", "dev", "test")


@dataclass
class LabelledParagraphs:
    """Paragraphs with their three labels, as parallel columns (label ids in the order of ``biomed.labels``)."""

    article_id: list[str]
    path: list[str]
    text: list[str]
    type: np.ndarray
    domain: np.ndarray
    educational: np.ndarray
    prompt_versions: list[str] = field(default_factory=list)
    skipped: int = 0
    """Rows left out: failed annotations (``status != "ok"``) and rows without labels."""

    def __len__(self) -> int:
        return len(self.text)

    def select(self, indices: list[int] | np.ndarray) -> LabelledParagraphs:
        """The rows at ``indices``, in that order."""
        indices = np.asarray(indices, dtype=np.int64)
        return LabelledParagraphs(
            article_id=[self.article_id[i] for i in indices],
            path=[self.path[i] for i in indices],
            text=[self.text[i] for i in indices],
            type=self.type[indices],
            domain=self.domain[indices],
            educational=self.educational[indices],
            prompt_versions=self.prompt_versions,
        )


def load_labelled_paragraphs(annotations: str | Path, paragraphs: str | Path | None = None) -> LabelledParagraphs:
    """Read ``annotations.parquet`` (keeping ``status == "ok"``) or a gold-label JSONL file.

    Args:
        annotations: the annotate stage's ``annotations.parquet`` or a ``.jsonl`` of gold labels (article_id, path,
            type, domain, educational_score; ``text`` optional).
        paragraphs: an extraction output folder whose ``data/*.parquet`` supply the text of rows that lack one
            (gold labels carry only the paragraph key).

    Raises:
        BiomedError: the file is missing or unreadable, a column is missing, a label is outside the label sets,
            or a row's text cannot be found.
    """
    annotations = Path(annotations)
    if not annotations.is_file():
        raise BiomedError(f"annotations file {annotations} does not exist; pass annotations.parquet or a .jsonl")
    rows = _read_rows(annotations)
    required = ("article_id", "type", "domain", "educational_score")
    kept, skipped = [], 0
    for number, row in enumerate(rows, start=1):
        missing = [name for name in required if name not in row]
        if missing:
            raise BiomedError(f"{annotations}, row {number}: missing column(s) {', '.join(missing)}")
        if row.get("status", "ok") != "ok" or row["educational_score"] is None:
            skipped += 1
            continue
        try:
            labels = check_labels(row)
        except LabelError as err:
            raise BiomedError(
                f"{annotations}, row {number}: {err}; labels must be type in {TYPE_LABELS}, domain in "
                f"{DOMAIN_LABELS}, educational_score 1-5"
            ) from None
        kept.append((row, labels))
    if any(not row.get("text") for row, _ in kept):
        texts = _texts_by_key(annotations, paragraphs, [row for row, _ in kept])
        for row, _ in kept:
            if not row.get("text"):
                row["text"] = texts[(row["article_id"], row.get("path"))]
    versions = sorted({str(row["prompt_version"]) for row, _ in kept if row.get("prompt_version")})
    return LabelledParagraphs(
        article_id=[str(row["article_id"]) for row, _ in kept],
        path=[str(row.get("path") or "") for row, _ in kept],
        text=[row["text"] for row, _ in kept],
        type=np.array([TYPE_LABELS.index(t) for _, (t, _, _) in kept], dtype=np.int64),
        domain=np.array([DOMAIN_LABELS.index(d) for _, (_, d, _) in kept], dtype=np.int64),
        educational=np.array([s for _, (_, _, s) in kept], dtype=np.float32),
        prompt_versions=versions,
        skipped=skipped,
    )


def article_split(article_id: str, dev_fraction: float, test_fraction: float) -> str:
    """``train``, ``dev`` or ``test`` for one article, from a hash of its id: stable across runs and machines."""
    digest = hashlib.sha256(str(article_id).encode("utf-8")).digest()
    position = int.from_bytes(digest[:8], "big") / 2**64
    if position < test_fraction:
        return "test"
    if position < test_fraction + dev_fraction:
        return "dev"
    return "train"


def split_by_article(article_ids: list[str], dev_fraction: float, test_fraction: float) -> dict[str, list[int]]:
    """Row indices of each split; all paragraphs of one article land in the same split."""
    if not (0 <= dev_fraction and 0 <= test_fraction and dev_fraction + test_fraction < 1):
        raise BiomedError(
            f"dev_fraction={dev_fraction} and test_fraction={test_fraction} must be >= 0 and sum to less than 1"
        )
    splits: dict[str, list[int]] = {name: [] for name in SPLITS}
    cache: dict[str, str] = {}
    for index, article_id in enumerate(article_ids):
        if article_id not in cache:
            cache[article_id] = article_split(article_id, dev_fraction, test_fraction)
        splits[cache[article_id]].append(index)
    return splits


def data_fingerprint(rows: LabelledParagraphs) -> str:
    """A short hash of the labelled rows (keys, texts and labels), part of the default classifier version."""
    digest = hashlib.sha256()
    labels = (rows.type.tolist(), rows.domain.tolist(), rows.educational.tolist())
    for key in zip(rows.article_id, rows.path, rows.text, *labels):
        digest.update(repr(key).encode("utf-8"))
    return digest.hexdigest()[:12]


def _read_rows(path: Path) -> list[dict]:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            return pq.read_table(path).to_pylist()
        except Exception as err:  # pyarrow raises several types for a damaged file
            raise BiomedError(f"cannot read {path} as Parquet: {err}") from None
    if path.suffix == ".jsonl":
        rows = []
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as err:
                    raise BiomedError(f"{path}, line {number}: not valid JSON ({err.msg})") from None
        return rows
    raise BiomedError(f"annotations file {path} must be .parquet (annotate output) or .jsonl (gold labels)")


def _texts_by_key(annotations: Path, paragraphs: str | Path | None, rows: list[dict]) -> dict[tuple, str]:
    if paragraphs is None:
        raise BiomedError(
            f"{annotations} has rows without text; pass the extraction output folder (--paragraphs) to look them up"
        )
    import pyarrow.parquet as pq

    shards = find_parquet_shards(Path(paragraphs))
    wanted = {(row["article_id"], row.get("path")) for row in rows if not row.get("text")}
    texts: dict[tuple, str] = {}
    for shard in shards:
        table = pq.read_table(shard, columns=["article_id", "path", "text"])
        for article_id, path, text in zip(
            *(table.column(name).to_pylist() for name in ("article_id", "path", "text"))
        ):
            if (article_id, path) in wanted:
                texts[(article_id, path)] = text
    missing = sorted(wanted - set(texts))
    if missing:
        raise BiomedError(
            f"{len(missing)} labelled paragraph(s) of {annotations} are not in {paragraphs} (first: article_id="
            f"{missing[0][0]!r}, path={missing[0][1]!r}); extract the same articles the labels were made on"
        )
    return texts


def find_parquet_shards(folder: Path) -> list[Path]:
    """The Parquet shards of an extraction output (``folder/data/*.parquet``, or ``folder/*.parquet``)."""
    from biomed.runtime.files import find_shards

    return find_shards(folder, hint="pass an extraction output folder (run `biomed data extract` first)")
