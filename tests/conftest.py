"""Shared fixtures: the local Hub (``local_hub``), the real articles, the extracted embedded sample."""

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
