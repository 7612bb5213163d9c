"""`python bench/gpu.py --smoke`: the GPU acceptance command's code, every section, on the CPU with tiny sizes."""

import json
import subprocess
import sys
from pathlib import Path


REPO = Path(__file__).resolve().parents[1]


def test_gpu_acceptance_command_smoke_run(tmp_path):
    out = tmp_path / "gpu.json"
    command = [sys.executable, str(REPO / "bench" / "gpu.py"), "--smoke", "--json", str(out)]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    report = json.loads(out.read_text())
    assert report["smoke"] is True and report["device"] == "CPU (smoke)"
    rows = {(row["section"], row["item"]): row for row in report["rows"]}
    assert all(row["value"] and row["value"] > 0 for row in rows.values()), rows
    items = sorted(rows)
    assert [item for section, item in items if section == "classify"] == [
        "kit (ParagraphScorer)", "pipeline (batch 8)"
    ]  # fmt: skip
    assert rows["classify", "kit (ParagraphScorer)"]["agreement"] == 1.0  # the same model on both sides
    assert {item for section, item in items if section == "encoder"} == {
        f"ModernBERT-tiny {variant} @128" for variant in ("stock", "kit", "kit+compile")
    }
    assert {item for section, item in items if section == "decoder"} == {
        f"OLMo 2 4 x 128 {variant} @128" for variant in ("stock", "fsdp2", "trainer+fsdp2")
    }
    assert rows["decoder", "OLMo 2 4 x 128 fsdp2 @128"]["vs_baseline"] > 0
    assert [section for section, _ in items].count("eval") == 1
    # without a GPU the Trainer's FSDP2 run says, in one line, that it runs without FSDP
    assert result.stderr.count("training.fsdp: accelerate runs FSDP only on GPUs") == 1
    table = result.stdout.split("section  item")[-1]
    assert all(item in table for _, item in items)  # one table with every row
