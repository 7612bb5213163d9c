"""``biomed push-dataset``: check a built dataset folder, then publish it with ``biomed.hub`` (all or nothing).

Example::

    biomed push-dataset biomed-enriched almanach/Biomed-Enriched --tag v1.0

or from Python::

    from biomed.dataset_builder.release.push import PushConfig, push_dataset

    result = push_dataset(PushConfig(folder="biomed-enriched", repo_id="me/biomed-enriched"))
    print(result.render())

What is particular to a dataset happens here, before any request: the dataset card is checked
(``check_dataset_card``) and so is every Parquet file: no row of a restricted licence group (``non_commercial``,
``other``, or none) carries text. The rest (token, plan, staging branch, one release commit, resume, tag) is
``biomed.hub.publish``, the path every published model takes too.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from biomed.errors import BiomedError
from biomed.hub import HubTarget, PushPlan, PushResult, Release, check_repo_id, publish
from biomed.runtime.files import check_parquet_files
from biomed.runtime.ownership import require_finished


logger = logging.getLogger(__name__)


RESTRICTED_GROUPS = ("non_commercial", "other")
"""Licence groups whose text must not be published (rows without a group count as restricted too)."""

RELEASE_PATTERNS = ("data/*", "images/*", "README.md", "build_summary.json", "config.yaml")
"""Remote files a push owns: stale ones are deleted; anything else in the repo (a logo, .gitattributes) stays."""


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
        force: move ``tag`` when it already exists on another commit (otherwise the push is refused, before
            anything is published).
    """

    folder: str = ""
    repo_id: str = ""
    private: bool = False
    revision: str = "main"
    tag: str = ""
    commit_message: str = ""
    allow_restricted_text: bool = False
    force: bool = False

    def __post_init__(self) -> None:
        if self.allow_restricted_text and not self.private:
            raise ValueError("allow_restricted_text needs private: restricted text is never pushed to a public repo")


def push_dataset(cfg: PushConfig, confirm: Callable[[PushPlan], bool] | None = None, wait: bool = False) -> PushResult:
    """Check ``cfg.folder`` and publish it to ``cfg.repo_id`` (``biomed.hub.publish``).

    Args:
        cfg: what to push where.
        confirm: called with the plan before anything is sent (not when there is nothing to send); return False
            to stop. None = no question.
        wait: when the folder is a build or rehydration still being written, wait for it instead of refusing it.

    Raises:
        BiomedError: a bad repo id, restricted text in a file, an invalid card, or any failure of
            ``biomed.hub.publish`` (no token, 401/403, a tag on another commit, a connection lost mid-way: then
            rerunning the same command resumes the push).
    """
    repo_id = check_repo_id(cfg.repo_id, "dataset")
    require_finished(cfg.folder, "data build", "data rehydrate", wait=wait, on_wait=logger.warning)
    release = dataset_release(Path(cfg.folder), allow_restricted_text=cfg.allow_restricted_text)
    target = HubTarget(repo_id, cfg.revision, cfg.tag, cfg.private, cfg.force, cfg.commit_message)
    return publish(release, target, confirm)


def dataset_release(folder: Path, allow_restricted_text: bool = False) -> Release:
    """The files of a built dataset folder, once the card and the licences are checked."""
    files = list_release_files(folder)
    check_parquet_files([folder / p for p in files if p.endswith(".parquet")], hint="rebuild the release")
    check_release_folder(folder, allow_restricted_text=allow_restricted_text)
    title = f"Release {folder.name}: {', '.join(_config_names(folder))}"
    return Release("dataset", "dataset", folder, {p: folder / p for p in files}, RELEASE_PATTERNS, title)


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


def _config_names(folder: Path) -> list[str]:
    summary = folder / "build_summary.json"
    if summary.is_file():
        return list(json.loads(summary.read_text()).get("configs", {}))
    return sorted(p.name for p in (folder / "data").iterdir() if p.is_dir())
