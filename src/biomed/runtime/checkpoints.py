"""Trainer checkpoints that appear whole and know the run they belong to (no torch import: the Hub code reads this).

Example::

    from transformers import Trainer
    from biomed.runtime.checkpoints import WholeCheckpoints, resume_checkpoint

    class MyTrainer(WholeCheckpoints, Trainer):
        pass

    trainer = MyTrainer(model=model, args=args, ...)
    trainer.run_identity = run_identity("train", settings, inputs)   # recorded in every checkpoint
    trainer.train_from(resume_checkpoint(args.output_dir, trainer.run_identity))

A checkpoint is written into ``OUT/.checkpoint-staging/checkpoint-N/`` (weights, optimizer, scheduler, RNG and
Trainer state, then the caller's extra files, then ``.biomed-checkpoint.json`` naming the run identity) and renamed
to ``OUT/checkpoint-N`` in one ``os.rename``: a kill at any point leaves the previous checkpoints and, at most, a
staging folder that the next run removes. ``resume_checkpoint`` takes the newest complete checkpoint; one written
under another run identity is refused, never resumed into another plan.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from biomed.errors import BiomedError
from biomed.runtime.files import read_json, write_json


logger = logging.getLogger(__name__)

CHECKPOINT_MARKER = ".biomed-checkpoint.json"
"""Written last into a checkpoint, before its rename: the run identity it was trained under and its step."""

TRAINER_STATE = "trainer_state.json"
"""The Trainer's own last file of a checkpoint (transformers ``TRAINER_STATE_NAME``)."""

STAGING = ".checkpoint-staging"
"""Where checkpoints are written before their rename (hidden: no reader of the output folder lists it)."""

TRAINING_HOW_IT_RUNS = (
    "dataloader_num_workers",
    "dataloader_persistent_workers",
    "dataloader_pin_memory",
    "dataloader_prefetch_factor",
    "disable_tqdm",
    "log_level",
    "logging_dir",
    "logging_first_step",
    "logging_nan_inf_filter",
    "logging_steps",
    "logging_strategy",
    "report_to",
    "run_name",
    "save_total_limit",
)
"""``TrainingArguments`` fields that change how a run is carried out (data loading, logging, pruning of old
checkpoints), not its weights: a rerun that changes only them resumes (``train``, ``data classify train``)."""

_CHECKPOINT_NAME = re.compile(r"checkpoint-(\d+)")


class CheckpointRefused(BiomedError):
    """A checkpoint cannot be used: partial, or trained under another run."""


def is_checkpoint_name(path: str | Path) -> bool:
    """Whether ``path`` is named like a Trainer checkpoint (``checkpoint-N``)."""
    return _CHECKPOINT_NAME.fullmatch(Path(path).name) is not None


def is_complete_checkpoint(path: str | Path) -> bool:
    """Whether ``path`` is a whole checkpoint of the kit: its Trainer state and its marker, written last, are there."""
    path = Path(path)
    marker = read_json(path / CHECKPOINT_MARKER)
    return path.is_dir() and (path / TRAINER_STATE).is_file() and isinstance(marker, dict) and "identity" in marker


def checkpoint_identity(path: str | Path) -> str | None:
    """The run identity a complete checkpoint was trained under (``None`` for a partial one)."""
    marker = read_json(Path(path) / CHECKPOINT_MARKER)
    return marker.get("identity") if is_complete_checkpoint(path) else None


def checkpoints(output_dir: str | Path) -> list[Path]:
    """The ``checkpoint-N`` folders of ``output_dir``, newest (highest N) first."""
    folder = Path(output_dir)
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.is_dir() and is_checkpoint_name(p)]
    return sorted(found, key=lambda p: int(p.name.rsplit("-", 1)[1]), reverse=True)


def resume_checkpoint(output_dir: str | Path, identity: str, *, clean: bool = True) -> Path | None:
    """The newest complete checkpoint of the run ``identity`` in ``output_dir``, or ``None`` (start afresh).

    Args:
        output_dir: the Trainer's output folder.
        identity: the run identity of the run about to resume (``run_identity``).
        clean: remove what killed saves left (the staging folder, ``checkpoint-N`` folders without their marker),
            so that the Trainer, which counts every ``checkpoint-N`` folder, never sees them. Only the process that
            writes checkpoints should clean.

    Raises:
        CheckpointRefused: the newest complete checkpoint was trained under another run identity.
    """
    folder = Path(output_dir)
    if clean:
        shutil.rmtree(folder / STAGING, ignore_errors=True)
    for checkpoint in checkpoints(folder):
        if not is_complete_checkpoint(checkpoint):
            if clean:
                logger.warning("removing %s: a save cut short (no %s)", checkpoint, CHECKPOINT_MARKER)
                shutil.rmtree(checkpoint, ignore_errors=True)
            continue
        found = checkpoint_identity(checkpoint)
        if found != identity:
            raise CheckpointRefused(
                f"{checkpoint} was trained under another run ({found}, this run is {identity}); rerun with "
                "--overwrite to start afresh (its content is deleted), or choose a new --out"
            )
        return checkpoint
    return None


def _finished(checkpoint: str | Path) -> bool:
    state = read_json(Path(checkpoint) / TRAINER_STATE) or {}
    return 0 < int(state.get("max_steps") or 0) <= int(state.get("global_step") or 0)


class WholeCheckpoints:
    """``transformers.Trainer`` mixin: each checkpoint is written aside, completed, then renamed into place.

    Attributes:
        run_identity: recorded in every checkpoint's marker (set it before ``train``).
        checkpoint_files: called on the main process with the staged checkpoint folder and the Trainer state, to
            add files (config, card) before the rename, so that they are part of the whole checkpoint.
    """

    run_identity: str = ""
    checkpoint_files: Callable[[Path, Any], None] | None = None
    _staging_dir: str | None = None

    def train_from(self, checkpoint: str | Path | None):
        """``train(resume_from_checkpoint=checkpoint)``; a checkpoint of the last step is loaded, not trained on.

        The Trainer takes one more step before it checks ``max_steps`` when resumed at ``max_steps``: a rerun of a
        finished run would then end with other weights than the run it reruns.
        """
        if checkpoint is not None and _finished(checkpoint):
            from transformers.trainer_callback import TrainerState

            self._load_from_checkpoint(str(checkpoint))
            self.state = TrainerState.load_from_json(str(Path(checkpoint) / TRAINER_STATE))
            return None
        return self.train(resume_from_checkpoint=str(checkpoint) if checkpoint is not None else None)

    def _get_output_dir(self, trial):
        if self._staging_dir is not None:
            return self._staging_dir
        return super()._get_output_dir(trial)

    def _save_checkpoint(self, model, trial) -> None:
        from transformers.trainer_utils import rotate_checkpoints

        run_dir = Path(super()._get_output_dir(trial))
        name = f"checkpoint-{self.state.global_step}"
        staging = run_dir / STAGING
        if self.args.should_save:
            shutil.rmtree(staging / name, ignore_errors=True)
        self.accelerator.wait_for_everyone()
        self._staging_dir = str(staging)
        try:
            super()._save_checkpoint(model, trial)
        finally:
            self._staging_dir = None
        self.accelerator.wait_for_everyone()  # every rank's files (RNG states, sharded optimizer) are written
        if self.args.should_save:
            staged, target = staging / name, run_dir / name
            best = self.state.best_model_checkpoint
            if best and Path(best).parent == staging:
                self.state.best_model_checkpoint = str(run_dir / Path(best).name)
                self.state.save_to_json(str(staged / TRAINER_STATE))
            if self.checkpoint_files is not None:
                self.checkpoint_files(staged, self.state)
            write_json(staged / CHECKPOINT_MARKER, {"identity": self.run_identity, "step": self.state.global_step})
            if target.exists():  # the same step saved again (a run resumed from an older checkpoint)
                shutil.rmtree(target)
            os.rename(staged, target)
            try:
                staging.rmdir()
            except OSError:  # not empty: another rank's leftovers, removed by the next run
                pass
            rotate_checkpoints(
                output_dir=str(run_dir),
                save_total_limit=self.args.save_total_limit,
                best_model_checkpoint=self.state.best_model_checkpoint,
                use_mtime=True,
            )
        self.accelerator.wait_for_everyone()
