"""Run a continued pre-training: ``run_pretrain(cfg)`` behind ``biomed train``.

Example::

    from biomed.config import resolve_config
    from biomed.train.config import PretrainConfig
    from biomed.train.trainer import run_pretrain

    cfg = resolve_config(PretrainConfig, "recipes/pretrain/modernbert-bio-en-base-detour.yaml")
    result = run_pretrain(cfg)          # rerun the same call after a crash: it resumes
    print(result.final_dir)             # a standard *ForMaskedLM folder + card + curves

Multi-GPU / multi-node: ``accelerate launch -m biomed.cli train ...`` or ``torchrun ... -m biomed.cli train``
(DDP); FSDP2 through ``training.fsdp`` / ``training.fsdp_config`` on GPUs, with the decisions of
:mod:`biomed.train.sharding`. Gradient accumulation is derived so that
``micro-batch x processes x accumulation = global_batch_size``.

The run is one ``transformers.Trainer`` loop over all phases: one optimizer (AdamW, kept across the phase
switch), one learning-rate scheduler following :class:`~biomed.train.schedule.PhasePlan`, one data stream read
in order. The phase of a batch is a function of its position in the stream, so resuming from any checkpoint
(optimizer, scheduler, RNG and data position are in it) lands in the right phase with the same batches.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import Trainer, TrainerCallback
from transformers.trainer_callback import ProgressCallback

from biomed.config import ConfigError, config_to_dict, dump_config
from biomed.errors import BiomedError
from biomed.runtime.checkpoints import TRAINING_HOW_IT_RUNS, WholeCheckpoints, resume_checkpoint
from biomed.runtime.files import write_json, write_text
from biomed.train.config import PretrainConfig, SourceConfig, parse_layer_range
from biomed.train.model import parameter_groups
from biomed.train.objectives import lm_loss
from biomed.train.schedule import PhasePlan, build_lr_scheduler
from biomed.upstream import mark_lr_scheduler_created


logger = logging.getLogger(__name__)

STAGE = "train"

HOW_IT_RUNS = (
    "card",  # rendered again at each export from card.json: a new card keeps the weights
    "decontamination",  # a check that refuses, it changes no weight
    "output_dir",
    "resume",
    "save_every_tokens",
    "data.cache_dir",
    "data.num_proc",
    "data.tokenize_batch_size",
    "model.attn_implementation",  # the same attention computed by another kernel (another GPU, no flash-attn)
    "training.per_device_train_batch_size",  # the global batch is fixed: a smaller micro-batch accumulates more
    # the dataloader workers among them: masking is seeded per sample, batches do not depend on the workers
    *(f"training.{key}" for key in TRAINING_HOW_IT_RUNS),
)
"""Config keys that change how a run is carried out, not what it trains: a rerun that changes them resumes."""

DEFAULT_TRAINING = {
    "per_device_train_batch_size": 8,
    "logging_steps": 10,
    "report_to": "none",
    "save_total_limit": None,
    "dataloader_num_workers": 2,
    "adam_beta1": 0.9,
    "adam_beta2": 0.98,
    "adam_epsilon": 1e-6,
    "weight_decay": 1e-5,
    "max_grad_norm": 1.0,
}


@dataclass
class PretrainResult:
    """What a run produced."""

    output_dir: Path
    final_dir: Path | None  # None when the run stopped before its last step (resume it by running again)
    global_step: int
    total_steps: int
    tokens_seen: int
    log_history: list[dict] = field(default_factory=list)
    main_process: bool = True  # False on the other ranks of a distributed run: they report nothing


def training_arguments(
    cfg: PretrainConfig, plan: PhasePlan, world_size: int | None = None, *, cuda: bool | None = None
):
    """``TrainingArguments`` from the recipe's ``training:`` mapping plus the keys the schedule decides (``cuda``:
    for a machine with GPUs, default: this one)."""
    from transformers import TrainingArguments

    from biomed.train.sharding import fsdp_training_values, set_mixed_precision

    world_size = world_size or int(os.environ.get("WORLD_SIZE", "1"))
    cuda = torch.cuda.is_available() if cuda is None else cuda
    values = fsdp_training_values({**DEFAULT_TRAINING, **cfg.training}, cuda=cuda, world_size=world_size)
    if "bf16" not in cfg.training:
        values["bf16"] = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if "dataloader_pin_memory" not in cfg.training:
        values["dataloader_pin_memory"] = torch.cuda.is_available()
    if "use_cpu" not in cfg.training and world_size > 1 and not torch.cuda.is_available():
        # without a GPU, transformers sets up DDP (gloo) only when told to stay on the CPU
        values["use_cpu"] = True
    micro = int(values["per_device_train_batch_size"])
    if cfg.global_batch_size % (micro * world_size):
        raise ConfigError(
            f"global_batch_size={cfg.global_batch_size} is not a multiple of per_device_train_batch_size={micro} x "
            f"{world_size} process(es); change training.per_device_train_batch_size or global_batch_size"
        )
    if cfg.freeze.layers and world_size > 1:
        # Frozen layers stop producing gradients mid-run; DDP must not wait for them.
        values.setdefault("ddp_find_unused_parameters", True)
    values.update(
        output_dir=str(cfg.output_dir),
        max_steps=plan.total_steps,
        learning_rate=cfg.phases[0].lr,
        gradient_accumulation_steps=cfg.global_batch_size // (micro * world_size),
        save_strategy="steps",
        save_steps=cfg.save_steps,
        seed=cfg.seed,
        train_sampling_strategy="sequential",  # the mixture is already shuffled; its order is the data position
        remove_unused_columns=False,
    )
    try:
        args = TrainingArguments(**values)
    except TypeError as err:
        raise ConfigError(f"training: {err} (keys must be transformers.TrainingArguments fields)") from None
    except ValueError as err:  # e.g. bf16 asked on a machine without bf16 support
        raise ConfigError(f"training: {err}") from None
    set_mixed_precision(args)
    return args


class PretrainTrainer(WholeCheckpoints, Trainer):
    """``Trainer`` with the phased LR schedule, decoupled AdamW groups and the MLM/CLM loss; its checkpoints appear
    whole and record the run identity (:class:`~biomed.runtime.checkpoints.WholeCheckpoints`)."""

    # compute_loss divides by the labelled tokens of the whole accumulated batch (num_items_in_batch)
    loss_is_scaled_for_ga = True

    def __init__(self, *args, plan: PhasePlan, decoupled_weight_decay: bool, decay_embeddings: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.plan = plan
        self.decoupled_weight_decay = decoupled_weight_decay
        self.decay_embeddings = decay_embeddings
        self.model_accepts_loss_kwargs = True  # makes the Trainer count labelled tokens across micro-batches

    def create_optimizer(self, model=None):
        if self.optimizer is None:
            model = self.model if model is None else model
            peak = self.args.learning_rate
            decay = self.args.weight_decay / peak if self.decoupled_weight_decay else self.args.weight_decay
            groups = parameter_groups(model, decay, decay_embeddings=self.decay_embeddings)
            on_cuda = all(p.is_cuda for group in groups for p in group["params"])
            self.optimizer = torch.optim.AdamW(
                groups,
                lr=peak,
                betas=(self.args.adam_beta1, self.args.adam_beta2),
                eps=self.args.adam_epsilon,
                fused=on_cuda or None,
            )
        return self.optimizer

    def create_scheduler(self, num_training_steps: int, optimizer=None):
        if self.lr_scheduler is None:
            self.lr_scheduler = build_lr_scheduler(optimizer or self.optimizer, self.plan, self.args.learning_rate)
            mark_lr_scheduler_created(self)
        return self.lr_scheduler

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        causal = bool(inputs.pop("causal", False))
        loss = lm_loss(
            model, inputs["input_ids"], inputs["labels"], causal=causal, num_items_in_batch=num_items_in_batch
        )
        if (
            self.args.average_tokens_across_devices
            and num_items_in_batch is not None
            and self.accelerator.num_processes > 1
        ):
            loss = loss * self.accelerator.num_processes  # DDP averages gradients over processes
        return (loss, None) if return_outputs else loss


class PhaseCallback(TrainerCallback):
    """Applies layer freezing per phase."""

    def __init__(self, plan: PhasePlan, frozen: list, freeze_phases: set[int]):
        self.plan, self.frozen, self.freeze_phases = plan, frozen, freeze_phases
        self._state: bool | None = None

    def _apply(self, step: int) -> None:
        freeze = self.plan.span_at(step).number in self.freeze_phases
        if self.frozen and freeze != self._state:
            # requires_grad=False: no gradient, so AdamW skips the tensor entirely (no moment update, no
            # weight decay): the frozen weights stay bitwise identical.
            for param in self.frozen:
                param.requires_grad_(not freeze)
            self._state = freeze

    def on_train_begin(self, args, state, control, **kwargs):
        self._apply(state.global_step)

    def on_step_begin(self, args, state, control, **kwargs):
        self._apply(state.global_step)


class LogLineCallback(ProgressCallback):
    """The tqdm step bar, with one log line per logging step on stderr (stdout stays for results)."""

    def __init__(self, plan: PhasePlan, tokens_per_step: int):
        super().__init__()
        self.plan, self.tokens_per_step = plan, tokens_per_step
        self._last = None

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs or "loss" not in logs:
            return
        now = time.monotonic()
        speed = ""
        if self._last is not None and state.global_step > self._last[0]:
            rate = (state.global_step - self._last[0]) * self.tokens_per_step / max(now - self._last[1], 1e-9)
            speed = f" | {rate:,.0f} tokens/s"
        self._last = (state.global_step, now)
        span = self.plan.span_at(max(state.global_step - 1, 0))
        line = (
            f"step {state.global_step}/{state.max_steps} | phase {span.number} {span.phase.name} "
            f"({span.phase.objective}) | loss {logs['loss']:.4f} | lr {logs.get('learning_rate', 0):.3e}{speed}"
        )
        tqdm_write = getattr(self.training_bar, "write", None)
        if tqdm_write is not None:
            tqdm_write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr)


def run_settings(cfg: PretrainConfig) -> dict[str, Any]:
    """The resolved recipe less ``HOW_IT_RUNS``: what a rerun must share with the run it resumes."""
    settings = config_to_dict(cfg)
    for key in HOW_IT_RUNS:
        section, _, name = key.rpartition(".")
        (settings.get(section, {}) if section else settings).pop(name, None)
    return settings


def run_inputs(cfg: PretrainConfig) -> list[dict[str, Any]]:
    """Fingerprints of what a run reads: the model it starts from, then each data source."""
    from biomed.runtime.identity import ModelNotFound, model_fingerprint

    try:
        model = model_fingerprint(cfg.model.init, cfg.model.revision)
    except ModelNotFound as err:
        raise BiomedError(f"cannot load model.init={cfg.model.init!r}: {err}") from None
    return [model, *map(source_input, cfg.data.sources)]


def source_input(source: SourceConfig) -> dict[str, Any]:
    """A source's fingerprint: its local data files (``input_fingerprint``), or a Hub dataset at its revision."""
    from biomed.runtime.ownership import input_fingerprint
    from biomed.train.data import local_files

    if source.hub:
        return {"root": f"hf://datasets/{source.hub}@{source.revision or 'main'}", "files": []}
    return input_fingerprint(Path(source.path).expanduser(), local_files(source))


def run_pretrain(
    cfg: PretrainConfig, *, callbacks: list | None = None, progress: bool = True, overwrite: bool = False
) -> PretrainResult:
    """Train as the recipe says; rerunning the same config resumes from the newest checkpoint.

    The output folder is claimed first (``claim_output``: stage ``train``, ``run_settings``, ``run_inputs``): a
    folder holding another run (another recipe, model or data) is refused in one line unless ``overwrite``. Its
    manifest says ``finished`` once ``final/`` is written, and only then.

    Args:
        cfg: the resolved config.
        callbacks: extra ``TrainerCallback`` objects (tests use one to simulate a crash).
        progress: show progress bars (packing, training).
        overwrite: start afresh in a folder that holds another run (its content is deleted).

    Raises:
        OutputRefused: the folder holds another run, another stage's output, or is in use.
    """
    from biomed.runtime.identity import run_identity
    from biomed.runtime.ownership import claim_output, mark_finished
    from biomed.train.data import check_sources

    output_dir = Path(cfg.output_dir)
    plan = PhasePlan.from_config(cfg)
    args = training_arguments(cfg, plan)
    check_sources(cfg.data)
    settings, inputs = run_settings(cfg), run_inputs(cfg)
    identity = run_identity(STAGE, settings, inputs)
    with ExitStack() as owned:
        with args.main_process_first(desc="claiming the output folder"):
            if args.process_index == 0:
                owned.enter_context(claim_output(output_dir, STAGE, settings, inputs, overwrite))
                write_text(output_dir / "config.yaml", dump_config(cfg))
        result = _train_owned(cfg, plan, args, identity, callbacks, progress)
        if args.process_index == 0 and result.final_dir is not None:
            mark_finished(output_dir, produced={"final": "final", "steps": result.global_step})
        return result


def _train_owned(cfg: PretrainConfig, plan: PhasePlan, args, identity: str, callbacks, progress) -> PretrainResult:
    """The run, once its folder is owned: decontaminate, load, pack, train from the newest own checkpoint, export."""
    from biomed.train.data import build_mixture
    from biomed.train.decontamination import decontaminate
    from biomed.train.model import frozen_parameters, load_model
    from biomed.train.objectives import PretrainCollator, word_start_table

    output_dir = Path(cfg.output_dir)
    with args.main_process_first(desc="decontamination check"):  # the main process computes, the others read
        decontaminate(cfg)  # before any model download: refuses a source that overlaps an evaluation test split
    model, tokenizer = load_model(cfg.model, args.device.type)
    with args.main_process_first(desc="packing the training data"):
        dataset, manifest = build_mixture(
            cfg.data,
            tokenizer,
            plan.total_steps * cfg.global_batch_size,
            progress=progress and args.process_index == 0,
        )
    if args.process_index == 0:
        write_json(output_dir / "data_manifest.json", manifest)

    collator = PretrainCollator(
        plan,
        special_token_ids=list(tokenizer.all_special_ids),
        mask_token_id=tokenizer.mask_token_id,
        vocab_size=len(tokenizer),
        seed=cfg.seed,
        word_starts=word_start_table(tokenizer) if any(p.whole_word_mask for p in cfg.phases) else None,
    )
    frozen = frozen_parameters(model, parse_layer_range(cfg.freeze.layers)) if cfg.freeze.layers else []

    def write_checkpoint_files(folder: Path, state) -> None:
        write_text(folder / "config.yaml", dump_config(cfg))
        write_json(folder / "data_manifest.json", manifest)
        write_card(folder, cfg, manifest, plan, state.global_step, bf16=args.bf16)

    trainer = PretrainTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        data_collator=collator,
        processing_class=tokenizer,
        callbacks=[PhaseCallback(plan, frozen, set(cfg.freeze.phases)), *(callbacks or [])],
        plan=plan,
        decoupled_weight_decay=cfg.decoupled_weight_decay,
        # OLMo 2 applies no weight decay to embeddings (OLMo 2 paper, arXiv 2501.00656, stability changes)
        decay_embeddings=cfg.model.kind != "decoder",
    )
    trainer.run_identity, trainer.checkpoint_files = identity, write_checkpoint_files
    # Progress and log lines go to stderr, and only when asked (the Trainer's defaults print dicts to stdout).
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    if progress:
        trainer.add_callback(LogLineCallback(plan, cfg.tokens_per_step))
    resume_from = None
    with args.main_process_first(desc="finding the checkpoint to resume"):  # the main process removes partial ones
        if cfg.resume:
            resume_from = resume_checkpoint(output_dir, identity, clean=args.process_index == 0)
    if resume_from:
        logger.warning("resuming from %s", resume_from)
    trainer.train_from(resume_from)

    state = trainer.state
    result = PretrainResult(
        output_dir=output_dir,
        final_dir=None,
        global_step=state.global_step,
        total_steps=plan.total_steps,
        tokens_seen=state.global_step * cfg.tokens_per_step,
        log_history=list(state.log_history),
        main_process=trainer.is_world_process_zero(),
    )
    if state.global_step >= plan.total_steps:
        result.final_dir = export_final(trainer, cfg, manifest, plan)
    return result


def export_final(trainer, cfg: PretrainConfig, manifest: dict, plan: PhasePlan) -> Path:
    """Write ``output_dir/final``: weights (``model.save_dtype``), tokenizer, recipe, manifest, curves, card.

    The folder is written as ``.final-staging`` and renamed: ``final/`` appears whole or not at all.
    """
    from biomed.train.model import auto_model_class
    from biomed.train.plots import plot_curves

    final = Path(cfg.output_dir) / "final"
    staging = Path(cfg.output_dir) / ".final-staging"
    if trainer.is_world_process_zero():
        shutil.rmtree(staging, ignore_errors=True)
    trainer.accelerator.wait_for_everyone()
    trainer.save_model(str(staging))  # gathers FSDP / unwraps DDP; writes on the main process only
    if not trainer.is_world_process_zero():
        return final
    if cfg.model.save_dtype == "bfloat16":
        # Reload-and-save rather than casting the live model: works the same for every distributed strategy.
        model = auto_model_class(cfg.model.kind).from_pretrained(staging, dtype=torch.bfloat16)
        model.save_pretrained(staging)
    for stale in ("training_args.bin",):
        (staging / stale).unlink(missing_ok=True)
    write_text(staging / "config.yaml", dump_config(cfg))
    write_json(staging / "data_manifest.json", manifest)
    plot_curves(trainer.state.log_history, plan, cfg.tokens_per_step, staging)
    write_card(staging, cfg, manifest, plan, trainer.state.global_step, bf16=trainer.args.bf16)
    summary = {
        "steps": trainer.state.global_step,
        "tokens_seen": trainer.state.global_step * cfg.tokens_per_step,
        "phases": [
            {"name": s.phase.name, "objective": s.phase.objective, "start_step": s.start, "end_step": s.end}
            for s in plan.spans
        ],
        "hardware": hardware_description(),
    }
    write_json(staging / "training_summary.json", summary)
    if final.exists():  # a finished run exported again (a rerun): the new export replaces it
        shutil.rmtree(final)
    os.rename(staging, final)
    return final


def hardware_description() -> str:
    """E.g. ``4 x NVIDIA H100 80GB HBM3`` or ``CPU``."""

    processes = int(os.environ.get("WORLD_SIZE", "1"))
    if torch.cuda.is_available():
        return f"{processes} x {torch.cuda.get_device_name(0)}"
    return f"{processes} x CPU"


def write_card(
    folder: Path, cfg: PretrainConfig, manifest: dict, plan: PhasePlan, global_step: int, *, bf16: bool
) -> Path:
    """Render the encoder (or decoder) card into ``folder/README.md`` and keep its context in ``card.json``
    (push-model re-renders it with the repository id)."""
    from biomed.model_cards.eval_results import render_context
    from biomed.runtime.files import write_json

    if cfg.model.kind == "decoder":
        from biomed.train.card import decoder_card_context as card_context
    else:
        from biomed.train.card import card_context

    context = card_context(
        cfg, manifest, plan, global_step, hardware=cfg.card.hardware or hardware_description(), bf16=bf16
    )
    write_json(folder / "card.json", context)
    path = folder / "README.md"
    render_context(context).save(path)
    return path
