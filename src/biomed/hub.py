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

The types (`Release`, `HubTarget`, `PushPlan`, `PushResult`) live in ``biomed.hub_plan``, the failure messages
and `redact` in ``biomed.hub_errors``; this module imports them back, so ``biomed.hub`` names them all.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from biomed.errors import BiomedError
from biomed.hub_errors import _hub_errors, _redacted_logs, redact
from biomed.hub_plan import HubTarget, PushPlan, PushResult, Release


__all__ = [
    "CLASSIFIER_CARD_PLACEHOLDER",
    "CLASSIFIER_MODEL_TYPE",
    "MODEL_OWNED",
    "STAGING_PREFIX",
    "TRAINER_STATE",
    "WEIGHT_FILES",
    "HubTarget",
    "PushPlan",
    "PushResult",
    "Release",
    "check_repo_id",
    "model_release",
    "publish",
    "push_model",
    "redact",
]


logger = logging.getLogger(__name__)

STAGING_PREFIX = "biomed-staging/"
"""Staging branches are ``biomed-staging/<target branch>``; they live only while a push runs (or was cut)."""

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
"""A model folder has one of these beside ``config.json``."""

MODEL_OWNED = ("model*.safetensors", "model.safetensors.index.json", "pytorch_model*.bin")
"""Remote files a model push owns: stale weight shards are deleted, anything else on the repo stays."""

TRAINER_STATE = ("optimizer.pt", "scheduler.pt", "scaler.pt", "training_args.bin", "rng_state", ".tmp")
"""Resume-only state of a Trainer checkpoint: large and useless to a downstream user; never published."""

CLASSIFIER_MODEL_TYPE = "biomed_classifier"
"""``model_type`` in a classifier's ``config.json``: ``modeling_biomed_classifier.MODEL_TYPE``, spelled again here
because that file is copied into every checkpoint and imports only torch and transformers, which a push must not
load (a test keeps the two equal)."""

CLASSIFIER_CARD_PLACEHOLDER = "PATH_OR_REPO"
"""What the classifier card (``classifier.md.j2``) writes where the model is named; a push puts the repo id there."""


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
        BiomedError: not a folder, a ``checkpoint-N`` whose save was cut short, or no ``config.json`` and weights.
    """
    from biomed.runtime.checkpoints import CHECKPOINT_MARKER, is_checkpoint_name, is_complete_checkpoint

    folder = Path(checkpoint)
    if not folder.is_dir():
        raise BiomedError(f"{folder} is not a folder; pass a training output such as runs/NAME/final or a classifier")
    if is_checkpoint_name(folder) and not is_complete_checkpoint(folder):
        raise BiomedError(
            f"{folder} is not a complete checkpoint of biomed train (no trainer_state.json or {CHECKPOINT_MARKER}: "
            "its save was cut short); push a complete checkpoint-N or final/"
        )
    names = {p.name for p in folder.iterdir()}
    if "config.json" not in names or not names & set(WEIGHT_FILES):
        raise BiomedError(
            f"{folder} has no config.json and model weights; pass final/ or a checkpoint-N/ folder of a training "
            "run, or the output folder of biomed data classify train"
        )
    kind = "classifier" if _is_classifier(folder) else "decoder" if _is_decoder(folder) else "encoder"
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
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise BiomedError(f"{folder / 'config.json'} cannot be read: {err}") from None
    return config.get("model_type") == CLASSIFIER_MODEL_TYPE


def _is_decoder(folder: Path) -> bool:
    """A ``biomed train`` decoder folder (its card context says so)."""
    card = folder / "card.json"
    return card.is_file() and json.loads(card.read_text(encoding="utf-8")).get("kind") == "decoder"


def _model_card(folder: Path, kind: str, repo_id: str) -> str | None:
    """The card to publish, naming ``repo_id``; None = the folder's README as it is (or none)."""
    if kind in ("decoder", "encoder") and (folder / "card.json").is_file():
        from biomed.model_cards.eval_results import render_context

        context = json.loads((folder / "card.json").read_text(encoding="utf-8"))
        return str(render_context(context, repo_id=repo_id))
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
