"""What a model is, named by content rather than by path: a local folder's config and weights, or a Hub commit.

Example::

    from biomed.runtime.identity import fingerprint_digest, model_fingerprint

    model = model_fingerprint("runs/bio/final")            # config.json + weight files of a local folder
    hub = model_fingerprint("answerdotai/ModernBERT-base")  # a Hub id at the commit its revision resolves to
    key = fingerprint_digest(model)                         # 16 hex digits: same model, same key

A local folder is fingerprinted by its ``config.json`` and weight files (``input_fingerprint``: resolved folder,
each file's name, size and modification time): the same folder reached by another path compares equal, a
checkpoint retrained in place does not. A Hub id is fingerprinted by the commit its revision resolves to (asked of
the Hub; offline, the commit of the local cache's copy), so a branch that moves is another model.
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
NOT_WEIGHTS = ("training_args.bin", "optimizer.pt", "scheduler.pt", "scaler.pt", "rng_state")
_COMMIT = re.compile(r"[0-9a-f]{40}")


class ModelNotFound(BiomedError):
    """A model is neither a local folder nor a Hub id whose revision can be resolved."""


def model_fingerprint(model: str | Path, revision: str | None = None) -> dict[str, Any]:
    """``{"root", "files"}`` of a local model folder (``config.json`` and weights), or of a Hub id at its commit.

    Raises:
        ModelNotFound: a folder without ``config.json``; a Hub id that neither the Hub nor the cache resolves.
    """
    folder = Path(model).expanduser()
    if folder.is_dir():
        files = [
            path
            for path in sorted(folder.iterdir())
            if path.is_file()
            and (path.name == "config.json" or _is_weights(path.name))
            and not path.name.startswith(".")
        ]
        if not any(path.name == "config.json" for path in files):
            raise ModelNotFound(f"{folder} has no config.json: pass a model folder (with config.json and weights)")
        return input_fingerprint(folder, files)
    repo_id = str(model)
    commit = _hub_commit(repo_id, revision)
    return {"root": f"hf://{repo_id}@{commit}", "files": [], "hub": repo_id, "commit": commit}


def fingerprint_digest(value: Any) -> str:
    """16 hex digits of the SHA-256 of ``value`` as canonical JSON (sorted keys; paths as strings)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _is_weights(name: str) -> bool:
    weights = name.endswith(WEIGHT_SUFFIXES) or name.endswith(tuple(s + ".index.json" for s in WEIGHT_SUFFIXES))
    return weights and not any(marker in name for marker in NOT_WEIGHTS)


def _hub_commit(repo_id: str, revision: str | None) -> str:
    if revision and _COMMIT.fullmatch(revision):
        return revision
    from httpx2 import HTTPError
    from huggingface_hub import HfApi, try_to_load_from_cache
    from huggingface_hub.errors import HFValidationError, OfflineModeIsEnabled

    try:
        return HfApi().model_info(repo_id, revision=revision).sha
    except HFValidationError:
        raise ModelNotFound(f"model {repo_id!r} is neither a local folder nor a Hub id (org/name)") from None
    except (OfflineModeIsEnabled, HTTPError, OSError) as err:
        # offline, or refused by the Hub: the cached copy is what a load would read
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
