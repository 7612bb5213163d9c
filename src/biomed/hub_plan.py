"""What a Hub push publishes (`Release`), where (`HubTarget`), what it would change (`PushPlan`), what it did.

Example::

    from biomed.hub import HubTarget, model_release, publish

    result = publish(model_release("runs/modernbert-bio/final", "me/ModernBERT-bio"), HubTarget("me/ModernBERT-bio"))
    print(result.plan.describe(), result.render(), sep="\n")

The push itself (`publish`) is in ``biomed.hub``, which imports these types back under its own name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


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
