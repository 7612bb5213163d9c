"""Extract and annotate under the failures users meet: resumes with other settings or inputs, kills, bad paths,
credentials sent where they should not go. One test per defect; each failed before its fix."""

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dataset_builder.fake_llm_server import FakeLlmServer
from dataset_builder.paragraph_shards import paragraph_rows, write_paragraph_shards

from biomed.config import ConfigError, resolve_config
from biomed.dataset_builder.annotate.llm_client import resolve_token
from biomed.dataset_builder.annotate.stage import AnnotateConfig, annotate_from_gold, run_annotate
from biomed.dataset_builder.extract.jats import ArticleError, parse_article
from biomed.dataset_builder.extract.stage import ExtractConfig, embedded_sample_dir, run_extract
from biomed.errors import BiomedError
from biomed.runtime.executors import ExecutorConfig


SAMPLE = embedded_sample_dir() / "articles"
TOKEN = "hf_RELIABILITYtestSECRET42"


def _rows(out: Path) -> list[tuple]:
    table = pq.read_table(sorted((out / "data").glob("*.parquet")))
    return sorted(zip(*(table.column(c).to_pylist() for c in ("article_id", "path", "text", "language")), strict=True))


def _corpus(root: Path, copies: int) -> Path:
    """``copies`` renamed copies of the embedded sample (distinct PMCIDs and PMIDs), one folder per copy."""
    for copy in range(copies):
        _copy_of_sample(root / f"batch{copy:02d}", copy)
    return root


def _copy_of_sample(target: Path, copy: int) -> None:
    target.mkdir(parents=True)
    for path in SAMPLE.glob("*.nxml"):
        data = path.read_bytes()
        data = data.replace(b"99000", f"9{copy:02d}00".encode()).replace(b"39000", f"3{copy:02d}00".encode())
        (target / path.name).write_bytes(data)


def _biomed(*args, env=None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "biomed.cli", *args], capture_output=True, text=True, env=env, timeout=300, **kwargs
    )


def _one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def _summary_counts(out: Path) -> dict:
    summary = json.loads((out / "summary.json").read_text())
    return {k: summary[k] for k in ("articles", "paragraphs_read", "paragraphs_written", "dropped", "languages")}


# --- issue 15, defect 2: resumed with another --workers --------------------------------------------------------


def test_resume_with_other_workers_gives_the_clean_run(tmp_path):
    """Killed at 4 workers (tasks 0 = one per worker), resumed at 2: the same rows as a clean run, no corrupt shard."""
    corpus = _corpus(tmp_path / "corpus", 2)
    clean = tmp_path / "clean"
    run_extract(ExtractConfig(inputs=[str(corpus)], output_dir=str(clean), executor=ExecutorConfig(workers=1)))

    out = tmp_path / "out"
    cfg = ExtractConfig(inputs=[str(corpus)], output_dir=str(out), executor=ExecutorConfig(workers=4))
    run_extract(cfg)
    # what a kill leaves: tasks 2 and 3 unfinished, their shards half written
    for rank in (2, 3):
        (out / "done" / f"{rank:05d}.json").unlink()
        for shard in (out / "data").glob(f"*_{rank:05d}.parquet"):
            shard.write_bytes(shard.read_bytes()[:200])
    run_extract(ExtractConfig(inputs=[str(corpus)], output_dir=str(out), executor=ExecutorConfig(workers=2)))
    assert _rows(out) == _rows(clean)  # reads every shard: none is corrupt
    assert _summary_counts(out) == _summary_counts(clean)


def test_finished_run_with_lost_markers_resumed_with_other_workers_duplicates_nothing(tmp_path):
    corpus = _corpus(tmp_path / "corpus", 2)
    out = tmp_path / "out"
    run_extract(ExtractConfig(inputs=[str(corpus)], output_dir=str(out), executor=ExecutorConfig(workers=4)))
    clean = _rows(out)
    for rank in (0, 1):
        (out / "done" / f"{rank:05d}.json").unlink()
    run_extract(ExtractConfig(inputs=[str(corpus)], output_dir=str(out), executor=ExecutorConfig(workers=2)))
    assert _rows(out) == clean
    # an explicit task count that contradicts the folder's is a one-line refusal, not a silent mix
    with pytest.raises(BiomedError, match="executor.tasks"):
        run_extract(ExtractConfig(inputs=[str(corpus)], output_dir=str(out), executor=ExecutorConfig(tasks=3)))


# --- issue 15, defect 3: resumed after files were added to the input -------------------------------------------


def test_resume_after_the_input_changed_is_refused(tmp_path):
    corpus = _corpus(tmp_path / "corpus", 2)
    out = tmp_path / "out"
    run_extract(ExtractConfig(inputs=[str(corpus)], output_dir=str(out), executor=ExecutorConfig(tasks=4)))
    (out / "done" / "00001.json").unlink()  # a killed run
    _copy_of_sample(corpus / "batch00a", 7)  # files added: sorted between batch00 and batch01
    before = _rows(out)
    result = _biomed("data", "extract", str(corpus), "--out", str(out), "--tasks", "4")
    _one_line_error(result, "input", str(out))
    assert _rows(out) == before  # nothing was touched


# --- a folder that belongs to something else ----------------------------------------------------------------


def test_extract_into_a_foreign_folder_is_refused(tmp_path):
    extracted = tmp_path / "extracted"
    run_extract(ExtractConfig(output_dir=str(extracted)))
    annotated = tmp_path / "annotated"
    annotate_from_gold(extracted, annotated)
    before = sorted(p.relative_to(annotated) for p in annotated.rglob("*"))
    _one_line_error(_biomed("data", "extract", "--out", str(annotated)), str(annotated), "annotate")
    assert sorted(p.relative_to(annotated) for p in annotated.rglob("*")) == before
    # an output of an older kit without a manifest, with another stage's config
    legacy = tmp_path / "legacy"
    (legacy / "data").mkdir(parents=True)
    (legacy / "config.yaml").write_text("input_dir: x\nclassifier: y\n")
    _one_line_error(_biomed("data", "extract", "--out", str(legacy)), str(legacy))
    # a folder of unrelated files is not a kit run's: refused even with --overwrite, and left alone
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("precious")
    for overwrite in ((), ("--overwrite",)):
        _one_line_error(_biomed("data", "extract", "--out", str(mine), *overwrite), str(mine), "no biomed manifest")
    assert sorted(p.name for p in mine.iterdir()) == ["thesis.tex"]
    assert (mine / "thesis.tex").read_text() == "precious"


# --- kill -9 of the main process: workers die with it, stats are rebuilt, the summary counts everything --------


def _processes_with(marker: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker.encode() in (entry / "environ").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                continue  # gone, or not ours
    return pids


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds the run's processes through /proc")
def test_kill_9_leaves_no_process_and_the_rerun_matches_a_clean_run(tmp_path):
    corpus = _corpus(tmp_path / "corpus", 12)
    clean = tmp_path / "clean"
    run_extract(ExtractConfig(inputs=[str(corpus)], output_dir=str(clean), executor=ExecutorConfig(tasks=12)))

    marker = f"BIOMED_KILL_TEST={uuid.uuid4().hex}"
    env = {**os.environ, marker.split("=")[0]: marker.split("=")[1]}
    out = tmp_path / "out"
    command = [sys.executable, "-m", "biomed.cli", "data", "extract", str(corpus), "--out", str(out),
               "--tasks", "12", "--workers", "2"]  # fmt: skip
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        completions = out / "done"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (completions.exists() and any(completions.glob("*.json"))):
            assert process.poll() is None, "the run ended before it could be killed"
            time.sleep(0.01)
        assert len(_processes_with(marker)) > 1, "the run must have worker processes when it is killed"
        process.send_signal(signal.SIGKILL)
        process.wait()
        deadline = time.monotonic() + 10
        while _processes_with(marker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _processes_with(marker) == [], "processes of the killed run are still running"
        assert len(list(completions.glob("*.json"))) < 12, "the kill must land mid-run"
    finally:
        for pid in _processes_with(marker):  # leave nothing behind, even when the test fails
            os.kill(pid, signal.SIGKILL)

    result = _biomed(*command[3:])
    assert result.returncode == 0, result.stderr
    assert _rows(out) == _rows(clean)
    assert _summary_counts(out) == _summary_counts(clean)  # every task, not only the re-run ones


def test_rerun_of_a_finished_folder_without_stats_rebuilds_the_summary(tmp_path):
    """All tasks done but ``logs/stats.json`` never written (the main process was killed after its workers)."""
    out = tmp_path / "out"
    cfg = ExtractConfig(output_dir=str(out), executor=ExecutorConfig(tasks=3))
    first = run_extract(cfg)
    (out / "logs" / "stats.json").unlink(missing_ok=True)
    (out / "summary.json").unlink()
    again = run_extract(cfg)
    assert (again.articles, again.paragraphs_written, again.dropped) == (15, 130, first.dropped)
    assert _summary_counts(out)["paragraphs_written"] == 130


# --- one-line errors instead of tracebacks -----------------------------------------------------------------


def test_out_is_a_file_is_a_one_line_error(tmp_path):
    target = tmp_path / "taken"
    target.write_text("a file")
    _one_line_error(_biomed("data", "extract", "--out", str(target)), str(target))
    extracted = write_paragraph_shards(tmp_path / "extracted", 4)
    result = _biomed("data", "annotate", str(extracted), "--out", str(target), "--endpoint", "http://127.0.0.1:9")
    _one_line_error(result, str(target))
    assert target.read_text() == "a file"


def _unwritable_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "readonly"
    folder.mkdir()
    folder.chmod(0o555)
    if not os.access(folder, os.W_OK):
        return folder
    # root writes anywhere but in a read-only file system: sysfs refuses new entries even to root
    folder = Path("/sys") / f"biomed-{uuid.uuid4().hex}"
    try:
        folder.mkdir()
    except OSError:
        return folder
    folder.rmdir()
    pytest.skip("no folder this user cannot write to")


def test_read_only_output_is_a_one_line_error(tmp_path):
    folder = _unwritable_folder(tmp_path)
    out = folder / "out" if folder.parent == tmp_path else folder
    try:
        _one_line_error(_biomed("data", "extract", "--out", str(out)), str(out))
        extracted = write_paragraph_shards(tmp_path / "extracted", 4)
        result = _biomed("data", "annotate", str(extracted), "--out", str(out), "--endpoint", "http://127.0.0.1:9")
        _one_line_error(result, str(out))
    finally:
        (tmp_path / "readonly").chmod(0o755)


def test_workers_0_is_a_one_line_error(tmp_path):
    with pytest.raises(ConfigError, match="workers"):
        resolve_config(ExtractConfig, options={"executor.workers": 0})
    _one_line_error(_biomed("data", "extract", "--out", str(tmp_path / "o"), "--workers", "0"), "workers")


def test_a_non_utf8_file_list_is_a_one_line_error(tmp_path):
    file_list = tmp_path / "list.csv"
    file_list.write_bytes("Accession ID,PMID,License\nPMC1,1,CC BY – Université\n".encode("latin-1", "replace"))
    file_list.write_bytes(file_list.read_bytes().replace(b"?", b"\xe9"))
    result = _biomed("data", "extract", str(SAMPLE), "--file-list", str(file_list), "--out", str(tmp_path / "o"))
    _one_line_error(result, str(file_list), "UTF-8")


def test_annotate_corrupt_parquet_input_is_a_one_line_error(tmp_path):
    extracted = write_paragraph_shards(tmp_path / "extracted", 8, shards=2)
    shard = sorted((extracted / "data").glob("*.parquet"))[1]
    shard.write_bytes(b"PAR1 garbage, not a Parquet file PAR1")
    result = _biomed("data", "annotate", str(extracted), "--out", str(tmp_path / "ann"), "--dry-run")
    _one_line_error(result, shard.name)


def test_annotate_text_of_the_wrong_type_is_a_one_line_error(tmp_path):
    rows = paragraph_rows(6)
    for i, row in enumerate(rows):
        row["text"] = i
    (tmp_path / "extracted" / "data").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "extracted" / "data" / "000_00000.parquet")
    result = _biomed("data", "annotate", str(tmp_path / "extracted"), "--out", str(tmp_path / "ann"), "--dry-run")
    _one_line_error(result, "text", "string")


# --- HTML or random bytes named .xml ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head><body><p>Gone</body></html>\n", "not_jats"),
        (b"<html><body>Service unavailable", "not_jats"),
        (os.urandom(2048).replace(b"<", b"."), "not_xml"),
        (b'<?xml version="1.0"?>\n<pmc-articleset><article></article></pmc-articleset>\n', "not_jats"),
        ((SAMPLE / "Cardiol_Case_J_2021_99000001.nxml").read_bytes()[:3000], "truncated_xml"),
    ],
    ids=["html", "html_cut", "random_bytes", "other_root", "truncated_article"],
)
def test_html_or_random_bytes_named_xml_are_not_called_truncated(data, reason):
    with pytest.raises(ArticleError) as caught:
        parse_article(data, file="x.xml")
    assert caught.value.reason == reason


# --- annotate: where the token goes, what the exit code says ----------------------------------------------


def _annotate_config(extracted: Path, out: Path, endpoint: str, **options) -> AnnotateConfig:
    values = {"input_dir": str(extracted), "output_dir": str(out), "client.endpoint": endpoint,
              "client.max_concurrency": 2, "client.backoff_initial_s": 0.001, "client.max_retries": 0}  # fmt: skip
    return resolve_config(AnnotateConfig, options={**values, **options})


def test_the_hf_token_goes_only_where_the_user_sent_it(tmp_path, monkeypatch):
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_DISABLE_TELEMETRY", True)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    extracted = write_paragraph_shards(tmp_path / "extracted", 4)
    with FakeLlmServer() as server:  # a third-party server: the Hugging Face token is not its business
        run_annotate(_annotate_config(extracted, tmp_path / "a", server.url), progress=False)
    assert server.stats.requests == 4 and server.stats.auth_headers == set()
    monkeypatch.setenv("MY_KEY", "sk-local-key")
    with FakeLlmServer() as server:  # a token the user named goes to the endpoint the user named
        run_annotate(_annotate_config(extracted, tmp_path / "b", server.url, **{"client.token_env": "MY_KEY"}))
    assert server.stats.auth_headers == {"Bearer sk-local-key"}
    # Hugging Face's own services get the Hugging Face token, over https only
    assert resolve_token("", "") == TOKEN  # Inference Providers
    assert resolve_token("", "https://abc123.us-east-1.aws.endpoints.huggingface.cloud") == TOKEN
    assert resolve_token("", "https://router.huggingface.co/v1") == TOKEN
    assert resolve_token("", "http://router.huggingface.co/v1") is None
    assert resolve_token("", "https://huggingface.co.evil.example/v1") is None
    # never over plain http to another machine, named or not: refused before anything is sent
    cfg = _annotate_config(extracted, tmp_path / "c", "http://llm.example.org:8080", **{"client.token_env": "MY_KEY"})
    with pytest.raises(BiomedError, match="plain http"):
        run_annotate(cfg, progress=False)


def test_annotate_exits_non_zero_when_every_request_failed(tmp_path):
    extracted = write_paragraph_shards(tmp_path / "extracted", 4)
    with FakeLlmServer(default_fault="400") as server:
        result = _biomed("data", "annotate", str(extracted), "--out", str(tmp_path / "ann"), "--endpoint", server.url)
    assert result.returncode != 0, result.stdout
    assert "Annotated 4 paragraphs" not in result.stdout
    assert "4" in result.stderr and "http_400" in result.stderr
    table = pq.read_table(tmp_path / "ann" / "annotations.parquet")  # the failures stay inspectable
    assert table.column("status").to_pylist() == ["failed"] * 4
