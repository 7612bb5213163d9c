"""Publish on the Hugging Face Hub: datasets, classifiers and encoders through one path, all at once or not at all.

Example::

    from biomed.hub import HubTarget, model_release, publish, push_model

    print(push_model("runs/modernbert-bio/final", "me/ModernBERT-bio", tag="v1.0").render())  # encoder or classifier

    release = model_release("runs/modernbert-bio/checkpoint-2000", "me/ModernBERT-bio")  # any `Release`
    print(publish(release, HubTarget("me/ModernBERT-bio", revision="step-2000")).render())

``biomed push-dataset`` builds its `Release` in ``biomed.dataset_builder.release.push`` (licence checks) and
publishes it here too. How a push runs:

1. Checks, before any request: the repo id (``namespace/name``: a bare name would make the Hub create the repo
   in the token's namespace), the folder, a token (``HF_TOKEN`` or ``hf auth login``; passed to
   ``huggingface_hub``, never printed, and redacted from every message and log line, like signed upload URLs).
2. A plan: each local file is compared with the target branch (or, for a new branch, the default branch it will
   start from) by content hash (sha256 for LFS files, the git blob id otherwise); remote files the release owns
   (``Release.owned``) and no longer has are deleted. Nothing changed: nothing is sent, no commit is made.
3. The tag, checked before anything is published: a tag already on another commit is refused unless ``force``
   (a new release is always another commit), and then moved.
4. Upload to a staging branch (``biomed-staging/<branch>``), then one ``create_commit`` on the target branch
   with every change. The data already lives on the Hub, so the release commit moves no data: readers never see
   half a release, and an interrupted push, rerun, skips what the staging branch holds. The staging branch is
   deleted, then the tag created (or moved).

Every Hub or network failure becomes one ``BiomedError`` line saying what to do and whether anything is live.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import logging
import re
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from biomed.errors import BiomedError


logger = logging.getLogger(__name__)

STAGING_PREFIX = "biomed-staging/"
"""Staging branches are ``biomed-staging/<target branch>``; they live only while a push runs (or was cut)."""

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
"""A model folder has one of these beside ``config.json``."""

MODEL_OWNED = ("model*.safetensors", "model.safetensors.index.json", "pytorch_model*.bin")
"""Remote files a model push owns: stale weight shards are deleted, anything else on the repo stays."""

TRAINER_STATE = ("optimizer.pt", "scheduler.pt", "scaler.pt", "training_args.bin", "rng_state", ".tmp")
"""Resume-only state of a Trainer checkpoint: large and useless to a downstream user; never published."""

CLASSIFIER_CARD_PLACEHOLDER = "PATH_OR_REPO"
"""What the classifier card (``classifier.md.j2``) writes where the model is named; a push puts the repo id there."""


@dataclass(frozen=True)
class Release:
    """What one push publishes.

    Attributes:
        kind: ``dataset``, ``encoder`` or ``classifier``: named in messages.
        repo_type: ``dataset`` or ``model``.
        folder: the local folder.
        files: path in the repo -> local file, or generated content (a card re-rendered with the repo id).
        owned: remote path patterns this release owns: those it does not have any more are deleted.
        title: the default commit title.
    """

    kind: str
    repo_type: str
    folder: Path
    files: dict[str, Path | bytes]
    owned: tuple[str, ...]
    title: str


@dataclass(frozen=True)
class HubTarget:
    """Where and how to publish.

    Attributes:
        repo_id: ``namespace/name`` (created if missing).
        revision: the branch to publish to (created from the default branch if missing).
        tag: a tag for the published commit (e.g. ``v1.0``); empty = none.
        private: create the repo private; an existing public repo is never changed (the push stops instead).
        force: move ``tag`` when it exists on another commit (otherwise the push is refused before publishing).
        commit_message: the commit title; empty = ``Release.title``.
    """

    repo_id: str
    revision: str = "main"
    tag: str = ""
    private: bool = False
    force: bool = False
    commit_message: str = ""


@dataclass
class PushPlan:
    """What a push would change on the target branch.

    Attributes:
        kind: the release kind (dataset, encoder, classifier).
        repo_type: ``dataset`` or ``model``.
        repo_id: the repo.
        revision: the target branch.
        upload: local files that are new or changed (paths in the repo).
        delete: remote files the release owns and no longer has.
        unchanged: files already on the branch with the same content.
        upload_bytes: size of ``upload``.
        repo_exists: whether the repo exists already.
        new_branch: whether the target branch is created (from the default branch).
        tag: the tag to set ("" = none).
        tag_from: the commit the tag points at now, when it exists.
        tag_to: the commit the tag will point at, when known before the push (no file changes: the branch head).
    """

    kind: str
    repo_type: str
    repo_id: str
    revision: str
    upload: list[str] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    upload_bytes: int = 0
    repo_exists: bool = True
    new_branch: bool = False
    tag: str = ""
    tag_from: str = ""
    tag_to: str = ""

    @property
    def changes_files(self) -> bool:
        return bool(self.upload or self.delete)

    @property
    def sets_tag(self) -> bool:
        return bool(self.tag) and (not self.tag_to or self.tag_from != self.tag_to)

    @property
    def empty(self) -> bool:
        """Nothing to do at all: no file to send or delete, no branch to create, no tag to set."""
        return not self.changes_files and not self.new_branch and not self.sets_tag

    def describe(self) -> str:
        new = " (new repo)" if not self.repo_exists else " (new branch)" if self.new_branch else ""
        where = f"{self.repo_type} {self.repo_id}@{self.revision}{new}"
        tagging = ""
        if self.sets_tag:
            tagging = f"move tag {self.tag} from {self.tag_from[:10]}" if self.tag_from else f"tag {self.tag}"
        if self.empty:
            return f"{self.kind} {where} is up to date: nothing to push"
        if not self.changes_files and not self.new_branch:
            return f"{tagging[0].upper()}{tagging[1:]} to {where} ({self.tag_to[:10]}), no file changed?"
        return (
            f"Push {len(self.upload)} file(s) ({self.upload_bytes / 1e6:,.1f} MB), delete {len(self.delete)}, "
            f"keep {len(self.unchanged)} unchanged, to {where}{', ' + tagging if tagging else ''}?"
        )


@dataclass
class PushResult:
    """What a push did.

    Attributes:
        plan: the plan that was carried out.
        commit: the commit on the target branch (its existing head when nothing changed).
        url: the repo's URL (at the branch when it is not main).
        tag: the tag that points at ``commit``, if one was asked for.
        pushed: False when nothing had changed or the user declined.
    """

    plan: PushPlan
    commit: str = ""
    url: str = ""
    tag: str = ""
    pushed: bool = False

    def render(self) -> str:
        plan = self.plan
        if not self.pushed and not plan.empty:
            return f"Nothing pushed to {plan.repo_id}."
        lines = [f"{plan.kind} {plan.repo_id}@{plan.revision} is up to date: nothing to push"]
        if plan.changes_files or plan.new_branch:
            lines = [
                f"Pushed {len(plan.upload)} file(s), deleted {len(plan.delete)}, {len(plan.unchanged)} unchanged, "
                f"to {plan.repo_id}@{plan.revision} ({self.commit[:10]}): {self.url}"
            ]
        if self.tag:
            moved = f" (moved from {plan.tag_from[:10]})" if plan.tag_from not in ("", self.commit) else ""
            lines.append(f"Tagged {self.tag} -> {self.commit[:10]}{moved}")
        return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ entry points
def push_model(
    checkpoint: str | Path,
    repo_id: str,
    *,
    revision: str = "main",
    tag: str = "",
    private: bool = False,
    force: bool = False,
    commit_message: str = "",
    confirm: Callable[[PushPlan], bool] | None = None,
) -> PushResult:
    """Publish an encoder (``OUT/final``, ``OUT/checkpoint-N``) or a classifier (``biomed data classify train``).

    Checkpoints usually go to a branch (``revision="step-2000"``), the final model to ``main``. See `publish`.
    """
    repo_id = check_repo_id(repo_id, "model")
    target = HubTarget(repo_id, revision or "main", tag or "", private, force, commit_message or "")
    return publish(model_release(checkpoint, repo_id), target, confirm)


def model_release(checkpoint: str | Path, repo_id: str) -> Release:
    """The files of a model folder to publish, its card re-rendered with ``repo_id``; the kind is detected.

    A classifier is a folder whose ``config.json`` has the classifier's ``model_type``; any other loadable model
    folder is an encoder. Only top-level files travel: optimizer, scheduler and RNG states and the classifier's
    ``trainer/`` folder stay local.

    Raises:
        BiomedError: not a folder, or no ``config.json`` and weights.
    """
    folder = Path(checkpoint)
    if not folder.is_dir():
        raise BiomedError(f"{folder} is not a folder; pass a training output such as runs/NAME/final or a classifier")
    names = {p.name for p in folder.iterdir()}
    if "config.json" not in names or not names & set(WEIGHT_FILES):
        raise BiomedError(
            f"{folder} has no config.json and model weights; pass final/ or a checkpoint-N/ folder of a training "
            "run, or the output folder of biomed data classify train"
        )
    kind = "classifier" if _is_classifier(folder) else "encoder"
    files: dict[str, Path | bytes] = {
        p.name: p
        for p in sorted(folder.iterdir())
        if p.is_file() and not p.name.startswith(".") and not any(marker in p.name for marker in TRAINER_STATE)
    }
    card = _model_card(folder, kind, repo_id)
    if card is not None:
        files["README.md"] = card.encode("utf-8")
    return Release(kind, "model", folder, files, MODEL_OWNED, f"Upload {kind} {folder.name}")


def publish(release: Release, target: HubTarget, confirm: Callable[[PushPlan], bool] | None = None) -> PushResult:
    """Publish ``release`` to ``target`` as described in the module doc.

    Args:
        release: what to publish (`model_release`, ``dataset_release``).
        target: where, on which branch, with which tag.
        confirm: called with the plan before anything is sent (not when there is nothing to send); return False
            to stop. None = no question.

    Raises:
        BiomedError: a bad or namespace-less repo id, a repo of the other type, no token, a token rejected (401) or
            not allowed to write (403), a tag on another commit without ``force``, a Hub failure or a lost
            connection (the message says whether the release is live and that rerunning resumes).
    """
    from huggingface_hub import HfApi

    repo_id = check_repo_id(target.repo_id, release.repo_type)
    token = _token()
    api = HfApi(token=token)
    with _redacted_logs(token), _hub_errors(repo_id, target.revision, token) as progress:
        remote = _read_remote(api, repo_id, release.repo_type, target)
        plan = _plan(release, repo_id, target, remote)
        _check_tag(plan, remote, target)
        url = _repo_url(api.endpoint, release.repo_type, repo_id, target.revision)
        if plan.empty:
            return PushResult(plan=plan, commit=remote.head or "", url=url, tag=target.tag)
        if confirm is not None and not confirm(plan):
            return PushResult(plan=plan)
        commit = remote.head
        if plan.changes_files or plan.new_branch:
            head = _prepare_branch(api, repo_id, release.repo_type, target, remote)
            commit = _commit_via_staging(api, release, plan, target, head) if plan.changes_files else head
        progress.published = commit
        tag = _set_tag(api, plan, commit) if target.tag else ""
    return PushResult(plan=plan, commit=commit, url=url, tag=tag, pushed=True)


def check_repo_id(repo_id: str, repo_type: str) -> str:
    """``namespace/name`` from what a user typed (a URL, a ``datasets/`` prefix), or a one-line error.

    A bare name is refused: the Hub would create it in the token's namespace, which is rarely what was meant.
    """
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    given = repo_id
    repo_id = repo_id.strip().strip("/")
    for prefix in ("https://huggingface.co/", "hf://"):
        repo_id = repo_id.removeprefix(prefix)
    first = repo_id.split("/", 1)[0]
    if first in ("models", "datasets", "spaces", "kernels") and repo_id.count("/") == 2:
        if first[:-1] != repo_type:
            raise BiomedError(f"{given} names a {first[:-1]} repo: this command publishes to a {repo_type} repo")
        repo_id = repo_id.split("/", 1)[1]
    example = "my-org/biomed-enriched" if repo_type == "dataset" else "my-org/ModernBERT-bio-base"
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise BiomedError(f"repo id {given!r} must be namespace/name, e.g. {example}; nothing was created")
    try:
        validate_repo_id(repo_id)
    except HFValidationError as err:
        raise BiomedError(f"invalid repo id {given!r}: {err}") from None
    return repo_id


# ------------------------------------------------------------------------------------------------ model folders
def _is_classifier(folder: Path) -> bool:
    from biomed.dataset_builder.classify.modeling_biomed_classifier import MODEL_TYPE

    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise BiomedError(f"{folder / 'config.json'} cannot be read: {err}") from None
    return config.get("model_type") == MODEL_TYPE


def _model_card(folder: Path, kind: str, repo_id: str) -> str | None:
    """The card to publish, naming ``repo_id``; None = the folder's README as it is (or none)."""
    if kind == "encoder" and (folder / "card.json").is_file():
        from biomed.model_cards.encoder import render_encoder_card

        context = json.loads((folder / "card.json").read_text(encoding="utf-8"))
        return str(render_encoder_card(context, repo_id=repo_id))
    if kind == "classifier" and (folder / "README.md").is_file():
        # The classifier template has no repo id: its usage snippets hold a placeholder, filled here.
        return (folder / "README.md").read_text(encoding="utf-8").replace(CLASSIFIER_CARD_PLACEHOLDER, repo_id)
    return None


# ------------------------------------------------------------------------------------------------ the push
@dataclass
class _Remote:
    exists: bool = False
    head: str | None = None  # the target branch's head; None when the branch (or the repo) does not exist
    start: str | None = None  # the commit the plan compares with: head, or the default branch's for a new branch
    tree: dict = field(default_factory=dict)  # path -> RepoFile at `start`
    tags: dict[str, str] = field(default_factory=dict)


def _token() -> str:
    from huggingface_hub import get_token

    try:
        token = get_token()
    except Exception as err:  # noqa: BLE001 - e.g. a failed OIDC exchange; its message carries no secret
        raise BiomedError(f"could not get a Hugging Face token ({type(err).__name__}: {err})") from None
    if not token:
        raise BiomedError(
            "no Hugging Face token: run `hf auth login` or set HF_TOKEN to a token with write access, then rerun"
        )
    return token


def _read_remote(api, repo_id: str, repo_type: str, target: HubTarget) -> _Remote:
    from huggingface_hub.errors import RepositoryNotFoundError

    try:
        info = api.repo_info(repo_id, repo_type=repo_type)
    except RepositoryNotFoundError:
        other = "model" if repo_type == "dataset" else "dataset"
        if _exists(api, repo_id, other):
            raise BiomedError(
                f"{repo_id} is a {other} repo and no {repo_type} repo of that name exists: choose another name, or "
                f"create the {repo_type} repo first (hf repo create {repo_id} --repo-type {repo_type})"
            ) from None
        return _Remote()
    if target.private and not info.private:
        raise BiomedError(f"{repo_id} exists and is public: drop --private, or make the repo private on the Hub first")
    refs = api.list_repo_refs(repo_id, repo_type=repo_type)
    branches = {ref.name: ref.target_commit for ref in refs.branches}
    head = branches.get(target.revision)
    start = head or info.sha  # a new branch starts from the default branch
    tree = {
        entry.path: entry
        for entry in api.list_repo_tree(repo_id, repo_type=repo_type, revision=start, recursive=True)
        if hasattr(entry, "blob_id")
    }
    tags = {ref.name: ref.target_commit for ref in refs.tags}
    return _Remote(exists=True, head=head, start=start, tree=tree, tags=tags)


def _exists(api, repo_id: str, repo_type: str) -> bool:
    from huggingface_hub.errors import HfHubHTTPError

    try:
        api.repo_info(repo_id, repo_type=repo_type)
        return True
    except HfHubHTTPError:
        return False


def _plan(release: Release, repo_id: str, target: HubTarget, remote: _Remote) -> PushPlan:
    plan = PushPlan(release.kind, release.repo_type, repo_id, target.revision, repo_exists=remote.exists)
    plan.new_branch = remote.head is None
    plan.tag = target.tag
    for path, content in release.files.items():
        entry = remote.tree.get(path)
        if entry is not None and _same_content(content, entry):
            plan.unchanged.append(path)
        else:
            plan.upload.append(path)
            plan.upload_bytes += len(content) if isinstance(content, bytes) else content.stat().st_size
    plan.delete = sorted(
        path
        for path in remote.tree
        if path not in release.files and any(fnmatch.fnmatch(path, pattern) for pattern in release.owned)
    )
    return plan


def _check_tag(plan: PushPlan, remote: _Remote, target: HubTarget) -> None:
    """Refuse, before anything is published, a tag that exists on another commit than the one to be tagged.

    A release that changes files is a commit that does not exist yet, so any existing tag is on another commit.
    """
    to_tag = None if plan.changes_files else remote.start
    plan.tag_to = to_tag or ""
    current = remote.tags.get(target.tag) if target.tag else None
    if current is None:
        return
    plan.tag_from = current
    if current == to_tag or target.force:
        return
    what = "the new release" if to_tag is None else f"{plan.revision} ({to_tag[:10]})"
    raise BiomedError(
        f"tag {target.tag} already exists on {plan.repo_id} at another commit ({current[:10]}) than {what}: "
        "nothing was published; choose a new tag (e.g. a higher version), or pass --force to move it"
    )


def _prepare_branch(api, repo_id: str, repo_type: str, target: HubTarget, remote: _Remote) -> str:
    """Create the repo and the branch when missing; the branch head to commit on."""
    if not remote.exists:
        api.create_repo(repo_id, repo_type=repo_type, private=target.private, exist_ok=True)
    if remote.head is not None:
        return remote.head
    api.create_branch(repo_id, branch=target.revision, repo_type=repo_type, exist_ok=True)
    refs = api.list_repo_refs(repo_id, repo_type=repo_type)
    return next(ref.target_commit for ref in refs.branches if ref.name == target.revision)


def _commit_via_staging(api, release: Release, plan: PushPlan, target: HubTarget, head: str) -> str:
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    def additions() -> list:
        return [CommitOperationAdd(path_in_repo=p, path_or_fileobj=_source(release.files[p])) for p in plan.upload]

    repo_type, repo_id = release.repo_type, plan.repo_id
    staging = STAGING_PREFIX + target.revision
    if plan.upload:
        # The staging branch keeps what an interrupted push already sent: the LFS objects it references are not
        # sent again, so a rerun resumes; the release commit below then only points the branch at them.
        api.create_branch(repo_id, branch=staging, revision=head, repo_type=repo_type, exist_ok=True)
        api.create_commit(
            repo_id, repo_type=repo_type, revision=staging, operations=additions(), commit_message="biomed: staging"
        )
    operations = additions() + [CommitOperationDelete(path_in_repo=p) for p in plan.delete]
    info = api.create_commit(
        repo_id,
        repo_type=repo_type,
        revision=target.revision,
        operations=operations,
        commit_message=target.commit_message or release.title,
        commit_description=plan.describe().replace("Push", "Pushed").rstrip("?"),
        parent_commit=head,
    )
    try:
        if plan.upload:
            api.delete_branch(repo_id, branch=staging, repo_type=repo_type)
    except Exception as err:  # noqa: BLE001 - the release is published; a leftover staging branch is harmless
        logger.warning("could not delete the staging branch %s: %s", staging, type(err).__name__)
    return info.oid


def _set_tag(api, plan: PushPlan, commit: str | None) -> str:
    """Point ``plan.tag`` at ``commit``: create it, or move it (``_check_tag`` allowed it)."""
    if plan.tag_from == commit:
        return plan.tag
    if plan.tag_from:
        api.delete_tag(plan.repo_id, tag=plan.tag, repo_type=plan.repo_type)
    api.create_tag(plan.repo_id, tag=plan.tag, revision=commit, repo_type=plan.repo_type)
    return plan.tag


def _source(content: Path | bytes) -> str | bytes:
    return content if isinstance(content, bytes) else str(content)


def _same_content(content: Path | bytes, entry) -> bool:
    if entry.lfs is not None:
        return entry.lfs.sha256 == _digest(content, hashlib.sha256())
    size = len(content) if isinstance(content, bytes) else content.stat().st_size
    return entry.blob_id == _digest(content, hashlib.sha1(f"blob {size}\0".encode()))  # noqa: S324 - git's blob id


def _digest(content: Path | bytes, digest) -> str:
    if isinstance(content, bytes):
        digest.update(content)
        return digest.hexdigest()
    with open(content, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _repo_url(endpoint: str, repo_type: str, repo_id: str, revision: str) -> str:
    url = f"{endpoint}/{'datasets/' if repo_type == 'dataset' else ''}{repo_id}"
    return url if revision == "main" else f"{url}/tree/{revision}"


# ------------------------------------------------------------------------------------------------ errors, secrets
_URL_QUERY = re.compile(r"(https?://[^\s?#'\"<>]+)[?#][^\s'\"<>]*")


def redact(text: str, token: str | None) -> str:
    """``text`` without ``token`` and without URL query strings (signed upload URLs carry credentials there)."""
    text = _URL_QUERY.sub(r"\1?<redacted>", text)
    return text.replace(token, "<token>") if token else text


class _RedactFilter(logging.Filter):
    def __init__(self, token: str):
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage(), self.token), None
        return True


@contextmanager
def _redacted_logs(token: str) -> Iterator[None]:
    """huggingface_hub logs the URL of a retried request (signed, for uploads): redact every handler's records."""
    handlers = {*logging.getLogger("huggingface_hub").handlers, *logging.getLogger().handlers}
    redactor = _RedactFilter(token)
    for handler in handlers:
        handler.addFilter(redactor)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(redactor)


@dataclass
class _Progress:
    published: str = ""  # the release commit, once the target branch points at it


@contextmanager
def _hub_errors(repo_id: str, revision: str, token: str) -> Iterator[_Progress]:
    """Turn Hub and network failures into one-line ``BiomedError``s that say what is live and never hold secrets."""
    progress = _Progress()
    try:
        yield progress
    except BiomedError:
        raise
    except Exception as exc:
        message = _describe_failure(exc, repo_id, revision, progress)
        if message is None:
            raise
        raise BiomedError(" ".join(redact(message, token).split())) from None


def _describe_failure(exc: BaseException, repo_id: str, revision: str, progress: _Progress) -> str | None:
    from huggingface_hub.utils import HFValidationError

    if progress.published:
        outcome = (
            f"the release is published on {repo_id}@{revision} ({progress.published[:10]}) but its tag is not set; "
            "rerun the same command to set it"
        )
    else:
        outcome = f"nothing was published on {repo_id}@{revision}; rerun the same command to resume"
    http, network = _hub_cause(exc)
    if http is not None:
        status = http.response.status_code if http.response is not None else None
        server = (http.server_message or "").strip().splitlines()
        said = f"{status}: {server[0]}" if server else f"{status}"
        if status == 401:
            return "the Hub rejected the token (401): run `hf auth login` again or set HF_TOKEN to a valid token"
        if status == 403:
            return (
                f"the token may not write to {repo_id} (403): use a token with write access to that namespace "
                f"(a fine-grained token needs 'write' on the repo); {outcome}"
            )
        if status == 404:
            return f"the Hub found no {repo_id} or branch {revision} ({said}); {outcome}"
        if status == 412:
            return f"{repo_id}@{revision} changed while pushing ({said}); {outcome}"
        if status is not None and (status >= 500 or status == 429):
            return f"the Hub failed ({said}); {outcome}"
        return f"the Hub refused a request ({said}); {outcome}"
    if network is not None:
        return f"the connection to the Hub failed ({type(network).__name__}: {network}); {outcome}"
    if isinstance(exc, OSError) and exc.filename:
        return f"could not read {exc.filename} ({exc.strerror}); {outcome}"
    if isinstance(exc, HFValidationError):
        return f"invalid name for the Hub: {exc}"
    return None


def _hub_cause(exc: BaseException):
    """The Hub HTTP error or the network error behind ``exc`` (huggingface_hub wraps some in RuntimeError)."""
    from huggingface_hub.errors import HfHubHTTPError

    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, HfHubHTTPError):
            return exc, None
        if isinstance(exc, (ConnectionError, TimeoutError, socket.gaierror)):
            return None, exc
        if type(exc).__module__.startswith(("httpx", "httpcore")):
            return None, exc
        exc = exc.__cause__ or exc.__context__
    return None, None
