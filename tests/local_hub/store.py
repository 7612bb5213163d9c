"""In-memory, git-like state of the local Hub: repos, commits, refs, regular blobs and LFS objects.

Nothing here knows about HTTP. Every public method of `HubStore` either returns plain data or raises
`HubError`, which the server turns into the Hub's error shape (status, `X-Error-Code`, `X-Error-Message`,
JSON `{"error": ...}`).

Object ids follow git where the clients can see it: a regular file's oid is its git blob sha1, an LFS file's
oid is the git blob sha1 of its pointer file and its `lfs.oid` is the sha256 of the content. Commit and
folder oids are sha1-shaped but not real git objects (no client recomputes them).
"""

import fnmatch
import hashlib
import itertools
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone


REPO_TYPES = ("model", "dataset", "space")

# Above this size the Hub refuses a regular (non-LFS) file in a commit and preupload answers "lfs".
REGULAR_FILE_MAX_SIZE = 10 * 1024 * 1024

# What a new repo's first commit contains on the Hub (abridged: the extensions our clients produce).
DEFAULT_GITATTRIBUTES = "".join(
    f"{pattern} filter=lfs diff=lfs merge=lfs -text\n"
    for pattern in (
        "*.7z", "*.arrow", "*.bin", "*.bz2", "*.ckpt", "*.ftz", "*.gz", "*.h5", "*.joblib", "*.lfs.*",
        "*.lz4", "*.mds", "*.mlmodel", "*.model", "*.msgpack", "*.npy", "*.npz", "*.onnx", "*.ot",
        "*.parquet", "*.pb", "*.pickle", "*.pkl", "*.pt", "*.pth", "*.rar", "*.safetensors",
        "saved_model/**/*", "*.tar.*", "*.tar", "*.tflite", "*.tgz", "*.wasm", "*.xz", "*.zip", "*.zst",
        "*tfevents*",
    )
)  # fmt: skip


class HubError(Exception):
    """An error the server answers with the Hub's shape.

    Args:
        status: HTTP status code.
        message: Human message, sent as `X-Error-Message` and JSON `{"error": message}`.
        code: Optional `X-Error-Code` (`RepoNotFound`, `RevisionNotFound`, `EntryNotFound`, `GatedRepo`).
        headers: Extra response headers (e.g. `X-Repo-Commit` on a missing entry).
    """

    def __init__(self, status: int, message: str, code: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers or {}


def git_blob_sha1(data: bytes) -> str:
    """Git blob id of `data`, as `git hash-object` computes it."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    """The pointer file git stores in place of an LFS object."""
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def iso(dt: datetime) -> str:
    """Hub-style timestamp: `2024-05-01T12:00:00.000Z`."""
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class FileEntry:
    """One file of a commit's tree."""

    size: int
    oid: str
    lfs_sha256: str | None = None
    pointer_size: int | None = None


@dataclass
class Commit:
    oid: str
    parents: tuple[str, ...]
    files: dict[str, FileEntry]
    title: str
    message: str
    author: str
    date: datetime


@dataclass
class Repo:
    repo_type: str
    repo_id: str
    private: bool
    created_at: datetime
    gated: bool | str = False
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    pull_requests: dict[int, str] = field(default_factory=dict)
    lfs_oids: set[str] = field(default_factory=set)

    @property
    def namespace(self) -> str:
        return self.repo_id.split("/")[0]

    @property
    def url_path(self) -> str:
        """`user/x` for models, `datasets/user/x` for datasets: how the repo appears in web and git URLs."""
        return self.repo_id if self.repo_type == "model" else f"{self.repo_type}s/{self.repo_id}"


def _lfs_patterns(gitattributes: bytes) -> list[str]:
    patterns = []
    for line in gitattributes.decode(errors="replace").splitlines():
        parts = line.split()
        if len(parts) >= 2 and not parts[0].startswith("#") and "filter=lfs" in parts[1:]:
            patterns.append(parts[0])
    return patterns


def _matches(path: str, pattern: str) -> bool:
    # gitattributes semantics, simplified: a pattern without "/" matches the base name at any depth.
    if "/" not in pattern.strip("/"):
        return fnmatch.fnmatchcase(path.rsplit("/", 1)[-1], pattern)
    return fnmatch.fnmatchcase(path, pattern.lstrip("/").replace("**/", "*"))


def _validate_path(path: str) -> str:
    if not path or path.startswith("/") or any(part in ("", ".", "..") for part in path.split("/")):
        raise HubError(400, f"Invalid path in repo: '{path}'")
    if path.split("/")[0] == ".git":
        raise HubError(400, f"Cannot write under .git/: '{path}'")
    return path


class HubStore:
    """All repos of the local Hub plus the content stores, guarded by one lock."""

    def __init__(self):
        self.lock = threading.RLock()
        self.repos: dict[tuple[str, str], Repo] = {}
        self.blobs: dict[str, bytes] = {}  # git blob sha1 -> content of regular files
        self.lfs_objects: dict[str, bytes] = {}  # sha256 -> content of LFS files
        self._counter = itertools.count()

    # ----------------------------------------------------------------- repos
    def create_repo(self, repo_type: str, repo_id: str, private: bool, author: str) -> Repo:
        with self.lock:
            if (repo_type, repo_id) in self.repos:
                raise HubError(409, f"You already created this {repo_type} repo")
            repo = Repo(repo_type=repo_type, repo_id=repo_id, private=private, created_at=datetime.now(timezone.utc))
            repo.branches["main"] = ""
            self.repos[(repo_type, repo_id)] = repo
            self.commit(
                repo,
                "main",
                [("file", ".gitattributes", DEFAULT_GITATTRIBUTES.encode())],
                title="initial commit",
                message="",
                author=author,
            )
            return repo

    def delete_repo(self, repo_type: str, repo_id: str) -> None:
        with self.lock:
            self.repos.pop((repo_type, repo_id))

    def get_repo(self, repo_type: str, repo_id: str) -> Repo | None:
        return self.repos.get((repo_type, repo_id))

    # ------------------------------------------------------------- revisions
    def resolve(self, repo: Repo, revision: str) -> Commit:
        """Commit a revision names: branch, tag, `refs/heads|tags|pr/...`, full or abbreviated commit oid."""
        with self.lock:
            oid = None
            if revision in repo.branches:
                oid = repo.branches[revision]
            elif revision in repo.tags:
                oid = repo.tags[revision]
            elif revision.startswith("refs/heads/"):
                oid = repo.branches.get(revision[len("refs/heads/") :])
            elif revision.startswith("refs/tags/"):
                oid = repo.tags.get(revision[len("refs/tags/") :])
            elif m := re.fullmatch(r"refs/pr/(\d+)", revision):
                oid = repo.pull_requests.get(int(m.group(1)))
            elif re.fullmatch(r"[0-9a-f]{7,40}", revision):
                matches = [c for c in repo.commits if c.startswith(revision)]
                oid = matches[0] if len(matches) == 1 else None
            if not oid:
                raise HubError(404, f"Invalid rev id: {revision}", code="RevisionNotFound")
            return repo.commits[oid]

    def create_branch(self, repo: Repo, branch: str, starting_point: str | None) -> None:
        with self.lock:
            if branch in repo.branches:
                raise HubError(409, f"Reference already exists: refs/heads/{branch}")
            repo.branches[branch] = self.resolve(repo, starting_point or "main").oid

    def delete_branch(self, repo: Repo, branch: str) -> None:
        with self.lock:
            if branch == "main":
                raise HubError(403, "Cannot delete the default branch")
            if branch not in repo.branches:
                raise HubError(404, f"Invalid rev id: {branch}", code="RevisionNotFound")
            del repo.branches[branch]

    def create_tag(self, repo: Repo, tag: str, revision: str) -> None:
        with self.lock:
            if tag in repo.tags:
                raise HubError(409, f"Tag reference already exists: refs/tags/{tag}")
            repo.tags[tag] = self.resolve(repo, revision).oid

    def delete_tag(self, repo: Repo, tag: str) -> None:
        with self.lock:
            if tag not in repo.tags:
                raise HubError(404, f"Invalid rev id: {tag}", code="RevisionNotFound")
            del repo.tags[tag]

    def history(self, repo: Repo, revision: str) -> list[Commit]:
        """First-parent history of a revision, newest first."""
        with self.lock:
            commit = self.resolve(repo, revision)
            out = [commit]
            while commit.parents:
                commit = repo.commits[commit.parents[0]]
                out.append(commit)
            return out

    # ---------------------------------------------------------------- upload
    def upload_mode(self, repo: Repo, revision: str, path: str, size: int, sample: bytes) -> str:
        """`"lfs"` or `"regular"`, the way the Hub decides it in `preupload`."""
        commit = self.resolve(repo, revision)
        entry = commit.files.get(".gitattributes")
        patterns = _lfs_patterns(self.blobs[entry.oid]) if entry and not entry.lfs_sha256 else []
        if size > REGULAR_FILE_MAX_SIZE or b"\0" in sample or any(_matches(path, p) for p in patterns):
            return "lfs"
        return "regular"

    def should_ignore(self, repo: Repo, revision: str, path: str, gitignore: str | None) -> bool:
        if gitignore is None:
            entry = self.resolve(repo, revision).files.get(".gitignore")
            gitignore = self.blobs.get(entry.oid, b"").decode(errors="replace") if entry else ""
        patterns = [line.strip() for line in gitignore.splitlines() if line.strip() and not line.startswith("#")]
        return any(_matches(path, p.rstrip("/")) or path.startswith(p.rstrip("/") + "/") for p in patterns)

    def add_lfs_object(self, repo: Repo, sha256: str, content: bytes) -> None:
        if hashlib.sha256(content).hexdigest() != sha256:
            raise HubError(400, f"Uploaded content does not match its sha256 oid {sha256}")
        with self.lock:
            self.lfs_objects[sha256] = content
            repo.lfs_oids.add(sha256)

    def commit(
        self,
        repo: Repo,
        revision: str,
        operations: list[tuple],
        *,
        title: str,
        message: str,
        author: str,
        parent_commit: str | None = None,
        create_pr: bool = False,
    ) -> tuple[Commit, int | None]:
        """Apply operations on top of a branch (or a new PR ref) and move the ref.

        Args:
            repo: Target repo.
            revision: Branch name or `refs/pr/N`.
            operations: `("file", path, bytes)`, `("lfsFile", path, sha256, size | None)`,
                `("deletedFile", path)`, `("deletedFolder", path)`.
            title: Commit summary.
            message: Commit description.
            author: User name recorded on the commit.
            parent_commit: If set, the branch head must still be this commit (optimistic lock).
            create_pr: Commit on a new `refs/pr/N` branched from `revision` instead.

        Returns:
            The new commit and the pull request number (or None).
        """
        with self.lock:
            pr_match = re.fullmatch(r"refs/pr/(\d+)", revision)
            if pr_match:
                pr_num = int(pr_match.group(1))
                if pr_num not in repo.pull_requests:
                    raise HubError(404, f"Invalid rev id: {revision}", code="RevisionNotFound")
                head = repo.pull_requests[pr_num]
            elif revision in repo.branches:
                head = repo.branches[revision]
            elif revision in repo.tags or re.fullmatch(r"[0-9a-f]{40}", revision):
                raise HubError(400, f"Invalid rev id: {revision} is not a branch")
            else:
                raise HubError(404, f"Invalid rev id: {revision}", code="RevisionNotFound")
            if parent_commit is not None and parent_commit != head:
                raise HubError(412, "A commit has happened since. Please refresh and try again.")

            files = dict(repo.commits[head].files) if head else {}
            for op in operations:
                kind, path = op[0], op[1]
                if kind == "file":
                    content = op[2]
                    _validate_path(path)
                    if len(content) > REGULAR_FILE_MAX_SIZE or b"\0" in content[:512]:
                        raise HubError(
                            400,
                            f"Your push was rejected because it contains binary files or files larger than 10 MiB"
                            f" not tracked with Git LFS: {path}",
                        )
                    oid = git_blob_sha1(content)
                    self.blobs[oid] = content
                    files[path] = FileEntry(size=len(content), oid=oid)
                elif kind == "lfsFile":
                    sha256, size = op[2], op[3]
                    _validate_path(path)
                    if sha256 not in repo.lfs_oids:
                        raise HubError(
                            400,
                            "Your push was rejected because an LFS pointer pointed to a file that does not exist."
                            f" Offending file: {path}",
                        )
                    real_size = len(self.lfs_objects[sha256])
                    if size is not None and size != real_size:
                        raise HubError(400, f"LFS pointer size mismatch for {path}")
                    pointer = lfs_pointer(sha256, real_size)
                    files[path] = FileEntry(
                        size=real_size, oid=git_blob_sha1(pointer), lfs_sha256=sha256, pointer_size=len(pointer)
                    )
                elif kind == "deletedFile":
                    if files.pop(path, None) is None:
                        raise HubError(404, f"A file with this name doesn't exist: {path}", code="EntryNotFound")
                elif kind == "deletedFolder":
                    prefix = path.rstrip("/") + "/"
                    doomed = [p for p in files if p.startswith(prefix)]
                    if not doomed:
                        raise HubError(404, f"A folder with this name doesn't exist: {path}", code="EntryNotFound")
                    for p in doomed:
                        del files[p]
                else:
                    raise HubError(400, f"Unknown commit operation key: {kind}")

            date = datetime.now(timezone.utc)
            seed = f"{head}\n{sorted((p, e.oid) for p, e in files.items())}\n{title}\n{message}\n{date}\n"
            oid = hashlib.sha1((seed + str(next(self._counter))).encode()).hexdigest()
            repo.commits[oid] = Commit(
                oid=oid,
                parents=(head,) if head else (),
                files=files,
                title=title,
                message=message,
                author=author,
                date=date,
            )
            pr_num = None
            if create_pr:
                pr_num = max(repo.pull_requests, default=0) + 1
                repo.pull_requests[pr_num] = oid
            elif pr_match:
                repo.pull_requests[int(pr_match.group(1))] = oid
            else:
                repo.branches[revision] = oid
            return repo.commits[oid], pr_num

    # --------------------------------------------------------------- listing
    def folder_oid(self, commit: Commit, folder: str) -> str:
        prefix = folder + "/" if folder else ""
        members = sorted((p, e.oid) for p, e in commit.files.items() if p.startswith(prefix))
        return hashlib.sha1(repr(members).encode()).hexdigest()

    def is_folder(self, commit: Commit, path: str) -> bool:
        return path == "" or any(p.startswith(path + "/") for p in commit.files)

    def tree(self, commit: Commit, folder: str, recursive: bool) -> list[tuple[str, FileEntry | None]]:
        """Entries under `folder`: `(path, FileEntry)` for files, `(path, None)` for folders, sorted like the Hub."""
        prefix = folder + "/" if folder else ""
        files, folders = {}, set()
        for path, entry in commit.files.items():
            if not path.startswith(prefix):
                continue
            parts = path[len(prefix) :].split("/")
            if recursive:
                files[path] = entry
                for i in range(1, len(parts)):
                    folders.add(prefix + "/".join(parts[:i]))
            elif len(parts) == 1:
                files[path] = entry
            else:
                folders.add(prefix + parts[0])
        # The Hub lists folders first, then files, each in path order.
        return [(p, None) for p in sorted(folders)] + sorted(files.items())

    def last_commit_touching(self, repo: Repo, commit: Commit, path: str) -> Commit:
        """Most recent commit in the first-parent history that changed `path` (file or folder)."""

        def state(c: Commit):
            if path in c.files:
                return c.files[path].oid
            return self.folder_oid(c, path)

        current = commit
        while current.parents:
            parent = repo.commits[current.parents[0]]
            if state(parent) != state(current):
                return current
            current = parent
        return current
