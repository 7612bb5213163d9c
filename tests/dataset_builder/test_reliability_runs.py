"""Issue 21's data-wing rows: stages read only finished runs, done markers vouch for their files, one copy per
article, bad inputs and failures in one line. Each test failed on the kit before its fix."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from dataset_builder.scored_shards import SCORE_FIELDS, scored_table, write_shards
from test_reliability import SHARDS, SPECS, _build_config, _main, _scored, classifier  # noqa: F401 - the fixture

from biomed.config import resolve_config
from biomed.dataset_builder.build import stage as build_stage
from biomed.dataset_builder.build.stage import BuildConfig, CardConfig, run_build
from biomed.dataset_builder.classify.score import ClassifyScoreConfig, run_classify_score
from biomed.dataset_builder.extract import stage as extract_stage
from biomed.dataset_builder.extract.stage import ExtractConfig, embedded_sample_dir, run_extract
from biomed.errors import BiomedError
from biomed.runtime.executors import ExecutorConfig
from biomed.runtime.files import read_json, write_json
from biomed.runtime.ownership import InputNotFinished


SAMPLE = embedded_sample_dir() / "articles"
LIST = embedded_sample_dir() / "oa_file_list.csv"


def _keys(out: Path) -> list[tuple]:
    table = pq.read_table(sorted((out / "data").glob("*.parquet")))
    return list(zip(table["article_id"].to_pylist(), table["path"].to_pylist(), strict=True))


def _rows(out: Path) -> list[tuple]:
    table = pq.read_table(sorted((out / "data").glob("*.parquet")))
    return sorted(zip(*(table[c].to_pylist() for c in ("article_id", "path", "text", "language")), strict=True))


def _extract(inputs: list[Path], out: Path, tasks: int = 1, **kwargs):
    executor = ExecutorConfig(tasks=tasks, workers=1)
    cfg = ExtractConfig(inputs=[str(p) for p in inputs], file_list=str(LIST), output_dir=str(out), executor=executor)
    return run_extract(cfg, progress=False, **kwargs)


def _unscored(folder: Path) -> Path:
    return write_shards(folder, [scored_table(a).drop_columns([n for n, _ in SCORE_FIELDS]) for a in SHARDS])


def _kill_state(folder: Path) -> None:
    """The manifest a run killed part-way leaves: still `running`."""
    manifest = read_json(folder / ".biomed" / "manifest.json")
    write_json(folder / ".biomed" / "manifest.json", {**manifest, "state": "running"})


def _biomed(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "biomed.cli", *args], capture_output=True, text=True, timeout=120)


# --- stages read only finished runs --------------------------------------------------------------------------------
def test_score_of_an_extraction_killed_part_way_is_refused_naming_what_is_missing(classifier, tmp_path):  # noqa: F811
    extracted = tmp_path / "extracted"
    _extract([SAMPLE], extracted, tasks=4)
    assert read_json(extracted / ".biomed" / "manifest.json")["state"] == "finished"
    _kill_state(extracted)
    for name in ("00001", "00003"):
        (extracted / "done" / f"{name}.json").unlink()
    out = tmp_path / "scored"
    options = {"classifier": str(classifier), "inputs": str(extracted), "output_dir": str(out), "progress": False}
    with pytest.raises(InputNotFinished) as err:
        run_classify_score(resolve_config(ClassifyScoreConfig, options=options))
    message = str(err.value)
    assert f"{extracted} is not finished: 2 of 4 tasks done" in message
    assert "rerun `biomed data extract …`" in message and "\n" not in message
    assert not (out / "data").exists()  # refused before anything was written
    _extract([SAMPLE], extracted, tasks=4)  # the rerun finishes it: now it is read
    summary = run_classify_score(resolve_config(ClassifyScoreConfig, options=options))
    assert summary.paragraphs == pq.read_metadata(extracted / "data" / "000_00000.parquet").num_rows + sum(
        pq.read_metadata(p).num_rows for p in sorted((extracted / "data").glob("*.parquet"))[1:]
    )


def test_build_of_an_unfinished_scoring_is_refused_and_a_plain_folder_is_read(tmp_path, monkeypatch, capsys):
    scored = _scored(tmp_path / "scored")
    write_json(scored / ".biomed" / "manifest.json", {"stage": "data classify score", "state": "running"})
    code, err = _main(["data", "build", str(scored), "--out", str(tmp_path / "release")], monkeypatch, capsys)
    assert code == 2 and err.count("\n") == 1 and "is not finished" in err and "data classify score" in err
    assert not (tmp_path / "release").exists()
    (scored / ".biomed" / "manifest.json").unlink()  # no kit manifest: the user's files, read as they are
    assert run_build(_build_config(scored, tmp_path / "release")).configs["all"]["rows"] > 0


def test_push_and_rehydrate_refuse_a_release_still_being_built(tmp_path):
    scored = _scored(tmp_path / "scored")
    release = tmp_path / "release"
    run_build(_build_config(scored, release))
    _kill_state(release)
    from biomed.dataset_builder.release.push import PushConfig, push_dataset
    from biomed.dataset_builder.release.rehydrate import RehydrateConfig, run_rehydrate

    with pytest.raises(InputNotFinished, match="killed or stopped part-way"):
        push_dataset(PushConfig(folder=str(release), repo_id="me/data"))
    with pytest.raises(InputNotFinished, match="`biomed data build …`"):
        run_rehydrate(RehydrateConfig(dataset=str(release), pmc_xml=[str(SAMPLE)], output_dir=str(tmp_path / "r")))


# --- done markers checked against their files ---------------------------------------------------------------------
@pytest.mark.parametrize("damage", ["deleted", "truncated"])
def test_extract_redoes_a_task_whose_shard_was_deleted_or_truncated(tmp_path, damage):
    out, clean = tmp_path / "out", tmp_path / "clean"
    first = _extract([SAMPLE], out, tasks=3)
    shard = sorted((out / "data").glob("*.parquet"))[1]
    if damage == "deleted":
        shard.unlink()
    else:
        shard.write_bytes(shard.read_bytes()[:100])
    again = _extract([SAMPLE], out, tasks=3)
    _extract([SAMPLE], clean, tasks=3)
    assert again.paragraphs_written == first.paragraphs_written
    assert _rows(out) == _rows(clean)


def test_score_redoes_a_shard_truncated_after_its_marker(classifier, tmp_path):  # noqa: F811
    extracted = _unscored(tmp_path / "x")
    out = tmp_path / "scored"
    options = {"classifier": str(classifier), "inputs": str(extracted), "output_dir": str(out), "progress": False}
    cfg = resolve_config(ClassifyScoreConfig, options=options)
    run_classify_score(cfg)
    shard = out / "data" / "00001.parquet"
    whole = pq.read_table(shard)
    shard.write_bytes(shard.read_bytes()[:-50])
    summary = run_classify_score(cfg)
    assert summary.shards_scored_now == 1 and pq.read_table(shard).equals(whole)


# --- one copy per article ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("tasks", [1, 2])
def test_the_same_article_under_two_file_names_is_kept_once_and_recorded(tmp_path, tasks):
    corpus = tmp_path / "corpus"
    (corpus / "a").mkdir(parents=True)
    (corpus / "z").mkdir()
    for path in SAMPLE.glob("*.nxml"):
        (corpus / "a" / path.name).write_bytes(path.read_bytes())
    copied = sorted(SAMPLE.glob("*.nxml"))[0]
    (corpus / "z" / f"copy_{copied.name}").write_bytes(copied.read_bytes())
    out = tmp_path / f"out{tasks}"
    summary = _extract([corpus], out, tasks=tasks)
    keys = _keys(out)
    assert len(keys) == len(set(keys))
    clean = _extract([SAMPLE], tmp_path / f"clean{tasks}", tasks=tasks)
    assert summary.paragraphs_written == clean.paragraphs_written and summary.articles == clean.articles
    assert summary.skipped == {"duplicate_article": 1}
    errors = [json.loads(line) for line in (out / "errors.jsonl").read_text().splitlines()]
    (error,) = [e for e in errors if e["reason"] == "duplicate_article"]
    assert copied.name in error["file"] + error["detail"] and f"copy_{copied.name}" in error["file"] + error["detail"]
    rerun = _extract([corpus], out, tasks=tasks)  # the rerun keeps the same copy, nothing redone
    assert _keys(out) == keys and rerun.skipped == summary.skipped


def test_keys_are_unique_in_the_default_config_and_be_base_of_a_corpus_with_a_copied_article(tmp_path):
    from scored_shards import score_extracted

    from biomed.dataset_builder.build.stage import default_recipe

    corpus = tmp_path / "corpus"
    (corpus / "copies").mkdir(parents=True)
    for path in SAMPLE.glob("*.nxml"):
        (corpus / path.name).write_bytes(path.read_bytes())
    for path in sorted(SAMPLE.glob("*.nxml"))[:2]:  # a copy of two articles in another folder
        (corpus / "copies" / path.name).write_bytes(path.read_bytes())
    _extract([corpus], tmp_path / "extracted", tasks=2)
    scored = score_extracted(tmp_path / "extracted", tmp_path / "scored")
    options = {"input_dir": str(scored), "output_dir": str(tmp_path / "release"), "card.plots": False}
    summary = run_build(resolve_config(BuildConfig, default_recipe(), options=options))
    for config in ("default", "BE-Base"):
        files = [tmp_path / "release" / name for name in summary.configs[config]["files"]]
        table = pq.read_table(files, columns=["article_id", "path"])
        keys = list(zip(table["article_id"].to_pylist(), table["path"].to_pylist(), strict=True))
        assert len(keys) == len(set(keys)) > 0, config


# --- bad input, one line, data safe -------------------------------------------------------------------------------
def test_a_dangling_symlink_and_a_fifo_named_xml_are_recorded_skips(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for path in sorted(SAMPLE.glob("*.nxml"))[:3]:
        (corpus / path.name).write_bytes(path.read_bytes())
    (corpus / "gone.nxml").symlink_to(tmp_path / "nowhere.nxml")
    os.mkfifo(corpus / "pipe.xml")
    out = tmp_path / "out"
    result = _biomed("data", "extract", str(corpus), "--file-list", str(LIST), "--out", str(out))
    assert result.returncode == 1, result.stderr  # files were skipped: said by the exit code, not a traceback
    assert "Traceback" not in result.stderr
    errors = {e["file"]: e for e in map(json.loads, (out / "errors.jsonl").read_text().splitlines())}
    assert errors[str(corpus / "gone.nxml")]["reason"] == "unreadable_file"
    assert errors[str(corpus / "pipe.xml")]["reason"] == "not_a_file"
    assert json.loads((out / "summary.json").read_text())["articles"] == 3


@pytest.mark.parametrize("stage", ["extract", "score", "build"])
def test_a_full_disk_is_one_line_and_the_rerun_is_clean(classifier, tmp_path, monkeypatch, capsys, stage):  # noqa: F811
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    out = tmp_path / "out"
    if stage == "extract":
        args = ["data", "extract", "--out", str(out)]
        monkeypatch.setattr(extract_stage.ShardWriter, "write", full)
    elif stage == "score":
        args = ["data", "classify", "score", str(_unscored(tmp_path / "x")), "--classifier", str(classifier)]
        args += ["--out", str(out)]
        monkeypatch.setattr(pq.ParquetWriter, "write_table", full)
    else:
        args = ["data", "build", str(_scored(tmp_path / "scored")), "--out", str(out)]
        monkeypatch.setattr(pq.ParquetWriter, "write_table", full)
    code, err = _main(args, monkeypatch, capsys)
    last = err.strip().splitlines()[-1]  # (after the model loading's progress bar, for score)
    assert code == 2 and "Traceback" not in err and last.startswith("Error: No space left on device"), err
    monkeypatch.undo()
    code, err = _main(args, monkeypatch, capsys)
    assert code in (0, 1), err


# --- the build's swap cannot half-finish ---------------------------------------------------------------------------
def _release_files(folder: Path) -> dict[str, bytes]:
    files = {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.relative_to(folder).parts[0].startswith(".")
    }
    # the saved config names its output folder: compare the rest
    files["config.yaml"] = b"".join(
        line for line in files["config.yaml"].splitlines(keepends=True) if not line.startswith(b"output_dir:")
    )
    return files


def _titled(scored: Path, out: Path, title: str) -> BuildConfig:
    return BuildConfig(
        input_dir=str(scored), output_dir=str(out), variants=SPECS, card=CardConfig(plots=False, pretty_name=title)
    )


@pytest.mark.parametrize("kill_at", ["journal", 0, 5, "cleanup"])
def test_a_kill_during_the_build_swap_is_completed_by_the_rerun(tmp_path, monkeypatch, kill_at):
    # issue 21: killed between its five renames, the release had new data/ and no card, and every rerun stopped on
    # "the default config selected no paragraph" until --overwrite
    scored = _scored(tmp_path / "scored")
    out, clean = tmp_path / "release", tmp_path / "clean"
    run_build(_titled(scored, out, "Old"))
    old = _release_files(out)
    run_build(_titled(scored, clean, "New"))
    new = _release_files(clean)
    assert old != new

    swapping, renames = [], []
    real_rename, real_unlink = Path.rename, Path.unlink

    def rename(self, target):
        if swapping:
            if len(renames) == kill_at:
                raise KeyboardInterrupt
            renames.append(self)
        return real_rename(self, target)

    def unlink(self, missing_ok=False):
        if swapping and kill_at == "cleanup" and self.name == build_stage.SWAP_JOURNAL:
            raise KeyboardInterrupt
        return real_unlink(self, missing_ok=missing_ok)

    real_write_json = build_stage.write_json

    def write_json_(path, data, *args, **kwargs):
        if Path(path).name == build_stage.SWAP_JOURNAL:
            if kill_at == "journal":
                raise KeyboardInterrupt
            swapping.append(True)
        return real_write_json(path, data, *args, **kwargs)

    monkeypatch.setattr(Path, "rename", rename)
    monkeypatch.setattr(Path, "unlink", unlink)
    monkeypatch.setattr(build_stage, "write_json", write_json_)
    with pytest.raises(KeyboardInterrupt):
        run_build(_titled(scored, out, "New"))
    monkeypatch.undo()
    journal = out / ".build" / build_stage.SWAP_JOURNAL
    assert read_json(out / ".biomed" / "manifest.json")["state"] == "running"  # readers refuse it meanwhile
    if not journal.exists():
        assert _release_files(out) in (old, new)
    run_build(_titled(scored, out, "New"))
    assert _release_files(out) == new
    assert read_json(out / ".biomed" / "manifest.json")["state"] == "finished"


# --- bad classifiers, recipes and releases: one line each ------------------------------------------------------------
@pytest.mark.parametrize("damage", ["config", "weights", "hub"])
def test_a_damaged_or_unreachable_classifier_is_one_line(classifier, tmp_path, monkeypatch, capsys, damage):  # noqa: F811
    import shutil

    broken = tmp_path / "classifier"
    shutil.copytree(classifier, broken)
    name = str(broken)
    if damage == "config":
        (broken / "config.json").write_text('{"model_type": "biomed_cla')
    elif damage == "weights":
        weights = broken / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[:1000])
    else:
        name = "nobody/no-such-classifier"
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)  # read at import: set it as well
    args = [
        "data",
        "classify",
        "score",
        str(_unscored(tmp_path / "x")),
        "--classifier",
        name,
        "--out",
        str(tmp_path / "o"),
    ]
    code, err = _main(args, monkeypatch, capsys)
    last = err.strip().splitlines()[-1]
    assert code == 2 and "Traceback" not in err and last.startswith("Error: "), err
    assert {"config": "config.json cannot be read", "weights": "cannot load the classifier weights", "hub": "Hub"}[
        damage
    ] in last


def test_an_unknown_licence_group_is_refused_naming_the_valid_ones(tmp_path, monkeypatch, capsys):
    # issue 21: a typo published 1,160 non-commercial texts while the card said they were withheld
    scored = _scored(tmp_path / "scored")
    args = [
        "data",
        "build",
        str(scored),
        "--out",
        str(tmp_path / "r"),
        "--set",
        "withhold_text_groups=[non_comercial]",
    ]
    code, err = _main(args, monkeypatch, capsys)
    assert code == 2 and err.count("\n") == 1, err
    assert "'non_comercial'" in err and "commercial, non_commercial, other" in err
    assert not (tmp_path / "r").exists()


def test_an_absurd_upsampling_factor_is_refused_before_writing(tmp_path, monkeypatch, capsys):
    scored = _scored(tmp_path / "scored")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        "variants:\n  - name: big\n    version: '1'\n    upsample:\n"
        "      - {name: all, when: [{column: language, value: en}], factor: 1e9}\n"
    )
    code, err = _main(
        ["data", "build", str(scored), "-c", str(recipe), "--out", str(tmp_path / "r")], monkeypatch, capsys
    )
    assert code == 2 and err.count("\n") == 1 and "between 1 and 1000" in err, err
    assert not (tmp_path / "r").exists()


def test_push_and_rehydrate_of_a_release_with_a_truncated_parquet_are_one_line(tmp_path):
    from biomed.dataset_builder.release.push import PushConfig, push_dataset
    from biomed.dataset_builder.release.rehydrate import RehydrateConfig, run_rehydrate

    release = tmp_path / "release"
    run_build(_build_config(_scored(tmp_path / "scored"), release))
    shard = sorted((release / "data").rglob("*.parquet"))[0]
    shard.write_bytes(shard.read_bytes()[:-200])
    with pytest.raises(BiomedError, match=rf"{shard} is not a readable Parquet file .*truncated") as err:
        push_dataset(PushConfig(folder=str(release), repo_id="me/data"))
    assert "\n" not in str(err.value)
    with pytest.raises(BiomedError, match=rf"{shard} is not a readable Parquet file"):
        run_rehydrate(RehydrateConfig(dataset=str(release), pmc_xml=[str(SAMPLE)], output_dir=str(tmp_path / "r")))
    assert not (tmp_path / "r").exists()


# --- locks, caches and excepts of the release wing -------------------------------------------------------------------
def test_the_annotate_cache_says_another_run_only_for_lock_contention(tmp_path, monkeypatch):
    from biomed.dataset_builder.annotate.cache import AnnotationCache
    from biomed.runtime.ownership import OutputRefused

    path = tmp_path / "cache" / "answers.jsonl"
    with AnnotationCache(path) as cache:
        cache.append("k", {"status": "ok"})
        with pytest.raises(BiomedError, match="another `biomed data annotate` is writing"):
            AnnotationCache(path).open()
    real = os.open

    def no_flock(fd, operation):
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr("biomed.runtime.ownership.fcntl.flock", no_flock)
    with AnnotationCache(path) as cache:  # a file system without flock: the exclusive lock file instead
        assert "k" in cache and (path.parent / "answers.jsonl.lock.owner").exists()
    monkeypatch.undo()

    def failing_open(name, flags, *args):
        if str(name).endswith(".lock"):
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real(name, flags, *args)

    monkeypatch.setattr(os, "open", failing_open)
    with pytest.raises(OutputRefused) as err:
        AnnotationCache(path).open()
    assert "another" not in str(err.value) and "Input/output error" in str(err.value)


def test_a_bug_while_indexing_or_parsing_the_dump_raises_instead_of_being_cached_as_damage(tmp_path, monkeypatch):
    from biomed.dataset_builder.release import dump_index, text_store

    article = sorted(SAMPLE.glob("*.nxml"))[0]
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(b"\x1f\x8b\x08\x00 not a gzip stream")
    dump_index._index_unit(([str(broken), str(article)], str(tmp_path / "index.parquet")))
    members = pq.read_table(tmp_path / "index.parquet")["member"].to_pylist()
    assert members[0].startswith("!error: SourceError: " + str(broken)) and members[1] == article.name

    def bug(*args, **kwargs):
        raise TypeError("a bug")

    monkeypatch.setattr(dump_index, "scan_article_ids", bug)
    with pytest.raises(TypeError):
        dump_index._index_unit(([str(article)], str(tmp_path / "index2.parquet")))
    assert not (tmp_path / "index2.parquet").exists()  # nothing cached: the rerun tries again
    monkeypatch.setattr("biomed.dataset_builder.extract.stage.parse_article", bug)
    with pytest.raises(TypeError):
        text_store._parse_group(([(str(article), {article.name: ["1"]})], str(tmp_path / "part.parquet"), "kit"))
    assert not (tmp_path / "part.parquet").exists()


def test_two_rehydrate_runs_sharing_a_cache_folder_are_refused_not_mixed(tmp_path):
    from biomed.dataset_builder.release.rehydrate import RehydrateConfig, run_rehydrate
    from biomed.runtime.ownership import hold_lock

    release = tmp_path / "release"
    run_build(_build_config(_scored(tmp_path / "scored"), release))
    cache = tmp_path / "cache"
    cache.mkdir()
    cfg = RehydrateConfig(dataset=str(release), pmc_xml=[str(SAMPLE)], output_dir=str(tmp_path / "r"))
    cfg.cache_dir = str(cache)
    with hold_lock(cache, what="another rehydrate"):  # the other run, at work
        with pytest.raises(
            BiomedError, match=rf"rehydrate cache {cache} is in use by another run \(pid {os.getpid()}"
        ):
            run_rehydrate(cfg)
    assert run_rehydrate(cfg).files > 0


def test_a_full_disk_in_rehydrate_and_annotate_is_one_line_and_the_rerun_is_clean(tmp_path, monkeypatch, capsys):
    import sqlite3

    from fake_llm_server import FakeLlmServer
    from paragraph_shards import write_paragraph_shards

    from biomed.dataset_builder.annotate.cache import AnnotationCache
    from biomed.dataset_builder.release import text_store

    def full_store(*args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    from scored_shards import score_extracted

    release = tmp_path / "release"
    extracted_sample = tmp_path / "sample"
    _extract([SAMPLE], extracted_sample)
    run_build(_build_config(score_extracted(extracted_sample, tmp_path / "scored"), release))
    # the sample's non-commercial texts are withheld: rehydrate parses them from the sample into its store
    rehydrate = ["data", "rehydrate", str(release), "--pmc-xml", str(SAMPLE), "--out"]
    extracted = write_paragraph_shards(tmp_path / "extracted", 4)
    with FakeLlmServer() as server:
        annotate = ["data", "annotate", str(extracted), "--out", str(tmp_path / "a"), "--endpoint", server.url]
        for args, target, name, fault in (
            ([*rehydrate, str(tmp_path / "r1")], text_store, "_load_part", full_store),  # the SQLite text store
            ([*rehydrate, str(tmp_path / "r2")], pq, "write_table", full_disk),  # the filled files
            (annotate, AnnotationCache, "append", full_disk),
        ):
            monkeypatch.setattr(target, name, fault)
            code, err = _main(args, monkeypatch, capsys)
            last = err.strip().splitlines()[-1]
            assert code == 2 and "Traceback" not in err and last.startswith("Error: No space left on device"), err
            monkeypatch.undo()
            code, err = _main(args, monkeypatch, capsys)
            assert code == 0, err
    assert pq.read_table(tmp_path / "a" / "annotations.parquet")["status"].to_pylist() == ["ok"] * 4


def test_pool_workers_ignore_sigint_so_only_the_parent_reports_it():
    # issue 21: a SIGINT of a build printed a pool worker's KeyboardInterrupt traceback (2 runs of 4)
    import signal

    from biomed.runtime.parallel import map_processes

    handlers = list(map_processes(signal.getsignal, [signal.SIGINT, signal.SIGINT], workers=2))
    assert handlers == [signal.SIG_IGN, signal.SIG_IGN]


def test_extract_rerun_naming_the_input_by_another_path_resumes_the_same_run(tmp_path, monkeypatch):
    # issue 21: an absolute path, another working directory or a symlink to the same input was "another input"
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for path in sorted(SAMPLE.glob("*.nxml"))[:4]:
        (corpus / path.name).write_bytes(path.read_bytes())
    (tmp_path / "link").symlink_to(corpus)
    (tmp_path / "elsewhere").mkdir()
    out = tmp_path / "out"
    monkeypatch.chdir(tmp_path)
    first = _extract([Path("corpus")], Path("out"))
    for name in (corpus, tmp_path / "link", Path("../corpus")):
        if name == Path("../corpus"):
            monkeypatch.chdir(tmp_path / "elsewhere")
            out = Path("../out")
        again = _extract([name], out)
        assert again.paragraphs_written == first.paragraphs_written


@pytest.mark.parametrize(
    "command",
    [["data", "annotate"], ["data", "classify", "score"], ["data", "build"], ["data", "rehydrate"], ["push-dataset"]],
)
def test_every_command_reading_a_kit_output_takes_wait(command):
    from typer.testing import CliRunner

    from biomed.cli import app

    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "--wait" in result.output
