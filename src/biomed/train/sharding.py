"""What the kit decides about FSDP2 (``torch.distributed.fsdp.fully_shard``), in one place: the Trainer path
(``training.fsdp`` in a recipe) and the kit's own loops (the two-rank test, ``bench/gpu.py``) read the same decisions.

Example (every rank, under ``torchrun``)::

    import torch
    from transformers import AutoModelForCausalLM
    from biomed.train.model import parameter_groups
    from biomed.train.sharding import export_hf, load_sharded, save_sharded, shard_model

    model = shard_model(AutoModelForCausalLM.from_pretrained(folder), bf16=True)
    optimizer = torch.optim.AdamW(parameter_groups(model, 0.1, decay_embeddings=False), lr=6.15e-5)
    ...  # forward, backward, optimizer.step()
    save_sharded("ckpt/step-250", model, optimizer)    # torch.distributed.checkpoint: each rank writes its shards
    load_sharded("ckpt/step-250", model, optimizer)    # resume (same or another number of ranks)
    export_hf(model, "final", tokenizer)               # rank 0 writes a folder AutoModelForCausalLM loads

The decisions:

- **What is wrapped**: each module whose class is in the model's ``_no_split_modules`` (for OLMo 2 the decoder
  layers, ``Olmo2DecoderLayer``), then the root (embeddings, final norm and LM head gathered together). It is the
  rule of accelerate's default ``TRANSFORMER_BASED_WRAP`` policy and OLMo-core's per-block sharding, so both paths
  shard the same units.
- **Resharding**: parameters are freed after each layer's forward and gathered again for its backward
  (``reshard_after_forward=True``, ZeRO-3): what lets a 7B model with fp32 AdamW state fit.
- **Mixed precision**: fp32 master weights and optimizer state; each layer computes in bf16 (``param_dtype``) and
  gradients are reduced in fp32 (``reduce_dtype``), as OLMo-core does. accelerate's default reduces in bf16; the
  Trainer path is given this policy instead (:func:`set_mixed_precision`).
- **Parameter groups after sharding**: ``fully_shard`` replaces every parameter by a ``DTensor`` one, so the AdamW
  groups (no weight decay on embeddings, norms and biases) are built from the sharded model by module type and
  name (:func:`biomed.train.model.parameter_groups`), never carried over from the unsharded one.
- **Checkpoints**: sharded with ``torch.distributed.checkpoint`` (model and optimizer, each rank its shards,
  loadable on another number of ranks), and consolidated into a Hugging Face folder (a full state dict gathered on
  rank 0 in CPU memory) that ``AutoModelForCausalLM`` and the evaluation harness read; :func:`consolidate` does the
  same offline from a sharded checkpoint, in one process.
- **The Trainer**: ``fsdp_config`` from :func:`trainer_fsdp_config` (the recipe's keys over the kit's); on a
  machine without CUDA accelerate does not run FSDP (it wraps the model in DDP without a word), so the kit drops
  ``training.fsdp`` there and says so in one line (:func:`fsdp_training_values`).
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any

from biomed.errors import BiomedError


logger = logging.getLogger(__name__)

# The keys the kit sets in the Trainer's fsdp_config; a recipe may override any but the version.
TRAINER_FSDP_CONFIG = {
    "version": 2,
    "reshard_after_forward": True,
    # every checkpoint a Hugging Face folder: the harness scores it and push-model publishes it as a branch
    "state_dict_type": "FULL_STATE_DICT",
}


def wrapped_classes(model) -> set[str]:
    """Class names of the modules sharded one by one (the model's ``_no_split_modules``: its transformer layers)."""
    names = set(getattr(model, "_no_split_modules", None) or [])
    if not names:
        raise BiomedError(f"{type(model).__name__} names no transformer layer class (_no_split_modules); FSDP2 "
                          "needs one to shard layer by layer")  # fmt: skip
    return names


def wrapped_modules(model) -> list:
    """The modules :func:`shard_model` shards one by one, in order (the root comes on top of them)."""
    names = wrapped_classes(model)
    return [module for module in model.modules() if module is not model and type(module).__name__ in names]


def mixed_precision_policy(bf16: bool):
    """bf16 compute with fp32 gradient reduction, or fp32 throughout (``bf16=False``: CPU tests, parity runs)."""
    import torch
    from torch.distributed.fsdp import MixedPrecisionPolicy

    return MixedPrecisionPolicy(param_dtype=torch.bfloat16 if bf16 else None, reduce_dtype=torch.float32)


def shard_model(model, *, bf16: bool, mesh=None):
    """``fully_shard`` each of :func:`wrapped_modules`, then the root; returns the model (sharded in place).

    Build the optimizer afterwards (see the module's notes on parameter groups).
    """
    from torch.distributed.fsdp import fully_shard

    policy = mixed_precision_policy(bf16)
    for module in wrapped_modules(model):
        fully_shard(module, mesh=mesh, mp_policy=policy, reshard_after_forward=True)
    fully_shard(model, mesh=mesh, mp_policy=policy, reshard_after_forward=True)
    return model


def save_sharded(folder: str | Path, model, optimizer) -> Path:
    """Write the model's and the optimizer's shards with ``torch.distributed.checkpoint`` (every rank calls it)."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict

    model_state, optim_state = get_state_dict(model, optimizer)
    dcp.save({"model": model_state, "optim": optim_state}, checkpoint_id=str(folder))
    return Path(folder)


def load_sharded(folder: str | Path, model, optimizer) -> None:
    """Load a :func:`save_sharded` checkpoint into a sharded model and its optimizer (every rank calls it)."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

    model_state, optim_state = get_state_dict(model, optimizer)
    state = {"model": model_state, "optim": optim_state}
    dcp.load(state, checkpoint_id=str(folder))
    set_state_dict(model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optim"])


def full_state_dict(model) -> dict:
    """The unsharded weights in CPU memory on rank 0 (empty on the other ranks); every rank calls it."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def export_hf(model, folder: str | Path, tokenizer=None, *, rank: int | None = None) -> Path:
    """Gather the sharded ``model`` and write it (with ``tokenizer``) as a Hugging Face folder on rank 0."""
    import torch.distributed as dist

    state = full_state_dict(model)
    rank = dist.get_rank() if rank is None else rank
    if rank == 0:
        model.save_pretrained(folder, state_dict=state)
        if tokenizer is not None:
            tokenizer.save_pretrained(folder)
    return Path(folder)


def consolidate(checkpoint: str | Path, model_dir: str | Path, out: str | Path) -> Path:
    """A Hugging Face folder from a :func:`save_sharded` checkpoint, in one process without a process group.

    ``model_dir`` gives the config and tokenizer (the run's ``model.init``); the weights are the checkpoint's.
    """
    import torch
    import torch.distributed.checkpoint as dcp
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    config = AutoConfig.from_pretrained(model_dir)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    model = model.to_empty(device="cpu")
    state = {"model": dict(model.state_dict())}
    with warnings.catch_warnings():  # "assuming the intent is to load in a single process": it is
        warnings.filterwarnings("ignore", "torch.distributed is disabled", UserWarning)
        dcp.load(state, checkpoint_id=str(checkpoint))
    model.load_state_dict(state["model"])
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(model_dir).save_pretrained(out)
    return Path(out)


def trainer_fsdp_config(recipe: dict | None) -> dict:
    """The Trainer's ``fsdp_config``: the kit's decisions, then the recipe's keys (FSDP version 2 only)."""
    recipe = {k.removeprefix("fsdp_"): v for k, v in (recipe or {}).items()}
    if int(recipe.get("version", 2)) != 2:
        raise BiomedError(f"training.fsdp_config.version={recipe['version']}: the kit runs FSDP2 only (version: 2)")
    return {**TRAINER_FSDP_CONFIG, **recipe}


def fsdp_training_values(values: dict[str, Any], *, cuda: bool, world_size: int) -> dict[str, Any]:
    """``TrainingArguments`` values with the kit's FSDP decisions: ``fsdp_config`` from :func:`trainer_fsdp_config`
    on CUDA; without CUDA, ``fsdp`` dropped with a one-line warning (accelerate would run DDP there silently)."""
    if not values.get("fsdp"):
        return values
    values = dict(values)
    if not cuda:
        values.pop("fsdp")
        values.pop("fsdp_config", None)
        how = f"DDP (gloo) across {world_size} processes" if world_size > 1 else "in one process"
        if os.environ.get("RANK", "0") == "0":  # one line per run, not one per process
            logger.warning("training.fsdp: accelerate runs FSDP only on GPUs; on this machine the run trains %s", how)
        return values
    values["fsdp"] = True
    values["fsdp_config"] = trainer_fsdp_config(values.get("fsdp_config"))
    return values


def set_mixed_precision(args) -> None:
    """Give the Trainer's FSDP plugin the kit's policy (fp32 gradient reduction) when it trains in bf16."""
    import torch

    if getattr(args, "fsdp_plugin_args", None) and args.bf16:
        args.fsdp_plugin_args["mixed_precision_policy"] = {
            "param_dtype": torch.bfloat16,
            "reduce_dtype": torch.float32,
        }
