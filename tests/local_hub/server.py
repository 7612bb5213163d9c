"""A local server speaking the part of the Hugging Face Hub HTTP API that `huggingface_hub`, `datasets` and
`transformers` use to publish and load repos, so tests run the stock client code over real HTTP.

Two loopback listeners share one in-memory `HubStore`:

- the Hub endpoint (`hub.endpoint`): `/api/...`, `/{repo}/resolve/{rev}/{path}`, `/{repo}.git/info/lfs/...`;
- a storage endpoint (`hub.storage_endpoint`, another origin) standing in for S3/CloudFront: signed LFS upload
  URLs and the signed blob URLs that `resolve` redirects LFS files to. Being another origin matters: the client
  reads LFS metadata from the redirect itself and drops its `Authorization` header when following it.

Faults are injected per request kind (`hub.inject_fault("lfs_upload", nth=2, mode="500")`); every request is
recorded in `hub.requests` with its kind and status.

Example:
    >>> from local_hub.server import LocalHub
    >>> with LocalHub() as hub:
    ...     url = hub.api.create_repo(f"{hub.user}/tiny", repo_type="dataset")
    ...     hub.api.upload_file(path_or_fileobj=b"hi", path_in_repo="a.txt", repo_id=url.repo_id, repo_type="dataset")
"""

import base64
import hashlib
import hmac
import json
import re
import secrets
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

import yaml

from .store import REPO_TYPES, Commit, FileEntry, HubError, HubStore, Repo, iso


FAULT_MODES = ("500", "502", "503", "429", "401", "403", "404", "drop", "slow", "truncate")

# Request kinds, for fault injection and `hub.count(kind)`.
KINDS = (
    "whoami", "create_repo", "delete_repo", "list_repos", "repo_info", "repo_settings", "refs", "branch", "tag",
    "commits", "tree", "paths_info", "preupload", "commit", "validate_yaml", "lfs_batch", "lfs_upload",
    "lfs_verify", "lfs_complete", "resolve", "lfs_download", "datasets_server", "agent_harnesses", "unknown",
)  # fmt: skip

_API = r"^/api/(?P<type>models|datasets|spaces)/(?P<ns>[^/]+)/(?P<name>[^/]+)"
_GIT = r"^/(?:(?P<prefix>datasets|spaces)/)?(?P<ns>[^/]+)/(?P<name>[^/]+?)"
# (methods, path regex, kind, handler name); first match wins.
_HUB_ROUTES = [
    ({"GET"}, r"^/api/whoami-v2$", "whoami", "whoami"),
    ({"GET"}, r"^/api/agent-harnesses$", "agent_harnesses", "agent_harnesses"),
    ({"POST"}, r"^/api/repos/create$", "create_repo", "create_repo"),
    ({"DELETE"}, r"^/api/repos/delete$", "delete_repo", "delete_repo"),
    ({"POST"}, r"^/api/validate-yaml$", "validate_yaml", "validate_yaml"),
    ({"GET"}, r"^/api/(?P<type>models|datasets|spaces)$", "list_repos", "list_repos"),
    ({"GET"}, _API + r"(?:/revision/(?P<rev>[^/]+))?$", "repo_info", "repo_info"),
    ({"PUT"}, _API + r"/settings$", "repo_settings", "repo_settings"),
    ({"GET"}, _API + r"/refs$", "refs", "refs"),
    ({"GET"}, _API + r"/commits/(?P<rev>[^/]+)$", "commits", "commits"),
    ({"GET"}, _API + r"/tree/(?P<rev>[^/]+)(?:/(?P<path>.+))?$", "tree", "tree"),
    ({"POST"}, _API + r"/paths-info/(?P<rev>[^/]+)$", "paths_info", "paths_info"),
    ({"POST"}, _API + r"/preupload/(?P<rev>[^/]+)$", "preupload", "preupload"),
    ({"POST"}, _API + r"/commit/(?P<rev>[^/]+)$", "commit", "commit"),
    ({"POST", "DELETE"}, _API + r"/branch/(?P<rev>[^/]+)$", "branch", "branch"),
    ({"POST", "DELETE"}, _API + r"/tag/(?P<rev>[^/]+)$", "tag", "tag"),
    ({"POST"}, _GIT + r"\.git/info/lfs/objects/batch$", "lfs_batch", "lfs_batch"),
    ({"POST"}, _GIT + r"\.git/info/lfs/objects/verify$", "lfs_verify", "lfs_verify"),
    ({"POST"}, _GIT + r"\.git/info/lfs/objects/complete/(?P<oid>[0-9a-f]{64})$", "lfs_complete", "lfs_complete"),
    ({"GET", "HEAD"}, _GIT + r"/resolve/(?P<rev>[^/]+)/(?P<path>.+)$", "resolve", "resolve"),
    # The dataset viewer API, which `datasets` derives as `datasets-server.<HF_ENDPOINT host>`.
    ({"GET"}, r"^/(?P<what>parquet|info|splits|is-valid)$", "datasets_server", "datasets_server"),
]
_STORAGE_ROUTES = [
    ({"PUT"}, r"^/upload/(?P<type>model|dataset|space)/(?P<ns>[^/]+)/(?P<name>[^/]+)/(?P<oid>[0-9a-f]{64})"
     r"(?:/(?P<part>\d+))?$", "lfs_upload", "lfs_upload"),
    ({"GET", "HEAD"}, r"^/blobs/(?P<oid>[0-9a-f]{64})$", "lfs_download", "lfs_download"),
]  # fmt: skip


@dataclass
class Fault:
    """A fault armed on the `nth` request of `kind` (1-based), repeated on the next `times - 1` ones."""

    kind: str
    nth: int
    mode: str
    delay: float
    times: int
    fired: int = 0


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    kind: str
    status: int | None  # None: the connection was dropped


@dataclass(frozen=True)
class User:
    name: str
    orgs: tuple[str, ...] = ()
    role: str = "write"

    def member_of(self, namespace: str) -> bool:
        return namespace == self.name or namespace in self.orgs


@dataclass
class _Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    params: dict[str, str]
    user: User | None = None

    def json(self) -> dict:
        try:
            return json.loads(self.body or b"{}")
        except ValueError as err:
            raise HubError(400, f"Invalid JSON body: {err}") from err

    def flag(self, name: str) -> bool:
        return self.query.get(name, ["false"])[-1].lower() in ("1", "true")


@dataclass
class _Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    # For HEAD: the Content-Length a GET would have sent.
    content_length: int | None = None


def _json(data, status: int = 200, headers: dict | None = None) -> _Response:
    return _Response(status, json.dumps(data).encode(), {"Content-Type": "application/json", **(headers or {})})


def _repo_key(params: dict[str, str]) -> tuple[str, str]:
    """(repo type, repo id) from a route's groups: `type` is `models`/`model`, or a URL `prefix` like `datasets`."""
    repo_type = params.get("type") or params.get("prefix") or "models"
    return repo_type.removesuffix("s"), f"{unquote(params['ns'])}/{unquote(params['name'])}"


def _card_data(text: str) -> dict | None:
    """YAML front matter of a README, as the Hub exposes it in `cardData`."""
    match = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", text, flags=re.DOTALL)
    if not match:
        return None
    data = yaml.safe_load(match.group(1))
    return data if isinstance(data, dict) else None


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """Inclusive (start, end) of a single `Range: bytes=...` header; None to serve the whole body."""
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    start_s, _, end_s = header[len("bytes=") :].strip().partition("-")
    if start_s == "":
        start, end = max(size - int(end_s), 0), size - 1
    else:
        start, end = int(start_s), min(int(end_s), size - 1) if end_s else size - 1
    if start >= size or start > end:
        raise HubError(416, "Requested range not satisfiable", headers={"Content-Range": f"bytes */{size}"})
    return start, end


class LocalHub:
    """In-memory Hub on two loopback ports. Use as a context manager, or `start()` / `stop()`.

    Args:
        user: Name of the user owning `token` (write) and `read_token` (read-only).
        orgs: Organizations `user` can write to.
        page_size: Entries per page of `tree` and `commits` listings (the Hub uses 1000 and 50; lower it to
            exercise the clients' pagination).
        multipart_threshold: LFS objects larger than this are offered the multipart transfer, in parts of
            `multipart_chunk_size` bytes. None (default): always the basic single-PUT transfer.
        multipart_chunk_size: Part size of multipart uploads.
    """

    def __init__(
        self,
        user: str = "local-user",
        orgs: tuple[str, ...] = ("local-org",),
        page_size: int = 1000,
        multipart_threshold: int | None = None,
        multipart_chunk_size: int = 5 * 1024 * 1024,
    ):
        self.user = user
        self.orgs = orgs
        self.page_size = page_size
        self.multipart_threshold = multipart_threshold
        self.multipart_chunk_size = multipart_chunk_size
        self.token = "hf_local_write_" + secrets.token_hex(8)
        self.read_token = "hf_local_read_" + secrets.token_hex(8)
        self.other_user = "other-user"
        self.other_token = "hf_local_other_" + secrets.token_hex(8)
        self._users = {
            self.token: User(user, orgs, "write"),
            self.read_token: User(user, orgs, "read"),
            self.other_token: User(self.other_user, (), "write"),
        }
        self._secret = secrets.token_bytes(16)
        self.store = HubStore()
        self.requests: list[RequestRecord] = []
        self._faults: list[Fault] = []
        self._counts: dict[str, int] = {}
        self._parts: dict[tuple[str, str], dict[int, bytes]] = {}
        self._lock = threading.Lock()
        self._servers: list[ThreadingHTTPServer] = []
        self._api = None
        self.home: Path | None = None  # the temporary HF_HOME, set by the pytest fixture
        self.blocked_hosts: list[str] = []  # non-loopback hosts a test tried to resolve (pytest fixture)

    # ------------------------------------------------------------ lifecycle
    def start(self) -> "LocalHub":
        for is_storage in (False, True):
            handler = type("Handler", (_Handler,), {"hub": self, "is_storage": is_storage})
            server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
            self._servers.append(server)
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._servers.clear()

    def __enter__(self) -> "LocalHub":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def endpoint(self) -> str:
        """Base URL of the Hub API, what `HF_ENDPOINT` is set to."""
        return f"http://127.0.0.1:{self._servers[0].server_address[1]}"

    @property
    def storage_endpoint(self) -> str:
        """Base URL of the blob storage (another origin, like the Hub's CDN)."""
        return f"http://127.0.0.1:{self._servers[1].server_address[1]}"

    @property
    def api(self):
        """An `HfApi` bound to this hub with the write token."""
        if self._api is None:
            from huggingface_hub import HfApi

            self._api = HfApi(endpoint=self.endpoint, token=self.token)
        return self._api

    # ------------------------------------------------------ faults and log
    def inject_fault(self, kind: str, nth: int = 1, mode: str = "500", delay: float = 1.0, times: int = 1) -> None:
        """Make the `nth` request of `kind` (counted from now, 1-based) fail, then `times - 1` more.

        Args:
            kind: A request kind (see `KINDS`), e.g. `"lfs_upload"`, `"commit"`, `"resolve"`, or `"*"` for any.
            nth: Which request of that kind, counted from this call, fails first.
            mode: `"500"`/`"502"`/`"503"`/`"429"` answer that status (the client retries some requests);
                `"401"`/`"403"`/`"404"` too (a token revoked, a permission lost, a repo deleted mid-way); `"drop"`
                closes the connection without an answer; `"slow"` waits `delay` seconds then answers normally;
                `"truncate"` sends the headers and half the body, then closes (a download cut mid-way).
            delay: Seconds to wait in `"slow"` mode.
            times: How many consecutive requests of that kind fail.
        """
        if kind != "*" and kind not in KINDS:
            raise ValueError(f"Unknown request kind {kind!r}; expected one of {KINDS} or '*'")
        if mode not in FAULT_MODES:
            raise ValueError(f"Unknown fault mode {mode!r}; expected one of {FAULT_MODES}")
        with self._lock:
            seen = self._counts.get(kind, 0) if kind != "*" else sum(self._counts.values())
            self._faults.append(Fault(kind, seen + nth, mode, delay, times))

    def count(self, kind: str, status: int | None = None) -> int:
        """Number of requests of `kind` received so far (optionally only those answered with `status`)."""
        return sum(1 for r in self.requests if r.kind == kind and (status is None or r.status == status))

    def files(self, repo_id: str, repo_type: str = "model", revision: str = "main") -> dict[str, bytes]:
        """Content of every file of a repo at a revision, read from the server's state (not over HTTP)."""
        repo = self.store.get_repo(repo_type, repo_id)
        if repo is None:
            raise KeyError(f"No {repo_type} repo {repo_id} on the local hub")
        commit = self.store.resolve(repo, revision)
        return {path: self._content(entry) for path, entry in commit.files.items()}

    def _take_fault(self, kind: str) -> Fault | None:
        with self._lock:
            self._counts[kind] = self._counts.get(kind, 0) + 1
            total = sum(self._counts.values())
            for fault in self._faults:
                seen = total if fault.kind == "*" else self._counts[kind] if fault.kind == kind else None
                if seen is not None and fault.nth <= seen < fault.nth + fault.times:
                    fault.fired += 1
                    return fault
        return None

    # ---------------------------------------------------------------- auth
    def _authenticate(self, headers: dict[str, str]) -> User | None:
        header = headers.get("authorization")
        if not header:
            return None
        user = self._users.get(header.removeprefix("Bearer ").strip())
        if user is None:
            raise HubError(401, "Invalid credentials in Authorization header")
        return user

    def _repo(self, req: _Request, write: bool = False) -> Repo:
        """The repo a request targets, or the Hub's not-found / forbidden answer."""
        repo_type, repo_id = _repo_key(req.params)
        repo = self.store.get_repo(repo_type, repo_id)
        user = req.user
        if repo is None or (repo.private and not (user and user.member_of(repo.namespace))):
            raise HubError(401 if user is None else 404, "Repository not found", code="RepoNotFound")
        if write and user is None:
            # On the Hub an anonymous write is a 401 that huggingface_hub reports as RepositoryNotFoundError.
            raise HubError(401, f"You must be authenticated to write to {repo_type}s/{repo_id}", code="RepoNotFound")
        if write and (user.role != "write" or not user.member_of(repo.namespace)):
            raise HubError(403, f"You don't have the rights to write to {repo_type}s/{repo_id}")
        return repo

    def _check_gated(self, req: _Request, repo: Repo) -> None:
        if not repo.gated or (req.user and req.user.member_of(repo.namespace)):
            return
        if req.user is None:
            msg = f"Access to {repo.repo_type} {repo.repo_id} is restricted. You must be authenticated to access it."
            raise HubError(401, msg, code="GatedRepo")
        msg = f"Access to {repo.repo_type} {repo.repo_id} is restricted and you are not in the authorized list."
        raise HubError(403, msg, code="GatedRepo")

    def _sign(self, path: str) -> str:
        sig = hmac.new(self._secret, path.encode(), hashlib.sha256).hexdigest()[:32]
        return f"{path}?X-Amz-Signature={sig}"

    def _check_signature(self, req: _Request) -> None:
        expected = self._sign(req.path).split("=", 1)[1]
        if not hmac.compare_digest(req.query.get("X-Amz-Signature", [""])[-1], expected):
            raise HubError(403, "AccessDenied: signature does not match")

    # ------------------------------------------------------ JSON shapes
    def _repo_url(self, repo: Repo) -> str:
        return f"{self.endpoint}/{repo.url_path}"

    def _file_json(self, repo: Repo, commit: Commit, path: str, entry: FileEntry | None, expand: bool) -> dict:
        if entry is None:
            out = {"type": "directory", "oid": self.store.folder_oid(commit, path), "size": 0, "path": path}
        else:
            out = {"type": "file", "oid": entry.oid, "size": entry.size, "path": path}
            if entry.lfs_sha256:
                out["lfs"] = {"oid": entry.lfs_sha256, "size": entry.size, "pointerSize": entry.pointer_size}
        if expand:
            last = self.store.last_commit_touching(repo, commit, path)
            out["lastCommit"] = {"id": last.oid, "title": last.title, "date": iso(last.date)}
            if entry is not None:
                out["securityFileStatus"] = {
                    "status": "safe",
                    "avScan": {"virusFound": False},
                    "pickleImportScan": None,
                }
        return out

    def _repo_json(self, repo: Repo, commit: Commit, blobs: bool) -> dict:
        siblings = []
        for path, entry in sorted(commit.files.items()):
            sibling = {"rfilename": path}
            if blobs:
                sibling.update(size=entry.size, blobId=entry.oid)
                if entry.lfs_sha256:
                    sibling["lfs"] = {
                        "size": entry.size,
                        "sha256": entry.lfs_sha256,
                        "pointerSize": entry.pointer_size,
                    }
            siblings.append(sibling)
        info = {
            "_id": hashlib.sha1(f"{repo.repo_type}/{repo.repo_id}".encode()).hexdigest()[:24],
            "id": repo.repo_id,
            "author": repo.namespace,
            "sha": commit.oid,
            "lastModified": iso(commit.date),
            "createdAt": iso(repo.created_at),
            "private": repo.private,
            "gated": repo.gated,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "siblings": siblings,
            "usedStorage": sum(e.size for e in commit.files.values()),
        }
        readme = commit.files.get("README.md")
        card = _card_data(self._content(readme).decode(errors="replace")) if readme else None
        if card is not None:
            info["cardData"] = card
            info["tags"] = list(card.get("tags") or [])
        if repo.repo_type == "model":
            info["library_name"] = (card or {}).get("library_name")
            info["pipeline_tag"] = (card or {}).get("pipeline_tag")
            config = commit.files.get("config.json")
            if config is not None:
                try:
                    data = json.loads(self._content(config))
                    info["config"] = {k: data[k] for k in ("architectures", "model_type") if k in data}
                except ValueError:
                    pass
        return info

    def _content(self, entry: FileEntry) -> bytes:
        return self.store.lfs_objects[entry.lfs_sha256] if entry.lfs_sha256 else self.store.blobs[entry.oid]

    def _page(self, req: _Request, items: list, page_size: int) -> _Response:
        """One page of a listing, with a GitHub-style `Link: <...>; rel="next"` header like the Hub's."""
        start = int(req.query.get("cursor", ["0"])[-1])
        page = items[start : start + page_size]
        headers = {}
        if start + page_size < len(items):
            query = {k: v[-1] for k, v in req.query.items() if k != "cursor"}
            query["cursor"] = str(start + page_size)
            headers["Link"] = f'<{self.endpoint}{req.path}?{urlencode(query)}>; rel="next"'
        return _json(page, headers=headers)

    def _serve_bytes(self, req: _Request, content: bytes, headers: dict) -> _Response:
        rng = _byte_range(req.headers.get("range"), len(content))
        headers = {"Accept-Ranges": "bytes", "Content-Type": "application/octet-stream", **headers}
        if rng is None:
            return _Response(200, content, headers, len(content))
        start, end = rng
        headers["Content-Range"] = f"bytes {start}-{end}/{len(content)}"
        return _Response(206, content[start : end + 1], headers, end + 1 - start)

    # ------------------------------------------------------------- routes
    def whoami(self, req: _Request) -> _Response:
        if req.user is None:
            raise HubError(401, "Invalid username or password.")
        u = req.user
        return _json(
            {
                "type": "user",
                "id": hashlib.sha1(u.name.encode()).hexdigest()[:24],
                "name": u.name,
                "fullname": u.name,
                "email": f"{u.name}@localhost",
                "emailVerified": True,
                "isPro": False,
                "orgs": [{"type": "org", "name": org, "roleInOrg": "write"} for org in u.orgs],
                "auth": {"type": "access_token", "accessToken": {"displayName": "local", "role": u.role}},
            }
        )

    def agent_harnesses(self, req: _Request) -> _Response:
        # huggingface_hub fetches this registry to tag its user agent; an empty one detects no agent.
        return _json({"standardEnvVars": [], "harnesses": {}})

    def create_repo(self, req: _Request) -> _Response:
        if req.user is None:
            raise HubError(401, "You must be authenticated to create a repo")
        payload = req.json()
        repo_type = payload.get("type") or "model"
        if repo_type not in REPO_TYPES:
            raise HubError(400, f"Invalid repo type: {repo_type}")
        namespace = payload.get("organization") or req.user.name
        name = payload.get("name") or ""
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}", name) or "--" in name or ".." in name:
            raise HubError(400, f"Invalid repo name: {name!r}")
        if req.user.role != "write" or not req.user.member_of(namespace):
            raise HubError(
                403, f'You don\'t have the rights to create a {repo_type} under the namespace "{namespace}"'
            )
        private = payload.get("visibility") == "private" or bool(payload.get("private"))
        repo_id = f"{namespace}/{name}"
        existing = self.store.get_repo(repo_type, repo_id)
        if existing is not None:
            return _json({"error": f"You already created this {repo_type} repo", "url": self._repo_url(existing)}, 409)
        repo = self.store.create_repo(repo_type, repo_id, private, author=req.user.name)
        return _json({"url": self._repo_url(repo), "name": repo_id, "id": repo_id})

    def delete_repo(self, req: _Request) -> _Response:
        payload = req.json()
        req.params.update(
            type=(payload.get("type") or "model") + "s",
            ns=payload.get("organization") or (req.user.name if req.user else ""),
            name=payload.get("name") or "",
        )
        repo = self._repo(req, write=True)
        self.store.delete_repo(repo.repo_type, repo.repo_id)
        return _Response(200)

    def validate_yaml(self, req: _Request) -> _Response:
        try:
            _card_data(req.json().get("content") or "")
        except yaml.YAMLError as err:
            return _json({"errors": [{"message": f"Invalid YAML in README.md: {err}"}], "warnings": []}, 400)
        return _json({"errors": [], "warnings": []})

    def list_repos(self, req: _Request) -> _Response:
        repo_type = req.params["type"].rstrip("s")
        author = req.query.get("author", [None])[-1]
        search = req.query.get("search", [""])[-1]
        out = []
        for (rtype, repo_id), repo in sorted(self.store.repos.items()):
            visible = not repo.private or (req.user and req.user.member_of(repo.namespace))
            if rtype == repo_type and visible and (author is None or repo.namespace == author) and search in repo_id:
                commit = self.store.resolve(repo, "main")
                info = self._repo_json(repo, commit, blobs=False)
                out.append({k: info[k] for k in ("_id", "id", "author", "sha", "lastModified", "private", "tags")})
        return _json(out)

    def repo_info(self, req: _Request) -> _Response:
        repo = self._repo(req)
        commit = self.store.resolve(repo, unquote(req.params.get("rev") or "main"))
        info = self._repo_json(repo, commit, blobs=req.flag("blobs"))
        expand = req.query.get("expand", []) + req.query.get("expand[]", [])
        if expand:
            info = {k: v for k, v in info.items() if k in ("_id", "id", *expand)}
        return _json(info)

    def repo_settings(self, req: _Request) -> _Response:
        repo = self._repo(req, write=True)
        payload = req.json()
        if "private" in payload:
            repo.private = bool(payload["private"])
        if "visibility" in payload:
            repo.private = payload["visibility"] == "private"
        if "gated" in payload:
            repo.gated = payload["gated"] or False
        return _json({})

    def refs(self, req: _Request) -> _Response:
        repo = self._repo(req)

        def ref(name: str, full: str, oid: str) -> dict:
            return {"name": name, "ref": full, "targetCommit": oid}

        return _json(
            {
                "branches": [ref(n, f"refs/heads/{n}", oid) for n, oid in sorted(repo.branches.items())],
                "converts": [],
                "tags": [ref(n, f"refs/tags/{n}", oid) for n, oid in sorted(repo.tags.items())],
                "pullRequests": [ref(f"refs/pr/{n}", f"refs/pr/{n}", oid) for n, oid in repo.pull_requests.items()],
            }
        )

    def commits(self, req: _Request) -> _Response:
        repo = self._repo(req)
        items = [
            {
                "id": c.oid,
                "title": c.title,
                "message": c.message,
                "date": iso(c.date),
                "authors": [{"user": c.author, "avatar": None}],
            }
            for c in self.store.history(repo, unquote(req.params["rev"]))
        ]
        return self._page(req, items, min(self.page_size, 50))

    def tree(self, req: _Request) -> _Response:
        repo = self._repo(req)
        commit = self.store.resolve(repo, unquote(req.params["rev"]))
        folder = unquote(req.params.get("path") or "").strip("/")
        if not self.store.is_folder(commit, folder):
            raise HubError(404, f"Path {folder} is not a folder at this revision", code="EntryNotFound")
        expand = req.flag("expand")
        items = [
            self._file_json(repo, commit, path, entry, expand)
            for path, entry in self.store.tree(commit, folder, recursive=req.flag("recursive"))
        ]
        return self._page(req, items, min(self.page_size, 50) if expand else self.page_size)

    def paths_info(self, req: _Request) -> _Response:
        repo = self._repo(req)
        commit = self.store.resolve(repo, unquote(req.params["rev"]))
        if req.headers.get("content-type", "").startswith("application/json"):
            payload = req.json()
            paths, expand = payload.get("paths", []), bool(payload.get("expand"))
        else:
            form = parse_qs(req.body.decode())
            paths, expand = form.get("paths", []), form.get("expand", ["false"])[-1].lower() in ("1", "true")
        out = []
        for path in paths:
            path = path.strip("/")
            if path in commit.files:
                out.append(self._file_json(repo, commit, path, commit.files[path], expand))
            elif path and self.store.is_folder(commit, path):
                out.append(self._file_json(repo, commit, path, None, expand))
        return _json(out)

    def preupload(self, req: _Request) -> _Response:
        repo = self._repo(req, write=True)
        revision = unquote(req.params["rev"])
        commit = self.store.resolve(repo, revision)
        payload = req.json()
        files = []
        for f in payload.get("files", []):
            path = f["path"]
            mode = self.store.upload_mode(repo, revision, path, int(f["size"]), base64.b64decode(f.get("sample", "")))
            entry = commit.files.get(path)
            remote_oid = (entry.lfs_sha256 or entry.oid) if entry else None
            files.append(
                {
                    "path": path,
                    "uploadMode": mode,
                    "shouldIgnore": self.store.should_ignore(repo, revision, path, payload.get("gitIgnore")),
                    "oid": remote_oid,
                }
            )
        return _json({"files": files, "commitOid": commit.oid})

    def commit(self, req: _Request) -> _Response:
        repo = self._repo(req, write=True)
        header, operations = None, []
        for line in req.body.splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            key, value = item.get("key"), item.get("value", {})
            if key == "header":
                header = value
            elif key == "file":
                if value.get("encoding", "base64") != "base64":
                    raise HubError(400, "Only base64-encoded files are supported")
                operations.append(("file", value["path"], base64.b64decode(value["content"])))
            elif key == "lfsFile":
                operations.append(("lfsFile", value["path"], value["oid"], value.get("size")))
            elif key in ("deletedFile", "deletedFolder"):
                operations.append((key, value["path"]))
            else:
                raise HubError(400, f"Unknown commit operation key: {key}")
        if header is None or not header.get("summary"):
            raise HubError(400, "Missing commit header with a summary")
        commit, pr_num = self.store.commit(
            repo,
            unquote(req.params["rev"]),
            operations,
            title=header["summary"],
            message=header.get("description") or "",
            author=req.user.name,
            parent_commit=header.get("parentCommit"),
            create_pr=req.flag("create_pr"),
        )
        pr_url = f"{self._repo_url(repo)}/discussions/{pr_num}" if pr_num else None
        return _json(
            {
                "success": True,
                "commitOid": commit.oid,
                "commitUrl": f"{self._repo_url(repo)}/commit/{commit.oid}",
                "pullRequestUrl": pr_url,
            }
        )

    def branch(self, req: _Request) -> _Response:
        repo = self._repo(req, write=True)
        branch = unquote(req.params["rev"])
        if req.method == "DELETE":
            self.store.delete_branch(repo, branch)
        else:
            self.store.create_branch(repo, branch, req.json().get("startingPoint"))
        return _json({})

    def tag(self, req: _Request) -> _Response:
        repo = self._repo(req, write=True)
        if req.method == "DELETE":
            self.store.delete_tag(repo, unquote(req.params["rev"]))
        else:
            self.store.create_tag(repo, req.json()["tag"], unquote(req.params["rev"]))
        return _json({})

    def lfs_batch(self, req: _Request) -> _Response:
        repo = self._repo(req, write=True)
        payload = req.json()
        if payload.get("operation") != "upload":
            raise HubError(400, "Only the 'upload' operation is supported by this LFS endpoint")
        git_base = f"{self.endpoint}/{repo.url_path}.git/info/lfs/objects"
        multipart = self.multipart_threshold is not None and "multipart" in payload.get("transfers", [])
        objects = []
        for obj in payload.get("objects", []):
            oid, size = obj["oid"], int(obj["size"])
            out = {"oid": oid, "size": size, "authenticated": True}
            if oid not in repo.lfs_oids:
                upload_path = f"/upload/{repo.repo_type}/{repo.repo_id}/{oid}"
                verify = {"href": f"{git_base}/verify", "header": {"Authorization": req.headers["authorization"]}}
                if multipart and size > self.multipart_threshold:
                    n_parts = -(-size // self.multipart_chunk_size)
                    header = {"chunk_size": str(self.multipart_chunk_size)}
                    for part in range(1, n_parts + 1):
                        header[str(part)] = self.storage_endpoint + self._sign(f"{upload_path}/{part}")
                    href = self.endpoint + self._sign(f"/{repo.url_path}.git/info/lfs/objects/complete/{oid}")
                    out["actions"] = {"upload": {"href": href, "header": header}, "verify": verify}
                else:
                    out["actions"] = {
                        "upload": {"href": self.storage_endpoint + self._sign(upload_path)},
                        "verify": verify,
                    }
            objects.append(out)
        return _json({"transfer": "multipart" if multipart else "basic", "objects": objects, "hash_algo": "sha256"})

    def lfs_upload(self, req: _Request) -> _Response:
        self._check_signature(req)
        repo = self.store.get_repo(*_repo_key(req.params))
        if repo is None:
            raise HubError(404, "NoSuchBucket")
        oid = req.params["oid"]
        if req.params.get("part"):
            with self._lock:
                self._parts.setdefault((repo.repo_id, oid), {})[int(req.params["part"])] = req.body
            return _Response(200, headers={"ETag": f'"{hashlib.md5(req.body).hexdigest()}"'})
        self.store.add_lfs_object(repo, oid, req.body)
        return _Response(200, headers={"ETag": f'"{hashlib.md5(req.body).hexdigest()}"'})

    def lfs_complete(self, req: _Request) -> _Response:
        self._check_signature(req)
        repo = self.store.get_repo(*_repo_key(req.params))
        oid = req.params["oid"]
        with self._lock:
            parts = self._parts.pop((repo.repo_id, oid), {}) if repo else {}
        listed = req.json().get("parts", [])
        if repo is None or sorted(p["partNumber"] for p in listed) != sorted(parts):
            raise HubError(400, "Multipart upload is incomplete: parts are missing")
        for p in listed:
            if p["etag"].strip('"') != hashlib.md5(parts[p["partNumber"]]).hexdigest():
                raise HubError(400, f"ETag mismatch for part {p['partNumber']}")
        self.store.add_lfs_object(repo, oid, b"".join(parts[n] for n in sorted(parts)))
        return _json({})

    def lfs_verify(self, req: _Request) -> _Response:
        repo = self._repo(req, write=True)
        payload = req.json()
        content = self.store.lfs_objects.get(payload.get("oid", ""))
        if payload.get("oid") not in repo.lfs_oids or content is None or len(content) != payload.get("size"):
            raise HubError(404, f"LFS object {payload.get('oid')} not found")
        return _json({})

    def resolve(self, req: _Request) -> _Response:
        repo = self._repo(req)
        commit = self.store.resolve(repo, unquote(req.params["rev"]))
        path = unquote(req.params["path"])
        repo_commit = {"X-Repo-Commit": commit.oid}
        entry = commit.files.get(path)
        if entry is None:
            raise HubError(404, "Entry not found", code="EntryNotFound", headers=repo_commit)
        self._check_gated(req, repo)
        name = path.rsplit("/", 1)[-1]
        headers = {
            **repo_commit,
            "ETag": f'"{entry.oid}"',
            "Content-Disposition": f"inline; filename*=UTF-8''{quote(name)}; filename=\"{name}\";",
        }
        if entry.lfs_sha256:
            location = self.storage_endpoint + self._sign(f"/blobs/{entry.lfs_sha256}")
            headers.update(
                {
                    "Location": location,
                    "X-Linked-Etag": f'"{entry.lfs_sha256}"',
                    "X-Linked-Size": str(entry.size),
                    "Content-Type": "text/plain; charset=utf-8",
                }
            )
            return _Response(302, f"Found. Redirecting to {location}".encode(), headers)
        return self._serve_bytes(req, self.store.blobs[entry.oid], headers)

    def datasets_server(self, req: _Request) -> _Response:
        # The viewer has not converted anything: loaders fall back to reading the repo, as right after a push.
        raise HubError(404, "Not found.", code="ResponseNotFound")

    def lfs_download(self, req: _Request) -> _Response:
        self._check_signature(req)
        oid = req.params["oid"]
        content = self.store.lfs_objects.get(oid)
        if content is None:
            raise HubError(404, "NoSuchKey")
        return self._serve_bytes(req, content, {"ETag": f'"{oid}"'})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hub: LocalHub
    is_storage: bool

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass  # requests are recorded in hub.requests instead

    def do_GET(self):
        self._handle()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_GET

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self):
        hub = self.hub
        url = urlsplit(self.path)
        req = _Request(
            method=self.command,
            path=url.path,
            query=parse_qs(url.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=self._read_body(),
            params={},
        )
        kind, route = "unknown", None
        for methods, pattern, route_kind, name in _STORAGE_ROUTES if self.is_storage else _HUB_ROUTES:
            match = re.match(pattern, url.path)
            if match and self.command in methods:
                kind, route = route_kind, getattr(hub, name)
                req.params = {k: v for k, v in match.groupdict().items() if v is not None}
                break

        fault = hub._take_fault(kind)
        if fault is not None and fault.mode == "slow":
            time.sleep(fault.delay)
        elif fault is not None and fault.mode == "drop":
            hub.requests.append(RequestRecord(self.command, url.path, kind, None))
            self.close_connection = True
            return
        elif fault is not None and fault.mode.isdigit():
            response = _json({"error": f"Injected fault ({fault.mode}) on {kind}"}, int(fault.mode))
            return self._send(req, kind, response)

        try:
            if route is None:
                raise HubError(404, "Sorry, we can't find the page you are looking for.")
            if not self.is_storage:
                req.user = hub._authenticate(req.headers)
            response = route(req)
        except HubError as err:
            headers = {"X-Error-Message": err.message, **err.headers}
            if err.code:
                headers["X-Error-Code"] = err.code
            response = _json({"error": err.message}, err.status, headers)
        except Exception as err:  # a bug in the local hub: answer 500 and show it in the test output
            traceback.print_exc(file=sys.stderr)
            response = _json({"error": f"Local hub internal error: {err!r}"}, 500)
        self._send(req, kind, response, truncate=fault is not None and fault.mode == "truncate")

    def _send(self, req: _Request, kind: str, response: _Response, truncate: bool = False):
        self.hub.requests.append(RequestRecord(self.command, req.path, kind, response.status))
        self.send_response(response.status)
        headers = {"X-Request-Id": f"local-{len(self.hub.requests)}", **response.headers}
        length = response.content_length if response.content_length is not None else len(response.body)
        headers["Content-Length"] = str(length if self.command == "HEAD" else len(response.body))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command == "HEAD":
            return
        if truncate:
            self.wfile.write(response.body[: len(response.body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(response.body)
