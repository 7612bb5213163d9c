"""Round trips through the stock huggingface_hub / datasets / transformers clients against the local Hub."""

import os

import pytest
from huggingface_hub import (
    CommitOperationAdd,
    CommitOperationDelete,
    HfApi,
    HfFileSystem,
    hf_hub_download,
    snapshot_download,
)
from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError


def _write_tree(root, files: dict[str, bytes]) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def _read_tree(root) -> dict[str, bytes]:
    return {
        os.path.relpath(os.path.join(d, f), root): open(os.path.join(d, f), "rb").read()
        for d, _, names in os.walk(root)
        for f in names
        if ".cache" not in d
    }


def test_upload_folder_then_snapshot_download(local_hub, tmp_path):
    files = {
        "README.md": b"---\nlicense: apache-2.0\ntags: [biomed]\n---\n# Tiny\n",
        "notes/a.txt": b"hello\n",
        "weights/w.bin": os.urandom(4096),  # *.bin is LFS in the default .gitattributes
        "data.json": b'{"x": 1}',
    }
    _write_tree(tmp_path / "src", files)
    repo_id = local_hub.api.create_repo(f"{local_hub.user}/folder").repo_id

    commit = local_hub.api.upload_folder(folder_path=tmp_path / "src", repo_id=repo_id, commit_message="add")

    snapshot = snapshot_download(repo_id, local_dir=tmp_path / "out")
    assert {k: v for k, v in _read_tree(snapshot).items() if k != ".gitattributes"} == files
    info = local_hub.api.model_info(repo_id, files_metadata=True)
    assert info.sha == commit.oid
    assert info.card_data["license"] == "apache-2.0"
    siblings = {s.rfilename: s for s in info.siblings}
    assert siblings["weights/w.bin"].lfs.size == 4096 and siblings["notes/a.txt"].lfs is None
    assert [c.title for c in local_hub.api.list_repo_commits(repo_id)] == ["add", "initial commit"]
    # The LFS file went through the batch API and a redirect to the storage origin, not inline in the commit.
    assert local_hub.count("lfs_upload", 200) == 1 and local_hub.count("lfs_download", 200) == 1


def test_dataset_configs_round_trip_through_push_to_hub_and_load_dataset(local_hub):
    from datasets import Dataset, load_dataset

    repo_id = f"{local_hub.user}/two-configs"
    first = Dataset.from_dict({"text": ["a", "b", "c"], "label": [0, 1, 0]})
    second = Dataset.from_dict({"text": ["x", "y"], "score": [0.5, 1.5]})
    first.push_to_hub(repo_id, config_name="first")
    second.push_to_hub(repo_id, config_name="second", split="test")

    loaded_first = load_dataset(repo_id, "first", split="train")
    loaded_second = load_dataset(repo_id, "second", split="test")
    assert loaded_first.to_dict() == first.to_dict()
    assert loaded_second.to_dict() == second.to_dict()
    card = local_hub.api.dataset_info(repo_id).card_data
    assert sorted(c["config_name"] for c in card["configs"]) == ["first", "second"]


def test_tiny_model_from_pretrained_at_main_and_at_tag(local_hub, tmp_path):
    import torch
    from transformers import AutoModel, BertConfig, BertModel

    config = BertConfig(
        vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37
    )
    repo_id = local_hub.api.create_repo(f"{local_hub.user}/tiny-bert").repo_id
    torch.manual_seed(0)
    v1 = BertModel(config)
    v1.push_to_hub(repo_id, commit_message="v1")  # transformers' own upload path
    local_hub.api.create_tag(repo_id, tag="v1")
    v2 = BertModel(config)
    v2.save_pretrained(tmp_path / "v2")
    local_hub.api.upload_folder(folder_path=tmp_path / "v2", repo_id=repo_id, commit_message="v2")

    at_tag = AutoModel.from_pretrained(repo_id, revision="v1")
    at_main = AutoModel.from_pretrained(repo_id)

    for name, tensor in v1.state_dict().items():
        assert torch.equal(at_tag.state_dict()[name], tensor), name
    for name, tensor in v2.state_dict().items():
        assert torch.equal(at_main.state_dict()[name], tensor), name
    assert not torch.equal(at_tag.embeddings.word_embeddings.weight, at_main.embeddings.word_embeddings.weight)
    refs = local_hub.api.list_repo_refs(repo_id)
    assert [t.name for t in refs.tags] == ["v1"] and refs.tags[0].target_commit != refs.branches[0].target_commit


def test_private_and_gated_repos_refuse_reads_with_the_hub_errors(local_hub):
    api = local_hub.api
    private = api.create_repo(f"{local_hub.user}/secret", private=True).repo_id
    api.upload_file(path_or_fileobj=b"s3cret", path_in_repo="f.txt", repo_id=private)

    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download(private, "f.txt", token=False)
    assert open(hf_hub_download(private, "f.txt"), "rb").read() == b"s3cret"  # HF_TOKEN is the owner's
    with pytest.raises(RepositoryNotFoundError):
        HfApi(token=local_hub.other_token).model_info(private)
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(private, "f.txt", revision="no-such-branch")

    gated = api.create_repo(f"{local_hub.user}/gated").repo_id
    api.upload_file(path_or_fileobj=b"g", path_in_repo="g.txt", repo_id=gated)
    api.update_repo_settings(gated, gated="auto")
    with pytest.raises(GatedRepoError) as err:
        hf_hub_download(gated, "g.txt", token=local_hub.other_token)
    assert err.value.response.status_code == 403


def test_writes_with_a_wrong_or_read_only_token_get_401_and_403(local_hub):
    repo_id = local_hub.api.create_repo(f"{local_hub.user}/guarded").repo_id

    with pytest.raises(HfHubHTTPError) as wrong:
        HfApi(token="hf_wrong").upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo_id)
    assert wrong.value.response.status_code == 401
    assert wrong.value.response.headers["X-Error-Message"] == "Invalid credentials in Authorization header"

    with pytest.raises(HfHubHTTPError) as read_only:
        HfApi(token=local_hub.read_token).upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo_id)
    assert read_only.value.response.status_code == 403

    with pytest.raises(HfHubHTTPError) as exists:
        local_hub.api.create_repo(repo_id)
    assert exists.value.response.status_code == 409
    assert local_hub.api.list_repo_files(repo_id) == [".gitattributes"]


def test_an_existing_tag_answers_409_and_moves_only_by_delete_then_create(local_hub):
    api = local_hub.api
    repo_id = api.create_repo(f"{local_hub.user}/tags").repo_id
    first = api.list_repo_refs(repo_id).branches[0].target_commit
    api.create_tag(repo_id, tag="v1", revision=first)
    second = api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo_id).oid

    with pytest.raises(HfHubHTTPError) as taken:
        api.create_tag(repo_id, tag="v1", revision=second)
    assert taken.value.response.status_code == 409
    api.create_tag(repo_id, tag="v1", revision=second, exist_ok=True)  # silently keeps the old target
    assert api.list_repo_refs(repo_id).tags[0].target_commit == first
    with pytest.raises(HfHubHTTPError) as read_only:
        HfApi(token=local_hub.read_token).delete_tag(repo_id, tag="v1")
    assert read_only.value.response.status_code == 403

    api.delete_tag(repo_id, tag="v1")
    api.create_tag(repo_id, tag="v1", revision=second)

    assert api.list_repo_refs(repo_id).tags[0].target_commit == second
    with pytest.raises(RevisionNotFoundError):
        api.delete_tag(repo_id, tag="v2")


def test_create_commit_with_lfs_files_branches_and_deletions(local_hub):
    api = local_hub.api
    repo_id = api.create_repo(f"{local_hub.user}/ops", repo_type="dataset").repo_id
    blob = os.urandom(2048)
    api.create_commit(
        repo_id,
        repo_type="dataset",
        operations=[
            CommitOperationAdd("data/train.parquet", blob),
            CommitOperationAdd("data/extra.txt", b"extra"),
            CommitOperationAdd("keep.txt", b"keep"),
        ],
        commit_message="add data",
    )
    (parquet,) = api.get_paths_info(repo_id, ["data/train.parquet", "missing.txt"], repo_type="dataset")
    assert parquet.lfs.size == 2048 and parquet.lfs.sha256 == __import__("hashlib").sha256(blob).hexdigest()

    api.create_branch(repo_id, branch="dev", repo_type="dataset")
    api.create_commit(
        repo_id,
        repo_type="dataset",
        revision="dev",
        operations=[CommitOperationDelete("data/"), CommitOperationAdd("dev.txt", b"dev")],
        commit_message="reshape on dev",
    )

    assert sorted(api.list_repo_files(repo_id, repo_type="dataset", revision="dev")) == [
        ".gitattributes",
        "dev.txt",
        "keep.txt",
    ]
    assert "data/train.parquet" in api.list_repo_files(repo_id, repo_type="dataset")  # main untouched
    assert open(hf_hub_download(repo_id, "data/train.parquet", repo_type="dataset"), "rb").read() == blob
    assert [b.name for b in api.list_repo_refs(repo_id, repo_type="dataset").branches] == ["dev", "main"]
    with pytest.raises(HfHubHTTPError):
        api.delete_file("nope.txt", repo_id, repo_type="dataset")


def test_many_files_upload_and_paginated_hffilesystem_listing(local_hub, tmp_path):
    # huggingface_hub 2.4 dropped `upload_large_folder`; without hf_xet, `upload_folder` is its replacement.
    local_hub.page_size = 7  # force the clients through several pages of `tree`
    files = {f"shards/part-{i:02d}.txt": f"row {i}\n".encode() for i in range(20)}
    files["shards/nested/deep.bin"] = os.urandom(1500)
    _write_tree(tmp_path / "src", files)
    repo_id = local_hub.api.create_repo(f"{local_hub.user}/many", repo_type="dataset").repo_id
    local_hub.api.upload_folder(folder_path=tmp_path / "src", repo_id=repo_id, repo_type="dataset")

    fs = HfFileSystem()
    root = f"datasets/{repo_id}"
    assert len(fs.ls(f"{root}/shards", detail=False)) == 21  # 20 files + 1 folder
    assert sorted(fs.glob(f"{root}/shards/**/*.bin")) == [f"{root}/shards/nested/deep.bin"]
    assert len(fs.find(root)) == 22  # with .gitattributes
    with fs.open(f"{root}/shards/nested/deep.bin", "rb") as f:
        f.seek(1000)
        assert f.read(100) == files["shards/nested/deep.bin"][1000:1100]
    assert fs.read_text(f"{root}/shards/part-07.txt") == "row 7\n"
    assert local_hub.count("tree") > 1


@pytest.mark.parametrize(("kind", "mode"), [("lfs_upload", "500"), ("lfs_upload", "drop"), ("preupload", "503")])
def test_injected_fault_on_a_retried_request_is_absorbed_by_the_client(local_hub, kind, mode):
    repo_id = local_hub.api.create_repo(f"{local_hub.user}/flaky").repo_id
    local_hub.inject_fault(kind, nth=1, mode=mode)

    local_hub.api.upload_file(path_or_fileobj=b"\0" * 1000, path_in_repo="w.bin", repo_id=repo_id)

    assert local_hub.count(kind) == 2 and local_hub.count(kind, 200) == 1  # one failure, one successful retry
    assert local_hub.files(repo_id)["w.bin"] == b"\0" * 1000


def test_dropped_commit_fails_and_a_rerun_completes_without_reuploading(local_hub, tmp_path):
    files = {"w.bin": os.urandom(1000), "a.txt": b"a"}
    _write_tree(tmp_path, files)
    repo_id = local_hub.api.create_repo(f"{local_hub.user}/rerun").repo_id
    local_hub.inject_fault("commit", nth=1, mode="drop")

    with pytest.raises(Exception, match="disconnected|Connection"):
        local_hub.api.upload_folder(folder_path=tmp_path, repo_id=repo_id)
    local_hub.api.upload_folder(folder_path=tmp_path, repo_id=repo_id)

    assert {k: v for k, v in local_hub.files(repo_id).items() if k != ".gitattributes"} == files
    assert local_hub.count("lfs_upload") == 1  # the rerun found the LFS object already stored


def test_truncated_download_resumes_with_a_range_request(local_hub):
    payload = os.urandom(50_000)
    repo_id = local_hub.api.create_repo(f"{local_hub.user}/cut").repo_id
    local_hub.api.upload_file(path_or_fileobj=payload, path_in_repo="big.bin", repo_id=repo_id)
    local_hub.inject_fault("lfs_download", nth=1, mode="truncate")

    assert open(hf_hub_download(repo_id, "big.bin"), "rb").read() == payload
    assert local_hub.count("lfs_download") == 2


def test_multipart_lfs_upload_and_pull_request_commit(local_hub):
    local_hub.multipart_threshold, local_hub.multipart_chunk_size = 1000, 400
    payload = os.urandom(2500)
    repo_id = local_hub.api.create_repo(f"{local_hub.user}/parts").repo_id

    commit = local_hub.api.upload_file(path_or_fileobj=payload, path_in_repo="w.bin", repo_id=repo_id, create_pr=True)

    assert commit.pr_revision == "refs/pr/1"
    assert local_hub.count("lfs_upload", 200) == 7 and local_hub.count("lfs_complete", 200) == 1
    assert open(hf_hub_download(repo_id, "w.bin", revision=commit.pr_revision), "rb").read() == payload
    assert "w.bin" not in local_hub.api.list_repo_files(repo_id)  # main is untouched until the PR is merged


def test_slow_metadata_call_times_out_and_falls_back_to_the_cache(local_hub):
    repo_id = local_hub.api.create_repo(f"{local_hub.user}/slow").repo_id
    local_hub.api.upload_file(path_or_fileobj=b"cached", path_in_repo="c.txt", repo_id=repo_id)
    first = hf_hub_download(repo_id, "c.txt")
    local_hub.inject_fault("resolve", nth=1, mode="slow", delay=2.0)

    again = hf_hub_download(repo_id, "c.txt", etag_timeout=0.3)

    assert again == first and open(again, "rb").read() == b"cached"
    assert local_hub.count("resolve") == 2  # the slow HEAD was sent; its answer came too late and was not waited for


def test_fixture_isolates_caches_and_blocks_the_internet(local_hub):
    import socket

    from huggingface_hub import constants

    assert os.environ["HF_ENDPOINT"] == constants.ENDPOINT == local_hub.endpoint
    assert constants.HF_HUB_CACHE.startswith(str(local_hub.home)) and constants.HF_HUB_DISABLE_XET
    assert HfApi().whoami()["name"] == local_hub.user  # HF_TOKEN is the hub's write token
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo("huggingface.co", 443)
    assert local_hub.blocked_hosts == ["huggingface.co"]
    local_hub.blocked_hosts.clear()  # provoked on purpose: do not fail the test at teardown


def test_module_level_helpers_and_cards_reach_the_local_hub(local_hub):
    import huggingface_hub
    from huggingface_hub import DatasetCard

    # `huggingface_hub.create_repo`, `upload_file`, ... are methods of an HfApi built at import time.
    repo_id = huggingface_hub.create_repo(f"{local_hub.user}/card", repo_type="dataset").repo_id
    DatasetCard("---\nlicense: mit\npretty_name: Card\n---\n# Card\n").push_to_hub(repo_id)

    assert DatasetCard.load(repo_id).data.pretty_name == "Card"
    assert huggingface_hub.hffs.ls(f"datasets/{repo_id}", detail=False) == [
        f"datasets/{repo_id}/.gitattributes",
        f"datasets/{repo_id}/README.md",
    ]


def test_serve_local_hub_restores_the_clients_on_exit(tmp_path):
    from huggingface_hub import constants, hf_api
    from local_hub.fixture import serve_local_hub

    before = (os.environ.get("HF_ENDPOINT"), constants.ENDPOINT, constants.HF_HUB_CACHE, hf_api.api.endpoint)
    with serve_local_hub(tmp_path) as hub:
        import datasets.config  # imported now or patched if already imported: both must be undone on exit

        assert datasets.config.HF_ENDPOINT == constants.ENDPOINT == hf_api.api.endpoint == hub.endpoint
    after = (os.environ.get("HF_ENDPOINT"), constants.ENDPOINT, constants.HF_HUB_CACHE, hf_api.api.endpoint)

    assert after == before
    assert datasets.config.HF_ENDPOINT == os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    assert not str(datasets.config.HF_DATASETS_CACHE).startswith(str(tmp_path))
