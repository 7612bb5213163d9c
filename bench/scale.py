"""A scale rehearsal: 0.1 %, 0.3 % and 1 % of PMC-OA through every data stage, with cost curves and a projection.

Run from the repository root::

    python bench/scale.py                      # 4,500, 13,500 and 45,000 articles (about 30 min on 2 cores)
    python bench/scale.py --articles 2000 20000
    python bench/scale.py --smoke              # 150 and 300 articles, untrained classifier: what the tests run
    python bench/scale.py --report bench-scale/scale.json   # print and redraw a saved run

The corpus is synthesized from the embedded sample: each article is one of its 15 real articles with a new PMCID
and PMID, and its paragraphs' words varied (each text node's words shuffled in small windows, some paragraphs cut
short), so that language identification (the sample holds English, French, Spanish and German articles), the
64-token filter and the classifier's article-level votes meet text that differs from article to article as on real
data. Licences are drawn in the proportions of PMC-OA's three package groups and recorded in the OA file list;
articles are packed, 500 to a package, as the ``oa_comm`` / ``oa_noncomm`` / ``oa_other`` bulk ``.tar.gz``
packages PMC ships.

Every stage then runs as a user runs it, one ``python -m biomed.cli`` process each, on all cores (``--workers``):
``data extract`` of the packages → ``data classify score`` with the demo's tiny classifier (trained once on the
sample's gold labels, not timed) → ``data build`` → ``data rehydrate`` from the same packages → ``push-dataset``
to the local Hub server of ``tests/local_hub`` (in this process).

Measured per stage and size: wall time; CPU time of the stage's process and every process it started (what
``wait4`` reports), hence paragraphs per second per core; peak RSS of its largest process and of all its
processes together (sampled from ``/proc``); bytes and files written; the bytes of its manifest
(``OUT/.biomed``) and of its indexes (done markers, the rehydration index). Printed as one table, written as JSON
and drawn as cost curves; the costs per paragraph are then projected to PMC-OA's 4.5M articles (about 140M
paragraphs read: the paper's 133-146M, section 3.1) in core-hours and in wall time on one 64-core node.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import multiprocessing
import os
import random
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from lxml import etree


REPO = Path(__file__).resolve().parents[1]
DEFAULT_SIZES = (4_500, 13_500, 45_000)  # 0.1 %, 0.3 % and 1 % of PMC-OA's 4.5M articles
SMOKE_SIZES = (150, 300)
PMC_OA_ARTICLES = 4_500_000
PARAGRAPHS_PER_ARTICLE = 31  # the paper's 133-146M paragraphs over 4.5M articles
NODE_CORES = 64
ARTICLES_PER_PACKAGE = 500
# The licence mix of PMC-OA's bulk packages (oa_comm / oa_noncomm / oa_other), rounded; within each group, the
# licences the file list names, with their rough weights.
LICENSE_GROUPS = {
    "comm": (0.60, (("CC BY", 0.85), ("CC0", 0.10), ("CC BY-SA", 0.05))),
    "noncomm": (0.30, (("CC BY-NC", 0.40), ("CC BY-NC-ND", 0.45), ("CC BY-NC-SA", 0.15))),
    "other": (0.10, (("NO-CC CODE", 1.0),)),
}
STAGES = ("extract", "score", "build", "rehydrate", "push")
FIRST_PMCID, FIRST_PMID = 20_000_000, 50_000_000


# ------------------------------------------------------------------------------------------------------ corpus
@dataclass
class Corpus:
    articles: int
    packages: Path
    file_list: Path
    input_bytes: int
    package_count: int


def synthesize(articles: int, folder: Path, workers: int, seed: int = 0) -> Corpus:
    """Write ``articles`` varied copies of the sample's articles as PMC-style bulk packages, with the file list."""
    rng = random.Random(seed)
    groups = list(LICENSE_GROUPS)
    weights = [LICENSE_GROUPS[g][0] for g in groups]
    by_group: dict[str, list[int]] = {g: [] for g in groups}
    licences = {}
    for i in range(articles):
        group = rng.choices(groups, weights)[0]
        names, shares = zip(*LICENSE_GROUPS[group][1], strict=True)
        licences[i] = rng.choices(names, shares)[0]
        by_group[group].append(i)
    packages = folder / "packages"
    jobs = []
    for group, indices in by_group.items():
        for start in range(0, len(indices), ARTICLES_PER_PACKAGE):
            chunk = indices[start : start + ARTICLES_PER_PACKAGE]
            first, last = FIRST_PMCID + chunk[0], FIRST_PMCID + chunk[-1]
            name = f"oa_{group}_xml.PMC{first}-PMC{last}.baseline.2024-12-18.tar.gz"
            jobs.append((packages / f"oa_{group}" / "xml" / name, chunk, seed))
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        pool.map(_write_package, jobs)
    lines = ["File,Article Citation,Accession ID,Last Updated (YYYY-MM-DD HH:MM:SS),PMID,License"]
    for i in range(articles):
        pmcid = f"PMC{FIRST_PMCID + i}"
        lines.append(f"oa_package/{pmcid}.tar.gz,Synthetic,{pmcid},2024-12-18 00:00:00,{FIRST_PMID + i},{licences[i]}")
    file_list = folder / "oa_file_list.csv"
    file_list.write_text("\n".join(lines) + "\n", encoding="utf-8")
    size = sum(p.stat().st_size for p in packages.rglob("*.tar.gz"))
    return Corpus(articles, packages, file_list, size, len(jobs))


def _write_package(job: tuple[Path, list[int], int]) -> None:
    from biomed.dataset_builder.extract.stage import embedded_sample_dir

    target, chunk, seed = job
    templates = [etree.fromstring(p.read_bytes()) for p in sorted((embedded_sample_dir() / "articles").glob("*.nxml"))]
    rng = random.Random(seed * 1_000_003 + chunk[0])  # each package its own draws: the same whatever the workers
    target.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(target, "w:gz", compresslevel=6) as tar:
        for i in chunk:
            pmcid, pmid = f"PMC{FIRST_PMCID + i}", str(FIRST_PMID + i)
            data = vary_article(templates[i % len(templates)], pmcid, pmid, rng)
            member = tarfile.TarInfo(f"PMC{(FIRST_PMCID + i) // 1_000_000:03d}xxxxxx/{pmcid}.xml")
            member.size, member.mtime = len(data), 1_734_480_000
            tar.addfile(member, io.BytesIO(data))


_ID_TYPES = {"pmc": "pmcid", "pmcid": "pmcid", "pmid": "pmid"}


def vary_article(template: etree._Element, pmcid: str, pmid: str, rng: random.Random) -> bytes:
    """One copy of ``template`` with new identifiers and its paragraphs' words varied (markup kept)."""
    root = etree.fromstring(etree.tostring(template))
    meta = root.find("front/article-meta")
    ids = {"pmcid": pmcid, "pmid": pmid}
    for element in meta.iterfind("article-id"):
        kind = _ID_TYPES.get(element.get("pub-id-type"))
        if kind:
            element.text = ids[kind].removeprefix("PMC") if element.get("pub-id-type") == "pmc" else ids[kind]
    for paragraph in root.iter("p"):
        cut = rng.random() < 0.2  # a fifth of paragraphs cut to 30-90 % of their words: some fall under 64 tokens
        keep = rng.uniform(0.3, 0.9) if cut else 1.0
        for node in (paragraph, *paragraph.iterdescendants()):
            if node.text and node.tag not in ("tex-math",) and not isinstance(node, etree._Comment):
                node.text = _vary(node.text, rng, keep)
            if node is not paragraph and node.tail:
                node.tail = _vary(node.tail, rng, keep)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _vary(text: str, rng: random.Random, keep: float) -> str:
    words = text.split(" ")
    if len(words) < 4:
        return text
    if keep < 1.0:
        words = words[: max(2, int(len(words) * keep))]
    # shuffle within windows of 4 words: the text keeps its language and rough word statistics, not its sentences
    for start in range(1, len(words) - 1, 4):
        window = words[start : start + 4]
        rng.shuffle(window)
        words[start : start + 4] = window
    return " ".join(words)


# -------------------------------------------------------------------------------------------------- measuring
@dataclass
class StageRun:
    stage: str
    articles: int
    paragraphs: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0
    peak_rss_mb: float = 0.0  # the largest single process
    peak_tree_rss_mb: float = 0.0  # all the stage's processes together (sampled)
    bytes_written: int = 0
    files_written: int = 0
    manifest_bytes: int = 0
    index_bytes: int = 0
    input_bytes: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def paragraphs_per_core_s(self) -> float:
        return self.paragraphs / self.cpu_s if self.cpu_s else 0.0


class TreeRssSampler:
    """Samples the summed RSS of a process and all its descendants from ``/proc`` until stopped."""

    def __init__(self, pid: int, interval: float = 0.2):
        self.pid, self.interval, self.peak = pid, interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        page = os.sysconf("SC_PAGE_SIZE")
        while not self._stop.is_set():
            parents: dict[int, int] = {}
            rss: dict[int, int] = {}
            for entry in os.listdir("/proc"):
                if not entry.isdigit():
                    continue
                try:
                    with open(f"/proc/{entry}/stat", "rb") as handle:
                        fields = handle.read().rsplit(b")", 1)[1].split()
                except OSError:
                    continue
                parents[int(entry)] = int(fields[1])
                rss[int(entry)] = int(fields[21]) * page
            tree, frontier = {self.pid}, [self.pid]
            while frontier:
                parent = frontier.pop()
                children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
                tree.update(children)
                frontier.extend(children)
            tree.discard(self.pid)  # the launcher
            self.peak = max(self.peak, sum(rss.get(pid, 0) for pid in tree))
            self._stop.wait(self.interval)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


# Runs the stage and reports the resource use of it and of every process it waited for. A small launcher of its own,
# because the kernel counts into a child's peak RSS the pages it shared with its parent before exec: started from
# this (large) process, every stage would seem to need at least this process's memory.
_LAUNCHER = (
    "import json, resource, subprocess, sys; code = subprocess.call(sys.argv[2:]); "
    "u = resource.getrusage(resource.RUSAGE_CHILDREN); "
    "open(sys.argv[1], 'w').write(json.dumps([u.ru_utime + u.ru_stime, u.ru_maxrss])); sys.exit(code)"
)


def run_cli(args: list[str], env: dict[str, str], log: Path) -> tuple[float, float, float, float]:
    """Run ``python -m biomed.cli ARGS``; return (wall s, CPU s of its whole tree, peak RSS MB, tree peak MB)."""
    command = [sys.executable, "-m", "biomed.cli", *args]
    usage = log.with_suffix(".usage.json")
    started = time.perf_counter()
    with open(log, "ab") as out:
        out.write(f"$ {' '.join(command)}\n".encode())
        out.flush()
        launcher = subprocess.Popen(
            [sys.executable, "-c", _LAUNCHER, str(usage), *command], stdout=out, stderr=subprocess.STDOUT, env=env,
            cwd=log.parent,
        )  # fmt: skip
        sampler = TreeRssSampler(launcher.pid)
        code = launcher.wait()
    wall = time.perf_counter() - started
    tree_peak = sampler.stop()
    if code != 0:
        raise SystemExit(f"{' '.join(args[:3])} failed with exit code {code}; see {log}")
    cpu, max_rss_kib = json.loads(usage.read_text())
    return wall, cpu, max_rss_kib / 1024, tree_peak / 2**20


INDEX_PARTS = ("done", "index", "fill")  # the stages' done markers and rehydrate's index and fill folders


def folder_usage(folder: Path) -> tuple[int, int, int, int]:
    """(bytes, files, manifest bytes, index bytes: under ``INDEX_PARTS``) of everything under ``folder``."""
    size = files = manifest = index = 0
    for path in folder.rglob("*"):
        if not path.is_file():
            continue
        length = path.stat().st_size
        size, files = size + length, files + 1
        parts = path.relative_to(folder).parts
        if parts[0] == ".biomed":
            manifest += length
        elif any(part in INDEX_PARTS for part in parts[:-1]) or parts[-1] in INDEX_PARTS:
            index += length
    return size, files, manifest, index


# ------------------------------------------------------------------------------------------------------ stages
def prepare_classifier(work: Path, trained: bool = True) -> Path:
    """The demo's tiny classifier, trained once on the sample's gold labels (not part of what is measured).

    ``trained=False`` (``--smoke``) saves it untrained instead: scoring costs the same, its labels are noise.
    """
    from biomed.dataset_builder.annotate.stage import annotate_from_gold
    from biomed.dataset_builder.classify.train import ClassifyTrainConfig, build_model
    from biomed.dataset_builder.extract.stage import ExtractConfig, run_extract
    from biomed.demo import train_demo_classifier
    from biomed.tiny import save_tiny_model

    folder = work / "classifier"
    checkpoint = folder / "classifier"
    if (checkpoint / "config.json").is_file():
        return checkpoint
    extracted = folder / "extracted"
    run_extract(ExtractConfig(output_dir=str(extracted)), overwrite=True, progress=False)
    if trained:
        annotate_from_gold(extracted, folder / "annotated")
        return train_demo_classifier(folder / "annotated" / "annotations.parquet", extracted, folder)
    import pyarrow.parquet as pq

    texts = pq.read_table(extracted / "data").column("text").to_pylist()
    backbone = save_tiny_model(texts, folder / "backbone", "xlm-roberta", mlm_head=False)
    tokenizer, model = build_model(ClassifyTrainConfig(backbone=str(backbone), max_length=256), "untrained-tiny")
    model.save_pretrained(str(checkpoint))
    tokenizer.save_pretrained(str(checkpoint))
    return checkpoint


def run_size(articles: int, work: Path, classifier: Path, workers: int, hub) -> list[StageRun]:
    folder = work / f"n{articles}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    started = time.perf_counter()
    corpus = synthesize(articles, folder / "corpus", workers)
    print(
        f"\n{articles:,} articles: {corpus.package_count} packages, {corpus.input_bytes / 1e6:.1f} MB "
        f"(synthesized in {time.perf_counter() - started:.0f}s)",
        flush=True,
    )
    # the Hub's settings (HF_ENDPOINT, HF_TOKEN, HF_HOME, ...) are in os.environ: serve_local_hub set them
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    env.update(BIOMED_LOG_LEVEL="WARNING", TOKENIZERS_PARALLELISM="false")
    log = folder / "stages.log"
    w = ["--workers", str(workers)]
    packages, file_list = str(corpus.packages), str(corpus.file_list)
    commands = {
        "extract": (["data", "extract", packages, "--file-list", file_list, "--out", "extracted", *w], "extracted"),
        "score": (
            [
                "data",
                "classify",
                "score",
                "extracted",
                "--classifier",
                str(classifier),
                "--out",
                "scored",
                "--device",
                "cpu",
                *w,
                "--set",
                "progress=false",
            ],
            "scored",
        ),  # fmt: skip
        "build": (["data", "build", "scored", "--out", "release", *w], "release"),
        "rehydrate": (
            [
                "data",
                "rehydrate",
                "release",
                "--pmc-xml",
                packages,
                "--file-list",
                file_list,
                "--out",
                "rehydrated",
                *w,
            ],
            "rehydrated",
        ),  # fmt: skip
        "push": (["push-dataset", "release", f"{hub.user}/scale-{articles}", "--yes", "--tag", "v1"], None),
    }
    runs = []
    paragraphs = 0
    input_bytes = corpus.input_bytes
    for stage in STAGES:
        args, output = commands[stage]
        own_cpu = time.process_time()  # push: the local Hub serving it runs in this process
        wall, cpu, peak, tree_peak = run_cli(args, env, log)
        run = StageRun(stage, articles, wall_s=wall, cpu_s=cpu, peak_rss_mb=peak, peak_tree_rss_mb=tree_peak)
        run.input_bytes = input_bytes
        if output:
            run.bytes_written, run.files_written, run.manifest_bytes, run.index_bytes = folder_usage(folder / output)
        if stage == "extract":
            summary = json.loads((folder / "extracted" / "summary.json").read_text())
            run.paragraphs = summary["paragraphs_read"]
            paragraphs = summary["paragraphs_written"]
            run.extra = {k: summary[k] for k in ("articles", "paragraphs_read", "paragraphs_written", "dropped")}
            run.extra["languages"] = dict(sorted(summary["languages"].items(), key=lambda kv: -kv[1])[:6])
            run.extra["skipped"] = summary["skipped"]
        else:
            run.paragraphs = paragraphs
        if stage == "build":
            summary = json.loads((folder / "release" / "build_summary.json").read_text())
            run.extra = {"configs": len(summary["configs"])}
        if stage == "rehydrate":
            report = json.loads((folder / "rehydrated" / "rehydrate_report.json").read_text())
            run.extra = {k: report[k] for k in ("rows", "filled", "rows_missing_text", "not_found") if k in report}
        if stage == "push":
            run.cpu_s += time.process_time() - own_cpu
            entries = [e for e in hub.api.list_repo_tree(f"{hub.user}/scale-{articles}", repo_type="dataset",
                                                          recursive=True) if hasattr(e, "size")]  # fmt: skip
            run.files_written, run.bytes_written = len(entries), sum(e.size for e in entries)
        input_bytes = run.bytes_written
        runs.append(run)
        print(
            f"  {stage:9s} {wall:7.1f}s wall {cpu:7.1f}s CPU  {run.paragraphs_per_core_s:8,.0f} par/s/core  "
            f"RSS {peak:6.0f} MB (all processes {tree_peak:6.0f} MB)  {run.files_written:5d} files "
            f"{run.bytes_written / 1e6:8.1f} MB  manifest {run.manifest_bytes:,} B  index {run.index_bytes:,} B",
            flush=True,
        )
    return runs


# ----------------------------------------------------------------------------------------------------- report
def slope(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares (slope, intercept) of ys against xs."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    var = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var if var else (my / mx if mx else 0.0)
    return b, my - b * mx


def projection(runs: list[StageRun], workers: int) -> list[dict]:
    """Core-hours and wall time on one 64-core node for PMC-OA, from each stage's cost per paragraph read."""
    out = []
    extract = sorted((r for r in runs if r.stage == "extract"), key=lambda r: r.articles)
    read = [r.paragraphs for r in extract]  # paragraphs read per size: the unit of the whole corpus' size
    target = PMC_OA_ARTICLES * PARAGRAPHS_PER_ARTICLE
    for stage in STAGES:
        rows = sorted((r for r in runs if r.stage == stage), key=lambda r: r.articles)
        cpu_slope, cpu_fixed = slope(read, [r.cpu_s for r in rows])
        wall_slope, _ = slope(read, [r.wall_s for r in rows])
        # a slope lost in the noise of a busy machine (tiny sizes): the average cost at the largest size instead
        cpu_slope = cpu_slope if cpu_slope > 0 else rows[-1].cpu_s / read[-1]
        wall_slope = wall_slope if wall_slope > 0 else rows[-1].wall_s / read[-1]
        core_s = cpu_slope * target + max(cpu_fixed, 0.0)
        # parallel efficiency as measured on this machine's cores; the push is bound by the network, not cores
        efficiency = min(1.0, sum(r.cpu_s for r in rows) / max(sum(r.wall_s for r in rows) * workers, 1e-9))
        node_s = wall_slope * target if stage == "push" else core_s / (NODE_CORES * max(efficiency, 0.05))
        out.append(
            {
                "stage": stage,
                "core_s_per_million_paragraphs": cpu_slope * 1e6,
                "core_hours": core_s / 3600,
                "node_hours_64_cores": node_s / 3600,
                "parallel_efficiency": efficiency,
            }
        )
    return out


def targets(runs: list[StageRun]) -> list[str]:
    lines = []
    sizes = sorted({r.articles for r in runs})
    small, large = sizes[0], sizes[-1]
    for stage in STAGES:
        a = next(r for r in runs if r.stage == stage and r.articles == small)
        b = next(r for r in runs if r.stage == stage and r.articles == large)
        cost = (b.cpu_s / b.paragraphs) / (a.cpu_s / a.paragraphs)
        rss = b.peak_rss_mb / a.peak_rss_mb
        grow = large / small
        manifest = (b.manifest_bytes / a.manifest_bytes) if a.manifest_bytes else 0.0
        index = (b.index_bytes / a.index_bytes) if a.index_bytes else 0.0
        inputs = b.input_bytes / a.input_bytes if a.input_bytes else grow
        ok = cost <= 1.2 and rss <= 1.2 and manifest <= inputs * 1.05 and index <= inputs * 1.05
        lines.append(
            f"  {stage:9s} cost/paragraph {cost:4.2f}x  peak RSS {rss:4.2f}x  manifest {manifest:5.2f}x  "
            f"index {index:5.2f}x  (input {inputs:5.2f}x)  {'met' if ok else 'NOT MET'}"
        )
    return lines


def table(runs: list[StageRun]) -> str:
    head = (
        "| articles | stage | paragraphs | wall s | CPU s | paragraphs/s/core | peak RSS MB (largest / all) | "
        "written MB | files | manifest B | index B |"
    )
    lines = [head, "|" + "---|" * 11]
    for r in sorted(runs, key=lambda r: (r.articles, STAGES.index(r.stage))):
        lines.append(
            f"| {r.articles:,} | {r.stage} | {r.paragraphs:,} | {r.wall_s:.1f} | {r.cpu_s:.1f} | "
            f"{r.paragraphs_per_core_s:,.0f} | {r.peak_rss_mb:,.0f} / {r.peak_tree_rss_mb:,.0f} | "
            f"{r.bytes_written / 1e6:,.1f} | {r.files_written:,} | {r.manifest_bytes:,} | {r.index_bytes:,} |"
        )
    return "\n".join(lines)


def plot(runs: list[StageRun], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (time_ax, rss_ax) = plt.subplots(1, 2, figsize=(11, 4.2))
    for stage in STAGES:
        rows = sorted((r for r in runs if r.stage == stage), key=lambda r: r.articles)
        x = [r.articles for r in rows]
        line = time_ax.plot(x, [r.cpu_s for r in rows], marker="o", label=stage)[0]
        # wall time, dashed: on a shared machine it says more about the neighbours than about the stage
        time_ax.plot(x, [r.wall_s for r in rows], linestyle="--", color=line.get_color(), alpha=0.5)
        rss_ax.plot(x, [r.peak_tree_rss_mb for r in rows], marker="o", label=stage)
    time_ax.set(xlabel="articles", ylabel="CPU s, all processes (wall: dashed)", title="Time against corpus size")
    rss_ax.set(xlabel="articles", ylabel="peak RSS, all processes (MB)", title="Memory against corpus size")
    for ax in (time_ax, rss_ax):
        ax.grid(alpha=0.3)
        ax.set_xlim(left=0)
        ax.set_ylim(bottom=0)
    time_ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, nargs="+", help="corpus sizes (default 4,500 13,500 45,000)")
    parser.add_argument("--smoke", action="store_true", help=f"sizes {SMOKE_SIZES}: a quick check")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--work", type=Path, help="working folder (default: a temporary one, removed)")
    parser.add_argument("--out", type=Path, default=Path("bench-scale"), help="where scale.json and scale.png go")
    parser.add_argument("--report", type=Path, help="print and draw the report of a saved scale.json, run nothing")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.report:
        saved = json.loads(args.report.read_text())
        fields = {f.name for f in dataclasses.fields(StageRun)}
        runs = [StageRun(**{k: v for k, v in run.items() if k in fields}) for run in saved["runs"]]
        report(runs, args.out, saved["workers"], saved["seconds"], saved["complete"])
        return 0
    sizes = sorted(args.articles or (SMOKE_SIZES if args.smoke else DEFAULT_SIZES))
    if len(sizes) < 2:
        parser.error("give at least two sizes: the cost curves and targets compare them")

    sys.path.insert(0, str(REPO / "tests"))
    from local_hub.fixture import serve_local_hub  # the test suite's Hub server, reused as the push target

    work = args.work or Path(tempfile.mkdtemp(prefix="biomed-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    try:
        # in a process of its own: this one stays small (no torch) and forks cheaply
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            classifier = pool.apply(prepare_classifier, (work, not args.smoke))
        runs: list[StageRun] = []
        for articles in sizes:
            # one per size: the in-memory store is dropped after each
            with serve_local_hub(work / f"n{articles}" / "hf_home") as hub:
                runs.extend(run_size(articles, work, classifier, args.workers, hub))
            if len({r.articles for r in runs}) > 1:  # a report after each size: a long run shows what it has
                report(runs, args.out, args.workers, time.perf_counter() - started, final=articles == sizes[-1])
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def report(runs: list[StageRun], out: Path, workers: int, seconds: float, final: bool) -> None:
    """Print the table, the targets and the projection; write ``scale.json`` and ``scale.png`` into ``out``."""
    sizes = sorted({r.articles for r in runs})
    print(f"\n{table(runs)}\n")
    print(f"Targets, {sizes[-1]:,} against {sizes[0]:,} articles (per paragraph CPU time, peak RSS of the largest "
          "process; manifest and index growth against input growth):")  # fmt: skip
    print("\n".join(targets(runs)))
    rows = projection(runs, workers)
    print(
        f"\nProjection to PMC-OA ({PMC_OA_ARTICLES / 1e6:.1f}M articles, "
        f"~{PMC_OA_ARTICLES * PARAGRAPHS_PER_ARTICLE / 1e6:.0f}M paragraphs read), from the measured slopes:"
    )
    for row in rows:
        print(
            f"  {row['stage']:9s} {row['core_s_per_million_paragraphs'] / 3600:7.2f} core-h per 1M paragraphs  "
            f"{row['core_hours']:9,.1f} core-hours  {row['node_hours_64_cores']:7,.2f} h on one 64-core node "
            f"(parallel efficiency here {row['parallel_efficiency']:.2f})"
        )
    total = sum(r["core_hours"] for r in rows), sum(r["node_hours_64_cores"] for r in rows)
    print(f"  {'total':9s} {'':31s}{total[0]:9,.1f} core-hours  {total[1]:7,.2f} h on one 64-core node")
    result = {
        "sizes": sizes,
        "complete": final,
        "workers": workers,
        "cpu_count": os.cpu_count(),
        "seconds": seconds,
        "runs": [{**asdict(r), "paragraphs_per_core_s": r.paragraphs_per_core_s} for r in runs],
        "projection": rows,
    }
    (out / "scale.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    plot(runs, out / "scale.png")
    print(f"\nWrote {out / 'scale.json'} and {out / 'scale.png'} after {seconds:.0f}s", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
