"""The kit's FSDP2 decisions (biomed.train.sharding) on a tiny OLMo 2, run by tests/train/test_sharding.py as::

    python -m torch.distributed.run --nproc_per_node 2 tests/train/fsdp_two_ranks.py MODEL_DIR OUT_DIR

Each rank trains on its half of every global batch with ``fully_shard`` over gloo; rank 0 also trains an unsharded
copy on the whole batch (the single-process reference). Rank 0 writes ``OUT_DIR/facts.json`` and the folders the
test compares: ``reference`` (single process), ``hf`` (the sharded run's Hugging Face export), ``hf-resumed`` (the
same run resumed from its sharded checkpoint of step ``SAVE_AT``), ``ckpt-<step>`` (torch.distributed.checkpoint).
"""

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch.distributed.fsdp import FSDPModule
from torch.distributed.tensor import DTensor
from transformers import AutoModelForCausalLM, AutoTokenizer

from biomed.train.model import parameter_groups
from biomed.train.objectives import lm_loss, next_token_labels
from biomed.train.sharding import export_hf, load_sharded, save_sharded, shard_model


STEPS, SAVE_AT, GLOBAL_BATCH, LENGTH = 6, 3, 4, 32


def batches(vocab_size: int) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return [torch.randint(2, vocab_size, (GLOBAL_BATCH, LENGTH), generator=generator) for _ in range(STEPS)]


def optimizer_of(model):
    groups = parameter_groups(model, 0.1, decay_embeddings=False)  # built after sharding: see sharding.py
    return torch.optim.AdamW(groups, lr=1e-3, betas=(0.9, 0.95), eps=1e-8)


def train(model, optimizer, data, rank, world, start, stop, save=None) -> list[float]:
    """Optimizer steps ``start..stop-1`` on this rank's rows; the loss is the whole global batch's token mean."""
    losses = []
    for step in range(start, stop):
        labels = next_token_labels(data[step])
        items = labels.ne(-100).sum()
        loss = lm_loss(model, data[step].chunk(world)[rank], labels.chunk(world)[rank], causal=True,
                       num_items_in_batch=items)  # fmt: skip
        (loss * world).backward()  # FSDP averages the ranks' gradients; each rank's loss is its share of the sum
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        total = loss.detach().clone()
        if world > 1:
            dist.all_reduce(total)
        losses.append(total.item())
        if save and step + 1 in save:
            save_sharded(save[step + 1], model, optimizer)
    return losses


def group_names(model, optimizer) -> list[list[str]]:
    names = {id(p): n for n, p in model.named_parameters()}
    return [sorted(names[id(p)] for p in group["params"]) for group in optimizer.param_groups]


def main() -> None:
    model_dir, out = Path(sys.argv[1]), Path(sys.argv[2])
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    load = lambda: AutoModelForCausalLM.from_pretrained(model_dir, attn_implementation="sdpa")  # noqa: E731
    data = batches(len(tokenizer))
    facts = {"world_size": world}

    if rank == 0:  # the single-process reference on the whole global batch
        reference = load()
        optimizer = optimizer_of(reference)
        facts["reference_groups"] = group_names(reference, optimizer)
        facts["reference_losses"] = train(reference, optimizer, data, 0, 1, 0, STEPS)
        reference.save_pretrained(out / "reference")

    model = shard_model(load(), bf16=False)
    facts["sharded_modules"] = sorted(name for name, module in model.named_modules() if isinstance(module, FSDPModule))
    optimizer = optimizer_of(model)
    facts["sharded_groups"] = group_names(model, optimizer)
    facts["all_dtensor"] = all(isinstance(p, DTensor) for group in optimizer.param_groups for p in group["params"])
    facts["optimizer_holds_model_parameters"] = {id(p) for g in optimizer.param_groups for p in g["params"]} == {
        id(p) for p in model.parameters()
    }
    facts["local_shard_rows"] = model.lm_head.weight.to_local().shape[0]
    checkpoints = {step: out / f"ckpt-{step}" for step in (SAVE_AT, STEPS)}
    facts["sharded_losses"] = train(model, optimizer, data, rank, world, 0, STEPS, save=checkpoints)
    export_hf(model, out / "hf", tokenizer)

    resumed = shard_model(load(), bf16=False)  # a fresh job: initial weights, then the step-SAVE_AT checkpoint
    resumed_optimizer = optimizer_of(resumed)
    load_sharded(checkpoints[SAVE_AT], resumed, resumed_optimizer)
    facts["resumed_adam_step"] = int(next(iter(resumed_optimizer.state.values()))["step"])
    facts["resumed_losses"] = train(resumed, resumed_optimizer, data, rank, world, SAVE_AT, STEPS)
    export_hf(resumed, out / "hf-resumed")

    # mixed precision: the layers compute in bf16; weights, gradients and their reduction stay fp32
    mixed = shard_model(load(), bf16=True)
    seen = []
    mixed.model.layers[0].register_forward_hook(
        lambda module, args, output: seen.append(str((output if torch.is_tensor(output) else output[0]).dtype))
    )
    mixed_optimizer = optimizer_of(mixed)
    facts["mixed_losses"] = train(mixed, mixed_optimizer, data, rank, world, 0, 1)
    facts["mixed_layer_output_dtype"] = seen[0]
    facts["mixed_param_dtypes"] = sorted({str(p.dtype) for p in mixed.parameters()})
    facts["mixed_adam_state_dtypes"] = sorted({str(s["exp_avg"].dtype) for s in mixed_optimizer.state.values()})
    if rank == 0:
        (out / "facts.json").write_text(json.dumps(facts, indent=1))
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
