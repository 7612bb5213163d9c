"""Fixtures of the train tests: text from the embedded sample, tiny encoders, a variant folder, config builder."""

from importlib.resources import files
from pathlib import Path

import pytest

from biomed.config import resolve_config
from biomed.train.config import PretrainConfig


@pytest.fixture(scope="session")
def sample_texts() -> list[str]:
    """Paragraphs of the package's embedded sample articles (package data: always present)."""
    from lxml import etree

    texts = []
    folder = files("biomed.dataset_builder") / "sample" / "articles"
    for article in sorted(Path(str(folder)).glob("*.nxml")):
        for paragraph in etree.parse(str(article)).iter("p"):
            text = " ".join("".join(paragraph.itertext()).split())
            if len(text) > 40:
                texts.append(text)
    assert len(texts) > 50
    return texts


@pytest.fixture(scope="session")
def tiny_modernbert(tmp_path_factory, sample_texts) -> Path:
    """A 3-layer ModernBERT (global, sliding-window, global; window 8 tokens) with a BPE tokenizer."""
    from biomed.tiny import save_tiny_model

    return save_tiny_model(sample_texts, tmp_path_factory.mktemp("tiny_modernbert"), "modernbert")


@pytest.fixture(scope="session")
def tiny_roberta(tmp_path_factory, sample_texts) -> Path:
    """A 3-layer RoBERTa (CamemBERT's architecture) with a BPE tokenizer."""
    from biomed.tiny import save_tiny_model

    return save_tiny_model(sample_texts, tmp_path_factory.mktemp("tiny_roberta"), "roberta")


@pytest.fixture(scope="session")
def tiny_olmo2(tmp_path_factory, sample_texts) -> Path:
    """A 2-layer OLMo 2 (hidden 32) with a byte-level BPE tokenizer shaped like OLMo 2's."""
    from biomed.tiny import save_tiny_decoder

    return save_tiny_decoder(sample_texts, tmp_path_factory.mktemp("tiny_olmo2"))


@pytest.fixture(scope="session")
def variant_dir(tmp_path_factory, sample_texts) -> Path:
    """A dataset folder shaped like `biomed data build` output: data/<config>/*.parquet with a text column."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = tmp_path_factory.mktemp("built")
    for config, rows in {"BE-Test": sample_texts, "BE-Small": sample_texts[:40]}.items():
        (root / "data" / config).mkdir(parents=True)
        half = len(rows) // 2
        for i, part in enumerate((rows[:half], rows[half:])):
            table = pa.table({"text": part, "educational_score": [(j % 5) + 1 for j in range(len(part))]})
            pq.write_table(table, root / "data" / config / f"train-{i:05d}-of-00002.parquet")
    return root


@pytest.fixture
def make_config(tmp_path, tiny_modernbert, variant_dir):
    """``make_config(*overrides)``: a tiny detour run (4 CLM steps + 2 MLM decay steps) under tmp_path."""
    cache = tmp_path.parent / "pretrain_cache"  # shared by the runs of one test

    def make(*overrides: str, model: Path | None = None) -> PretrainConfig:
        base = [
            f"output_dir={tmp_path / 'run'}",
            f"model.init={model or tiny_modernbert}",
            f"data.cache_dir={cache}",
            "data.max_length=32",
            f"data.sources=[{{name: sample, path: '{variant_dir}', config: BE-Test}}]",
            "global_batch_size=8",
            "training.per_device_train_batch_size=4",
            "training.logging_steps=1",
            "training.dataloader_num_workers=0",
            "phases=[{name: clm, objective: clm, tokens: 1024, warmup_tokens: 512},"
            " {name: mlm-decay, objective: mlm, tokens: 512, schedule: one_minus_sqrt, final_lr: 2.0e-5}]",
            "save_every_tokens=1e9",  # no checkpoint unless a test asks for one
        ]
        return resolve_config(PretrainConfig, None, [*base, *overrides])

    return make


@pytest.fixture(scope="session")
def stop_at():
    """``stop_at(step)``: a callback that stops training right after optimizer step ``step`` (a job killed there)."""
    from transformers import TrainerCallback

    class StopAt(TrainerCallback):
        def __init__(self, step):
            self.step = step

        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == self.step:
                control.should_training_stop = True

    return StopAt


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory, tiny_modernbert, variant_dir):
    """One finished tiny detour run (2 CLM + 1 MLM steps, checkpoint every step): its output folder."""
    from biomed.train.trainer import run_pretrain

    root = tmp_path_factory.mktemp("finished_run")
    cfg = resolve_config(
        PretrainConfig,
        None,
        [
            f"output_dir={root / 'run'}",
            f"model.init={tiny_modernbert}",
            f"data.cache_dir={root / 'cache'}",
            "data.max_length=32",
            f"data.sources=[{{name: sample, path: '{variant_dir}', config: BE-Test}}]",
            "global_batch_size=4",
            "training.per_device_train_batch_size=4",
            "training.dataloader_num_workers=0",
            "phases=[{name: clm, objective: clm, tokens: 256}, {name: mlm-decay, objective: mlm, tokens: 128}]",
            "save_every_tokens=128",
            "card.model_name=tiny-bio",
        ],
    )
    result = run_pretrain(cfg, progress=False)
    assert result.final_dir is not None
    return root / "run"


class TorchrunLauncher:
    """Starts ``python -m torch.distributed.run --standalone --nproc_per_node 2 ...`` jobs, each in its own process
    group so that a timeout or a test's end kills the launcher and its ranks together (no process left behind)."""

    def __init__(self):
        self.jobs = []

    def start(self, *args: str, **popen):
        import os
        import subprocess
        import sys

        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", *args]
        env = {**os.environ, "OMP_NUM_THREADS": "1", **popen.pop("env", {})}
        job = subprocess.Popen(command, start_new_session=True, env=env, text=True, **popen)
        self.jobs.append(job)
        return job

    def run(self, *args: str, timeout: float = 300):
        """Run to the end: ``(returncode, stdout, stderr)``."""
        import subprocess

        job = self.start(*args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            stdout, stderr = job.communicate(timeout=timeout)
        finally:
            self.kill(job)
        return job.returncode, stdout, stderr

    @staticmethod
    def kill(job) -> None:
        import os
        import signal

        try:
            os.killpg(job.pid, signal.SIGKILL)  # the group's id is the launcher's pid (start_new_session)
        except ProcessLookupError:
            pass
        job.wait(timeout=60)

    def close(self) -> None:
        for job in self.jobs:
            self.kill(job)


@pytest.fixture(scope="session")
def torchrun():
    """A :class:`TorchrunLauncher`; every job it started is killed at the end of the session."""
    launcher = TorchrunLauncher()
    yield launcher
    launcher.close()
