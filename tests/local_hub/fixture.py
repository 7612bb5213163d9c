"""The `local_hub` pytest fixture: a fresh local Hub per test, with every client pointed at it.

Registered in `tests/conftest.py` (`pytest_plugins = ["local_hub.fixture"]`), so any test can ask for it:

    def test_push(local_hub):
        repo_id = f"{local_hub.user}/tiny"
        local_hub.api.create_repo(repo_id, repo_type="dataset")
        Dataset.from_dict({"a": [1]}).push_to_hub(repo_id)          # HF_TOKEN is the hub's write token
        assert load_dataset(repo_id, split="train")["a"] == [1]

During the test `HF_ENDPOINT`, `HF_TOKEN`, `HF_HOME` (a fresh temporary folder holding every cache) and
`HF_HUB_DISABLE_XET=1` are set, and the values `huggingface_hub`, `datasets` and `transformers` computed from the
environment at import time are patched the same way. Name resolution of any non-loopback host fails, and a test
that tried one fails at teardown: nothing reaches the internet.
"""

import importlib
import ipaddress
import os
import socket
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from .server import LocalHub


__all__ = ["LocalHubWarning", "local_hub", "serve_local_hub"]


class LocalHubWarning(UserWarning):
    """A client asked the local hub for an endpoint it does not implement."""


@pytest.fixture
def local_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHub]:
    """A running `LocalHub` with `huggingface_hub`, `datasets` and `transformers` pointed at it.

    Yields:
        The hub: `endpoint`, `token` (write), `read_token`, `other_token` (another user), `user`, `api`
        (an `HfApi` with the write token), `inject_fault(...)`, `requests` / `count(kind)`, `files(...)`,
        `home` (the temporary `HF_HOME`), `blocked_hosts` (clear it if a test provokes a blocked lookup).
    """
    with serve_local_hub(tmp_path_factory.mktemp("hf_home")) as hub:
        yield hub
    unhandled = sorted({f"{r.method} {r.path}" for r in hub.requests if r.kind == "unknown"})
    if unhandled:
        warnings.warn(f"The local hub does not serve {unhandled} (answered 404)", LocalHubWarning, stacklevel=1)
    if hub.blocked_hosts:
        pytest.fail(
            f"The test tried to reach {sorted(set(hub.blocked_hosts))} instead of the local hub: find the "
            "module-level constant that still holds a public URL and patch it in tests/local_hub/fixture.py."
        )


@contextmanager
def serve_local_hub(home: Path) -> Iterator[LocalHub]:
    """Start a `LocalHub` and point the clients at it, with `home` as `HF_HOME`; undo everything on exit.

    What the `local_hub` fixture does, usable outside pytest (a bench script, a notebook).
    """
    hub = LocalHub().start()
    hub.home = home
    modules_before = set(sys.modules)
    try:
        with pytest.MonkeyPatch.context() as mp:
            _block_non_loopback_hosts(mp, hub.blocked_hosts)
            _point_clients_at(hub, home, mp)
            yield hub
    finally:
        hub.stop()
        _forget_client_state()
        _reset_modules_imported_during(modules_before)


def _is_loopback(host: str | None) -> bool:
    if host is None or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _block_non_loopback_hosts(mp: pytest.MonkeyPatch, blocked: list[str]) -> None:
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        host = host.decode() if isinstance(host, bytes) else host
        # datasets calls the dataset viewer at `datasets-server.<HF_ENDPOINT host>`: the local hub answers it too.
        if isinstance(host, str) and host.startswith("datasets-server.") and _is_loopback(host.split(".", 1)[1]):
            host = host.split(".", 1)[1]
        if not _is_loopback(host):
            blocked.append(host)
            raise socket.gaierror(socket.EAI_NONAME, f"local_hub fixture: no network in tests (asked for {host!r})")
        return real_getaddrinfo(host, *args, **kwargs)

    mp.setattr(socket, "getaddrinfo", getaddrinfo)


def _point_clients_at(hub: LocalHub, home: Path, mp: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants, hf_api, hf_file_system
    from huggingface_hub.utils import _cache_assets

    hub_cache, assets, xet = str(home / "hub"), str(home / "assets"), str(home / "xet")
    token_path = str(home / "token")
    env = {
        "HF_ENDPOINT": hub.endpoint,
        "HF_TOKEN": hub.token,
        "HF_HOME": str(home),
        "HF_HUB_CACHE": hub_cache,
        "HF_ASSETS_CACHE": assets,
        "HF_XET_CACHE": xet,
        "HF_TOKEN_PATH": token_path,
        "HF_DATASETS_CACHE": str(home / "datasets"),
        "HF_MODULES_CACHE": str(home / "modules"),
        # hf_xet is installed but the local hub speaks only the LFS protocol.
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_OFFLINE": "0",
        "HF_DATASETS_OFFLINE": "0",
        "TRANSFORMERS_OFFLINE": "0",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_UPDATE_CHECK": "1",
        # datasets pings an S3 bucket to count downloads.
        "HF_UPDATE_DOWNLOAD_COUNTS": "0",
    }
    for name, value in env.items():
        mp.setenv(name, value)
    for name in ("HUGGINGFACE_HUB_CACHE", "HUGGINGFACE_ASSETS_CACHE", "HUGGING_FACE_HUB_TOKEN", "TRANSFORMERS_CACHE",
                 "HUGGINGFACE_CO_STAGING", "HF_HUB_ENABLE_HF_TRANSFER"):  # fmt: skip
        mp.delenv(name, raising=False)

    # Values huggingface_hub computed from the environment when it was imported.
    for name, value in {
        "ENDPOINT": hub.endpoint,
        "HUGGINGFACE_CO_URL_TEMPLATE": hub.endpoint + "/{repo_id}/resolve/{revision}/{filename}",
        "HF_URL_HOSTS": constants.HF_URL_HOSTS | {"127.0.0.1"},
        "HF_HOME": str(home),
        "HF_HUB_CACHE": hub_cache,
        "HUGGINGFACE_HUB_CACHE": hub_cache,
        "HF_ASSETS_CACHE": assets,
        "HUGGINGFACE_ASSETS_CACHE": assets,
        "HF_XET_CACHE": xet,
        "HF_TOKEN_PATH": token_path,
        "HF_STORED_TOKENS_PATH": str(home / "stored_tokens"),
        "AGENT_HARNESSES_PATH": str(home / ".agent_harnesses.json"),
        "CHECK_FOR_UPDATE_DONE_PATH": str(home / ".check_for_update_done"),
        "CHECK_FOR_SKILL_UPDATE_DONE_PATH": str(home / ".check_for_skill_update_done"),
        "HF_HUB_DISABLE_XET": True,
        "HF_HUB_OFFLINE": False,
        "HF_HUB_DISABLE_TELEMETRY": True,
        "HF_HUB_DISABLE_UPDATE_CHECK": True,
    }.items():
        mp.setattr(constants, name, value)
    mp.setattr(_cache_assets, "HF_ASSETS_CACHE", assets)
    # Module-level client objects created at import: `huggingface_hub.upload_file`, `create_repo`, ... are bound
    # methods of `hf_api.api`, and `huggingface_hub.hffs` is one HfFileSystem with its own caches.
    mp.setattr(hf_api.api, "endpoint", hub.endpoint)
    fs = hf_file_system.hffs
    for name, value in {"endpoint": hub.endpoint, "_api": hf_api.HfApi(endpoint=hub.endpoint), "dircache": {},
                        "_repo_and_revision_exists_cache": {}, "_bucket_exists_cache": {}}.items():  # fmt: skip
        mp.setattr(fs, name, value)

    # datasets and transformers are patched only if already imported: importing them here would cost every test
    # ~2 s. If the test imports them later, they read the environment set above (and are reset at teardown).
    if "datasets.config" in sys.modules:
        config = sys.modules["datasets.config"]
        datasets_cache = home / "datasets"
        for name, value in {
            "HF_ENDPOINT": hub.endpoint,
            "HUB_DATASETS_URL": hub.endpoint + "/datasets/{repo_id}/resolve/{revision}/{path}",
            "HF_CACHE_HOME": str(home),
            "HF_DATASETS_CACHE": datasets_cache,
            "HF_MODULES_CACHE": home / "modules",
            "DOWNLOADED_DATASETS_PATH": datasets_cache / config.DOWNLOADED_DATASETS_DIR,
            "EXTRACTED_DATASETS_PATH": datasets_cache / config.DOWNLOADED_DATASETS_DIR / config.EXTRACTED_DATASETS_DIR,
            "HF_HUB_OFFLINE": False,
            "HF_DATASETS_OFFLINE": False,
            "HF_UPDATE_DOWNLOAD_COUNTS": False,
        }.items():
            mp.setattr(config, name, value)
    if "transformers.utils.hub" in sys.modules:
        # transformers keeps one HfApi, bound to the endpoint of the moment it was created.
        mp.setattr(sys.modules["transformers.utils.hub"], "_hf_api", None)

    _forget_client_state()


def _forget_client_state() -> None:
    """Drop connections and cached filesystem objects bound to a previous hub."""
    from huggingface_hub import HfFileSystem
    from huggingface_hub.utils import close_session

    close_session()
    HfFileSystem.clear_instance_cache()
    if "transformers.utils.hub" in sys.modules:
        sys.modules["transformers.utils.hub"]._hf_api = None


def _reset_modules_imported_during(modules_before: set[str]) -> None:
    """Modules first imported during the test computed their settings from the test's environment: redo it."""
    from huggingface_hub import constants

    if "datasets.config" in sys.modules and "datasets.config" not in modules_before:
        importlib.reload(sys.modules["datasets.config"])
    modules_cache = os.getenv("HF_MODULES_CACHE", os.path.join(constants.HF_HOME, "modules"))
    for name in ("transformers.utils.hub", "transformers.utils", "transformers.file_utils",
                 "transformers.dynamic_module_utils"):  # fmt: skip
        if name in sys.modules and name not in modules_before and hasattr(sys.modules[name], "HF_MODULES_CACHE"):
            sys.modules[name].HF_MODULES_CACHE = modules_cache
