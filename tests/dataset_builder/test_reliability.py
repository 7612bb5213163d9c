"""One test per defect of the output folders' reliability, each written from its reproduction.

Every stage owns its output folder (``biomed.runtime.ownership``): it refuses its own input, another stage's
folder, another run's folder and a folder another run is writing, in one line; done markers record their inputs.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dataset_builder.scored_shards import SCORE_FIELDS, paragraph, scored_table, write_shards

from biomed.cli import main
from biomed.config import resolve_config, save_config
from biomed.dataset_builder.build import stage as build_stage
from biomed.dataset_builder.build.stage import BuildConfig, CardConfig, run_build
from biomed.dataset_builder.build.variants import ConditionSpec, VariantSpec
from biomed.dataset_builder.classify.score import ClassifyScoreConfig, ScoreTask, run_classify_score, score_task
from biomed.dataset_builder.extract.stage import ExtractConfig
from biomed.errors import BiomedError
from biomed.runtime.executors import ExecutorConfig
from biomed.runtime.files import write_json
from biomed.runtime.ownership import OutputRefused


P = paragraph
SHARDS = [
    {"1": ("commercial", [P("clinical_case", "clinical", 4), P("study", "clinical", 2)])},
    {"2": ("non_commercial", [P("study", "biomedical", 4), P("review", "clinical", 5)])},
    {"3": ("commercial", [P("study", "clinical", 3), P("study", "biomedical", 1.2)])},
    {"4": ("other", [P("clinical_case", "clinical", 2, "fr"), P("study", "clinical", 4, "fr")])},
]
EDU3 = ConditionSpec(column="educational_score_int", op=">=", value=3, reason="edu_below_3")
SPECS = [VariantSpec(name="all", version="1"), VariantSpec(name="edu", version="1", keep=[EDU3])]


def _scored(folder: Path) -> Path:
    return write_shards(folder, [scored_table(articles) for articles in SHARDS])


def _build_config(scored: Path, out: Path, **kwargs) -> BuildConfig:
    return BuildConfig(
        input_dir=str(scored), output_dir=str(out), variants=SPECS, card=CardConfig(plots=False), **kwargs
    )


def _contents(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _release(folder: Path) -> dict[str, pa.Table]:
    data = folder / "data"
    return {p.relative_to(data).as_posix(): pq.read_table(p) for p in sorted(data.rglob("*.parquet"))}


def _main(args: list[str], monkeypatch, capsys) -> tuple[int, str]:
    """Run the console entry point as a user would: its exit code and what it printed on stderr."""
    monkeypatch.setattr(sys, "argv", ["biomed", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    return exited.value.code, capsys.readouterr().err


def _crash_in_card(monkeypatch) -> None:
    # every task done and marked, then the run dies: the state a rerun resumes from
    def dies(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("biomed.model_cards.dataset.write_dataset_card", dies)


# --- issue 15, defect 1: a build into its own input, or into an extraction folder, deleted it --------------------
def test_build_into_its_own_input_is_refused_and_keeps_the_scores(tmp_path, monkeypatch, capsys):
    scored = _scored(tmp_path / "scored")
    before = _contents(scored)
    code, err = _main(["data", "build", str(scored), "--out", str(scored)], monkeypatch, capsys)
    assert code == 2 and err.count("\n") == 1 and "is the input" in err
    code, err = _main(["data", "build", str(scored), "--out", str(scored / "data")], monkeypatch, capsys)
    assert code == 2 and "inside the input" in err
    assert _contents(scored) == before


def test_build_into_an_extraction_folder_is_refused_and_keeps_it(tmp_path):
    scored = _scored(tmp_path / "scored")
    extracted = write_shards(tmp_path / "extracted", [scored_table(SHARDS[0])])
    save_config(ExtractConfig(output_dir=str(extracted)), extracted)
    (extracted / "done").mkdir()
    (extracted / "done" / "00000.json").write_text("{}")
    before = _contents(extracted)
    for overwrite in (False, True):  # a folder without the kit's manifest is never replaced
        with pytest.raises(OutputRefused, match="no biomed manifest.*not even with --overwrite.*new --out"):
            run_build(_build_config(scored, extracted), overwrite=overwrite)
        assert _contents(extracted) == before
    manifest = {"stage": "extract", "settings": {}, "inputs": [], "state": "finished"}
    write_json(extracted / ".biomed" / "manifest.json", manifest)  # the kit's extraction: its manifest says so
    with pytest.raises(OutputRefused, match="output of `extract`, not of `data build`.*--overwrite.*new --out"):
        run_build(_build_config(scored, extracted))
    assert {k: v for k, v in _contents(extracted).items() if not k.startswith(".biomed")} == before


# --- issue 15, defect 4: two builds into one folder ------------------------------------------------------------------
def test_a_second_build_into_a_folder_being_built_is_refused_naming_the_pid(tmp_path, monkeypatch):
    scored = _scored(tmp_path / "scored")
    out = tmp_path / "release"
    real_task, second = build_stage._run_task, []

    def task_then_second_build(job):
        real_task(job)
        if not second:
            try:
                run_build(_build_config(scored, out))
                second.append("ran")
            except BiomedError as err:
                second.append(str(err))

    monkeypatch.setattr(build_stage, "_run_task", task_then_second_build)
    first = run_build(_build_config(scored, out))
    assert second == [f"{out} is in use by another run (pid {os.getpid()}); wait for it to end, or choose a new --out"]
    assert first.configs["all"]["rows"] == 8
    assert sum(t.num_rows for name, t in _release(out).items() if name.startswith("all/")) == 8


# --- resume: changed workers, another path to the same folders, changed settings ------------------------------------
def test_build_resumed_with_other_workers_equals_a_clean_run(tmp_path, monkeypatch):
    scored = _scored(tmp_path / "scored")
    out = tmp_path / "release"
    _crash_in_card(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        run_build(_build_config(scored, out, executor=ExecutorConfig(workers=3)))
    monkeypatch.undo()
    resumed = run_build(_build_config(scored, out, executor=ExecutorConfig(workers=2)))
    clean = run_build(_build_config(scored, tmp_path / "clean", executor=ExecutorConfig(workers=2)))
    assert resumed.configs == clean.configs and resumed.input == clean.input
    assert _release(out).keys() == _release(tmp_path / "clean").keys()
    assert all(t.equals(_release(tmp_path / "clean")[name]) for name, t in _release(out).items())


def test_build_resumes_when_the_folders_are_named_by_absolute_paths(tmp_path, monkeypatch):
    _scored(tmp_path / "scored")
    monkeypatch.chdir(tmp_path)
    _crash_in_card(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        run_build(_build_config(Path("scored"), Path("release"), executor=ExecutorConfig(tasks=2)))
    monkeypatch.undo()
    summary = run_build(_build_config(tmp_path / "scored", tmp_path / "release", executor=ExecutorConfig(tasks=2)))
    assert summary.resumed_tasks == 2


def test_build_into_a_release_of_other_settings_is_refused_or_overwritten(tmp_path):
    scored = _scored(tmp_path / "scored")
    out = tmp_path / "release"
    run_build(_build_config(scored, out))
    with pytest.raises(OutputRefused, match=r"another seed \(0 there, 7 now\)"):
        run_build(_build_config(scored, out, seed=7))
    (out / "notes.txt").write_text("mine")
    summary = run_build(_build_config(scored, out, seed=7), overwrite=True)
    assert summary.configs["all"]["rows"] == 8 and not (out / "notes.txt").exists()


# --- one-line errors instead of tracebacks ---------------------------------------------------------------------------
def test_build_bad_outputs_and_settings_give_one_line_errors(tmp_path, monkeypatch, capsys):
    scored = _scored(tmp_path / "scored")
    afile = tmp_path / "afile"
    afile.write_text("x")
    code, err = _main(["data", "build", str(scored), "--out", str(afile)], monkeypatch, capsys)
    assert code == 2 and err == f"Error: --out {afile} is a file, not a folder; choose a folder for the output\n"
    code, err = _main(
        ["data", "build", str(scored), "--out", str(tmp_path / "o"), "--workers", "0"], monkeypatch, capsys
    )
    assert code == 2 and "executor.workers must be at least 1" in err and err.count("\n") == 1


def test_build_recipe_value_of_the_wrong_type_is_one_line(tmp_path):
    scored = _scored(tmp_path / "scored")
    wrong = ConditionSpec(column="educational_score_int", op=">=", value="high", reason="edu_below_3")
    cfg = _build_config(scored, tmp_path / "o")
    cfg.variants = [VariantSpec(name="edu", version="1", keep=[wrong])]
    with pytest.raises(BiomedError, match=r"config 'edu': a condition's value does not fit its column in .*00000"):
        run_build(cfg)


def test_build_corrupt_parquet_input_names_the_file(tmp_path):
    scored = _scored(tmp_path / "scored")
    shard = scored / "data" / "00002.parquet"
    shard.write_bytes(b"PAR1 not really parquet")
    with pytest.raises(BiomedError, match=rf"cannot read {shard} as Parquet"):
        run_build(_build_config(scored, tmp_path / "o"))


# --- classify score --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def classifier(tmp_path_factory) -> Path:
    """An untrained tiny classifier: scoring needs weights, not good ones."""
    from biomed.dataset_builder.classify.train import ClassifyTrainConfig, build_model
    from biomed.tiny import save_tiny_model

    root = tmp_path_factory.mktemp("classifier")
    texts = [f"TEXT {i} patient study review lorem ipsum" for i in range(50)]
    backbone = save_tiny_model(texts, root / "backbone", "xlm-roberta", mlm_head=False, vocab_size=120)
    tokenizer, model = build_model(ClassifyTrainConfig(backbone=str(backbone), max_length=32), version="tiny-v1")
    model.save_pretrained(str(root / "classifier"))
    tokenizer.save_pretrained(str(root / "classifier"))
    return root / "classifier"


def _extracted(folder: Path, first: str = "1") -> Path:
    shards = [scored_table(articles) for articles in SHARDS[:2]]
    shards[0] = scored_table({first: SHARDS[0]["1"]})
    return write_shards(folder, [t.drop_columns([name for name, _ in SCORE_FIELDS]) for t in shards])


def _score(classifier: Path, inputs: Path, out: Path, overwrite: bool = False, **options):
    values = {"classifier": str(classifier), "inputs": str(inputs), "output_dir": str(out), "progress": False}
    return run_classify_score(resolve_config(ClassifyScoreConfig, options={**values, **options}), overwrite=overwrite)


def test_score_into_an_output_of_another_input_is_refused_not_mixed(classifier, tmp_path):
    """Issue 15, defect 5: scoring into an existing output from another input kept the stale scores, exit 0."""
    out = tmp_path / "scored"
    _score(classifier, _extracted(tmp_path / "a"), out)
    other = _extracted(tmp_path / "b", first="9")
    with pytest.raises(OutputRefused, match=r"another input .*--overwrite"):
        _score(classifier, other, out)
    _score(classifier, other, out, overwrite=True)
    clean = tmp_path / "clean"
    _score(classifier, other, clean)
    for name in ("00000.parquet", "00001.parquet"):
        assert pq.read_table(out / "data" / name).equals(pq.read_table(clean / "data" / name))
    assert pq.read_table(out / "data" / "00000.parquet")["article_id"].to_pylist() == ["9", "9"]


def test_a_score_task_redoes_a_shard_whose_input_changed(classifier, tmp_path):
    """Issue 15, defect 5: a done marker recorded nothing about its input, so a changed shard was skipped."""
    inputs, out = _extracted(tmp_path / "a"), tmp_path / "scored"
    summary = _score(classifier, inputs, out)
    shards = sorted(str(p) for p in (inputs / "data").glob("*.parquet"))
    cfg = resolve_config(ClassifyScoreConfig, out / "config.yaml")
    pq.write_table(pq.read_table(shards[0]).slice(0, 1), shards[0])  # the input shard is re-extracted
    redone = score_task(ScoreTask(cfg, shards, summary.classifier_version))  # what a cluster task runs
    assert [stats["shard"] for stats in redone] == ["00000.parquet"]
    assert pq.read_table(out / "data" / "00000.parquet").num_rows == 1


def test_score_into_an_extraction_folder_is_refused(classifier, tmp_path):
    inputs = _extracted(tmp_path / "a")
    extracted = _extracted(tmp_path / "other")
    save_config(ExtractConfig(output_dir=str(extracted)), extracted)
    before = _contents(extracted)
    with pytest.raises(OutputRefused, match="no biomed manifest"):
        _score(classifier, inputs, extracted)
    assert _contents(extracted) == before


def test_score_bad_shards_give_one_line_errors_naming_the_file(classifier, tmp_path):
    inputs = _extracted(tmp_path / "a")
    shard = inputs / "data" / "00001.parquet"
    table = pq.read_table(shard)
    pq.write_table(table.set_column(table.column_names.index("text"), "text", table["n_tokens"]), shard)
    with pytest.raises(BiomedError, match=rf"{shard}: its 'text' column holds int32, not strings"):
        _score(classifier, inputs, tmp_path / "o1")
    shard.write_bytes(b"PAR1 not parquet at all")
    with pytest.raises(BiomedError, match=rf"cannot read {shard} as Parquet"):
        _score(classifier, inputs, tmp_path / "o2", progress=True)


# --- rehydrate -------------------------------------------------------------------------------------------------------
def _dataset(folder: Path, name: str) -> Path:
    table = scored_table(SHARDS[0]).select(["article_id", "path", "text"])
    (folder / "data" / name).mkdir(parents=True)
    pq.write_table(table, folder / "data" / name / "train-00000-of-00001.parquet")
    return folder


def test_rehydrate_into_a_folder_of_another_dataset_is_refused_not_mixed(tmp_path):
    from biomed.dataset_builder.extract.stage import embedded_sample_dir
    from biomed.dataset_builder.release.rehydrate import RehydrateConfig, run_rehydrate

    dump = [str(embedded_sample_dir() / "articles")]
    out = tmp_path / "full"
    run_rehydrate(RehydrateConfig(dataset=str(_dataset(tmp_path / "a", "x")), pmc_xml=dump, output_dir=str(out)))
    other = RehydrateConfig(dataset=str(_dataset(tmp_path / "b", "y")), pmc_xml=dump, output_dir=str(out))
    with pytest.raises(OutputRefused, match=r"another input \(.*/a there, .*/b now\)"):
        run_rehydrate(other)
    run_rehydrate(other, overwrite=True)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.parquet") if ".rehydrate" not in p.parts) == [
        "data/y/train-00000-of-00001.parquet"
    ]  # only the second dataset's files, not a mix of both


# --- kill: no orphans ------------------------------------------------------------------------------------------------
def test_a_killed_build_leaves_no_worker_running(tmp_path):
    import signal
    import subprocess
    import time

    big = [pa.concat_tables([scored_table(articles)] * 10_000) for articles in SHARDS]  # 20k rows per shard
    scored = write_shards(tmp_path / "scored", big)
    out = tmp_path / "release"
    # four tasks: the default cut (by input size) would make these small shards one task, run in this process
    args = ["data", "build", str(scored), "--out", str(out), "--workers", "2"]
    args += ["--set", "executor.tasks=4", "--set", "card.plots=false"]
    process = subprocess.Popen([sys.executable, "-c", "from biomed.cli import main; main()", *args])
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not list(out.glob(".build/*/data/*/t*.parquet")):
            time.sleep(0.05)  # until the workers are writing
        workers = _children(process.pid)
        assert workers and process.poll() is None, "the build ended before it could be killed"
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(pid) for pid in workers):
            time.sleep(0.1)
        assert not any(_alive(pid) for pid in workers)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _children(pid: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


def _alive(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
