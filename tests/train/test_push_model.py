"""push-model of an encoder against the local Hub: branches for checkpoints, main for the final model, tags."""

import pytest
import torch
from transformers import AutoModelForMaskedLM, AutoTokenizer
from typer.testing import CliRunner

from biomed.cli import app
from biomed.errors import BiomedError
from biomed.hub import push_model


runner = CliRunner()


def test_push_checkpoint_to_a_branch_and_final_to_main(local_hub, finished_run):
    repo_id = f"{local_hub.user}/tiny-bio"
    pushed = push_model(finished_run / "checkpoint-1", repo_id, revision="step-1")
    assert pushed.plan.revision == "step-1" and pushed.plan.kind == "encoder"
    assert "optimizer.pt" not in pushed.plan.upload and "model.safetensors" in pushed.plan.upload
    final = push_model(finished_run / "final", repo_id, tag="v1.0")

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


def test_an_existing_tag_on_other_weights_is_refused_unless_forced(local_hub, finished_run):
    repo_id = f"{local_hub.user}/tagged-bio"
    checkpoint, final = str(finished_run / "checkpoint-1"), str(finished_run / "final")
    assert runner.invoke(app, ["push-model", checkpoint, repo_id, "--tag", "v1.0", "--yes"]).exit_code == 0
    old = local_hub.api.list_repo_refs(repo_id).tags[0].target_commit
    commits = len(local_hub.api.list_repo_commits(repo_id))

    refused = runner.invoke(app, ["push-model", final, repo_id, "--tag", "v1.0", "--yes"])

    assert isinstance(refused.exception, BiomedError), refused.output
    assert "tag v1.0 already exists" in str(refused.exception) and "--force" in str(refused.exception)
    assert len(local_hub.api.list_repo_commits(repo_id)) == commits  # refused before anything was published
    assert local_hub.api.list_repo_refs(repo_id).tags[0].target_commit == old

    forced = runner.invoke(app, ["push-model", final, repo_id, "--tag", "v1.0", "--force", "--yes"])

    assert forced.exit_code == 0, forced.output
    refs = local_hub.api.list_repo_refs(repo_id)
    assert refs.tags[0].target_commit == refs.branches[0].target_commit != old
    assert f"moved from {old[:10]}" in forced.output
    again = runner.invoke(app, ["push-model", final, repo_id, "--tag", "v1.0", "--yes"])  # same commit: fine
    assert again.exit_code == 0 and "up to date" in again.output


def test_push_model_of_an_encoder_publishes_the_results_of_eval_report_card(local_hub, finished_run, tmp_path):
    """The results `eval report --card` adds are facts of card.json: push-model's re-rendered card keeps them."""
    import shutil
    from pathlib import Path

    from huggingface_hub import ModelCard

    final = Path(shutil.copytree(finished_run / "final", tmp_path / "final"))
    evaluate = ["eval", "run", str(final), "--task", "fixtures/cls-single", "--seeds", "1", "--limit", "8",
                "--set", "training.num_train_epochs=1", "--out", str(tmp_path / "eval")]  # fmt: skip
    assert runner.invoke(app, evaluate).exit_code == 0
    report = [
        "eval",
        "report",
        str(tmp_path / "eval"),
        "--card",
        str(final / "README.md"),
        "--out",
        str(tmp_path / "r"),
    ]
    assert runner.invoke(app, report).exit_code == 0
    local = ModelCard.load(final / "README.md").data.eval_results
    assert [r.dataset_name for r in local] == ["Fixture single-label"]

    repo_id = f"{local_hub.user}/evaluated-bio"
    pushed = runner.invoke(app, ["push-model", str(final), repo_id, "--yes"])
    assert pushed.exit_code == 0, pushed.output

    card = ModelCard.load(repo_id)
    assert f'from_pretrained("{repo_id}")' in card.content  # re-rendered for the repository
    (result,) = card.data.eval_results
    assert (result.dataset_name, result.metric_type, result.dataset_split) == ("Fixture single-label", "f1", "test")
    assert result.metric_value == local[0].metric_value
    assert card.data.model_name == "tiny-bio"
