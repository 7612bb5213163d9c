"""`biomed eval llm` keys results by the model's identity, limit and data source; it scores decoders only.

lm-evaluation-harness is replaced by a stub that records which models it was asked to score: what is tested here
is which (model, task) pairs a sweep scores again, not the scores (tests/eval/test_llm.py runs the real harness).
"""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from biomed.cli import app
from biomed.errors import BiomedError
from biomed.eval.llm.runner import LlmEvalConfig, run_llm_eval
from biomed.eval.llm.suite import SUITE
from biomed.runtime.ownership import OutputRefused, claim_output, read_manifest


TASK = "medmcqa"


@pytest.fixture
def harness(monkeypatch) -> list[str]:
    """Stub the harness; the list holds the model each call scored."""
    import lm_eval

    from biomed.eval.llm import harness as biomed_harness

    calls = []

    def simple_evaluate(*, model_args, tasks, **kwargs):
        calls.append(model_args["pretrained"])
        names = [spec["task"] for spec in tasks[0]["task"]]
        return {
            "results": {name: {"acc,none": 0.25 * len(calls)} for name in names},
            "n-samples": {name: {"effective": 4} for name in names},
            "n-shot": {name: 0 for name in names},
        }

    monkeypatch.setattr(lm_eval, "simple_evaluate", simple_evaluate)
    monkeypatch.setattr(biomed_harness, "task_manager", lambda: None)
    monkeypatch.setattr(
        biomed_harness, "suite_group", lambda tasks, *a: {"task": [{"task": SUITE[t].harness_task} for t in tasks]}
    )
    return calls


def _model(folder: Path, architecture: str = "Olmo2ForCausalLM", weights: bytes = b"weights") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"architectures": [architecture], "model_type": "x"}))
    (folder / "model.safetensors").write_bytes(weights)
    return folder


def _sweep(out: Path, *models: Path, **kwargs) -> list[dict]:
    cfg = LlmEvalConfig(checkpoints=[str(m) for m in models], output_dir=str(out), tasks=[TASK], backend="hf",
                        device="cpu", **kwargs)  # fmt: skip
    return run_llm_eval(cfg, progress=False)


def test_a_decoder_retrained_in_place_is_scored_again(tmp_path, harness):
    model = _model(tmp_path / "decoder")
    (first,) = _sweep(tmp_path / "out", model)
    _sweep(tmp_path / "out", model)
    assert len(harness) == 1  # the same model: nothing to score again

    _model(model, weights=b"retrained weights")
    (again,) = _sweep(tmp_path / "out", model)
    assert len(harness) == 2 and again["model_identity"] != first["model_identity"]
    assert again["acc"] == 0.5  # the new score, not the stale one
    _sweep(tmp_path / "out", model, limit=2)  # a smoke run is another result
    assert len(harness) == 3


def test_two_models_of_the_same_name_are_refused_not_overwritten(tmp_path, harness):
    a, b = _model(tmp_path / "a" / "final"), _model(tmp_path / "b" / "final", weights=b"other")
    with pytest.raises(BiomedError, match="would share the results folder 'final'"):
        _sweep(tmp_path / "out", a, b)
    (kept,) = _sweep(tmp_path / "out", a)
    with pytest.raises(BiomedError, match="two models share the name 'final'"):
        _sweep(tmp_path / "out", b)
    result = tmp_path / "out" / "results" / "final" / f"{TASK}.json"
    assert json.loads(result.read_text())["model_identity"] == kept["model_identity"]
    assert harness == [str(a)]


def test_an_encoder_given_as_decoder_is_one_line(tmp_path, harness):
    encoder = _model(tmp_path / "encoder", architecture="ModernBertForMaskedLM")
    result = CliRunner().invoke(app, ["eval", "llm", str(encoder), "--task", TASK, "--out", str(tmp_path / "o")])
    assert isinstance(result.exception, BiomedError), result.output
    message = str(result.exception)
    assert "is not a decoder (ModernBertForMaskedLM)" in message and "biomed eval run" in message
    assert "\n" not in message and harness == []


def test_the_sweep_folder_is_owned(tmp_path, harness):
    with claim_output(tmp_path / "taken", "eval run", {}, []):
        pass
    with pytest.raises(OutputRefused, match="holds the output of `eval run`, not of `eval llm`"):
        _sweep(tmp_path / "taken", _model(tmp_path / "decoder"))
    assert harness == []


STUB_SWEEP = """
import sys, time
import lm_eval
from biomed.eval.llm import harness
from biomed.eval.llm.runner import LlmEvalConfig, run_llm_eval
from biomed.eval.llm.suite import SUITE

def simple_evaluate(*, model_args, tasks, **kwargs):
    names = [spec["task"] for spec in tasks[0]["task"]]
    if model_args["pretrained"].endswith("slow"):
        time.sleep(120)  # killed here
    return {"results": {n: {"acc,none": 0.5} for n in names}, "n-samples": {n: {"effective": 4} for n in names},
            "n-shot": {n: 0 for n in names}}

lm_eval.simple_evaluate = simple_evaluate
harness.task_manager = lambda: None
harness.suite_group = lambda tasks, *a: {"task": [{"task": SUITE[t].harness_task} for t in tasks]}
out, *models = sys.argv[1:]
run_llm_eval(LlmEvalConfig(checkpoints=models, output_dir=out, tasks=["medmcqa"], backend="hf", device="cpu"))
"""


def test_a_sweep_killed_mid_way_resumes_with_only_the_missing_models(tmp_path, harness):
    import signal
    import subprocess
    import sys
    import time

    fast, slow = _model(tmp_path / "fast"), _model(tmp_path / "slow", weights=b"other")
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-c", STUB_SWEEP, str(out), str(fast), str(slow)])
    done = out / "results" / "fast" / f"{TASK}.json"
    deadline = time.monotonic() + 120
    while not done.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # inside the slow model's evaluation
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert done.exists() and not (out / "results" / "slow").exists()
    assert read_manifest(out)["state"] == "running"

    before = done.read_bytes()
    records = _sweep(out, fast, slow)
    assert harness == [str(slow)]  # the finished model is not scored again; the lock died with the process
    assert done.read_bytes() == before and [r["checkpoint"] for r in records] == [str(fast), str(slow)]
    assert read_manifest(out)["state"] == "finished"  # the killed sweep left it `running`


def test_the_sweep_folder_says_finished_once_every_pair_is_scored_and_only_then(tmp_path, harness, monkeypatch):
    import lm_eval

    first, second = _model(tmp_path / "first"), _model(tmp_path / "second", weights=b"other")
    out = tmp_path / "out"
    scored = lm_eval.simple_evaluate

    def second_fails(*, model_args, **kwargs):
        if model_args["pretrained"] == str(second):
            raise KeyboardInterrupt  # stopped during the second model
        return scored(model_args=model_args, **kwargs)

    monkeypatch.setattr(lm_eval, "simple_evaluate", second_fails)
    with pytest.raises(KeyboardInterrupt):
        _sweep(out, first, second)
    assert read_manifest(out)["state"] == "running"
    monkeypatch.setattr(lm_eval, "simple_evaluate", lambda **kwargs: None)  # a helper process of a distributed run
    assert len(_sweep(out, first, second)) == 1 and read_manifest(out)["state"] == "running"
    monkeypatch.setattr(lm_eval, "simple_evaluate", scored)
    records = _sweep(out, first, second)
    manifest = read_manifest(out)
    assert len(records) == 2 and manifest["state"] == "finished"  # used to stay `running` for ever
    assert manifest["produced"] == {"results": 2}
