"""An append-only cache of LLM answers, keyed by a hash of (model, prompt version, paragraph key, text).

Example::

    from biomed.dataset_builder.annotate.cache import AnnotationCache, answer_key

    key = answer_key("meta-llama/Llama-3.1-70B-Instruct", "annotate_v1", "PMC1", "sec[0]/p[0]", "Cells were ...")
    with AnnotationCache("annotated/cache/answers.jsonl") as cache:
        if key not in cache:
            cache.append(key, {"status": "ok", "type": "study", ...})

One JSON line per answer, written with a single ``write`` on a file opened in append mode as soon as the answer
arrives: a run killed at any point loses at most the answers still in flight, and a line cut in half by the kill
is skipped when the cache is read again. A changed model, prompt version or paragraph text gives a new key, so
the paragraph is annotated again and old answers stay in the file for reference.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from biomed.errors import BiomedError


def answer_key(model: str, prompt_version: str, article_id: str, path: str, text: str) -> str:
    """The cache key of one request: 32 hex digits of SHA-256 over its inputs, unambiguously joined."""
    payload = json.dumps([model, prompt_version, article_id, path, text], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


class AnnotationCache:
    """Answers by key, loaded from and appended to one JSONL file; one writer at a time (a lock file says so).

    Attributes:
        path: the JSONL file.
        skipped_lines: lines that could not be read back (a line cut by a kill, at most one per kill).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.skipped_lines = 0
        self._entries: dict[str, dict[str, Any]] = {}
        self._fd: int | None = None
        self._lock = None

    def __enter__(self) -> AnnotationCache:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @classmethod
    def read_keys(cls, path: str | Path) -> set[str]:
        """The keys cached in ``path`` (empty if it does not exist), read without taking the lock."""
        cache = cls(path)
        cache._load()
        return set(cache._entries)

    def open(self) -> None:
        """Take the lock, read the existing answers and open the file for appending."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._take_lock()
        self._load()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        # A kill in the middle of a write leaves a line without its newline: end it, or the next answer would be
        # glued to it and lost too.
        if self.path.stat().st_size and not _ends_with_newline(self.path):
            os.write(self._fd, b"\n")

    def _load(self) -> None:
        if not self.path.exists():
            return
        with self.path.open("rb") as handle:
            for line in handle:
                try:
                    entry = json.loads(line)
                    self._entries[entry.pop("key")] = entry
                except (json.JSONDecodeError, KeyError, AttributeError, TypeError, UnicodeDecodeError):
                    self.skipped_lines += 1

    def close(self) -> None:
        if self._fd is not None:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> dict[str, Any] | None:
        return self._entries.get(key)

    def append(self, key: str, entry: dict[str, Any]) -> None:
        """Store one answer in memory and on disk (one ``write`` call: whole line or, if killed, a cut line)."""
        if self._fd is None:
            raise RuntimeError("AnnotationCache.append() outside of `with cache:`")
        line = json.dumps({"key": key, **entry}, ensure_ascii=False, separators=(",", ":")) + "\n"
        os.write(self._fd, line.encode("utf-8"))
        self._entries[key] = entry

    def _take_lock(self) -> None:
        from contextlib import ExitStack

        from biomed.runtime.ownership import LockHeld, hold_lock

        stack = ExitStack()
        try:
            stack.enter_context(hold_lock(self.path.parent, what=str(self.path), name=self.path.name + ".lock"))
        except LockHeld:
            raise BiomedError(
                f"another `biomed data annotate` is writing to {self.path}; wait for it or use another --out"
            ) from None
        self._lock = stack


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"
