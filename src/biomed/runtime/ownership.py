"""An output folder belongs to one stage and one run: its manifest says which, its lock keeps a second run out.

Example::

    from biomed.runtime.ownership import claim_output, input_fingerprint

    inputs = input_fingerprint("scored", shards)
    settings = {"seed": cfg.seed, "variants": ...}  # the config keys that shape the output
    with claim_output("release", stage="build", settings=settings, inputs=inputs, overwrite=False) as out:
        ...  # write into `out`: no other run writes there until the block ends

Before any data is written, ``OUT/.biomed/manifest.json`` records the stage, the kit version, the settings that
shape the output (``workers`` and progress do not) and the input fingerprint (each input folder's resolved path,
and each file's path relative to it, size and modification time). A later run into the same folder resumes
only when all of these match; otherwise it stops with one line naming the first difference and the two ways
out: ``--overwrite`` (start afresh: the folder's previous content is removed) or a new ``--out``. A run also
refuses an ``--out`` that is a file, that is one of its inputs or lies inside one, or that holds one; those are
refused even with ``--overwrite``, which would delete the input.

``OUT/.biomed/lock`` is held (``flock``) for the run: a second run into the same folder stops at once, naming
the pid that holds it. The kernel drops the lock when its process dies, so the lock of a killed run never
blocks the next one. A folder written before manifests existed is adopted when its ``config.yaml`` has mostly this
stage's keys (its done markers, which recorded no input, are then redone).
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from biomed.errors import BiomedError
from biomed.runtime.files import file_fingerprint, read_json, write_json


OWNER_DIR = ".biomed"
MANIFEST = "manifest.json"
LOCK = "lock"
FOREIGN_ENTRIES = ("data", "done", "config.yaml", "logs")
"""Entries that mark a folder without a manifest as some run's output (not a folder of unrelated files)."""


class OutputRefused(BiomedError):
    """The output folder belongs to something else; the message names the difference and the ways out."""


def kit_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("biomed")
    except PackageNotFoundError:
        return "unknown"


def input_fingerprint(root: str | Path, files: Iterable[str | Path] = ()) -> dict[str, Any]:
    """What a run reads: ``root`` resolved, and ``[relative path, size, mtime_ns]`` of each of ``files``.

    ``files`` outside ``root`` are named by their resolved path. With no files, only the root is compared.
    """
    root = Path(root).resolve()
    listed = []
    for path in files:
        resolved = Path(path).resolve()
        name = resolved.relative_to(root).as_posix() if resolved.is_relative_to(root) else str(resolved)
        listed.append([name, *file_fingerprint(resolved)])
    return {"root": str(root), "files": listed}


@contextmanager
def claim_output(
    folder: str | Path,
    stage: str,
    settings: dict[str, Any],
    inputs: list[dict[str, Any]] | dict[str, Any],
    overwrite: bool = False,
    config_keys: Iterable[str] = (),
) -> Iterator[Path]:
    """Own ``folder`` for this run of ``stage``: check or write its manifest, hold its lock; yield the folder.

    Args:
        folder: the output folder (created).
        stage: the stage's name (``build``, ``classify score``…), as the user would recognise it.
        settings: the resolved settings that shape the output (JSON-able), by config key.
        inputs: one ``input_fingerprint`` per input (or a single one).
        overwrite: start afresh: remove the folder's previous content instead of refusing a different manifest.
        config_keys: the stage config's top-level keys: a folder without a manifest whose ``config.yaml`` has
            mostly these keys is this stage's output from an older kit, and is adopted.

    Raises:
        OutputRefused: the folder is a file, an input, inside one or holding one; it belongs to another stage
            or another run (unless ``overwrite``); it cannot be written; another run holds its lock.
    """
    out = Path(folder)
    inputs = [inputs] if isinstance(inputs, dict) else list(inputs)
    _check_not_input(out, inputs)
    _make_folder(out)
    with _lock(out / OWNER_DIR / LOCK):
        manifest = {
            "stage": stage,
            "kit_version": kit_version(),
            "settings": _plain(settings),
            "inputs": _plain(inputs),
        }
        previous = read_json(out / OWNER_DIR / MANIFEST)
        problem = _difference(out, previous, manifest, set(config_keys))
        if problem and not overwrite:
            raise OutputRefused(
                f"{out} {problem}; rerun with --overwrite to start afresh (its content is deleted), "
                "or choose a new --out"
            )
        if problem or (overwrite and _has_content(out)):
            _clear(out)
        write_json(out / OWNER_DIR / MANIFEST, manifest)
        yield out


def read_manifest(folder: str | Path) -> dict[str, Any] | None:
    """The manifest of an output folder, or ``None`` when it has none."""
    data = read_json(Path(folder) / OWNER_DIR / MANIFEST)
    return data if isinstance(data, dict) else None


def _check_not_input(out: Path, inputs: list[dict[str, Any]]) -> None:
    if out.exists() and not out.is_dir():
        raise OutputRefused(f"--out {out} is a file, not a folder; choose a folder for the output")
    resolved = out.resolve()
    for item in inputs:
        root = Path(item["root"])
        if resolved == root or resolved.is_relative_to(root):
            raise OutputRefused(
                f"--out {out} is {'the' if resolved == root else 'inside the'} input {root}: writing there would "
                "destroy the input; choose another --out"
            )
        if root.is_relative_to(resolved):
            raise OutputRefused(
                f"--out {out} holds the input {root}: writing there would destroy the input; choose another --out"
            )


def _make_folder(out: Path) -> None:
    try:
        (out / OWNER_DIR).mkdir(parents=True, exist_ok=True)
        probe = out / OWNER_DIR / f"probe.{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise OutputRefused(f"cannot write to --out {out}: {reason}; choose a writable folder") from None


def _difference(out: Path, previous: Any, manifest: dict[str, Any], config_keys: set[str]) -> str | None:
    """What makes ``out`` another run's, in a few words, or ``None`` when this run may resume into it."""
    if previous is None:
        return _legacy_difference(out, manifest["stage"], config_keys)
    if not isinstance(previous, dict) or "stage" not in previous:
        return f"has an unreadable manifest ({OWNER_DIR}/{MANIFEST})"
    if previous["stage"] != manifest["stage"]:
        return f"holds the output of `{previous['stage']}`, not of `{manifest['stage']}`"
    before, now = previous.get("settings", {}), manifest["settings"]
    changed = sorted(key for key in before.keys() | now.keys() if before.get(key) != now.get(key))
    if changed:
        key = changed[0]
        more = f" (and {len(changed) - 1} more)" if len(changed) > 1 else ""
        return (
            f"holds a `{manifest['stage']}` run made with another {key} "
            f"({_short(before.get(key))} there, {_short(now.get(key))} now){more}"
        )
    if previous.get("inputs") != manifest["inputs"]:
        change = _input_change(previous.get("inputs"), manifest["inputs"])
        return f"holds a `{manifest['stage']}` run of another input ({change})"
    return None


def _legacy_difference(out: Path, stage: str, config_keys: set[str]) -> str | None:
    config = out / "config.yaml"
    if config.is_file():
        try:
            saved = yaml.safe_load(config.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            saved = None
        if isinstance(saved, dict) and config_keys and _same_stage(set(saved), config_keys):
            return None  # this stage's output from a kit without manifests: resumed, its markers are checked
        return f"holds the output of another stage (its config.yaml is not a `{stage}` config)"
    found = [name for name in FOREIGN_ENTRIES if (out / name).exists()]
    if found:
        return f"holds another run's files ({found[0]}) and no manifest"
    return None


def _same_stage(saved: set[str], keys: set[str]) -> bool:
    # most keys in common: a config of this stage saved by an older kit, whose keys differ by a rename or two;
    # the stages' configs share only a few keys (output_dir, executor…)
    return len(saved & keys) >= 0.5 * len(saved | keys)


def _input_change(before: Any, now: list[dict[str, Any]]) -> str:
    if not isinstance(before, list) or len(before) != len(now):
        return "another number of inputs"
    for old, new in zip(before, now):
        if old.get("root") != new["root"]:
            return f"{old.get('root')} there, {new['root']} now"
        old_files = {f[0]: f[1:] for f in old.get("files", [])}
        new_files = {f[0]: f[1:] for f in new["files"]}
        for name in sorted(old_files.keys() | new_files.keys()):
            if name not in new_files:
                return f"{name} is gone"
            if name not in old_files:
                return f"{name} is new"
            if old_files[name] != new_files[name]:
                return f"{name} changed"
    return "changed"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _has_content(out: Path) -> bool:
    return any(entry.name != OWNER_DIR for entry in out.iterdir())


def _clear(out: Path) -> None:
    """Remove everything in ``out`` but the lock (and the manifest, rewritten next)."""
    if (out / "config.yaml").exists() or (out / OWNER_DIR / MANIFEST).exists() or not _has_content(out):
        for entry in out.iterdir():
            if entry.name == OWNER_DIR:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        return
    raise OutputRefused(
        f"{out} is not the output of a biomed stage; --overwrite only replaces those; choose an empty --out"
    )


@contextmanager
def _lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (which records the holder's pid) for the block."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            os.close(fd)
            if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            holder = _read_pid(path)
            raise OutputRefused(
                f"{path.parent.parent} is in use by another run (pid {holder or 'unknown'}); wait for it to end, "
                "or choose a new --out"
            ) from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the holder removed the file between our open and our lock: take the new one
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        try:
            os.unlink(path)  # while still locked: the next run creates a fresh file
        except FileNotFoundError:
            pass
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value
