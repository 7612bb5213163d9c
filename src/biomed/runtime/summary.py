"""The summary a stage writes beside its output (``summary.json`` or a stage's own name for it).

Example::

    from biomed.runtime.summary import read_summary, write_summary

    write_summary("scored", {"paragraphs": 12, "shards": 1})
    read_summary("scored")["paragraphs"]  # 12

One format for every stage: indented JSON with sorted keys and a final newline, written atomically, so the
same counts give the same bytes (a rebuilt release pushes nothing new) and a kill never leaves half a file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from biomed.runtime.files import read_json, write_json


SUMMARY_FILE = "summary.json"


def write_summary(folder: str | Path, data: dict[str, Any], name: str = SUMMARY_FILE) -> Path:
    """Write ``data`` as ``folder/name``; return its path."""
    return write_json(Path(folder) / name, data)


def read_summary(folder: str | Path, name: str = SUMMARY_FILE) -> dict[str, Any] | None:
    """The summary in ``folder/name``, or ``None`` when there is none (or it is unreadable)."""
    data = read_json(Path(folder) / name)
    return data if isinstance(data, dict) else None
