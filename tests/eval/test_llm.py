"""`biomed eval llm`: the real lm-evaluation-harness on tiny local copies of every task of the suite, the sweep
over a decoder run's checkpoints (resumable), the report beside the paper's tables, the curves and the card."""

import json
from importlib.resources import files
from pathlib import Path

import pytest
import yaml
from huggingface_hub import ModelCard
from typer.testing import CliRunner

from biomed.cli import app
from biomed.errors import BiomedError
from biomed.eval.llm.harness import task_override
from biomed.eval.llm.report import table_rows
from biomed.eval.llm.suite import GROUPS, SUITE, resolve_tasks


runner = CliRunner()


def _sample_texts() -> list[str]:
    from lxml import etree

    folder = Path(str(files("biomed.dataset_builder") / "sample" / "articles"))
    return [
        " ".join("".join(p.itertext()).split())
        for article in sorted(folder.glob("*.nxml"))
        for p in etree.parse(str(article)).iter("p")
    ]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """A tiny OLMo 2 run (checkpoints at steps 2 and 4) and its starting model, scored by `biomed eval llm`."""
    from biomed.eval.llm.demo import train_demo_decoder
    from biomed.eval.llm.fixtures import write_tiny_suite

    root = tmp_path_factory.mktemp("llm_sweep")
    run = train_demo_decoder([t for t in _sample_texts() if len(t) > 40], root / "train")
    suite = write_tiny_suite(root / "suite")
    out = root / "eval"
    args = ["eval", "llm", str(root / "train" / "tiny-olmo2"), str(run), "--data-dir", str(suite), "--out", str(out),
            "--card", "--set", "batch_size=16", "--set", "dtype=float32"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return {"root": root, "run": run, "suite": suite, "out": out, "args": args, "output": result.output}


def _record(sweep, slug, task):
    return json.loads((sweep["out"] / "results" / slug / f"{task}.json").read_text())


def test_every_checkpoint_is_scored_on_every_task_with_its_place_on_the_curves(sweep):
    results = sweep["out"] / "results"
    assert sorted(p.relative_to(results).as_posix() for p in results.glob("*/*") if p.is_dir()) == [
        "tiny-olmo2-bio-demo/step-00000002",
        "tiny-olmo2-bio-demo/step-00000004",
    ]
    for slug in ("tiny-olmo2", "tiny-olmo2-bio-demo/step-00000002", "tiny-olmo2-bio-demo/step-00000004"):
        assert sorted(p.stem for p in (results / slug).glob("*.json")) == sorted(SUITE)
    record = _record(sweep, "tiny-olmo2-bio-demo/step-00000002", "medmcqa")
    assert record["step"] == 2 and record["tokens"] == 2 * 8 * 64 and record["run"] == "tiny-olmo2-bio-demo"
    assert record["n"] == 4 and record["full_split"] is False and 0.0 <= record["acc"] <= 1.0
    base = _record(sweep, "tiny-olmo2", "frenchmedmcqa")
    assert base["step"] is None and base["num_fewshot"] == 5 and base["n"] == 2
    assert base["lm_eval_version"].startswith("0.4")


def test_prompts_are_the_harness_formats(sweep):
    """The harness's own task configs read the local copies: the exact contexts the model scored."""
    prompt = {task: _record(sweep, "tiny-olmo2", task) for task in SUITE}
    assert prompt["medqa_4options"]["example_prompt"] == (
        "Question: Which organ produces insulin?\nA. Liver\nB. Pancreas\nC. Spleen\nD. Kidney\nAnswer:"
    )
    assert prompt["medmcqa"]["example_prompt"].startswith(
        "Question: Which organ produces insulin?\nChoices:\nA. Liver"
    )
    assert prompt["pubmedqa"]["example_prompt"].startswith("Abstract: ")
    assert prompt["pubmedqa"]["example_choices"] == [" yes", " no", " maybe"]
    assert prompt["mmlu_anatomy"]["example_prompt"].startswith(
        "The following are multiple choice questions (with answers) about anatomy.\n\nWhich organ"
    )
    french = prompt["frenchmedmcqa"]["example_prompt"]
    assert french.count("\nAnswer: ") == 5 and french.endswith(
        "E. Vitamine K\nAnswer:"
    )  # five shots, then the question
    assert prompt["frenchmedmcqa"]["example_choices"] == [" A", " B", " C", " D", " E"]


def test_report_curves_and_model_card(sweep):
    report = (sweep["out"] / "report.md").read_text()
    assert "| tiny-olmo2-bio-demo | 4 | 2,048 |" in report
    assert "| + BE-All (33.6B) | 47.21 | 42.79 | 76.60 | 55.53 |" in report  # the paper's row, tab:decoder-qa
    assert "thesis ch. 2, tab:decoder-mmlu" in report
    assert (sweep["out"] / "curves.png").stat().st_size > 10_000
    assert "| model | step | tokens | MedQA |" in sweep["output"]

    card = ModelCard.load(sweep["run"] / "final" / "README.md")
    entries = {result.dataset_name: result for result in card.data.eval_results}
    assert set(entries) == {spec.title for spec in SUITE.values()}
    french = entries["FrenchMedMCQA"]
    assert french.metric_type == "accuracy" and french.dataset_split == "test"
    assert french.metric_value == round(
        100 * _record(sweep, "tiny-olmo2-bio-demo/step-00000004", "frenchmedmcqa")["acc"], 2
    )
    assert "| FrenchMedMCQA | `frenchmedmcqa` | test | 5 | 2 |" in card.content


def test_the_sweep_resumes_only_what_is_missing(sweep, monkeypatch):
    import lm_eval

    missing = sweep["out"] / "results" / "tiny-olmo2-bio-demo" / "step-00000004" / "pubmedqa.json"
    kept = missing.with_name("medqa_4options.json")
    before = (missing.read_text(), kept.stat().st_mtime_ns)
    missing.unlink()
    calls = []
    real = lm_eval.simple_evaluate

    def spy(*args, **kwargs):
        calls.append((kwargs["model_args"]["pretrained"], [t["task"] for t in kwargs["tasks"][0]["task"]]))
        return real(*args, **kwargs)

    monkeypatch.setattr(lm_eval, "simple_evaluate", spy)
    result = runner.invoke(app, [a for a in sweep["args"] if a != "--card"])
    assert result.exit_code == 0, result.output
    assert calls == [(str(sweep["run"] / "final"), ["pubmedqa"])]
    assert missing.read_text().replace(" ", "")[:40] == before[0].replace(" ", "")[:40]
    assert kept.stat().st_mtime_ns == before[1]
    # a smoke run (--limit) is not a finished result: the full run redoes it
    calls.clear()
    smoke = runner.invoke(app, [*[a for a in sweep["args"] if a != "--card"], "--task", "fr", "--limit", "1"])
    assert smoke.exit_code == 0, smoke.output
    assert len(calls) == 3 and json.loads(kept.with_name("frenchmedmcqa.json").read_text())["n"] == 1


def test_averages_are_unweighted_and_partial_scores_are_marked():
    records = [
        {"task": task, "run": "r", "step": 10, "tokens": 10_000, "acc": acc, "full_split": True}
        for task, acc in zip(GROUPS["qa"], (0.4, 0.5, 0.9))
    ] + [{"task": "mmlu_anatomy", "run": "r", "step": 10, "tokens": 10_000, "acc": 0.5, "full_split": False}]
    (row,) = table_rows(records)
    assert row["scores"]["qa_avg"] == pytest.approx(60.0)  # (40 + 50 + 90) / 3, whatever the split sizes
    assert "mmlu_avg" not in row["scores"]  # five subjects missing: no average
    assert row["partial"] == ["mmlu_anatomy"]


def test_hub_sources_avoid_loading_scripts():
    pubmedqa = task_override("pubmedqa")
    assert pubmedqa["dataset_path"] == "parquet"
    assert pubmedqa["dataset_kwargs"]["data_files"]["test"] == (
        "hf://datasets/bigbio/pubmed_qa@refs%2Fconvert%2Fparquet/pubmed_qa_labeled_fold0_source/test/0000.parquet"
    )
    assert task_override("medqa_4options") == {"task": "medqa_4options", "num_fewshot": 0}  # the harness's own source
    french = yaml.safe_load((files("biomed.eval.llm") / "tasks" / "frenchmedmcqa.yaml").read_text())
    assert french["dataset_path"] == "nthngdy/frenchmedmcqa" and french["num_fewshot"] == 5
    assert sum(spec.size for spec in SUITE.values() if spec.group == "mmlu") == 135 + 265 + 144 + 173 + 100 + 272


def test_bad_inputs_are_clear_errors(tmp_path):
    with pytest.raises(BiomedError, match="unknown task 'medqa'; tasks: medqa_4options"):
        resolve_tasks(["medqa"])
    assert resolve_tasks(["fr", "qa"]) == ["frenchmedmcqa", *GROUPS["qa"]]
    with pytest.raises(BiomedError, match=r"no local copy of medmcqa: expected .*medmcqa/validation.parquet"):
        task_override("medmcqa", tmp_path)
    result = runner.invoke(app, ["eval", "llm", str(tmp_path / "nothing-here"), "--out", str(tmp_path / "o")])
    assert isinstance(result.exception, BiomedError) and "neither a folder nor a Hub id" in str(result.exception)


def test_export_data_writes_the_layout_that_data_dir_reads(tmp_path, monkeypatch):
    """`--export-data` (network stubbed: each Hub dataset is a tiny fixture table) feeds `--data-dir` as it is."""
    import datasets

    from biomed.eval.llm.fixtures import write_tiny_suite
    from biomed.eval.llm.harness import local_files

    fixtures = write_tiny_suite(tmp_path / "fixtures")
    asked = []

    def fake_load_dataset(path, name=None, split=None, data_files=None, **kwargs):
        asked.append((path, name, split, (data_files or {}).get(split)))
        hub = {spec.hub_dataset + str(spec.hub_config): key for key, spec in SUITE.items()}
        task = "pubmedqa" if path == "parquet" else hub[path + str(name)]
        return datasets.Dataset.from_parquet(str(fixtures / task / f"{split}.parquet"))

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    result = runner.invoke(app, ["eval", "llm", "--export-data", str(tmp_path / "copy")])
    assert result.exit_code == 0, result.output
    assert ("cais/mmlu", "anatomy", "test", None) in asked and ("nthngdy/frenchmedmcqa", None, "train", None) in asked
    assert ("parquet", None, "test", dict(SUITE["pubmedqa"].parquet_files)["test"]) in asked
    for task in SUITE:
        assert local_files(task, tmp_path / "copy").keys() == local_files(task, fixtures).keys()


def _is_k_of_n(value: float, n: int, decimals: int) -> bool:
    return any(round(100 * k / n, decimals) == value for k in range(n + 1))


def test_every_published_decoder_score_is_k_of_n_on_the_harness_splits_but_the_quoted_row():
    from biomed.eval.llm.references import PAPER_ROWS, PAPER_SOURCES, QUOTED_ROWS
    from biomed.eval.llm.suite import SUITE

    for model, values in PAPER_ROWS.items():
        scores = {key: value for key, value in values.items() if key in SUITE}
        off = [key for key, value in scores.items() if not _is_k_of_n(value, SUITE[key].size, 2)]
        if model in QUOTED_ROWS:
            # Meditron-70B: one decimal; seven values are no k/N, three not even rounded to one decimal
            assert len(off) == 7 and all(round(v, 1) == v for v in scores.values())
            assert sorted(k for k, v in scores.items() if not _is_k_of_n(v, SUITE[k].size, 1)) == [
                "mmlu_clinical_knowledge",
                "mmlu_college_biology",
                "mmlu_professional_medicine",
            ]
            assert all("not k/N" in PAPER_SOURCES[(model, key)] for key in scores)
        else:
            assert not off, f"{model}: {off}"
            assert not any("not k/N" in PAPER_SOURCES[(model, key)] for key in scores)
