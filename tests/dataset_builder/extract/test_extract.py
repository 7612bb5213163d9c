"""The extraction pipeline end to end: outputs, licences, bad input, packages, resume."""

import io
import json
import os
import shutil
import tarfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from biomed.config import ConfigError, resolve_config
from biomed.dataset_builder.extract.jats import EXTRACTOR_VERSION
from biomed.dataset_builder.extract.rows import SCHEMA_COLUMNS
from biomed.dataset_builder.extract.stage import ExtractConfig, embedded_sample_dir, run_extract
from biomed.errors import BiomedError
from biomed.runtime.executors import ExecutorConfig, build_executor


SAMPLE = embedded_sample_dir() / "articles"


def _rows(out: Path) -> list[dict]:
    return pq.read_table(sorted((out / "data").glob("*.parquet"))).to_pylist()


def test_sample_extraction_outputs(sample_extract):
    table = pq.read_table(sorted((sample_extract / "data").glob("*.parquet")))
    assert table.column_names == SCHEMA_COLUMNS
    assert table.schema.metadata[b"biomed.extractor_version"] == EXTRACTOR_VERSION.encode()
    rows = table.to_pylist()
    keys = [(r["article_id"], r["path"]) for r in rows]
    assert len(keys) == len(set(keys))
    assert all(r["n_tokens"] >= 64 for r in rows)
    assert all(r["n_chars"] == len(r["text"]) for r in rows)
    by_file = {}
    for row in rows:
        by_file.setdefault(row["file"], []).append(row)
    assert len(by_file) == 15
    # the article without a PMID (in the XML and in the file list) is keyed by its PMCID
    assert {r["article_id"] for r in by_file["Dev_Regen_Biol_2024_99000009.nxml"]} == {"PMC99000009"}
    assert {r["article_id"] for r in by_file["Cardiol_Case_J_2021_99000001.nxml"]} == {"39000001"}
    groups = {name: {r["license_group"] for r in file_rows} for name, file_rows in by_file.items()}
    assert groups["Geriatr_Med_Lett_2021_99000007.nxml"] == {"other"}
    assert groups["Cas_Clin_Med_Interne_2019_99000002.nxml"] == {"non_commercial"}
    assert groups["Open_Clin_Sci_2016_99000006.nxml"] == {"commercial"}
    assert {r["language"] for r in by_file["Rev_Exemple_Pneumol_2018_99000005.nxml"]} == {"fr"}
    assert {r["language"] for r in by_file["Dtsch_Beispiel_Med_Wochenschr_2022_99000015.nxml"]} == {"de"}
    assert {r["language"] for r in by_file["Rev_Casos_Clin_2020_99000012.nxml"]} == {"es"}
    horton = {r["path"]: r for r in by_file["Cas_Clin_Med_Interne_2019_99000002.nxml"]}
    assert horton["sec[0]/p[0]"]["language"] == "fr"
    assert horton["trans-abstract[0]/p[0]"]["language"] == "en"  # the English abstract of a French article

    saved = yaml.safe_load((sample_extract / "config.yaml").read_text())
    assert saved["min_tokens"] == 64 and saved["executor"]["kind"] == "local"
    summary = json.loads((sample_extract / "summary.json").read_text())
    assert summary["paragraphs_written"] == len(rows)
    assert summary["paragraphs_read"] == len(rows) + summary["dropped"]["too_short"]
    assert summary["files_failed"] == 0 and summary["articles"] == 15


def _article(name: str) -> bytes:
    return (SAMPLE / name).read_bytes()


def _package(path: Path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as package:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            package.addfile(info, io.BytesIO(data))


@pytest.fixture
def messy_input(tmp_path):
    """A folder mixing good articles, a bulk package, and every kind of bad input."""
    root = tmp_path / "input"
    (root / "loose").mkdir(parents=True)
    shutil.copy(SAMPLE / "Cardiol_Case_J_2021_99000001.nxml", root / "loose")
    shutil.copy(SAMPLE / "Open_Clin_Sci_2016_99000006.nxml", root / "loose" / "editorial.xml")
    good = _article("Neurodegener_Rev_2020_99000004.nxml")
    (root / "loose" / "malformed.xml").write_bytes(good.replace(b"</sec>", b"</section>", 1))
    (root / "loose" / "truncated.nxml").write_bytes(good[: len(good) // 2])
    latin1 = _article("Rev_Exemple_Pneumol_2018_99000005.nxml").replace("é".encode(), b"\xe9", 1)
    (root / "loose" / "latin1.nxml").write_bytes(latin1)
    no_body = good.split(b"<body>")[0] + good.split(b"</body>")[1]
    (root / "loose" / "no_body.nxml").write_bytes(no_body)
    no_pmcid = _article("Nephrol_Case_Rep_2017_99000008.nxml").replace(b'pub-id-type="pmc"', b'pub-id-type="other"')
    (root / "loose" / "no_pmcid.nxml").write_bytes(no_pmcid)
    odd = _article("Cell_Mol_Hepatol_2021_99000014.nxml")
    start, end = odd.index(b"<license"), odd.index(b"</license>") + len(b"</license>")
    publisher = b'<license license-type="open-access"><license-p>Reuse per publisher terms.</license-p></license>'
    (root / "loose" / "odd_license.nxml").write_bytes(odd[:start] + publisher + odd[end:])
    members = {
        "PMC0099xxxxx/PMC99000003.nxml": _article("J_Clin_Infect_Res_2022_99000003.nxml"),
        "PMC0099xxxxx/PMC99000010.nxml": _article("Comput_Epidemiol_2019_99000010.nxml"),
        "PMC0099xxxxx/README.txt": b"not an article",
    }
    _package(root / "oa_comm_xml.PMC0099xxxxx.baseline.tar.gz", members)
    whole = root / "broken.tar.gz"
    names = sorted(path.name for path in SAMPLE.glob("*.nxml"))
    # other ids than the loose articles': two copies of one article are kept once (test_reliability_runs)
    copies = {
        f"PMC0099xxxxx/copy{i}.nxml": _article(name).replace(b"99000", b"98000").replace(b"39000", b"38000")
        for i, name in enumerate(names)
    }
    _package(whole, copies)
    whole.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    return root


def test_bad_input_is_recorded_and_the_run_goes_on(messy_input, tmp_path):
    out = tmp_path / "out"
    summary = run_extract(ExtractConfig(inputs=[str(messy_input)], output_dir=str(out)))
    errors = [json.loads(line) for line in (out / "errors.jsonl").read_text().splitlines()]
    reasons = {Path(e["file"].split("::")[0]).name: e["reason"] for e in errors}
    assert reasons == {
        "malformed.xml": "malformed_xml",
        "truncated.nxml": "truncated_xml",
        "latin1.nxml": "bad_encoding",
        "no_body.nxml": "no_body",
        "no_pmcid.nxml": "no_pmcid",
        "odd_license.nxml": "unknown_license",
        "broken.tar.gz": "corrupt_package",
    }
    assert summary.skipped == {reason: 1 for reason in reasons.values()}
    assert summary.files_failed == 7
    rows = _rows(out)
    files = {r["file"] for r in rows}
    # loose files are named relative to the input root, package members by their member name
    assert {"loose/Cardiol_Case_J_2021_99000001.nxml", "loose/editorial.xml"} <= files
    assert {"PMC0099xxxxx/PMC99000003.nxml", "PMC0099xxxxx/PMC99000010.nxml"} <= files
    # the corrupt package's articles read before the damage are kept, not lost
    assert any(f.startswith("PMC0099xxxxx/copy") for f in files)
    assert "Error" not in summary.render() and "skipped 7" in summary.render()


def test_file_list_licence_and_pmid_win(tmp_path):
    articles = tmp_path / "articles"
    articles.mkdir()
    shutil.copy(SAMPLE / "Dev_Regen_Biol_2024_99000009.nxml", articles)  # CC BY, no PMID in the XML
    file_list = tmp_path / "oa_file_list.csv"
    file_list.write_text(
        "File,Article Citation,Accession ID,Last Updated (YYYY-MM-DD HH:MM:SS),PMID,License\n"
        "oa_package/00/00/PMC99000009.tar.gz,Dev Regen Biol. 2024,PMC99000009,2024-01-01 00:00:00,31415926,CC BY-NC\n"
    )
    out = tmp_path / "out"
    run_extract(ExtractConfig(inputs=[str(articles)], output_dir=str(out), file_list=str(file_list)))
    rows = _rows(out)
    assert {(r["article_id"], r["pmid"], r["license"], r["license_group"]) for r in rows} == {
        ("31415926", "31415926", "CC BY-NC", "non_commercial")
    }


def test_bad_file_list_and_inputs_are_one_line_errors(tmp_path):
    bad_csv = tmp_path / "list.csv"
    bad_csv.write_text("File,PMCID,License\nx,PMC1,CC BY\n")
    with pytest.raises(BiomedError, match=r"list.csv:1: missing column\(s\) Accession ID, PMID"):
        run_extract(ExtractConfig(inputs=[str(SAMPLE)], output_dir=str(tmp_path / "o"), file_list=str(bad_csv)))
    with pytest.raises(BiomedError, match="does not exist"):
        run_extract(ExtractConfig(inputs=[str(tmp_path / "nowhere")], output_dir=str(tmp_path / "o")))
    (tmp_path / "empty").mkdir()
    with pytest.raises(BiomedError, match="no .xml/.nxml articles"):
        run_extract(ExtractConfig(inputs=[str(tmp_path / "empty")], output_dir=str(tmp_path / "o")))


def test_publisher_files_keyed_by_doi_when_allowed(shared_pmc, tmp_path):
    out = tmp_path / "out"
    cfg = ExtractConfig(inputs=[str(shared_pmc / "elife")], output_dir=str(out), require_pmcid=False)
    summary = run_extract(cfg)
    assert summary.skipped == {"no_body": 1}  # the publish-ahead-of-print record
    rows = _rows(out)
    assert {r["article_id"] for r in rows if r["file"] == "elife00270.xml"} == {"doi:10.7554/eLife.00270"}
    # with the default, the same files are skipped for lacking a PMCID, each with its reason
    strict = run_extract(ExtractConfig(inputs=[str(shared_pmc / "elife")], output_dir=str(tmp_path / "strict")))
    assert strict.skipped == {"no_pmcid": 11, "no_body": 1}
    assert strict.paragraphs_written == 0


def test_real_articles_licence_groups(shared_pmc, tmp_path):
    out = tmp_path / "out"
    run_extract(ExtractConfig(inputs=[str(shared_pmc / "pmc")], output_dir=str(out), min_tokens=0))
    groups = {r["file"]: (r["license"], r["license_group"]) for r in _rows(out)}
    assert groups == {
        "1471-2180-11-174.nxml": ("CC BY 2.0", "commercial"),
        "6605965a.nxml": ("copyright", "other"),
        "ehp-116-1694.nxml": ("public domain", "commercial"),
        "mds526.nxml": ("CC BY-NC 3.0", "non_commercial"),
        "pntd.0002065.nxml": ("CC BY", "commercial"),
        "pone.0046493.nxml": ("CC BY", "commercial"),
    }
    assert len(_rows(out)) == 43 + 15 + 38 + 29 + 29 + 35  # min_tokens=0 keeps every paragraph


def test_killed_run_resumes_missing_shards_only(tmp_path):
    executor = ExecutorConfig(tasks=3, workers=1)
    clean = tmp_path / "clean"
    run_extract(ExtractConfig(inputs=[str(SAMPLE)], output_dir=str(clean), executor=executor))
    expected = sorted((r["article_id"], r["path"], r["text"]) for r in _rows(clean))

    out = tmp_path / "out"
    cfg = ExtractConfig(inputs=[str(SAMPLE)], output_dir=str(out), executor=executor)
    run_extract(cfg)
    # what a kill during task 1 leaves: no completion marker, a half-written shard
    (out / "done" / "00001.json").unlink()
    shard = next((out / "data").glob("*_00001.parquet"))
    shard.write_bytes(shard.read_bytes()[:100])
    untouched = {p.name: p.stat().st_mtime_ns for p in (out / "data").glob("*.parquet") if p != shard}
    run_extract(cfg)
    assert sorted((r["article_id"], r["path"], r["text"]) for r in _rows(out)) == expected
    assert {p.name: p.stat().st_mtime_ns for p in (out / "data").glob("*.parquet") if p != shard} == untouched


def test_rerun_with_other_output_settings_is_refused_but_more_workers_resume(tmp_path):
    out = tmp_path / "out"
    run_extract(ExtractConfig(inputs=[str(SAMPLE)], output_dir=str(out), executor=ExecutorConfig(tasks=2)))
    with pytest.raises(BiomedError, match=r"another min_tokens \(64 there, 10 now\).*--overwrite"):
        run_extract(ExtractConfig(inputs=[str(SAMPLE)], output_dir=str(out), min_tokens=10))
    resumed = run_extract(
        ExtractConfig(inputs=[str(SAMPLE)], output_dir=str(out), executor=ExecutorConfig(tasks=2, workers=2))
    )
    assert resumed.paragraphs_written == 130
    assert yaml.safe_load((out / "config.yaml").read_text())["executor"]["workers"] == 2
    # --overwrite starts afresh with the new settings
    again = run_extract(ExtractConfig(inputs=[str(SAMPLE)], output_dir=str(out), min_tokens=10), overwrite=True)
    assert again.paragraphs_written > 130 and len(_rows(out)) == again.paragraphs_written


def test_a_task_splits_its_output_into_bounded_shards(sample_extract, tmp_path):
    out = tmp_path / "out"
    # one byte: every shard is full after its first article, so each article gets its own shard
    run_extract(ExtractConfig(output_dir=str(out), max_shard_bytes=1, executor=ExecutorConfig(tasks=1)))
    shards = sorted((out / "data").glob("*.parquet"))
    articles = [set(pq.read_table(shard, columns=["article_id"]).column("article_id").to_pylist()) for shard in shards]
    assert len(shards) == 15 and all(len(ids) == 1 for ids in articles) and len(set.union(*articles)) == 15
    key = sorted((r["article_id"], r["path"], r["text"]) for r in _rows(out))
    assert key == sorted((r["article_id"], r["path"], r["text"]) for r in _rows(sample_extract))

    # resuming with another shard size would mix two splits: refused, naming the setting
    with pytest.raises(BiomedError, match=r"another max_shard_bytes \(1 there"):
        run_extract(ExtractConfig(output_dir=str(out), executor=ExecutorConfig(tasks=1)))
    with pytest.raises(ConfigError, match="max_shard_bytes must be >= 0"):
        resolve_config(ExtractConfig, options={"max_shard_bytes": -1})


def test_two_workers_give_the_same_rows_as_one(sample_extract, tmp_path):
    out = tmp_path / "out"
    run_extract(ExtractConfig(output_dir=str(out), executor=ExecutorConfig(tasks=4, workers=2)))
    key = sorted((r["article_id"], r["path"], r["text"], r["language"]) for r in _rows(out))
    assert key == sorted((r["article_id"], r["path"], r["text"], r["language"]) for r in _rows(sample_extract))
    assert len(list((out / "data").glob("*.parquet"))) == 4


def test_cluster_executors_are_wired_from_the_config(tmp_path):
    cfg = resolve_config(
        ExtractConfig,
        overrides=["executor.kind=slurm", "executor.partition=cpu", "executor.tasks=64", "executor.workers=16",
                   "executor.sbatch_args={account: bio}", "executor.time=02:00:00"],
    )  # fmt: skip
    from datatrove.executor import SlurmPipelineExecutor

    slurm = build_executor(cfg.executor, [], tmp_path / "logs")
    assert isinstance(slurm, SlurmPipelineExecutor)  # the kit's subclass, which records every array's job id
    assert (slurm.tasks, slurm.workers, slurm.partition, slurm.time) == (64, 16, "cpu", "02:00:00")
    with pytest.raises(BiomedError, match="partition"):
        build_executor(ExecutorConfig(kind="slurm"), [], tmp_path / "logs")
    ray = build_executor(ExecutorConfig(kind="ray", tasks=8, workers=2, cpus_per_task=2), [], tmp_path / "logs")
    assert type(ray).__name__ == "RayPipelineExecutor"
    assert (ray.tasks, ray.workers, ray.cpus_per_task) == (8, 2, 2)


def test_real_kill_then_rerun_loses_and_duplicates_nothing(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    corpus = tmp_path / "corpus"
    for copy in range(12):
        target = corpus / f"batch{copy:02d}"
        target.mkdir(parents=True)
        for path in SAMPLE.glob("*.nxml"):
            data = path.read_bytes()  # distinct PMCIDs and PMIDs per copy
            data = data.replace(b"99000", f"9{copy:02d}00".encode()).replace(b"39000", f"3{copy:02d}00".encode())
            (target / path.name).write_bytes(data)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "biomed.cli", "data", "extract", str(corpus), "--out", str(out), "--tasks", "24"]
    marker = f"{os.getpid()}-{time.time_ns()}"  # found in the environment of every process of the run
    env = {**os.environ, "BIOMED_KILL_TEST": marker}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    completions = out / "done"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (completions.exists() and any(completions.glob("*.json"))):
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    if Path("/proc/self/environ").exists():  # nothing of the killed run is left running (Linux)
        left = [p for p in Path("/proc").glob("[0-9]*") if _environ_has(p, f"BIOMED_KILL_TEST={marker}")]
        for pid in left:
            os.kill(int(pid.name), signal.SIGKILL)
        assert not left, "processes of the killed run were left running"
    done_at_kill = len(list(completions.glob("*.json")))
    assert 0 < done_at_kill < 24, "the kill must land mid-run"

    assert subprocess.run(command, capture_output=True).returncode == 0
    rows = _rows(out)
    keys = [(r["article_id"], r["path"]) for r in rows]
    assert len(keys) == len(set(keys)) == 12 * 130


def _environ_has(proc: Path, entry: str) -> bool:
    try:
        return entry.encode() in (proc / "environ").read_bytes().split(b"\0")
    except OSError:
        return False


def test_token_counts_follow_the_script():
    from biomed.dataset_builder.extract.rows import count_tokens

    assert count_tokens("the cat sat", 3) == 3
    assert count_tokens("le café ±2 µg", 4) == 4  # accents and symbols are not scripts without spaces
    assert count_tokens("患者因急性胸痛入院 ok", 2) == 2 + 9  # each Han character counts
    assert count_tokens("ผู้ป่วย", 1) == 1 + 7  # Thai
