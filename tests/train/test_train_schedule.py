"""The phased learning-rate schedule and the config checks around it."""

import math
import re

import pytest

from biomed.config import ConfigError
from biomed.train.config import parse_layer_range
from biomed.train.schedule import PhasePlan


def test_detour_schedule_learning_rate_at_chosen_steps(make_config):
    cfg = make_config(
        "global_batch_size=8",
        "data.max_length=32",  # 256 tokens per step
        "phases=[{name: clm, objective: clm, tokens: 25600, lr: 2.0e-4, warmup_tokens: 1024},"
        " {name: decay, objective: mlm, tokens: 2560, lr: 2.0e-4, schedule: one_minus_sqrt, final_lr: 2.0e-5}]",
    )
    plan = PhasePlan.from_config(cfg)
    assert [(s.start, s.end, s.warmup) for s in plan.spans] == [(0, 100, 4), (100, 110, 0)]
    # Phase 1: linear warmup over 4 steps, then constant.
    assert plan.lr_at(0) == pytest.approx(0.5e-4)
    assert plan.lr_at(3) == pytest.approx(2e-4)
    assert plan.lr_at(50) == plan.lr_at(99) == pytest.approx(2e-4)
    # Phase 2 restarts its own shape: 1-sqrt from the peak towards final_lr over its 10 steps.
    assert plan.lr_at(100) == pytest.approx(2e-4)
    assert plan.lr_at(104) == pytest.approx(2e-5 + 1.8e-4 * (1 - math.sqrt(0.4)))
    assert plan.lr_at(109) == pytest.approx(2e-5 + 1.8e-4 * (1 - math.sqrt(0.9)))
    assert plan.phase_at(99).objective == "clm" and plan.phase_at(100).objective == "mlm"
    assert plan.span_of_sample(100 * 8 - 1).number == 1 and plan.span_of_sample(100 * 8).number == 2


def test_phase_tokens_become_whole_steps(make_config):
    cfg = make_config("phases=[{name: a, tokens: 100}]")  # less than one 256-token step
    assert cfg.phase_steps() == [1]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("training.learning_rate=1e-3", "phases[].lr"),
        ("training.gradient_accumulation_steps=4", "global_batch_size"),
        ("freeze.phases=[3]", "phases are numbered 1..2"),
        ("freeze.layers=7-2", "increasing"),
        ("phases=[]", "at least one phase"),
        ("data.sources=[{name: x, weight: 1}]", "exactly one of `path` or `hub`"),
    ],
)
def test_bad_configs_say_what_to_change(make_config, override, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        make_config(override)


def test_layer_ranges():
    assert parse_layer_range("0-7") == list(range(8))
    assert parse_layer_range("0-2, 10") == [0, 1, 2, 10]
    assert parse_layer_range("") == []
    with pytest.raises(ValueError, match="not N or N-M"):
        parse_layer_range("low")


def test_cpu_ddp_is_asked_for_when_several_processes_have_no_gpu(make_config, monkeypatch):
    import torch

    from biomed.train.trainer import training_arguments

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    cfg = make_config()
    plan = PhasePlan.from_config(cfg)
    assert training_arguments(cfg, plan, world_size=2).use_cpu  # transformers then sets up gloo
    assert not training_arguments(cfg, plan, world_size=1).use_cpu
    explicit = make_config("training.use_cpu=false")  # the recipe has the last word
    assert not training_arguments(explicit, plan, world_size=2).use_cpu
