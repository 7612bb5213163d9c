"""What a run reads, named by content rather than by path: model fingerprints and run identities.

Example::

    from biomed.runtime.identity import model_fingerprint, run_identity

    model = model_fingerprint("runs/bio/final")            # config.json + weight files of a local folder
    hub = model_fingerprint("answerdotai/ModernBERT-base")  # a Hub id at the commit its revision resolves to
    key = run_identity("train", settings, [model, data])    # 16 hex digits: equal runs, equal keys

A model is what its ``config.json`` and weight files hold: a local folder is fingerprinted by those files
(``input_fingerprint``: resolved folder, each file's name, size and modification time), so the same folder
reached by another path compares equal and a checkpoint retrained in place does not. A Hub id is fingerprinted
by the commit its revision resolves to (asked of the Hub; offline, the commit of the local cache's copy), so a
branch that moves is another model. Both are ``input_fingerprint``-shaped mappings (``root`` and ``files``) and
can be passed to ``claim_output`` as inputs.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from biomed.errors import BiomedError
from biomed.runtime.ownership import input_fingerprint


WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")
"""Files of a model folder that hold weights (with their ``*.index.json`` shard maps)."""

NOT_WEIGHTS = ("training_args.bin", "optimizer.pt", "scheduler.pt", "scaler.pt", "rng_state")
"""Files with a weight suffix that a Trainer checkpoint holds beside the weights: resume state, not the model."""

HUB_ROOT = "hf://"
"""Prefix of the ``root`` of a Hub model's fingerprint (never a local path)."""

_COMMIT = re.compile(r"[0-9a-f]{40}")


class ModelNotFound(BiomedError):
    """A model is neither a local folder nor a Hub id whose revision can be resolved."""


def model_files(folder: str | Path) -> list[Path]:
    """``config.json`` and the weight files (and shard maps) at the top of a model folder, in name order."""
    folder = Path(folder)
    files = []
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.name.startswith("."):
            continue
        name = path.name
        weights = name.endswith(WEIGHT_SUFFIXES) or name.endswith(tuple(s + ".index.json" for s in WEIGHT_SUFFIXES))
        if name == "config.json" or (weights and not any(marker in name for marker in NOT_WEIGHTS)):
            files.append(path)
    return files


def model_fingerprint(model: str | Path, revision: str | None = None) -> dict[str, Any]:
    """The fingerprint of a model: a local folder's ``config.json`` and weights, or a Hub id at its commit.

    Args:
        model: a local model folder, or a Hub id (``org/name``).
        revision: the Hub revision (branch, tag or commit; default the repository's default branch); ignored for a
            local folder.

    Returns:
        ``{"root": resolved folder, "files": [[name, size, mtime_ns], ...]}`` for a folder;
        ``{"root": "hf://org/name@<commit>", "files": [], "hub": "org/name", "commit": "<commit>"}`` for a Hub id.

    Raises:
        ModelNotFound: ``model`` is a folder without ``config.json``, or a Hub id whose revision cannot be resolved
            (offline and not in the local cache, or no such repository or revision).
    """
    folder = Path(model).expanduser()
    if folder.is_dir():
        files = model_files(folder)
        if not any(path.name == "config.json" for path in files):
            raise ModelNotFound(f"{folder} has no config.json: pass a model folder (with config.json and weights)")
        return input_fingerprint(folder, files)
    repo_id = str(model)
    if folder.is_absolute() or repo_id.startswith((".", "~")) or folder.exists():
        raise ModelNotFound(f"model folder {folder} does not exist (or is not a folder); pass a model folder")
    commit = hub_commit(repo_id, revision)
    return {"root": f"{HUB_ROOT}{repo_id}@{commit}", "files": [], "hub": repo_id, "commit": commit}


def hub_commit(repo_id: str, revision: str | None = None) -> str:
    """The commit a Hub model's ``revision`` resolves to: asked of the Hub, else read from the local cache.

    Raises:
        ModelNotFound: neither the Hub nor the cache knows it; the message says which model and why.
    """
    if revision and _COMMIT.fullmatch(revision):
        return revision
    from httpx2 import HTTPError
    from huggingface_hub import HfApi, try_to_load_from_cache
    from huggingface_hub.errors import HFValidationError, OfflineModeIsEnabled

    try:
        return HfApi().model_info(repo_id, revision=revision).sha
    except HFValidationError:
        raise ModelNotFound(
            f"model {repo_id!r} is neither a local folder nor a Hub id; pass a model folder or org/name"
        ) from None
    except (OfflineModeIsEnabled, HTTPError, OSError) as err:
        # offline (or the Hub refused): the commit of the cached copy, which is what a load would read
        try:
            cached = try_to_load_from_cache(repo_id, "config.json", revision=revision)
        except HFValidationError:
            cached = None
        if isinstance(cached, str):
            return Path(cached).parent.name
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ModelNotFound(
            f"cannot resolve model {repo_id!r} at revision {revision or 'main'}: {reason}; it is not in the local "
            "cache either. Pass a local model folder, or run where the Hub is reachable"
        ) from None


def run_identity(stage: str, settings: dict[str, Any], inputs: list[dict[str, Any]] | dict[str, Any]) -> str:
    """16 hex digits naming a run: a hash of its stage, the settings that shape it and its inputs' fingerprints."""
    return fingerprint_digest({"stage": stage, "settings": settings, "inputs": inputs})


def fingerprint_digest(value: Any) -> str:
    """16 hex digits of the SHA-256 of ``value`` as canonical JSON (sorted keys; paths as strings)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
