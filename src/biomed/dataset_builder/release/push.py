"""``biomed push-dataset``: publish a built dataset folder on the Hub, all at once or not at all.

Example::

    biomed push-dataset biomed-enriched almanach/Biomed-Enriched --tag v1.0

or from Python::

    from biomed.dataset_builder.release.push import PushConfig, push_dataset

    result = push_dataset(PushConfig(folder="biomed-enriched", repo_id="me/biomed-enriched"))
    print(result.render())

How a push runs:

1. Checks, before anything is sent: a token (``HF_TOKEN`` or ``hf auth login``; it is passed to
   ``huggingface_hub`` and never printed nor written), the dataset card (``check_dataset_card``), and every
   Parquet file: no row of a restricted licence group (``non_commercial``, ``other``, or none) carries text.
2. A plan: each local file is compared with the target branch by content hash (sha256 for LFS files, the git
   blob id otherwise). Nothing changed: nothing is sent and no commit is made.
3. Upload to a staging branch (``biomed-staging/<branch>``) with ``upload_folder``, which is resumable: an
   interrupted push, rerun, skips what the staging branch already holds (and with ``hf_xet`` re-sends ~0 bytes).
4. One ``create_commit`` on the target branch with every changed file and every stale release file removed.
   The data already lives on the Hub, so this commit moves no data: the branch goes from the old release to the
   new one in a single step, and readers never see half of a release. Then the staging branch is deleted and
   the optional tag created.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import logging
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from biomed.errors import BiomedError


logger = logging.getLogger(__name__)

RESTRICTED_GROUPS = ("non_commercial", "other")
"""Licence groups whose text must not be published (rows without a group count as restricted too)."""

RELEASE_PATTERNS = ("data/*", "images/*", "README.md", "build_summary.json", "config.yaml")
"""Remote files a push owns: stale ones are deleted; anything else in the repo (a logo, .gitattributes) stays."""

IGNORED_PATTERNS = (".*", "*/.*", ".build/*", ".cache/*")


@dataclass
class PushConfig:
    """``biomed push-dataset``.

    Attributes:
        folder: the dataset folder written by ``biomed data build``.
        repo_id: the Hub dataset repo, ``namespace/name`` (created if missing).
        private: create the repo private (an existing public repo is never changed; the push stops instead).
        revision: the branch to publish to.
        tag: a tag to create on the published commit (e.g. ``v1.0``); empty = none.
        commit_message: title of the commit on ``revision``; empty = one naming the folder's configs.
        allow_restricted_text: push files whose restricted-licence rows carry text; only with ``private``.
    """

    folder: str = ""
    repo_id: str = ""
    private: bool = False
    revision: str = "main"
    tag: str = ""
    commit_message: str = ""
    allow_restricted_text: bool = False

    def __post_init__(self) -> None:
        if self.allow_restricted_text and not self.private:
            raise ValueError("allow_restricted_text needs private: restricted text is never pushed to a public repo")


@dataclass
class PushPlan:
    """What a push would change on the target branch.

    Attributes:
        repo_id: the dataset repo.
        revision: the target branch.
        upload: local files that are new or changed (relative paths).
        delete: remote release files absent from the folder.
        unchanged: files already on the branch with the same content.
        upload_bytes: size of ``upload``.
        repo_exists: whether the repo exists already.
    """

    repo_id: str
    revision: str
    upload: list[str] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    upload_bytes: int = 0
    repo_exists: bool = True

    @property
    def empty(self) -> bool:
        return not self.upload and not self.delete

    def describe(self) -> str:
        where = f"dataset {self.repo_id} (branch {self.revision}{'' if self.repo_exists else ', new repo'})"
        if self.empty:
            return f"{where} is up to date: nothing to push"
        return (
            f"Push {len(self.upload)} file(s) ({self.upload_bytes / 1e6:,.1f} MB), delete {len(self.delete)}, "
            f"keep {len(self.unchanged)} unchanged, to {where}?"
        )


@dataclass
class PushResult:
    """What a push did.

    Attributes:
        plan: the plan that was carried out.
        commit: the commit id on the target branch (the existing head when nothing changed).
        url: the repo's URL.
        tag: the tag created, if any.
        pushed: False when nothing had changed or the user declined.
    """

    plan: PushPlan
    commit: str = ""
    url: str = ""
    tag: str = ""
    pushed: bool = False

    def render(self) -> str:
        if self.plan.empty:
            return self.plan.describe() + (f"; tag {self.tag} points at {self.commit[:10]}" if self.tag else "")
        if not self.pushed:
            return f"Nothing pushed to {self.plan.repo_id}."
        lines = [
            f"Pushed {len(self.plan.upload)} file(s), deleted {len(self.plan.delete)}, "
            f"{len(self.plan.unchanged)} unchanged: {self.url} @ {self.plan.revision} ({self.commit[:10]})"
        ]
        if self.tag:
            lines.append(f"Tagged {self.tag}")
        return "\n".join(lines)


def push_dataset(cfg: PushConfig, confirm: Callable[[PushPlan], bool] | None = None) -> PushResult:
    """Check ``cfg.folder``, plan, and publish it to ``cfg.repo_id`` as described in the module doc.

    Args:
        cfg: what to push where.
        confirm: called with the plan before anything is sent (not when there is nothing to send); return False
            to stop. None = no question.

    Raises:
        BiomedError: no token, token rejected (401/403), a repo of another type, restricted text in a file, an
            invalid card, or a connection lost mid-way (then rerunning the same command resumes the push).
    """
    from huggingface_hub import HfApi, get_token

    folder = Path(cfg.folder)
    repo_id = _check_repo_id(cfg.repo_id)
    local = list_release_files(folder)
    check_release_folder(folder, allow_restricted_text=cfg.allow_restricted_text)
    token = get_token()
    if not token:
        raise BiomedError(
            "no Hugging Face token: run `hf auth login` or set HF_TOKEN to a token with write access, then rerun"
        )
    api = HfApi(token=token)
    with _hub_errors(repo_id):
        plan, head = _plan(api, repo_id, cfg, folder, local)
        if plan.empty:
            url = f"{api.endpoint}/datasets/{repo_id}"
            tag = _tag(api, repo_id, cfg.tag, head) if cfg.tag else ""
            return PushResult(plan=plan, commit=head or "", url=url, tag=tag)
        if confirm is not None and not confirm(plan):
            return PushResult(plan=plan)
        if not plan.repo_exists:
            api.create_repo(repo_id, repo_type="dataset", private=cfg.private, exist_ok=True)
            head = _branch_head(api, repo_id, cfg.revision)
        if head is None:  # a new branch starts from the default branch
            api.create_branch(repo_id, branch=cfg.revision, repo_type="dataset", exist_ok=True)
            head = _branch_head(api, repo_id, cfg.revision)
        commit = _publish(api, repo_id, cfg, folder, plan, head)
        tag = _tag(api, repo_id, cfg.tag, commit) if cfg.tag else ""
    return PushResult(plan=plan, commit=commit, url=f"{api.endpoint}/datasets/{repo_id}", tag=tag, pushed=True)


def list_release_files(folder: Path) -> list[str]:
    """Relative paths (posix) of the files a push sends: everything in ``folder`` but hidden and work files."""
    if not (folder / "README.md").is_file() or not (folder / "data").is_dir():
        raise BiomedError(f"{folder} is not a built dataset folder (no README.md and data/): run biomed data build")
    files = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if path.is_file() and not any(part.startswith(".") for part in Path(relative).parts):
            files.append(relative)
    return files


def check_release_folder(folder: Path, allow_restricted_text: bool = False) -> None:
    """Refuse a folder whose card is invalid or whose Parquet files carry text of restricted-licence rows.

    Every row of every Parquet file is checked: a row whose ``license_group`` is ``non_commercial``, ``other`` or
    missing must have a null ``text``. A file of the published layout has no ``license_group`` column: the groups
    of all its rows are declared in its Parquet metadata (``biomed`` → ``license_groups``), and a file declaring a
    restricted group must have no text at all. Other files without the column cannot be checked and are refused.
    """
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    from huggingface_hub import DatasetCard

    from biomed.model_cards.dataset import check_dataset_card

    problems = check_dataset_card(DatasetCard.load(folder / "README.md"), folder)
    if problems:
        raise BiomedError(f"{folder / 'README.md'}: " + "; ".join(problems) + " (rebuild the folder)")
    if allow_restricted_text:
        return
    for path in sorted(folder.rglob("*.parquet")):
        if any(part.startswith(".") for part in path.relative_to(folder).parts):
            continue
        names = pq.read_schema(path).names
        if "text" not in names:
            continue
        if "license_group" not in names:
            groups = _declared_license_groups(path)
            if groups is None:
                raise BiomedError(f"{path}: has text but no license_group column, so its licences cannot be checked")
            if set(groups) - {"commercial"}:
                leaking = sum(
                    pc.sum(pc.is_valid(batch["text"])).as_py() or 0
                    for batch in pq.ParquetFile(path).iter_batches(columns=["text"], batch_size=65536)
                )
                if leaking:
                    raise BiomedError(
                        f"{path}: {leaking} row(s) of {'/'.join(groups)} articles carry text, which must not be "
                        "published; rebuild with withhold_text_groups: [non_commercial, other]"
                    )
            continue
        parquet = pq.ParquetFile(path)
        for batch in parquet.iter_batches(columns=["license_group", "text"], batch_size=65536):
            restricted = pc.or_kleene(
                pc.is_in(batch["license_group"], value_set=_restricted_values()), pc.is_null(batch["license_group"])
            )
            leaking = pc.sum(pc.and_(pc.fill_null(restricted, True), pc.is_valid(batch["text"]))).as_py() or 0
            if leaking:
                raise BiomedError(
                    f"{path}: {leaking} row(s) of non_commercial/other articles carry text, which must not be "
                    "published; rebuild with withhold_text_groups: [non_commercial, other], or push to a private "
                    "repo with --private --allow-restricted-text"
                )


def _declared_license_groups(path: Path) -> list[str] | None:
    """The licence groups a file of the published layout declares for all its rows (None when it declares none)."""
    import pyarrow.parquet as pq

    raw = (pq.read_schema(path).metadata or {}).get(b"biomed")
    try:
        groups = json.loads(raw).get("license_groups") if raw else None
    except (json.JSONDecodeError, AttributeError):
        return None
    return [str(g) for g in groups] if isinstance(groups, list) and groups else None


def _restricted_values():
    import pyarrow as pa

    return pa.array(list(RESTRICTED_GROUPS), pa.string())


def _check_repo_id(repo_id: str) -> str:
    repo_id = repo_id.strip().strip("/")
    for prefix in ("https://huggingface.co/", "hf://"):
        if repo_id.startswith(prefix):
            repo_id = repo_id[len(prefix) :]
    if repo_id.startswith(("models/", "spaces/", "kernels/")):
        kind = repo_id.split("/", 1)[0][:-1]
        raise BiomedError(f"{repo_id} names a {kind} repo: push-dataset publishes to a dataset repo (namespace/name)")
    if repo_id.startswith("datasets/"):
        repo_id = repo_id[len("datasets/") :]
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise BiomedError(f"repo id {repo_id!r} must be namespace/name, e.g. my-org/biomed-enriched")
    return repo_id


def _plan(api, repo_id: str, cfg: PushConfig, folder: Path, local: list[str]) -> tuple[PushPlan, str | None]:
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    try:
        info = api.repo_info(repo_id, repo_type="dataset")
    except RepositoryNotFoundError:
        if _exists_as_model(api, repo_id):
            raise BiomedError(
                f"{repo_id} is a model repo and no dataset repo of that name exists: push-dataset publishes to "
                "a dataset repo; choose another name, or create the dataset repo first "
                "(hf repo create --repo-type dataset)"
            ) from None
        plan = PushPlan(repo_id, cfg.revision, upload=list(local), repo_exists=False)
        plan.upload_bytes = sum((folder / p).stat().st_size for p in local)
        return plan, None
    if cfg.private and not info.private:
        raise BiomedError(f"{repo_id} exists and is public: drop --private, or make the repo private on the Hub first")
    try:
        remote = {
            entry.path: entry
            for entry in api.list_repo_tree(repo_id, repo_type="dataset", revision=cfg.revision, recursive=True)
            if hasattr(entry, "blob_id")
        }
        head = _branch_head(api, repo_id, cfg.revision)
    except RevisionNotFoundError:
        remote, head = {}, None
    plan = PushPlan(repo_id, cfg.revision)
    for path in local:
        entry = remote.get(path)
        if entry is not None and _same_content(folder / path, entry):
            plan.unchanged.append(path)
        else:
            plan.upload.append(path)
            plan.upload_bytes += (folder / path).stat().st_size
    local_set = set(local)
    plan.delete = sorted(
        path
        for path in remote
        if path not in local_set and any(fnmatch.fnmatch(path, pattern) for pattern in RELEASE_PATTERNS)
    )
    return plan, head


def _exists_as_model(api, repo_id: str) -> bool:
    from huggingface_hub.errors import HfHubHTTPError

    try:
        api.repo_info(repo_id, repo_type="model")
        return True
    except HfHubHTTPError:
        return False


def _same_content(path: Path, entry) -> bool:
    if entry.lfs is not None:
        return entry.lfs.sha256 == _sha256(path)
    return entry.blob_id == _git_blob_id(path)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _git_blob_id(path: Path) -> str:
    digest = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())  # noqa: S324 - git's object id, not security
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _branch_head(api, repo_id: str, branch: str) -> str | None:
    refs = api.list_repo_refs(repo_id, repo_type="dataset")
    for ref in refs.branches:
        if ref.name == branch:
            return ref.target_commit
    return None


def _publish(api, repo_id: str, cfg: PushConfig, folder: Path, plan: PushPlan, head: str) -> str:
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    staging = f"biomed-staging/{cfg.revision}"
    # The staging branch keeps what an interrupted push already sent; upload_folder skips files it already holds.
    api.create_branch(repo_id, branch=staging, revision=head, repo_type="dataset", exist_ok=True)
    if plan.upload:
        api.upload_folder(
            repo_id=repo_id,
            repo_type="dataset",
            folder_path=folder,
            revision=staging,
            allow_patterns=[_escape(p) for p in plan.upload],
            commit_message="biomed push-dataset: staging upload",
        )
    operations = [CommitOperationAdd(path_in_repo=p, path_or_fileobj=folder / p) for p in plan.upload]
    operations += [CommitOperationDelete(path_in_repo=p) for p in plan.delete]
    message = cfg.commit_message or f"Release {folder.name}: {', '.join(_config_names(folder))}"
    info = api.create_commit(
        repo_id,
        repo_type="dataset",
        revision=cfg.revision,
        operations=operations,
        commit_message=message,
        commit_description=plan.describe().replace("Push", "Pushed").rstrip("?"),
        parent_commit=head,
    )
    try:
        api.delete_branch(repo_id, branch=staging, repo_type="dataset")
    except Exception as err:  # noqa: BLE001 - the release is published; a leftover staging branch is harmless
        logger.warning("could not delete the staging branch %s: %s", staging, err)
    return info.oid


def _tag(api, repo_id: str, tag: str, commit: str | None) -> str:
    refs = api.list_repo_refs(repo_id, repo_type="dataset")
    for ref in refs.tags:
        if ref.name == tag:
            if ref.target_commit == commit:
                return tag
            raise BiomedError(
                f"tag {tag} already exists on {repo_id} at another commit ({ref.target_commit[:10]}): "
                "choose a new tag, e.g. a higher version"
            )
    api.create_tag(repo_id, tag=tag, revision=commit, repo_type="dataset")
    return tag


def _config_names(folder: Path) -> list[str]:
    summary = folder / "build_summary.json"
    if summary.is_file():
        return list(json.loads(summary.read_text()).get("configs", {}))
    return sorted(p.name for p in (folder / "data").iterdir() if p.is_dir())


def _escape(path: str) -> str:
    """An fnmatch pattern matching exactly ``path``."""
    return "".join(f"[{c}]" if c in "*?[]" else c for c in path)


@contextmanager
def _hub_errors(repo_id: str):
    """Turn Hub and network failures into one-line ``BiomedError``s that never contain the token."""
    resume = "nothing was published on the target branch; rerun the same command to resume"
    try:
        yield
    except BiomedError:
        raise
    except Exception as exc:
        http, network = _hub_cause(exc)
        if http is not None:
            status = http.response.status_code if http.response is not None else None
            if status == 401:
                raise BiomedError(
                    "the Hub rejected the token (401): run `hf auth login` again or set HF_TOKEN to a valid token"
                ) from None
            if status == 403:
                raise BiomedError(
                    f"the token may not write to {repo_id} (403): use a token with write access to that "
                    "namespace (a fine-grained token needs 'write' on the repo)"
                ) from None
            first_line = str(http).splitlines()[0] if str(http) else type(http).__name__
            raise BiomedError(f"the Hub answered {status}: {first_line}; {resume}") from None
        if network is not None:
            raise BiomedError(
                f"the connection to the Hub failed ({type(network).__name__}: {network}); {resume}"
            ) from None
        raise


def _hub_cause(exc: BaseException):
    """The Hub HTTP error or the network error behind ``exc`` (huggingface_hub wraps some in RuntimeError)."""
    from huggingface_hub.errors import HfHubHTTPError

    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, HfHubHTTPError):
            return exc, None
        if isinstance(exc, (OSError, ConnectionError)) or type(exc).__module__.startswith(("httpx", "httpcore")):
            return None, exc
        exc = exc.__cause__ or exc.__context__
    return None, None
