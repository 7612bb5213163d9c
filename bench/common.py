"""Pieces the training benches share (bench/train.py, bench/decoder.py): real paragraphs and a step timer.

The benches are run as scripts (``python bench/train.py``), so their own folder is on ``sys.path`` and they import
this module as ``common``.
"""

from __future__ import annotations

import time
from pathlib import Path


REPO = Path(__file__).resolve().parents[1]


def paragraphs() -> list[str]:
    """Real paragraphs: ../shared/pmc if present (bench only), else the package's embedded sample."""
    from importlib.resources import files

    from lxml import etree

    shared = REPO.parent / "shared" / "pmc"
    root = shared if shared.is_dir() else Path(str(files("biomed.dataset_builder") / "sample" / "articles"))
    texts = []
    for path in sorted(p for p in root.rglob("*") if p.suffix in (".xml", ".nxml")):
        for element in etree.parse(str(path)).iter("p"):
            text = " ".join("".join(element.itertext()).split())
            if len(text) > 40:
                texts.append(text)
    return texts


class StepTimer:
    """A TrainerCallback timing optimizer steps after ``warmup`` of them."""

    def __init__(self, warmup: int):
        from transformers import TrainerCallback

        timer = self

        class _Callback(TrainerCallback):
            def on_step_begin(self, args, state, control, **kwargs):
                if state.global_step == warmup:
                    timer.start = time.perf_counter()

            def on_step_end(self, args, state, control, **kwargs):
                timer.end = time.perf_counter()
                timer.steps = state.global_step - warmup

        self.callback = _Callback()
        self.start = self.end = 0.0
        self.steps = 0

    @property
    def seconds(self) -> float:
        return self.end - self.start


def time_steps(step, warmup: int, steps: int, deadline: float, device) -> tuple[float, float] | None:
    """Seconds for ``steps`` calls of ``step`` after ``warmup`` untimed ones, and the last loss; ``None`` past the
    ``deadline`` (a ``time.monotonic()`` value) during the warmup, which is where compilation happens."""
    import time

    import torch

    for _ in range(warmup):
        step()
        if time.monotonic() > deadline:
            return None
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(steps):
        loss = step()
    loss = float(loss.detach())  # synchronises
    return time.perf_counter() - started, loss
