"""An output folder belongs to one stage and one run: its manifest says which, its lock keeps a second run out.

Example::

    from biomed.runtime.ownership import claim_output, input_fingerprint, mark_finished, require_finished

    require_finished("scored", wait=False)  # a kit output read as input must be a finished run
    inputs = input_fingerprint("scored", shards)
    settings = {"seed": cfg.seed, "variants": ...}  # the config keys that shape the output
    with claim_output("release", stage="build", settings=settings, inputs=inputs, config=cfg_dict) as out:
        ...  # write into `out`: no other run writes there until the block ends
        mark_finished(out, produced={"files": 12})

Every command that writes a folder calls :func:`claim_output` first. Before any data is written,
``OUT/.biomed/manifest.json`` records the run's identity: the stage, the kit version, the settings that shape the
output (``workers`` and progress do not) and the input fingerprint (each input folder's resolved path, and each
file's path relative to it, size and modification time), with the run's state: ``running`` until the stage calls
:func:`mark_finished`, then ``finished`` with what it produced. ``config=`` writes the resolved config as
``config.yaml`` (atomically) once the folder is claimed. A later run into the same folder resumes only when its
identity matches; otherwise it stops with one line naming the first difference and the two ways out:
``--overwrite`` (start afresh: the folder's previous content is removed) or a new ``--out``. A manifest that cannot
be read is refused the same way, never guessed at. A folder without a manifest that holds anything is not a kit
run's: it is refused even with ``--overwrite``, and nothing in it is deleted. A run also refuses an ``--out`` that
is a file, that is one of its inputs or lies inside one, or that holds one; those are refused even with
``--overwrite``, which would delete the input. Inputs are named by their resolved paths: a relative path, another
working directory or a symlink to the same input is the same run.

A stage reading a kit output calls :func:`require_finished`: a run still being written, or killed part-way, is
refused in one line naming what is missing (or waited for); a folder without a manifest (the user's own files, a
copy of the published release) is a plain input.

``OUT/.biomed/lock`` is held (``flock``) for the run: a second run into the same folder stops at once, naming
the pid that holds it. The kernel drops the lock when its process dies, so the lock of a killed run never
blocks the next one. Where ``flock`` is not supported (Lustre mounted without ``flock``, NFS without lockd: the
call fails with ``ENOSYS``, ``ENOLCK`` or ``EOPNOTSUPP``), the lock is ``OUT/.biomed/lock.owner``, created
exclusively and holding the host and pid of its run: stale, and taken over, once that pid is gone on the same
host; a lock of another host is reported with its host, for the user to remove once that run is gone.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from biomed.errors import BiomedError
from biomed.runtime.files import file_fingerprint, write_json, write_text
from biomed.runtime.slurm import stop_or_wait


OWNER_DIR = ".biomed"
MANIFEST = "manifest.json"
LOCK = "lock"
OWNER_FILE = f"{LOCK}.owner"
"""The lock created exclusively where ``flock`` is not supported: ``host pid``."""
RUNNING, FINISHED = "running", "finished"
IDENTITY_KEYS = ("stage", "settings", "inputs")
"""What makes two runs the same run (the state and what was produced do not)."""
UNSUPPORTED_LOCK_ERRNOS = frozenset({errno.ENOSYS, errno.ENOLCK, errno.EOPNOTSUPP})
CONTENTION_ERRNOS = frozenset({errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES})


class OutputRefused(BiomedError):
    """The output folder belongs to something else; the message names the difference and the ways out."""


class InputNotFinished(BiomedError):
    """An input folder is a kit run that is still being written or was killed part-way."""


class LockHeld(BiomedError):
    """Another process holds the lock; the message names it."""


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
    root = Path(root).expanduser().resolve()
    listed = []
    for path in files:
        resolved = Path(path).expanduser().resolve()
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
    *,
    config: dict[str, Any] | str | None = None,
    units: int | None = None,
    markers: str | None = None,
    slurm_wait: bool | None = None,
) -> Iterator[Path]:
    """Own ``folder`` for this run of ``stage``: check or write its manifest, hold its lock; yield the folder.

    The manifest is left ``running``; the stage calls :func:`mark_finished` once its output is complete.

    Args:
        folder: the output folder (created).
        stage: the stage's name (``build``, ``classify score``…), as the user would recognise it.
        settings: the resolved settings that shape the output (JSON-able), by config key.
        inputs: one ``input_fingerprint`` per input (or a single one).
        overwrite: start afresh: remove the folder's previous content instead of refusing a different manifest
            (only a folder with the kit's manifest is ever emptied).
        config: the resolved config, written as ``config.yaml`` (atomically) once the folder is claimed: a dict
            (dumped as YAML) or the YAML text.
        units: how many units of work (tasks, shards) the run has, and ``markers`` the folder (relative to
            ``folder``) of their done markers: what :func:`require_finished` counts to say how far a run got.
        slurm_wait: for a stage whose tasks may run as Slurm jobs (``None``: not looked at): once the lock is held,
            before anything in the folder is cleared or written, the jobs recorded there by an earlier run
            (:func:`biomed.runtime.slurm.stop_or_wait`) must have ended; still queued, they stop the run or, when
            true, are waited for.

    Raises:
        OutputRefused: the folder is a file, an input, inside one or holding one; it belongs to another stage
            or another run (unless ``overwrite``) or to no kit run; its manifest cannot be read; it cannot be
            written; another run holds its lock.
        JobsStillRunning: Slurm jobs recorded in the folder are still queued and ``slurm_wait`` is false.
    """
    out = Path(folder)
    inputs = [inputs] if isinstance(inputs, dict) else list(inputs)
    _check_not_input(out, inputs)
    created = not (out / OWNER_DIR).exists()
    _make_folder(out)
    try:
        lock = hold_lock(out / OWNER_DIR, what=str(out))
        with lock:
            if slurm_wait is not None:  # those tasks write without the lock: nothing of theirs is redone or deleted
                stop_or_wait(out, slurm_wait)
            manifest = {
                "stage": stage,
                "kit_version": kit_version(),
                "settings": _plain(settings),
                "inputs": _plain(inputs),
                "state": RUNNING,
            }
            if units is not None:
                manifest["units"] = units
                manifest["markers"] = markers
            try:
                previous = read_manifest(out)
                problem = None if previous is None else _difference(previous, manifest)
            except OutputRefused as err:  # the kit's manifest, unreadable: ours to replace, never to guess at
                previous, problem = {}, str(err).removeprefix(f"{out} ")
            if previous is None:
                foreign = _foreign_entry(out)
                if foreign:
                    raise _NotOurs(
                        f"{out} holds {foreign} and no biomed manifest ({OWNER_DIR}/{MANIFEST}): it is not the "
                        "output of a biomed run, so it is never replaced (not even with --overwrite); choose an "
                        "empty or new --out"
                    )
            if problem and not overwrite:
                raise OutputRefused(
                    f"{out} {problem}; rerun with --overwrite to start afresh (its content is deleted), "
                    "or choose a new --out"
                )
            if previous is not None and (problem or overwrite):
                _clear(out)
            _write_manifest(out, manifest)
            if config is not None:
                write_text(out / "config.yaml", config if isinstance(config, str) else _yaml(config))
            yield out
    except LockHeld as err:
        raise OutputRefused(str(err)) from None
    except _NotOurs as err:
        if created:  # leave the user's folder as it was
            shutil.rmtree(out / OWNER_DIR, ignore_errors=True)
        raise OutputRefused(str(err)) from None


class _NotOurs(Exception):
    pass


def mark_finished(folder: str | Path, produced: dict[str, Any] | None = None) -> None:
    """Record that the run owning ``folder`` (claimed, its lock held) has written all it produces.

    Args:
        folder: the folder yielded by :func:`claim_output`.
        produced: what the run produced (counts, file names…), JSON-able; readers may show it.
    """
    out = Path(folder)
    manifest = read_manifest(out)
    if manifest is None:
        raise RuntimeError(f"mark_finished({out}): the folder was not claimed with claim_output")
    manifest.update(state=FINISHED, produced=_plain(produced or {}), finished_at=time.time())
    _write_manifest(out, manifest)


def read_manifest(folder: str | Path) -> dict[str, Any] | None:
    """The manifest of an output folder, or ``None`` when it has none.

    Raises:
        OutputRefused: the manifest exists but cannot be read (cut, edited by hand, not the kit's format).
    """
    path = Path(folder) / OWNER_DIR / MANIFEST
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as err:
        raise OutputRefused(f"{folder} has an unreadable manifest ({path}: {_reason(err)})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise OutputRefused(f"{folder} has an unreadable manifest ({path}: {err.msg} at line {err.lineno})") from None
    if not isinstance(data, dict) or not isinstance(data.get("stage"), str):
        raise OutputRefused(f"{folder} has an unreadable manifest ({path}: not a biomed manifest)")
    return data


def require_finished(
    folder: str | Path,
    *stage_names: str,
    wait: bool = False,
    poll_seconds: float = 2.0,
    on_wait: Callable[[str], None] | None = None,
) -> dict[str, Any] | None:
    """Check that ``folder``, read as an input, is a finished kit run; its manifest, or ``None`` for a plain input.

    A folder without a kit manifest (the user's own files, a copy of the published release) is a plain input.
    A kit run still being written, or killed part-way, is refused in one line naming what is missing; with
    ``wait``, a run still being written (its lock held) is waited for.

    Args:
        folder: the input folder (a file inside a kit folder is checked through its folder).
        stage_names: the stages whose output this input is expected to be (named in the advice); any kit run
            must be finished whatever its stage.
        wait: wait while another process writes the run, instead of refusing.
        poll_seconds: how often to look again while waiting.
        on_wait: called once with a line saying what is waited for.

    Raises:
        InputNotFinished: the run is not finished (and not being written, when waiting).
        OutputRefused: its manifest cannot be read.
    """
    if not str(folder):
        return None  # no input given: the stage says so in its own words
    root = _owning_folder(Path(folder).expanduser())
    if root is None:
        return None
    told = False
    while True:
        manifest = read_manifest(root)
        if manifest is None:
            return None
        if manifest.get("state") == FINISHED:
            return manifest
        holder = lock_holder(root / OWNER_DIR)
        if not wait or holder is None:
            raise InputNotFinished(_not_finished(root, manifest, holder, stage_names))
        if not told and on_wait is not None:
            on_wait(f"waiting for {root} to finish ({holder} is writing it)")
            told = True
        time.sleep(poll_seconds)


def _owning_folder(path: Path) -> Path | None:
    """The kit folder ``path`` is (or, for a shard or its ``data/`` folder, lies in), or ``None``."""
    candidates = [path]
    if path.is_file() or path.name == "data":
        candidates.append(path.parent)
        if path.is_file() and path.parent.name == "data":
            candidates.append(path.parent.parent)
    for candidate in candidates:
        if (candidate / OWNER_DIR / MANIFEST).exists():
            return candidate
    return None


def _not_finished(root: Path, manifest: dict, holder: str | None, stage_names: tuple) -> str:
    stage = manifest["stage"]
    progress = ""
    units, markers = manifest.get("units"), manifest.get("markers")
    if isinstance(units, int) and markers:
        done = sum(1 for _ in (root / markers).glob("*.json")) if (root / markers).is_dir() else 0
        progress = f": {min(done, units)} of {units} {'tasks' if stage == 'extract' else 'units'} done"
    expected = ""
    if stage_names and stage not in stage_names:
        expected = f" (an input of `{'` or `'.join(stage_names)}` expected)"
    if holder is not None:
        return (
            f"{root} is not finished{progress} (its `{stage}` run is still being written by {holder}){expected}; "
            "wait for it to end, or pass --wait"
        )
    return (
        f"{root} is not finished{progress} (its `{stage}` run was killed or stopped part-way){expected}; rerun "
        f"`biomed {_command(stage)} …` into it to finish it"
    )


def _command(stage: str) -> str:
    return f"data {stage}" if stage in ("extract", "annotate") else stage


def _write_manifest(out: Path, manifest: dict[str, Any]) -> None:
    write_json(out / OWNER_DIR / MANIFEST, manifest)


def _yaml(config: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(_plain(config), sort_keys=False, allow_unicode=True)


def _reason(err: BaseException) -> str:
    return (err.strerror if isinstance(err, OSError) else None) or str(err) or type(err).__name__


def _check_not_input(out: Path, inputs: list[dict[str, Any]]) -> None:
    if out.exists() and not out.is_dir():
        raise OutputRefused(f"--out {out} is a file, not a folder; choose a folder for the output")
    resolved = out.expanduser().resolve()
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
        raise OutputRefused(f"cannot write to --out {out}: {_reason(err)}; choose a writable folder") from None


def _difference(previous: dict[str, Any], manifest: dict[str, Any]) -> str | None:
    """What makes the folder another run's, in a few words, or ``None`` when this run may resume into it."""
    if previous["stage"] != manifest["stage"]:
        return f"holds the output of `{previous['stage']}`, not of `{manifest['stage']}`"
    before, now = previous.get("settings", {}), manifest["settings"]
    if not isinstance(before, dict):
        return f"has an unreadable manifest ({OWNER_DIR}/{MANIFEST}: its settings are not a mapping)"
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


def _foreign_entry(out: Path) -> str | None:
    """The first entry of a folder without a manifest, quoted, or ``None`` when it holds nothing but ours."""
    names = sorted(entry.name for entry in out.iterdir() if entry.name != OWNER_DIR)
    return f"{names[0]!r}" + (f" (and {len(names) - 1} more)" if len(names) > 1 else "") if names else None


def _input_change(before: Any, now: list[dict[str, Any]]) -> str:
    if not isinstance(before, list) or len(before) != len(now):
        return "another number of inputs"
    for old, new in zip(before, now):
        if not isinstance(old, dict):
            return "changed"
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


def _clear(out: Path) -> None:
    """Remove everything in ``out`` but its owner folder (the lock; the manifest is rewritten next)."""
    for entry in out.iterdir():
        if entry.name == OWNER_DIR:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


@contextmanager
def hold_lock(folder: str | Path, what: str | None = None, name: str = LOCK) -> Iterator[None]:
    """Hold the exclusive lock of ``folder`` (``folder/lock``) for the block: ``flock``, or an exclusive lock file.

    Args:
        folder: the folder of the lock file (it exists).
        what: what the lock guards, named in the refusal (default: ``folder``).
        name: the lock file's name (``NAME.owner`` where ``flock`` is not supported).

    Raises:
        LockHeld: another process holds it (its pid, and its host where known, are named).
        OutputRefused: the lock cannot be taken for another reason (its path is a folder, an I/O error).
    """
    folder = Path(folder)
    what = what or str(folder)
    try:
        fd = _flock(folder / name, what)
    except _FlockUnsupported:
        with _exclusive_file_lock(folder / f"{name}.owner", what):
            yield
        return
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        try:
            os.unlink(folder / name)  # while still locked: the next run creates a fresh file
        except FileNotFoundError:
            pass
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


class _FlockUnsupported(Exception):
    pass


def _open_lock(path: Path, what: str, flags: int) -> int:
    try:
        return os.open(path, flags, 0o644)
    except IsADirectoryError:
        raise OutputRefused(
            f"the lock {path} of {what} is a folder, not a file; remove it (rmdir) and rerun"
        ) from None
    except FileExistsError:
        raise
    except OSError as err:
        raise OutputRefused(f"cannot create the lock {path} of {what}: {_reason(err)}") from None


def _flock(path: Path, what: str) -> int:
    """An fd of ``path`` holding its exclusive ``flock``."""
    while True:
        fd = _open_lock(path, what, os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            os.close(fd)
            if err.errno in UNSUPPORTED_LOCK_ERRNOS:
                raise _FlockUnsupported from None
            if err.errno not in CONTENTION_ERRNOS:
                raise OutputRefused(f"cannot lock {path} of {what}: {_reason(err)}") from None
            holder = _read_pid(path)
            raise LockHeld(
                f"{what} is in use by another run (pid {holder or 'unknown'}); wait for it to end, "
                "or choose a new --out"
            ) from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)  # the holder removed the file between our open and our lock: take the new one


@contextmanager
def _exclusive_file_lock(path: Path, what: str) -> Iterator[None]:
    """The lock as a file created exclusively, holding ``host pid``; a dead holder's on this host is taken over."""
    me = f"{socket.gethostname()} {os.getpid()}\n"
    for _ in range(100):
        try:
            fd = _open_lock(path, what, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        except FileExistsError:
            host, pid = _read_owner(path)
            if host == socket.gethostname() and pid is not None and not _alive(pid):
                path.unlink(missing_ok=True)  # stale: its process is gone
                continue
            if host is None:  # being written by its creator this instant, or cut by a kill: look again
                time.sleep(0.05)
                host, pid = _read_owner(path)
                if host is None:
                    path.unlink(missing_ok=True)
                    continue
            where = "" if host == socket.gethostname() else f" on host {host}"
            gone = "" if not where else f" (remove {path} once that run is gone)"
            raise LockHeld(
                f"{what} is in use by another run (pid {pid}{where}); wait for it to end, or choose a new --out" + gone
            ) from None
        try:
            os.write(fd, me.encode())
        finally:
            os.close(fd)
        break
    else:
        raise OutputRefused(f"cannot take the lock {path} of {what}: it keeps reappearing")
    try:
        yield
    finally:
        if _read_owner(path) == (socket.gethostname(), os.getpid()):
            path.unlink(missing_ok=True)


def lock_holder(folder: str | Path) -> str | None:
    """Who holds the lock of ``folder`` (``pid N``, with ``on host H`` where it is another host), or ``None``."""
    folder = Path(folder)
    owner = folder / OWNER_FILE
    if owner.exists():
        host, pid = _read_owner(owner)
        if host is not None and (host != socket.gethostname() or (pid is not None and _alive(pid))):
            return f"pid {pid}" + ("" if host == socket.gethostname() else f" on host {host}")
    path = folder / LOCK
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as err:
        if err.errno in CONTENTION_ERRNOS:
            return f"pid {_read_pid(path) or 'unknown'}"
        return None
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _read_owner(path: Path) -> tuple[str | None, int | None]:
    try:
        host, pid = path.read_text(encoding="utf-8").split()
        return host, int(pid)
    except (OSError, ValueError, UnicodeDecodeError):
        return None, None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
