"""`run_annotate` end to end against the fake server: outputs, cache and resume (also after a kill), dry run, CLI."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from dataset_builder.fake_llm_server import FakeLlmServer, default_answer
from dataset_builder.paragraph_shards import write_paragraph_shards
from typer.testing import CliRunner

from biomed.cli import app
from biomed.config import resolve_config
from biomed.dataset_builder.annotate.outputs import ANNOTATION_SCHEMA
from biomed.dataset_builder.annotate.stage import AnnotateConfig, plan_annotate, run_annotate
from biomed.errors import BiomedError


TOKEN = "hf_RUNtestSECRET9876543210"


@pytest.fixture(autouse=True)
def _hermetic(monkeypatch):
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_DISABLE_TELEMETRY", True)
    monkeypatch.setenv("HF_TOKEN", TOKEN)


@pytest.fixture
def extracted(tmp_path) -> Path:
    return write_paragraph_shards(tmp_path / "extracted", 24, shards=2)


def config(extracted: Path, out: Path, server: FakeLlmServer | None, **options) -> AnnotateConfig:
    values = {
        "input_dir": str(extracted),
        "output_dir": str(out),
        "client.endpoint": server.url if server else "",
        "client.max_concurrency": 4,
        "client.backoff_initial_s": 0.005,
        "client.max_retries": 2,
    }
    values.update(options)
    return resolve_config(AnnotateConfig, options=values)


def test_outputs_schema_labels_and_summary(extracted, tmp_path):
    faults = {"PARA-0003": ["out_of_range"] * 3, "PARA-0005": ["429", "ok"]}
    out = tmp_path / "ann"
    with FakeLlmServer(faults=faults) as server:
        summary = run_annotate(config(extracted, out, server, **{"sample.n": 10, "sample.seed": 3}), progress=False)
    table = pq.read_table(out / "annotations.parquet")
    assert table.schema.remove_metadata() == ANNOTATION_SCHEMA
    meta = {k.decode(): v.decode() for k, v in table.schema.metadata.items()}
    assert meta["biomed.prompt_version"] == "annotate_v1" and meta["biomed.source"] == "llm"
    rows = table.to_pylist()
    assert len(rows) == 10 == len({(r["article_id"], r["path"]) for r in rows})
    for row in rows:
        key = row["text"].split()[0]
        assert row["prompt_version"] == "annotate_v1" and row["model"] == "meta-llama/Llama-3.1-70B-Instruct"
        if key == "PARA-0003":
            assert (row["status"], row["educational_score"], row["type"]) == ("failed", None, None)
            assert row["error"].startswith("invalid_score:") and '"educational_score": 7' in row["raw_answer"]
        else:
            expected = default_answer(key)
            assert row["status"] == "ok" and row["error"] is None
            assert (row["type"], row["domain"], row["educational_score"]) == (
                expected["type"],
                expected["domain"],
                expected["educational_score"],
            )
            assert row["tokens_in"] > 0 and row["tokens_out"] > 0 and row["latency_s"] > 0
    saved = json.loads((out / "summary.json").read_text())
    assert saved["n_paragraphs"] == 10 and saved["n_requested"] == 10 and saved["n_cached"] == 0
    sampled = {row["text"].split()[0] for row in rows}
    n_failed = int("PARA-0003" in sampled)
    assert saved["n_failed"] == n_failed == summary.n_failed
    if n_failed:
        assert saved["failures"] == {"invalid_score": {"count": 1, "rate": 0.1}}
    assert sum(saved["labels"]["type"].values()) == 10 - n_failed
    assert saved["tokens"]["in"] == sum(r["tokens_in"] or 0 for r in rows) > 0
    assert (out / "config.yaml").exists()


def test_rerun_sends_nothing_and_new_prompt_version_reannotates(extracted, tmp_path):
    out = tmp_path / "ann"
    prompt_v2 = tmp_path / "annotate_v2.yaml"
    prompt_v2.write_text("version: annotate_v2\nsystem: Label it.\nuser: '{{ section }}: {{ text }}'\n")
    with FakeLlmServer(faults={"PARA-0002": ["503"] * 3}) as server:
        first = run_annotate(config(extracted, out, server), progress=False)
        before = pq.read_table(out / "annotations.parquet")
        assert first.n_requested == 24 and first.n_failed == 1  # PARA-0002: transport failure, not cached
        second = run_annotate(config(extracted, out, server), progress=False)
        assert (second.n_cached, second.n_requested, second.n_failed) == (23, 1, 0)
        assert server.stats.attempts_by_key["PARA-0002"] == 4 and server.stats.attempts_by_key["PARA-0001"] == 1
        after = pq.read_table(out / "annotations.parquet")
        third = run_annotate(config(extracted, out, server, prompt=str(prompt_v2)), progress=False)
    assert third.n_requested == 24 and server.stats.attempts_by_key["PARA-0001"] == 2
    assert before.column("article_id").to_pylist() == after.column("article_id").to_pylist()
    assert pq.read_table(out / "annotations.parquet").column("prompt_version").unique().to_pylist() == ["annotate_v2"]
    # a different model is a different cache key too
    with FakeLlmServer() as server:
        fourth = run_annotate(config(extracted, out, server, **{"client.model": "other/model"}), progress=False)
    assert fourth.n_requested == 24


def test_max_concurrency_bounds_requests_in_flight(extracted, tmp_path):
    with FakeLlmServer(latency_s=0.05) as server:
        run_annotate(config(extracted, tmp_path / "ann", server, **{"client.max_concurrency": 3}), progress=False)
    assert server.stats.max_in_flight == 3


def test_killed_run_resumes_without_sending_any_answered_request_twice(extracted, tmp_path):
    """SIGKILL the CLI while 4 requests hang, then rerun: only the unanswered paragraphs are requested."""
    out = tmp_path / "ann"
    cache = out / "cache" / "answers.jsonl"
    faults = {f"PARA-{i:04d}": ["hang"] for i in range(10, 24)}
    with FakeLlmServer(faults=faults) as server:
        env = {**os.environ, "HF_TOKEN": TOKEN, "HF_HUB_DISABLE_TELEMETRY": "1"}
        command = [sys.executable, "-m", "biomed.cli", "data", "annotate", str(extracted), "--out", str(out),
                   "--endpoint", server.url, "--max-concurrency", "4"]  # fmt: skip
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (cache.exists() and cache.read_text().count("\n") == 10):
            assert process.poll() is None, process.stderr.read().decode()
            time.sleep(0.05)
        while server.stats.in_flight < 4 and time.monotonic() < deadline:  # all workers stuck on hanging requests
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait()
        process.stderr.close()
    assert cache.read_text().count("\n") == 10 and not (out / "annotations.parquet").exists()
    first_attempts = dict(server.stats.attempts_by_key)
    assert sum(first_attempts.values()) == 14  # 10 answered + 4 hanging when killed

    with FakeLlmServer() as server:
        summary = run_annotate(config(extracted, out, server), progress=False)
    assert summary.n_cached == 10 and summary.n_requested == 14 and summary.n_ok == 24
    resent = set(server.stats.attempts_by_key)
    assert resent == {f"PARA-{i:04d}" for i in range(10, 24)}  # never one of the 10 answered before the kill
    assert all(count == 1 for count in server.stats.attempts_by_key.values())
    table = pq.read_table(out / "annotations.parquet")
    assert table.num_rows == 24 == len(set(zip(*table.select(["article_id", "path"]).to_pydict().values())))
    lines = [json.loads(line) for line in cache.read_text().splitlines()]
    assert len(lines) == 24 == len({line["key"] for line in lines})  # nothing written twice


def test_token_never_reaches_outputs_or_logs(extracted, tmp_path, caplog, capsys, monkeypatch):
    caplog.set_level("DEBUG")
    out = tmp_path / "ann"
    monkeypatch.setenv("MY_KEY", TOKEN)  # a non-Hugging-Face endpoint gets only a token named for it
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich draws its (transient) bar as on a terminal
    with FakeLlmServer(faults={"PARA-0001": ["echo_token"] * 3, "PARA-0004": ["echo_token", "ok"]}) as server:
        summary = run_annotate(config(extracted, out, server, **{"client.token_env": "MY_KEY"}), progress=True)
        print(summary.render())
    assert server.stats.auth_headers == {f"Bearer {TOKEN}"}
    failed = [r for r in pq.read_table(out / "annotations.parquet").to_pylist() if r["status"] == "failed"]
    assert len(failed) == 1 and "Bearer ***" in failed[0]["error"]
    captured = capsys.readouterr()
    written = " ".join(path.read_bytes().decode("utf-8", "replace") for path in out.rglob("*") if path.is_file())
    for text in (caplog.text, captured.out, captured.err, written):
        assert TOKEN not in text
    assert "annotating" in captured.err  # the progress bar went to stderr


def test_dry_run_plan_renders_prompts_and_estimates_without_requests(extracted, tmp_path):
    cfg = config(extracted, tmp_path / "ann", None, **{"sample.n": 5, "estimate.usd_per_mtok_in": 1.0})
    plan = plan_annotate(cfg)
    text = plan.render()
    assert plan.n_sampled == 5 and plan.n_cached == 0
    assert text.count("[user] example") == 3 and "[system]" in text and "Section: " in text
    assert plan.tokens_in > 5 * len(plan.system) / 4  # every request carries the system message
    assert plan.usd == pytest.approx((plan.tokens_in * 1.0 + plan.tokens_out * 0.6) / 1e6)
    assert "estimated cost: $" in text and "5 to send" in text


def test_sample_is_reproducible_and_seed_dependent(extracted, tmp_path):
    def keys(seed):
        cfg = config(extracted, tmp_path / "ann", None, **{"sample.n": 6, "sample.seed": seed})
        return [(e["article_id"], e["path"]) for e in plan_annotate(cfg).examples] + [plan_annotate(cfg).tokens_in]

    assert keys(1) == keys(1) and keys(1) != keys(2)


def test_bad_inputs_give_clear_errors(tmp_path, monkeypatch, extracted):
    with pytest.raises(BiomedError, match="does not exist"):
        run_annotate(config(tmp_path / "nowhere", tmp_path / "a", None, **{"client.endpoint": "http://x"}))
    with pytest.raises(BiomedError, match="no input"):
        run_annotate(resolve_config(AnnotateConfig, options={"client.endpoint": "http://x"}))
    monkeypatch.delenv("HF_TOKEN")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))  # no stored login either
    monkeypatch.setattr("huggingface_hub.constants.HF_TOKEN_PATH", str(tmp_path / "hf_home" / "token"))
    with pytest.raises(BiomedError, match="no --endpoint given and no Hugging Face token"):
        run_annotate(config(extracted, tmp_path / "a", None))
    with pytest.raises(BiomedError, match="MY_KEY"):
        run_annotate(config(extracted, tmp_path / "a", None, **{"client.token_env": "MY_KEY"}))


def test_cli_happy_path_and_dry_run(extracted, tmp_path):
    runner = CliRunner()
    out = tmp_path / "cli"
    with FakeLlmServer() as server:
        result = runner.invoke(
            app,
            [
                "data",
                "annotate",
                str(extracted),
                "--out",
                str(out),
                "--endpoint",
                server.url,
                "--n",
                "8",
                "--seed",
                "5",
                "--stratify-by",
                "license_group",
                "--max-concurrency",
                "2",
            ],  # fmt: skip
        )
    assert result.exit_code == 0, result.output
    assert "Annotated 8 of 8 paragraphs with meta-llama/Llama-3.1-70B-Instruct (annotate_v1)" in result.stdout
    table = pq.read_table(out / "annotations.parquet")
    assert table.num_rows == 8 and server.stats.requests == 8
    assert "license_group" in (out / "config.yaml").read_text()

    dry = runner.invoke(app, ["data", "annotate", str(extracted), "--out", str(out), "--n", "8", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "sample:\n  n: 8" in dry.stdout and "8 already cached" not in dry.stdout  # other seed, other sample
    assert "[user] example 1" in dry.stdout and "estimated tokens" in dry.stdout


def test_cli_help_and_bad_option():
    runner = CliRunner()
    result = runner.invoke(app, ["data", "annotate", "--help"])
    assert result.exit_code == 0
    for option in ("--endpoint", "--model", "--n", "--seed", "--stratify-by", "--max-concurrency", "--gold",
                   "--dry-run", "--prompt", "--api", "--timeout", "--token-env"):  # fmt: skip
        assert option in result.stdout
    bad = runner.invoke(app, ["data", "annotate", "x", "--api", "grpc", "--dry-run"])
    assert bad.exit_code != 0 and "client.api must be one of chat, generate" in str(bad.exception)


RECIPES = Path(__file__).resolve().parents[3] / "recipes" / "annotate"


@pytest.mark.parametrize("recipe", sorted(RECIPES.glob("*.yaml")), ids=lambda path: path.stem)
def test_recipes_resolve_and_dry_run(recipe, extracted, tmp_path):
    cfg = resolve_config(AnnotateConfig, recipe, [f"input_dir={extracted}", f"output_dir={tmp_path / 'out'}"])
    assert cfg.client.endpoint or cfg.gold  # each recipe says where its answers come from or what it checks
    plan = plan_annotate(cfg)
    assert plan.n_sampled == 24 and plan.tokens_in > 0
