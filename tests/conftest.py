"""Shared fixtures: the local Hub (``local_hub``), the real articles, the extracted embedded sample, the Slurm
cluster (``slurm_partition``)."""

import shutil
import subprocess
from pathlib import Path

import pytest


pytest_plugins = ["local_hub.fixture"]

SHARED_PMC = Path(__file__).resolve().parents[1].parent / "shared" / "pmc"


def pytest_collection_modifyitems(config, items):
    """Tests marked ``gpu`` are skipped where torch sees no CUDA device (CI never has one)."""
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    if has_cuda:
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def shared_pmc() -> Path:
    """The real PMC-OA and eLife articles beside the checkout (``../shared/pmc``), present in CI."""
    if not SHARED_PMC.is_dir():
        pytest.skip(f"real articles not found at {SHARED_PMC}: `python tests/fetch_shared_pmc.py` downloads them")
    return SHARED_PMC


@pytest.fixture(scope="session")
def sample_extract(tmp_path_factory) -> Path:
    """The embedded sample extracted once per session with default settings; returns the output folder."""
    from biomed.dataset_builder.extract.stage import ExtractConfig, run_extract

    out = tmp_path_factory.mktemp("sample_extract")
    run_extract(ExtractConfig(output_dir=str(out)))
    return out


@pytest.fixture(scope="session")
def slurm_partition() -> str:
    """The default partition of the Slurm cluster this machine reaches (``make slurm`` starts one; CI does)."""
    if shutil.which("sbatch") is None:
        pytest.skip("sbatch not found: Slurm tests need a cluster (`make slurm` starts one on this machine, as root)")
    try:
        result = subprocess.run(["sinfo", "--noheader", "--format=%P %t"], capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        pytest.skip("the Slurm controller does not answer (sinfo timed out): `make slurm` starts the test cluster")
    up = [line.split() for line in result.stdout.splitlines() if len(line.split()) == 2]
    up = [(name, state) for name, state in up if state.rstrip("*") in ("idle", "mix", "alloc", "comp")]
    if result.returncode != 0 or not up:
        pytest.skip("no Slurm partition with a node up (sinfo): `make slurm` starts the test cluster on this machine")
    default = [name for name, _ in up if name.endswith("*")]
    return (default or [up[0][0]])[0].rstrip("*")
