"""The English clinical corpora as the BioClinical-ModernBERT code reads them: raw files in, its exact splits out.

Example::

    from biomed.benchmarks.bioclinical import read_deid

    splits = read_deid(Path("deidentifiedmedicaltext-1.0"))   # the folder holding id.text and id.res
    print({name: len(records) for name, records in splits.items()})

The evaluation code of BioClinical-ModernBERT (github.com/lindvalllab/BioClinical-ModernBERT,
``src/dataloader/dataloader.py``) downloads three corpora by hand and splits them itself, with fixed seeds. The
kit reproduces each reading and each split so that its scores are computed on the same test examples:

- **DEID**: PhysioNet's *Deidentified Medical Text* 1.0 (``id.text`` and ``id.res``, README l.65), records between
  ``START_OF_RECORD=`` and ``||||END_OF_RECORD``, whitespace tokens, PHI spans found from the ``[** … **]`` masks of
  ``id.res`` and mapped to six types (dataloader.py l.150-375); split 70/15/15 by scikit-learn's
  ``train_test_split(test_size=0.30, random_state=42)`` then ``(0.50, 42)`` (l.194-195).
- **COS**: the Washington BioNLP *events-COS-corpus* (README l.66): ``Snippet`` spans of the ``.ann`` files are the
  examples, ``Cos/Ref/Loc/Attr/Val`` the entities, tokens ``\\w+|[^\\w\\s]`` (l.378-466); split by
  ``datasets``' ``train_test_split(test_size=0.3, seed=42)`` then ``(0.5, 42)`` (l.482-486).
- **Social History**: the Washington BioNLP *SocialHistoryMTSamples* (README l.67): one example per ``.txt``/``.ann``
  pair, whitespace tokens (l.537-584); the same split (l.604-608).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from biomed.errors import BiomedError


DEID_TYPES = ("age", "date", "location", "name", "other", "phone_nb")
"""The PHI types the BioClinical-ModernBERT code maps the masks to (dataloader.py l.154-167)."""

_RECORD_RE = re.compile(r"(START_OF_RECORD=.*?\|\|\|\|END_OF_RECORD)", re.DOTALL)
_MASK_RE = re.compile(r"(\[\*\*.*?\*\*\])")
_HEADER_RE = re.compile(r"^\d+\|\|\|\|\d+\|\|\|\|")
_COS_TYPES = {"Cos", "Ref", "Loc", "Attr", "Val"}
_COS_TOKEN_RE = re.compile(r"\w+|[^\w\s]")


def sklearn_split(items: list, test_size: float, seed: int) -> tuple[list, list]:
    """``sklearn.model_selection.train_test_split(items, test_size=…, random_state=seed)`` without scikit-learn.

    ShuffleSplit draws one permutation from ``RandomState(seed)``; the first ``ceil(test_size * n)`` indices are the
    test part, the rest the train part, both in permutation order (the tests compare with scikit-learn itself).
    """
    import numpy as np

    n_test = math.ceil(test_size * len(items))
    permutation = np.random.RandomState(seed).permutation(len(items))
    return [items[i] for i in permutation[n_test:]], [items[i] for i in permutation[:n_test]]


def datasets_split(items: list, test_size: float, seed: int) -> tuple[list, list]:
    """``datasets.Dataset.train_test_split(test_size=…, seed=seed)`` on a list of records: (train, test)."""
    import datasets

    parts = datasets.Dataset.from_list(items).train_test_split(test_size=test_size, seed=seed)
    return parts["train"].to_list(), parts["test"].to_list()


def read_deid(folder: Path) -> dict[str, list[dict]]:
    """PhysioNet Deidentified Medical Text -> train/dev/test BIO records, split as BioClinical-ModernBERT does."""
    text_path, res_path = Path(folder) / "id.text", Path(folder) / "id.res"
    for path in (text_path, res_path):
        if not path.is_file():
            raise BiomedError(
                f"{path} is missing: the DEID task reads PhysioNet's Deidentified Medical Text 1.0 "
                "(physionet.org/content/deidentifiedmedicaltext/1.0/), files id.text and id.res"
            )
    texts = _RECORD_RE.findall(text_path.read_text(encoding="utf-8"))
    masked = _RECORD_RE.findall(res_path.read_text(encoding="utf-8"))
    if len(texts) != len(masked):
        raise BiomedError(f"{folder}: id.text has {len(texts)} records and id.res {len(masked)}; they must pair up")
    examples = [deid_record(text, res) for text, res in zip(texts, masked, strict=True)]
    train, rest = sklearn_split(examples, 0.30, 42)
    dev, test = sklearn_split(rest, 0.50, 42)
    return {"train": train, "dev": dev, "test": test}


def deid_record(text: str, masked: str) -> dict:
    """One record pair -> ``{"tokens", "tags"}``: the original text's words, PHI spans located from the masks."""
    text, masked = (_strip_record(x) for x in (text, masked))
    segments = _MASK_RE.split(masked)
    pointer, tokens, tags = 0, [], []
    for i, segment in enumerate(segments):
        if i % 2 == 0:
            for token in segment.split():
                tokens.append(token)
                tags.append("O")
            pointer += len(segment)
            continue
        kind = deid_type(segment)
        following = segments[i + 1] if i + 1 < len(segments) else ""
        end = text.find(following, pointer) if following else len(text)
        end = len(text) if end == -1 else end
        for k, token in enumerate(text[pointer:end].split()):
            # a mask no rule maps gets a bare B/I in the original code; here it is a PHI of type "other"
            tokens.append(token)
            tags.append(("B-" if k == 0 else "I-") + (kind or "other"))
        pointer = end
    return {"tokens": tokens, "tags": tags}


def _strip_record(record: str) -> str:
    for marker in ("START_OF_RECORD=", "||||END_OF_RECORD"):
        record = record.replace(marker, "")
    return _HEADER_RE.sub("", record).strip().replace("\n", " ")


def deid_type(mask: str) -> str | None:
    """The PHI type of a ``[** … **]`` mask, by the original code's rules in their order (dataloader.py l.317-375)."""
    content = mask[3:-3].strip()
    lower = content.lower()
    if "name" in lower:
        return "name"
    if "e-mail address" in lower or "email address" in lower:
        return "other"
    if "telephone/fax" in lower or "pager number" in lower:
        return "phone_nb"
    if "age over" in lower:
        return "age"
    if "location" in lower or any(k in lower for k in ("hospital", "street address", "unit number")):
        return "location"
    if (
        re.fullmatch(r"\d+", content)
        or re.fullmatch(r"\d{1,2}-\d{1,2}", content)
        or re.fullmatch(r"\d{4}-\d{2}-\d{2}", content)
        or "date range" in lower
        or "month/year" in lower
    ):
        return "date"
    if content == "" or "company" in lower:
        return "other"
    return None


def read_cos(folder: Path) -> dict[str, list[dict]]:
    """The events-COS corpus (``.ann`` files with ``Snippet`` spans) -> train/dev/test, split as the original."""
    examples = []
    ann_paths = sorted(Path(folder).glob("*.ann"))
    if not ann_paths:
        raise BiomedError(f"{folder} holds no .ann file: unpack events-COS-corpus.zip (depts.washington.edu/bionlp)")
    for path in ann_paths:
        examples.extend(cos_examples(path.read_text(encoding="utf-8")))
    return _split_70_15_15(examples)


def cos_examples(ann: str) -> list[dict]:
    """Every ``Snippet`` of one ``.ann`` file as BIO records over its ``Cos/Ref/Loc/Attr/Val`` spans."""
    entries = []
    for line in ann.splitlines():
        if not line.startswith("T") or "\t" not in line:
            continue
        rest = line.split("\t", 1)[1]
        parts = rest.split()
        if len(parts) < 4:
            continue
        try:
            start, end = int(parts[1]), int(parts[2])
        except ValueError:
            continue
        entries.append((parts[0], start, end, rest.split(None, 3)[-1].strip()))
    examples = []
    for label, s_start, s_end, s_text in entries:
        if label != "Snippet":
            continue
        spans = [
            (a - s_start, b - s_start, t) for t, a, b, _ in entries if t in _COS_TYPES and a >= s_start and b <= s_end
        ]
        words = [(m.start(), m.end(), m.group()) for m in _COS_TOKEN_RE.finditer(s_text)]
        examples.append(_tag(words, spans))
    return examples


def read_social_history(folder: Path) -> dict[str, list[dict]]:
    """SocialHistoryMTSamples (``.txt``/``.ann`` pairs) -> train/dev/test, one example per note, split as the
    original."""
    examples = []
    for text_path in sorted(Path(folder).glob("*.txt")):
        ann_path = text_path.with_suffix(".ann")
        if not ann_path.exists():
            continue  # the original skips a note without annotations too (dataloader.py l.598-600)
        text = text_path.read_text(encoding="utf-8")
        spans = []
        for line in ann_path.read_text(encoding="utf-8").splitlines():
            parts = line.strip().split("\t")
            if not line.startswith("T") or len(parts) < 2 or len(parts[1].split()) < 3:
                continue
            meta = parts[1].split()
            try:
                spans.append((int(meta[1]), int(meta[2]), meta[0]))
            except ValueError:
                continue
        words = [(m.start(), m.end(), m.group()) for m in re.finditer(r"\S+", text)]
        examples.append(_tag(words, sorted(spans)))
    if not examples:
        raise BiomedError(f"{folder} holds no .txt/.ann pair: unpack SocialHistoryMTSamples.zip")
    return _split_70_15_15(examples)


def _tag(words: list[tuple[int, int, str]], spans: list[tuple[int, int, str]]) -> dict:
    """BIO tags over words fully inside each span, later spans overwriting earlier ones (as the original)."""
    tags = ["O"] * len(words)
    for start, end, kind in spans:
        inside = [i for i, (ws, we, _) in enumerate(words) if ws >= start and we <= end]
        for k, i in enumerate(inside):
            tags[i] = ("B-" if k == 0 else "I-") + kind
    return {"tokens": [w for _, _, w in words], "tags": tags}


def _split_70_15_15(examples: list[dict]) -> dict[str, list[dict]]:
    train, rest = datasets_split(examples, 0.3, 42)
    dev, test = datasets_split(rest, 0.5, 42)
    return {"train": train, "dev": dev, "test": test}


READERS = {"physionet-deid": read_deid, "cos-snippets": read_cos, "social-history": read_social_history}
"""Local formats of the English clinical corpora -> their reader."""
