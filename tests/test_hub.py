"""`biomed.hub` against the local Hub: the classifier's push, and every Hub failure as one line without secrets.

The encoder's push is in tests/train/test_push_model.py and the dataset's in
tests/dataset_builder/release/test_push.py; all three go through `biomed.hub.publish`.
"""

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from biomed.cli import app
from biomed.errors import BiomedError
from biomed.hub import STAGING_PREFIX, check_repo_id, model_release, push_model


runner = CliRunner()


@pytest.fixture(scope="module")
def encoder(tmp_path_factory) -> Path:
    """A tiny BERT folder (config.json, model.safetensors) plus trainer state that must stay local."""
    import torch
    from transformers import BertConfig, BertForMaskedLM

    folder = tmp_path_factory.mktemp("encoder")
    config = BertConfig(
        vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37
    )
    torch.manual_seed(0)
    BertForMaskedLM(config).save_pretrained(folder)
    (folder / "optimizer.pt").write_bytes(b"\0" * 64)
    (folder / "rng_state.pth").write_bytes(b"\0" * 8)
    return folder


@pytest.fixture(scope="module")
def classifier(tmp_path_factory) -> Path:
    """The output folder of `biomed data classify train` on 30 labelled paragraphs (one epoch, tiny backbone)."""
    from biomed.config import resolve_config
    from biomed.dataset_builder.classify.train import ClassifyTrainConfig, run_classify_train
    from biomed.labels import DOMAIN_LABELS, TYPE_LABELS
    from biomed.tiny import save_tiny_model

    root = tmp_path_factory.mktemp("classifier")
    rows = [
        {
            "article_id": str(1000 + a),
            "path": f"sec[0]/p[{p}]",
            "text": f"the patient protein word{a} item{p}",
            "type": TYPE_LABELS[(a + p) % 4],
            "domain": DOMAIN_LABELS[(a + p) % 3],
            "educational_score": 1 + (a + p) % 5,
            "prompt_version": "annotate_v1",
            "status": "ok",
        }
        for a in range(10)
        for p in range(3)
    ]
    pq.write_table(pa.Table.from_pylist(rows), root / "annotations.parquet")
    backbone = save_tiny_model(
        [r["text"] for r in rows], root / "backbone", "xlm-roberta", mlm_head=False, vocab_size=120
    )
    training = {"num_train_epochs": 1, "per_device_train_batch_size": 8, "save_strategy": "no",
                "logging_strategy": "no", "disable_tqdm": True, "use_cpu": True}  # fmt: skip
    options = {"annotations": str(root / "annotations.parquet"), "output_dir": str(root / "out"),
               "backbone": str(backbone), "max_length": 32, "dev_fraction": 0.0, "test_fraction": 0.3,
               "training": training}  # fmt: skip
    run_classify_train(resolve_config(ClassifyTrainConfig, options=options))
    (root / "out" / "trainer" / "checkpoint-4").mkdir(parents=True)
    (root / "out" / "trainer" / "checkpoint-4" / "optimizer.pt").write_bytes(b"\0" * 64)
    return root / "out"


@pytest.fixture
def no_backoff(monkeypatch):
    """huggingface_hub waits up to 8 s between retries; the injected faults need none of that."""
    monkeypatch.setattr(time, "sleep", lambda seconds: None)


def _one_line_error(result) -> str:
    assert isinstance(result.exception, BiomedError), result.output
    message = str(result.exception)
    assert "\n" not in message and "Traceback" not in result.output
    return message


def test_push_model_publishes_a_classifier_whose_card_names_the_repo(local_hub, classifier):
    import torch
    from transformers import AutoModel, AutoTokenizer

    repo_id = f"{local_hub.user}/biomed-classifier"
    result = runner.invoke(app, ["push-model", str(classifier), repo_id, "--yes", "--tag", "v1.0"])

    assert result.exit_code == 0, result.output
    assert model_release(classifier, repo_id).kind == "classifier"
    remote = local_hub.files(repo_id)
    assert "modeling_biomed_classifier.py" in remote and "metrics.json" in remote
    assert not any(path.startswith("trainer/") or "optimizer" in path for path in remote)  # resume state stays
    card = remote["README.md"].decode()
    assert f'AutoModel.from_pretrained("{repo_id}", trust_remote_code=True)' in card
    assert "PATH_OR_REPO" not in card
    refs = local_hub.api.list_repo_refs(repo_id)
    assert [b.name for b in refs.branches] == ["main"] and refs.tags[0].target_commit == refs.branches[0].target_commit
    titles = [c.title for c in local_hub.api.list_repo_commits(repo_id)]
    assert titles == ["Upload classifier out", "initial commit"]  # one release commit, staged elsewhere

    batch = AutoTokenizer.from_pretrained(repo_id)(["the patient protein word3"], return_tensors="pt")
    remote_model = AutoModel.from_pretrained(repo_id, trust_remote_code=True, revision="v1.0").eval()
    local_model = AutoModel.from_pretrained(classifier, trust_remote_code=True).eval()
    with torch.no_grad():
        assert torch.equal(remote_model(**batch).type_logits, local_model(**batch).type_logits)


def test_unchanged_model_is_not_sent_again(local_hub, encoder):
    repo_id = f"{local_hub.user}/same-model"
    push_model(encoder, repo_id)
    before = len(local_hub.requests)

    again = push_model(encoder, repo_id)

    assert again.plan.empty and not again.pushed
    assert {r.kind for r in local_hub.requests[before:]} <= {"repo_info", "refs", "tree"}
    assert len(local_hub.api.list_repo_commits(repo_id)) == 2


def test_interrupted_model_push_leaves_main_untouched_and_a_rerun_resumes(local_hub, encoder, no_backoff):
    repo_id = f"{local_hub.user}/flaky-model"
    push_model(encoder, repo_id, revision="step-1")
    local_hub.inject_fault("commit", nth=2, mode="500", times=10)  # 1: staging, 2: the release commit on main

    with pytest.raises(BiomedError, match="nothing was published on .*@main; rerun the same command to resume"):
        push_model(encoder, repo_id)
    assert "model.safetensors" not in local_hub.files(repo_id)
    assert STAGING_PREFIX + "main" in {b.name for b in local_hub.api.list_repo_refs(repo_id).branches}

    local_hub._faults.clear()
    uploads = local_hub.count("lfs_upload")
    push_model(encoder, repo_id)

    assert local_hub.files(repo_id)["model.safetensors"] == (encoder / "model.safetensors").read_bytes()
    assert local_hub.count("lfs_upload") == uploads  # the weights were on the Hub already
    assert {b.name for b in local_hub.api.list_repo_refs(repo_id).branches} == {"main", "step-1"}


@pytest.mark.parametrize("token", ["bad", "read"])
def test_rejected_token_is_one_line_without_the_token(local_hub, encoder, monkeypatch, token):
    secret = "hf_wrong_0123456789abcdef" if token == "bad" else local_hub.read_token
    monkeypatch.setenv("HF_TOKEN", secret)

    result = runner.invoke(app, ["push-model", str(encoder), f"{local_hub.user}/guarded", "--yes"])

    message = _one_line_error(result)
    assert ("rejected the token (401)" if token == "bad" else "may not write to local-user/guarded (403)") in message
    assert secret not in result.output + message


def test_failures_in_a_subprocess_exit_2_with_one_line_and_no_secret(local_hub, encoder, tmp_path):
    env = {**os.environ, "HF_TOKEN": "hf_wrong_0123456789abcdef", "BIOMED_DEBUG": ""}
    command = [sys.executable, "-m", "biomed.cli", "push-model", str(encoder), f"{local_hub.user}/sub", "--yes"]

    bad = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    env["HF_TOKEN"] = local_hub.read_token
    read_only = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    del env["HF_TOKEN"]
    no_token = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)

    for run, expected in ((bad, "(401)"), (read_only, "(403)"), (no_token, "no Hugging Face token")):
        assert run.returncode == 2, run.stderr
        lines = [line for line in run.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("Error: ") and expected in lines[0], run.stderr
        assert "hf_wrong_0123456789abcdef" not in run.stdout + run.stderr
        assert local_hub.read_token not in run.stdout + run.stderr
    assert not local_hub.api.repo_exists(f"{local_hub.user}/sub")


def test_no_token_is_one_line_and_sends_nothing(local_hub, encoder, monkeypatch):
    monkeypatch.delenv("HF_TOKEN")

    result = runner.invoke(app, ["push-model", str(encoder), f"{local_hub.user}/x", "--yes"])

    assert "no Hugging Face token" in _one_line_error(result)
    assert local_hub.requests == []


def test_hub_failure_is_one_line_and_no_signed_url_is_printed(local_hub, encoder, no_backoff, caplog, capfd):
    repo_id = f"{local_hub.user}/down"
    local_hub.inject_fault("lfs_upload", nth=1, mode="500", times=50)  # the storage fails beyond the retries

    with caplog.at_level(logging.WARNING):
        result = runner.invoke(app, ["push-model", str(encoder), repo_id, "--yes"])

    message = _one_line_error(result)
    assert "the Hub failed (500" in message and "rerun the same command to resume" in message
    assert any("thrown while requesting PUT" in record.getMessage() for record in caplog.records)  # retries logged
    printed = result.output + message + caplog.text + "".join(capfd.readouterr())
    assert "X-Amz-Signature" not in printed and local_hub.token not in printed
    local_hub.inject_fault("repo_info", nth=1, mode="500")
    assert "the Hub failed (500" in _one_line_error(runner.invoke(app, ["push-model", str(encoder), repo_id, "-y"]))


@pytest.mark.parametrize(
    ("repo_id", "error"),
    [
        ("tiny", "must be namespace/name"),
        ("local-user/bad--name", "invalid repo id"),
        ("a/b/c", "must be namespace/name"),
        ("datasets/local-user/x", "names a dataset repo"),
    ],
)
def test_bad_repo_ids_are_refused_before_any_request(local_hub, encoder, repo_id, error):
    result = runner.invoke(app, ["push-model", str(encoder), repo_id, "--yes"])

    assert error in _one_line_error(result)
    assert local_hub.requests == []  # no stray repo: a bare name would be created in the token's namespace
    assert local_hub.store.repos == {}


def test_a_dataset_repo_of_that_name_is_not_a_model_repo(local_hub, encoder):
    local_hub.api.create_repo(f"{local_hub.user}/corpus", repo_type="dataset")

    result = runner.invoke(app, ["push-model", str(encoder), f"{local_hub.user}/corpus", "--yes"])

    assert "is a dataset repo and no model repo of that name exists" in _one_line_error(result)
    assert local_hub.store.get_repo("model", f"{local_hub.user}/corpus") is None


def test_repo_ids_as_users_type_them():
    assert check_repo_id("https://huggingface.co/datasets/me/x/", "dataset") == "me/x"
    assert check_repo_id("hf://models/me/x", "model") == "me/x"
    with pytest.raises(BiomedError, match="names a model repo"):
        check_repo_id("models/me/x", "dataset")


def test_a_failed_tag_after_the_release_says_the_release_is_live(local_hub, encoder):
    repo_id = f"{local_hub.user}/live"
    local_hub.inject_fault("tag", nth=1, mode="500")

    with pytest.raises(BiomedError, match="the release is published on .*@main .* rerun the same command to set it"):
        push_model(encoder, repo_id, tag="v1.0")
    assert "model.safetensors" in local_hub.files(repo_id)

    again = push_model(encoder, repo_id, tag="v1.0")

    assert not again.plan.changes_files and again.tag == "v1.0" and "Tagged v1.0" in again.render()
    refs = local_hub.api.list_repo_refs(repo_id)
    assert refs.tags[0].target_commit == refs.branches[0].target_commit


def test_a_repo_deleted_mid_way_is_one_line(local_hub, encoder):
    local_hub.inject_fault("commit", nth=2, mode="404")  # 1: staging, 2: the release commit

    with pytest.raises(BiomedError, match=r"found no local-user/gone or branch main \(404: .*\); nothing was"):
        push_model(encoder, f"{local_hub.user}/gone")


PUSH_IN_A_FRESH_PROCESS = """
import json, sys
from biomed.cli import main
sys.argv = ["biomed", *sys.argv[1:]]
try:
    main()
except SystemExit as end:
    code = end.code
print(json.dumps({"code": code, "heavy": sorted(m for m in ("torch", "transformers") if m in sys.modules)}))
"""


def push_without_heavy_imports(*arguments: str) -> dict:
    """Run the CLI with ``arguments`` in a fresh interpreter: its exit code, and torch/transformers if loaded."""
    import json

    run = subprocess.run(
        [sys.executable, "-c", PUSH_IN_A_FRESH_PROCESS, *arguments], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_push_model_of_a_classifier_and_an_encoder_imports_no_torch(local_hub, encoder, classifier):
    for folder, name in ((encoder, "light-encoder"), (classifier, "light-classifier")):
        seen = push_without_heavy_imports("push-model", str(folder), f"{local_hub.user}/{name}", "--yes")
        assert seen == {"code": 0, "heavy": []}, (name, seen)
        assert local_hub.api.repo_exists(f"{local_hub.user}/{name}")
    help_run = push_without_heavy_imports("push-model", "--help")
    assert help_run == {"code": 0, "heavy": []}


def test_the_hub_knows_the_classifier_model_type_without_importing_it():
    from biomed.dataset_builder.classify.modeling_biomed_classifier import MODEL_TYPE
    from biomed.hub import CLASSIFIER_MODEL_TYPE

    assert CLASSIFIER_MODEL_TYPE == MODEL_TYPE
