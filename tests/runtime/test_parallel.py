import os
import subprocess
import sys
import textwrap
import time

import pytest

from biomed.runtime.executors import ExecutorConfig
from biomed.runtime.parallel import map_processes, run_jobs


def square(x):
    if x == 13:
        raise ValueError("unlucky")
    return x * x


def pid_of(_):
    return os.getpid()


def write_marker(path):
    with open(path, "w") as handle:
        handle.write(str(os.getpid()))


def test_map_processes_keeps_order_reads_lazily_and_raises_worker_errors():
    read = []

    def jobs():
        for x in range(10):
            read.append(x)
            yield x

    results = map_processes(square, jobs(), workers=2)
    assert next(results) == 0
    assert len(read) <= 5  # at most 2 x workers in flight: a long stream is not read ahead
    assert list(results) == [x * x for x in range(1, 10)]
    assert set(map_processes(pid_of, range(4), workers=2)) != {os.getpid()}
    assert list(map_processes(pid_of, range(2), workers=1)) == [os.getpid()] * 2
    with pytest.raises(ValueError, match="unlucky"):
        list(map_processes(square, range(20), workers=2))


def test_run_jobs_local_and_cluster_wiring(tmp_path, monkeypatch):
    paths = [str(tmp_path / f"{i}.done") for i in range(3)]
    assert run_jobs(write_marker, paths, ExecutorConfig(workers=2), tmp_path / "logs", "marking", progress=False)
    assert all(os.path.exists(p) for p in paths)
    with pytest.raises(ValueError, match="executor.workers must be at least 1"):
        ExecutorConfig(workers=0)  # the config refuses it before anything runs (the CLI prints it in one line)
    built = []

    class FakeExecutor:
        def run(self):
            built[-1]["ran"] = True

    def fake_build(cfg, pipeline, logging_dir, job_name):
        built.append({"cfg": cfg, "pipeline": pipeline, "logs": logging_dir, "job_name": job_name})
        return FakeExecutor()

    monkeypatch.setattr("biomed.runtime.executors.build_executor", fake_build)
    slurm = ExecutorConfig(kind="slurm", partition="cpu", workers=8)
    assert run_jobs(write_marker, paths, slurm, tmp_path / "logs", "marking", job_name="biomed-x") is False
    (call,) = built
    assert call["cfg"].kind == "slurm" and call["cfg"].tasks == 3 and call["ran"] and call["job_name"] == "biomed-x"
    assert call["pipeline"][0].jobs == paths and call["logs"].parent == tmp_path / "logs"
    assert run_jobs(write_marker, paths, ExecutorConfig(kind="ray", tasks=2), tmp_path / "logs", "marking") is True
    assert built[-1]["cfg"].tasks == 2
    os.remove(paths[1])
    list(built[-1]["pipeline"][0].run(rank=1, world_size=2))  # task 1 of 2 runs job 1
    assert os.path.exists(paths[1])


def test_workers_die_with_their_parent(tmp_path):
    parent = textwrap.dedent(
        """
        import os, time
        from biomed.runtime.parallel import map_processes

        def nap(_):
            os.write(1, f"{os.getpid()}\\n".encode())  # one write: the two workers' lines never interleave
            time.sleep(120)

        if __name__ == "__main__":
            list(map_processes(nap, range(2), workers=2))
        """
    )
    script = tmp_path / "parent.py"
    script.write_text(parent)
    process = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    lines = [process.stdout.readline() for _ in range(2)]
    if not all(line.strip().isdigit() for line in lines):
        process.kill()
        pytest.fail(f"the parent printed {lines!r} then {process.communicate()[1][-2000:]}")
    workers = [int(line) for line in lines]
    process.kill()
    process.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(pid) for pid in workers):
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in workers)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False
