"""Throughput of `biomed data annotate` against a fake LLM server with fixed latency L and C parallel slots.

    .venv/bin/python bench/annotate.py                      # L = 200 ms, C = 64 (the issue's target setting)
    .venv/bin/python bench/annotate.py --latency 0.5 --slots 128 --rounds 10

Both sides run the real pipeline, `run_annotate` (sampling, prompt rendering, huggingface_hub's
AsyncInferenceClient, answer checks, cache appends, Parquet output), on the same synthetic extraction:

1. the concurrent client (`max_concurrency = C`) against C slots: achieved requests/s versus the ideal C / L;
2. the baseline, a one-request-at-a-time client (`max_concurrency = 1`): ideal 1 / L;
3. client CPU time per request with L = 0 (the server answers at once), from this process's CPU clock: how many
   requests per second one core can drive.

The fake server (tests/dataset_builder/fake_llm_server.py, test code, started by file path) runs in its own process
so that its CPU time is not counted as the client's. Timings vary with the machine's load: the load average is
printed with the figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


# huggingface_hub reads this at import: no "agent harness" registry fetch from the Hub during the bench.
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
# A token, as with any real endpoint: without one, huggingface_hub looks for a stored login at every request.
os.environ.setdefault("HF_TOKEN", "hf_bench_not_a_real_token")

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from biomed.config import resolve_config  # noqa: E402
from biomed.dataset_builder.annotate.stage import AnnotateConfig, run_annotate  # noqa: E402


SERVER = Path(__file__).resolve().parents[1] / "tests" / "dataset_builder" / "fake_llm_server.py"


def write_extraction(folder: Path, n: int) -> Path:
    """``n`` paragraphs of about 120 words with the extraction columns the annotator reads."""
    words = "hepatic stellate cells activate after injury and deposit collagen in the space of Disse ".split()
    rows = {
        "article_id": [f"B{i // 8:06d}" for i in range(n)],
        "path": [f"sec[{i % 8}]/p[0]" for i in range(n)],
        "section": ["Results > Fibrosis"] * n,
        "text": [f"PARA-{i:06d} " + " ".join(words[(i + k) % len(words)] for k in range(120)) for i in range(n)],
        "license_group": ["commercial"] * n,
        "article_type": ["research-article"] * n,
        "language": ["en"] * n,
    }
    (folder / "data").mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(rows), folder / "data" / "000_00000.parquet")
    return folder


class FakeServerProcess:
    """The fake server in a child process; ``url`` once it listens."""

    def __init__(self, latency_s: float, slots: int):
        command = [sys.executable, str(SERVER), "--latency", str(latency_s), "--slots", str(slots)]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        self.url = f"http://127.0.0.1:{int(self.process.stdout.readline().split()[1])}"

    def __enter__(self) -> FakeServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.kill()
        self.process.wait()


def annotate(extracted: Path, out: Path, url: str, n: int, concurrency: int):
    """One run of the real pipeline; returns (summary, client CPU seconds)."""
    cfg = resolve_config(
        AnnotateConfig,
        options={
            "input_dir": str(extracted),
            "output_dir": str(out),
            "sample.n": n,
            "client.endpoint": url,
            "client.max_concurrency": concurrency,
        },
    )
    cpu = time.process_time()
    summary = run_annotate(cfg, progress=False)
    return summary, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.2, help="seconds each request holds a server slot (L)")
    parser.add_argument("--slots", type=int, default=64, help="server slots and client concurrency (C)")
    parser.add_argument("--rounds", type=int, default=40, help="concurrent run: C x rounds requests")
    parser.add_argument("--serial", type=int, default=15, help="requests of the one-at-a-time run")
    parser.add_argument("--cpu-requests", type=int, default=3000, help="requests of the CPU run (L = 0)")
    parser.add_argument("--repeat", type=int, default=3, help="concurrent runs (the median is reported)")
    args = parser.parse_args()
    latency, slots = args.latency, args.slots
    n = slots * args.rounds

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        extracted = write_extraction(tmp / "extracted", max(n, args.serial, args.cpu_requests))
        with FakeServerProcess(latency, slots) as server:
            annotate(extracted, tmp / "warmup", server.url, slots, slots)  # connections, imports, first-call costs
            runs = [annotate(extracted, tmp / f"concurrent{k}", server.url, n, slots)[0] for k in range(args.repeat)]
            serial, _ = annotate(extracted, tmp / "serial", server.url, args.serial, 1)
        with FakeServerProcess(0.0, slots) as server:
            annotate(extracted, tmp / "cpu-warmup", server.url, slots, slots)
            fast, cpu = annotate(extracted, tmp / "cpu", server.url, args.cpu_requests, slots)

    ideal = slots / latency
    rates = sorted(run.n_requested / run.request_seconds for run in runs)
    rate = statistics.median(rates)
    serial_rate = serial.n_requested / serial.request_seconds
    cpu_ms = 1000 * cpu / fast.n_requested
    assert all(run.n_failed == 0 for run in (*runs, serial, fast)), "the fake server should never fail here"
    print(f"fake LLM server: L = {latency * 1000:.0f} ms per request, C = {slots} slots (separate process); "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")  # fmt: skip
    print(f"concurrent client (max_concurrency={slots}), {len(runs)} runs of {n} requests: median {rate:.1f} req/s "
          f"(runs: {', '.join(f'{r:.1f}' for r in rates)}); ideal C/L = {ideal:.1f} req/s; "
          f"ratio {rate / ideal:.3f} (target >= 0.90)")  # fmt: skip
    print(f"one-request-at-a-time client (max_concurrency=1): {serial.n_requested} requests in "
          f"{serial.request_seconds:.2f} s = {serial_rate:.2f} req/s; ideal 1/L = {1 / latency:.2f} req/s; "
          f"ratio {serial_rate * latency:.3f}")  # fmt: skip
    print(f"concurrent / one-at-a-time: {rate / serial_rate:.1f}x")
    print(f"client CPU per request (L = 0, {fast.n_requested} requests, whole pipeline): {cpu_ms:.2f} ms "
          f"-> one core drives {1000 / cpu_ms:.0f} req/s (target >= 500); wall rate at L = 0: "
          f"{fast.n_requested / fast.request_seconds:.0f} req/s")  # fmt: skip


if __name__ == "__main__":
    main()
