"""`biomed push-dataset` against the local Hub: round trip, atomic release, resume, licences, errors."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dataset_builder.scored_shards import build_release, mixed_articles, scored_table
from typer.testing import CliRunner

from biomed.cli import app
from biomed.dataset_builder.build.published import published_features
from biomed.dataset_builder.release.push import PushConfig, push_dataset
from biomed.errors import BiomedError


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    return build_release(tmp_path_factory.mktemp("build"), plots=True)


@pytest.fixture
def release(built, tmp_path) -> Path:
    """A private copy of the built release, free to be changed by the test."""
    return Path(shutil.copytree(built, tmp_path / "release"))


@pytest.fixture
def no_backoff(monkeypatch):
    """huggingface_hub waits up to 8 s between retries; the injected faults need none of that."""
    monkeypatch.setattr(time, "sleep", lambda seconds: None)


def _push(release: Path, repo_id: str, **kwargs):
    return push_dataset(PushConfig(folder=str(release), repo_id=repo_id, **kwargs))


def _configs(release: Path) -> list[str]:
    return json.loads((release / "build_summary.json").read_text())["configs"].keys()


def _remote(hub, repo_id: str, revision: str = "main") -> dict[str, bytes]:
    return {k: v for k, v in hub.files(repo_id, "dataset", revision).items() if k != ".gitattributes"}


def _local(release: Path) -> dict[str, bytes]:
    files = (p for p in release.rglob("*") if p.is_file() and not p.relative_to(release).parts[0].startswith("."))
    return {p.relative_to(release).as_posix(): p.read_bytes() for p in files}  # hidden: the run's own (.biomed/)


def test_push_then_load_dataset_returns_the_same_rows_for_every_config(local_hub, release):
    from huggingface_hub import DatasetCard

    repo_id = f"{local_hub.user}/biomed-enriched"
    result = _push(release, repo_id, tag="v1.0")

    assert result.pushed and result.tag == "v1.0"
    assert _remote(local_hub, repo_id) == _local(release)
    for name in _configs(release):
        remote, local = datasets.load_dataset(repo_id, name), datasets.load_dataset(str(release), name)
        assert {s: d.to_list() for s, d in remote.items()} == {s: d.to_list() for s, d in local.items()}, name
    default = datasets.load_dataset(repo_id)  # the published layout: splits commercial and noncommercial
    assert sorted(default) == ["commercial", "noncommercial"]
    assert all(split.features == published_features() for split in default.values())
    assert (
        sum(len(split) for split in default.values())
        == json.loads((release / "build_summary.json").read_text())["configs"]["default"]["rows"]
    )
    card = DatasetCard.load(repo_id, repo_type="dataset")
    card.validate()  # the Hub's check, served by the local hub
    api = local_hub.api
    assert [c.title for c in api.list_repo_commits(repo_id, repo_type="dataset")][1:] == ["initial commit"]
    refs = api.list_repo_refs(repo_id, repo_type="dataset")
    assert [b.name for b in refs.branches] == ["main"]  # the staging branch is gone
    assert [t.name for t in refs.tags] == ["v1.0"] and refs.tags[0].target_commit == result.commit


def test_rerun_with_nothing_changed_sends_nothing(local_hub, release):
    repo_id = f"{local_hub.user}/same"
    _push(release, repo_id)
    before = len(local_hub.requests)

    result = _push(release, repo_id)

    kinds = {r.kind for r in local_hub.requests[before:]}
    assert not result.pushed and result.plan.empty
    assert kinds <= {"whoami", "repo_info", "tree", "refs"}, kinds
    assert len(local_hub.api.list_repo_commits(repo_id, repo_type="dataset")) == 2


def test_new_release_replaces_the_old_one_in_a_single_commit(local_hub, release, tmp_path):
    repo_id = f"{local_hub.user}/versions"
    _push(release, repo_id)
    old = _remote(local_hub, repo_id)
    # the new release drops two configs and changes the card
    newer = build_release(tmp_path / "v2", only=["BE-Base", "BE-Educational", "clinical_case"])
    uploads_before = local_hub.count("lfs_upload")

    result = _push(newer, repo_id, commit_message="v2")

    assert _remote(local_hub, repo_id) == _local(newer)
    assert set(result.plan.delete) == {p for p in old if p not in _local(newer)}
    assert any(p.startswith("data/BE-All/") for p in result.plan.delete)
    unchanged_parquet = [p for p in result.plan.unchanged if p.endswith(".parquet")]
    assert unchanged_parquet  # the configs whose rows did not change are not sent again
    assert local_hub.count("lfs_upload") - uploads_before == sum(
        1 for p in result.plan.upload if p.endswith((".parquet", ".png"))
    )
    titles = [c.title for c in local_hub.api.list_repo_commits(repo_id, repo_type="dataset")]
    assert titles[0] == "v2" and len(titles) == 3  # one commit per release on main


@pytest.mark.parametrize("mode", ["500", "drop"])
def test_interrupted_upload_leaves_main_untouched_and_a_rerun_completes(local_hub, release, no_backoff, mode):
    repo_id = f"{local_hub.user}/flaky"
    local_hub.inject_fault("lfs_upload", nth=4, mode=mode, times=50)  # beyond the client's retries

    with pytest.raises(BiomedError, match="rerun the same command to resume"):
        _push(release, repo_id)
    assert _remote(local_hub, repo_id) == {}  # main shows nothing of the half-sent release
    sent_before = local_hub.count("lfs_upload", 200)
    assert sent_before >= 3

    local_hub._faults.clear()
    _push(release, repo_id)

    assert _remote(local_hub, repo_id) == _local(release)
    # the objects stored before the interruption were not sent again
    parquet_and_png = sum(1 for p in _local(release) if p.endswith((".parquet", ".png")))
    assert local_hub.count("lfs_upload", 200) == parquet_and_png
    assert (
        datasets.load_dataset(repo_id, "BE-All", split="train").num_rows
        == pq.read_metadata(next((release / "data" / "BE-All").glob("*.parquet"))).num_rows
    )


def test_failed_release_commit_keeps_the_previous_release_whole(local_hub, release, tmp_path):
    repo_id = f"{local_hub.user}/atomic"
    _push(release, repo_id)
    old = _remote(local_hub, repo_id)
    newer = build_release(tmp_path / "v2", seed=7, only=["BE-Base", "clinical_case"])
    local_hub.inject_fault("commit", nth=2, mode="drop")  # 1: staging upload, 2: the release commit

    with pytest.raises(BiomedError, match="rerun"):
        _push(newer, repo_id)
    assert _remote(local_hub, repo_id) == old
    uploads = local_hub.count("lfs_upload")

    _push(newer, repo_id)

    assert _remote(local_hub, repo_id) == _local(newer)
    assert local_hub.count("lfs_upload") == uploads  # the rerun moved no data


def test_no_withheld_text_is_in_anything_push_dataset_sends(local_hub, release):
    rows = scored_table(mixed_articles()).to_pylist()
    withheld = [r["text"] for r in rows if r["license_group"] != "commercial"]
    published = [r["text"] for r in rows if r["license_group"] == "commercial"]
    assert withheld and published

    _push(release, f"{local_hub.user}/public")

    # everything the hub ever received: LFS objects (staging included) and regular files of every commit
    sent = list(local_hub.store.lfs_objects.values()) + list(local_hub.store.blobs.values())
    cells, raw = [], []
    for blob in sent:
        if blob[:4] == b"PAR1":
            table = pq.read_table(pa.BufferReader(blob))
            for column in table.columns:
                if pa.types.is_string(column.type):
                    cells += [v for v in column.to_pylist() if v]
            raw += [key + value for key, value in (table.schema.metadata or {}).items()]
        else:
            raw.append(blob)
    everything = "\n".join(cells) + "\n".join(b.decode("utf-8", "replace") for b in raw)
    assert sum(text in everything for text in published) == len(published)  # the scan does see text
    assert [text for text in withheld if text in everything] == []
    assert [text for text in withheld if text.split(" lorem")[0] in everything] == []


def test_restricted_text_is_refused_before_anything_is_sent(local_hub, tmp_path):
    full = build_release(tmp_path, withhold_text_groups=[])
    with pytest.raises(BiomedError, match="non_commercial/other articles carry text"):
        _push(full, f"{local_hub.user}/leak")
    assert local_hub.requests == []
    with pytest.raises(ValueError, match="needs private"):
        PushConfig(folder=str(full), repo_id="a/b", allow_restricted_text=True)

    _push(full, f"{local_hub.user}/private-full", private=True, allow_restricted_text=True)

    assert local_hub.api.repo_info(f"{local_hub.user}/private-full", repo_type="dataset").private


def test_clear_errors_for_token_permissions_and_repo_type(local_hub, release, monkeypatch):
    with pytest.raises(BiomedError, match="namespace/name"):
        _push(release, "just-a-name")
    with pytest.raises(BiomedError, match="names a model repo"):
        _push(release, f"models/{local_hub.user}/x")
    local_hub.api.create_repo(f"{local_hub.user}/a-model")
    with pytest.raises(BiomedError, match="is a model repo"):
        _push(release, f"{local_hub.user}/a-model")

    monkeypatch.setenv("HF_TOKEN", local_hub.read_token)
    with pytest.raises(BiomedError, match="403") as err:
        _push(release, f"{local_hub.user}/read-only")
    assert local_hub.read_token not in str(err.value)
    monkeypatch.setenv("HF_TOKEN", "hf_not_a_token")
    with pytest.raises(BiomedError, match="rejected the token \\(401\\)") as err:
        _push(release, f"{local_hub.user}/bad-token")
    assert "hf_not_a_token" not in str(err.value)
    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(BiomedError, match="no Hugging Face token"):
        _push(release, f"{local_hub.user}/no-token")


def test_existing_tag_on_another_commit_and_public_repo_with_private_are_refused(local_hub, release, tmp_path):
    repo_id = f"{local_hub.user}/tagged"
    _push(release, repo_id, tag="v1")
    _push(release, repo_id, tag="v1")  # same commit: fine
    with pytest.raises(BiomedError, match="exists and is public"):
        _push(release, repo_id, private=True)
    with pytest.raises(BiomedError, match="tag v1 already exists"):
        _push(build_release(tmp_path / "v2", seed=3, only=["BE-Base"]), repo_id, tag="v1")


def test_cli_asks_before_pushing_and_never_prints_the_token(local_hub, release):
    runner = CliRunner()
    repo_id = f"{local_hub.user}/cli"

    declined = runner.invoke(app, ["push-dataset", str(release), repo_id], input="n\n")
    assert declined.exit_code == 1 and "Push 21 file(s)" in declined.output
    assert local_hub.count("commit") == 0

    done = runner.invoke(app, ["push-dataset", str(release), repo_id, "--yes", "--tag", "v1"])
    assert done.exit_code == 0, done.output
    assert f"to {repo_id}@main" in done.output and f"/datasets/{repo_id}" in done.output
    assert "Tagged v1" in done.output
    assert local_hub.token not in done.output + declined.output
    assert all(local_hub.token.encode() not in blob for blob in _local(release).values())

    again = runner.invoke(app, ["push-dataset", str(release), repo_id])  # nothing to ask: nothing changed
    assert again.exit_code == 0 and "up to date" in again.output

    dry = runner.invoke(app, ["push-dataset", str(release), repo_id, "--dry-run", "--revision", "rc"])
    assert dry.exit_code == 0 and "revision: rc" in dry.output
    assert "--allow-restricted-text" in runner.invoke(app, ["push-dataset", "--help"]).output


def test_a_taken_tag_fails_before_anything_is_published(local_hub, release, tmp_path):
    repo_id = f"{local_hub.user}/taken"
    _push(release, repo_id, tag="v1.0")
    released = _remote(local_hub, repo_id)
    commits, uploads = local_hub.count("commit"), local_hub.count("lfs_upload")

    with pytest.raises(BiomedError, match="tag v1.0 already exists .* nothing was published"):
        _push(build_release(tmp_path / "v2", seed=3, only=["BE-Base"]), repo_id, tag="v1.0")

    assert _remote(local_hub, repo_id) == released
    assert (local_hub.count("commit"), local_hub.count("lfs_upload")) == (commits, uploads)


def test_force_moves_the_tag_to_the_new_release(local_hub, release, tmp_path):
    repo_id = f"{local_hub.user}/moved"
    first = _push(release, repo_id, tag="v1.0")
    newer = build_release(tmp_path / "v2", seed=3, only=["BE-Base"])

    result = CliRunner().invoke(app, ["push-dataset", str(newer), repo_id, "--tag", "v1.0", "--force", "--yes"])

    assert result.exit_code == 0, result.output
    refs = local_hub.api.list_repo_refs(repo_id, repo_type="dataset")
    assert refs.tags[0].target_commit == refs.branches[0].target_commit != first.commit
    assert _remote(local_hub, repo_id, "v1.0") == _local(newer)


def test_push_to_a_new_branch_leaves_main_alone(local_hub, release):
    repo_id = f"{local_hub.user}/branches"
    _push(release, repo_id, revision="v1-candidate")
    assert _remote(local_hub, repo_id, "v1-candidate") == _local(release)
    assert _remote(local_hub, repo_id) == {}
    assert datasets.load_dataset(repo_id, "default", split="commercial", revision="v1-candidate").num_rows == 18


def test_push_dataset_imports_no_torch(local_hub, release):
    import subprocess
    import sys

    script = (
        "import json, sys\nfrom biomed.cli import main\nsys.argv = ['biomed', *sys.argv[1:]]\n"
        "try:\n    main()\nexcept SystemExit as end:\n    code = end.code\n"
        "print(json.dumps([code, sorted(m for m in ('torch', 'transformers') if m in sys.modules)]))"
    )
    repo_id = f"{local_hub.user}/light-release"
    for arguments in (["--help"], [str(release), repo_id, "--yes"]):
        run = subprocess.run(
            [sys.executable, "-c", script, "push-dataset", *arguments], capture_output=True, text=True, timeout=300
        )
        assert json.loads(run.stdout.strip().splitlines()[-1]) == [0, []], run.stderr
    assert _remote(local_hub, repo_id) == _local(release)
