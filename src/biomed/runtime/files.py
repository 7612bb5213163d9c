"""Atomic writes, Parquet shard discovery and file fingerprints, shared by every stage.

Example::

    from biomed.runtime.files import atomic_path, find_shards, write_json

    shards = find_shards("extracted", hint="pass the output folder of `biomed data extract`")
    with atomic_path(out / "data" / shards[0].name) as tmp:
        pyarrow.parquet.write_table(table, tmp)  # renamed onto the target only when the block succeeds
    write_json(out / "done" / "a.json", {"rows": 3})

A reader never sees a half-written file: everything is written under a temporary name beside its target
(``NAME.<pid>.tmp``, never matched by ``*.parquet`` or ``*.json``) and renamed with ``os.replace``, which is
atomic on one file system. A failure removes the temporary file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from biomed.errors import BiomedError


TMP_SUFFIX = ".tmp"


def temporary_name(path: str | Path) -> Path:
    """Where ``path`` is written before its rename: beside it, unique to this process."""
    path = Path(path)
    return path.with_name(f"{path.name}.{os.getpid()}{TMP_SUFFIX}")


def remove_temporaries(path: str | Path) -> None:
    """Remove what writes of ``path`` cut short by a kill left beside it (any process's temporary names)."""
    path = Path(path)
    for leftover in path.parent.glob(f"{_glob_escape(path.name)}.*{TMP_SUFFIX}"):
        leftover.unlink(missing_ok=True)
    path.with_name(path.name + TMP_SUFFIX).unlink(missing_ok=True)  # the name older versions of the kit used


def _glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


class PendingFile:
    """A file written over time (a streaming writer) under a temporary name, then renamed or discarded.

    Args:
        path: the target; its parent folder is created.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = temporary_name(self.path)

    def commit(self) -> Path:
        """Rename the whole file onto its target."""
        os.replace(self.tmp, self.path)
        return self.path

    def discard(self) -> None:
        """Remove the temporary file (the target is left as it was)."""
        self.tmp.unlink(missing_ok=True)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path to write ``path`` through (for writers that take a path); renamed onto ``path`` on success.

    The parent folder is created. On an exception the temporary file is removed and ``path`` is left as it was.
    """
    pending = PendingFile(path)
    try:
        yield pending.tmp
        pending.commit()
    finally:
        pending.discard()


@contextmanager
def atomic_write(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """An open file that becomes ``path`` when the block ends without an exception (``mode`` ``w`` or ``wb``)."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write writes whole files: mode 'w' or 'wb', not {mode!r}")
    with atomic_path(path) as tmp:
        with open(tmp, mode, encoding=None if "b" in mode else encoding) as handle:
            yield handle


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    with atomic_write(path) as handle:
        handle.write(text)
    return Path(path)


def write_json(path: str | Path, data: Any, indent: int | None = 1) -> Path:
    """Write ``data`` as JSON (sorted keys, so the same data gives the same bytes) to ``path`` atomically."""
    return write_text(path, json.dumps(data, indent=indent, sort_keys=True, default=str) + "\n")


def read_json(path: str | Path) -> Any | None:
    """The JSON in ``path``, or ``None`` when it is missing or unreadable (e.g. written by an older tool by hand)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None


def find_shards(
    source: str | Path,
    hint: str,
    recursive: bool = False,
    allow_file: bool = False,
    *,
    suffixes: tuple[str, ...] = (".parquet",),
) -> list[Path]:
    """The Parquet shards of a stage's output folder, in name order.

    Args:
        source: the folder: its ``data/*.parquet`` when there are some, else its ``*.parquet``.
        hint: what to pass instead, appended to the errors (e.g. "pass the output folder of `biomed data extract`").
        recursive: every ``*.parquet`` under ``source`` (hidden folders and files skipped), for datasets that keep
            one folder per config.
        allow_file: ``source`` may be one Parquet file.
        suffixes: the file name endings of a shard (e.g. ``(".parquet", ".jsonl", ".jsonl.gz")`` for training text).

    Raises:
        BiomedError: ``source`` does not exist, is a file (unless ``allow_file``) or holds no Parquet file.
    """
    if not str(source):
        raise BiomedError(f"no input folder given; {hint}")
    root = Path(source)
    if root.is_file() and allow_file:
        return [root]
    if not root.exists():
        raise BiomedError(f"input {root} does not exist; {hint}")
    if not root.is_dir():
        raise BiomedError(f"input {root} is not a folder; {hint}")
    if recursive:
        shards = sorted(
            (
                p
                for p in root.rglob("*")
                if p.name.endswith(suffixes) and p.is_file() and not _hidden(p.relative_to(root).parts)
            ),
            key=lambda p: p.relative_to(root).as_posix(),
        )
    else:
        shards = []
        for folder in (root / "data", root):
            shards = sorted(
                p for p in folder.glob("*") if p.name.endswith(suffixes) and p.is_file() and not p.name.startswith(".")
            )
            if shards:
                break
    if not shards:
        where = f"{root}" if recursive else f"{root}/data/ or {root}/"
        kinds = ".parquet shards" if suffixes == (".parquet",) else f"{'/'.join(suffixes)} files"
        raise BiomedError(f"no {kinds} in {where}; {hint}")
    return shards


def check_parquet_files(paths: Iterable[str | Path], hint: str = "") -> None:
    """Check that each file is a whole Parquet file (its footer reads), naming the first that is not.

    Reads only the footers: a truncated or overwritten file is found before any work starts.

    Raises:
        BiomedError: a file cannot be read as Parquet (one line naming it, and ``hint``).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    for path in paths:
        try:
            pq.ParquetFile(path).close()
        except (OSError, pa.ArrowException) as err:
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise BiomedError(
                f"{path} is not a readable Parquet file ({reason}); it may be truncated: "
                + (hint or "download or build it again")
            ) from None


def _hidden(parts: Iterable[str]) -> bool:
    return any(part.startswith(".") for part in parts)


def file_fingerprint(path: str | Path) -> list:
    """``[size, mtime_ns]`` of a file: what says, without reading it, that it changed."""
    stat = os.stat(path)
    return [stat.st_size, stat.st_mtime_ns]


def files_fingerprint(paths: Iterable[str | Path]) -> dict[str, list]:
    """``{resolved path: [size, mtime_ns]}`` of files: the same files named by another path compare equal."""
    return {str(Path(p).resolve()): file_fingerprint(p) for p in paths}
