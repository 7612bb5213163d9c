"""Model fingerprints and run identities: content and commits, never path strings."""

import os

import pytest

from biomed.runtime.identity import ModelNotFound, hub_commit, model_fingerprint, run_identity
from biomed.runtime.ownership import OutputRefused, claim_output


def _model(folder):
    folder.mkdir(parents=True)
    (folder / "config.json").write_text('{"model_type": "bert"}')
    (folder / "model.safetensors").write_bytes(b"\0" * 64)
    for name in ("tokenizer.json", "optimizer.pt", "training_args.bin", "rng_state.pth", "README.md"):
        (folder / name).write_bytes(b"x")
    return folder


def test_a_local_model_is_its_config_and_weights_whatever_the_path(tmp_path):
    model = _model(tmp_path / "models" / "bio")
    fingerprint = model_fingerprint(model)
    assert [name for name, *_ in fingerprint["files"]] == ["config.json", "model.safetensors"]
    os.symlink(model, tmp_path / "link")
    assert model_fingerprint(tmp_path / "link") == fingerprint  # another path to the same folder
    assert model_fingerprint(tmp_path / "models" / ".." / "models" / "bio") == fingerprint
    (model / "README.md").write_text("a new card")  # not the model
    assert model_fingerprint(model) == fingerprint
    (model / "model.safetensors").write_bytes(b"\1" * 65)  # retrained in place
    assert model_fingerprint(model) != fingerprint
    with pytest.raises(ModelNotFound, match="has no config.json"):
        model_fingerprint(tmp_path)
    with pytest.raises(ModelNotFound, match="model folder .*nowhere does not exist"):
        model_fingerprint(tmp_path / "nowhere")  # never asked of the Hub


def test_a_hub_model_is_its_commit(local_hub, tmp_path):
    repo_id = f"{local_hub.user}/tiny"
    local_hub.api.create_repo(repo_id)
    first = local_hub.api.upload_file(path_or_fileobj=b"{}", path_in_repo="config.json", repo_id=repo_id).oid
    assert model_fingerprint(repo_id)["commit"] == first
    second = local_hub.api.upload_file(path_or_fileobj=b'{"a": 1}', path_in_repo="config.json", repo_id=repo_id).oid
    moved = model_fingerprint(repo_id)
    assert moved["commit"] == second != first and moved["root"] == f"hf://{repo_id}@{second}"
    assert model_fingerprint(repo_id, revision=first)["commit"] == first
    assert hub_commit(repo_id, "a" * 40) == "a" * 40  # a commit needs no question to the Hub
    with pytest.raises(ModelNotFound, match="cannot resolve model .*nobody/nothing") as missing:
        model_fingerprint("nobody/nothing")
    assert "\n" not in str(missing.value)


def test_a_hub_model_offline_is_the_commit_of_its_cached_copy(local_hub, monkeypatch):
    from huggingface_hub import hf_hub_download

    repo_id = f"{local_hub.user}/cached"
    local_hub.api.create_repo(repo_id)
    commit = local_hub.api.upload_file(path_or_fileobj=b"{}", path_in_repo="config.json", repo_id=repo_id).oid
    hf_hub_download(repo_id, "config.json")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    assert model_fingerprint(repo_id)["commit"] == commit
    with pytest.raises(ModelNotFound, match="not in the local cache"):
        model_fingerprint(f"{local_hub.user}/never-downloaded")


def test_run_identity_names_stage_settings_and_inputs(tmp_path):
    model = model_fingerprint(_model(tmp_path / "m"))
    key = run_identity("train", {"seed": 1, "phases": [1, 2]}, [model])
    assert len(key) == 16 and key == run_identity("train", {"phases": [1, 2], "seed": 1}, [model])
    assert key != run_identity("train", {"seed": 2, "phases": [1, 2]}, [model])
    assert key != run_identity("data classify train", {"seed": 1, "phases": [1, 2]}, [model])


def test_a_model_fingerprint_is_a_claim_input(tmp_path):
    model = _model(tmp_path / "m")
    with claim_output(tmp_path / "out", "train", {}, [model_fingerprint(model)]):
        pass
    with pytest.raises(OutputRefused, match="inside the input"):  # --out inside the model it trains from
        with claim_output(model / "out", "train", {}, [model_fingerprint(model)]):
            pass
