"""push-model against the local Hub test bed: branches for checkpoints, main for the final model."""

import pytest
import torch
from transformers import AutoModelForMaskedLM, AutoTokenizer

from biomed.errors import BiomedError
from biomed.train.push import push_model


def test_push_checkpoint_to_a_branch_and_final_to_main(local_hub, finished_run):
    repo_id = f"{local_hub.user}/tiny-bio"
    pushed = push_model(finished_run / "checkpoint-1", repo_id, revision="step-1", endpoint=local_hub.endpoint)
    assert pushed.revision == "step-1"
    assert "optimizer.pt" not in pushed.files and "model.safetensors" in pushed.files
    final = push_model(finished_run / "final", repo_id, tag="v1.0", endpoint=local_hub.endpoint)

    refs = local_hub.api.list_repo_refs(repo_id)
    assert {b.name for b in refs.branches} == {"main", "step-1"}
    assert [t.name for t in refs.tags] == ["v1.0"] and refs.tags[0].target_commit == final.commit

    ids = torch.arange(5, 30).unsqueeze(0)
    for revision, folder in (("step-1", "checkpoint-1"), ("main", "final"), ("v1.0", "final")):
        remote = AutoModelForMaskedLM.from_pretrained(repo_id, revision=revision).eval()
        local = AutoModelForMaskedLM.from_pretrained(finished_run / folder).eval()
        with torch.no_grad():
            assert torch.equal(remote(ids).logits, local(ids).logits), revision
    tokenizer = AutoTokenizer.from_pretrained(repo_id)
    assert tokenizer.mask_token == "[MASK]"

    card = local_hub.api.hf_hub_download(repo_id, "README.md")
    text = open(card, encoding="utf-8").read()
    assert f'from_pretrained("{repo_id}")' in text  # re-rendered with the repository id
    step_card = open(local_hub.api.hf_hub_download(repo_id, "README.md", revision="step-1"), encoding="utf-8").read()
    assert "Intermediate checkpoint" in step_card


def test_push_refuses_a_folder_without_a_model(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(BiomedError, match="no config.json and model weights"):
        push_model(tmp_path, "me/x")
    with pytest.raises(BiomedError, match="is not a folder"):
        push_model(tmp_path / "missing", "me/x")
