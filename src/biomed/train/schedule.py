"""The phased schedule: which phase a step belongs to and its learning rate.

Example::

    from biomed.train.schedule import PhasePlan

    plan = PhasePlan.from_config(cfg)
    plan.phase_at(step).objective, plan.lr_at(step)

Phases are consecutive ranges of optimizer steps of one run. Each phase restarts its own learning-rate shape
(warmup, then constant or a decay to ``final_lr``) while the optimizer (AdamW moments, step count) carries on:
that is the detour's "only the schedule restarts". The 1-sqrt cooldown is ``lr = final + (peak - final) *
(1 - sqrt(t / T))`` over the phase's ``T`` steps (Hägele et al., 2024, as in the paper).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

from biomed.train.config import PhaseConfig, PretrainConfig, warmup_steps


@dataclass(frozen=True)
class PhaseSpan:
    """A phase and the steps it covers: ``start <= step < end`` (0-based optimizer steps)."""

    number: int  # 1-based
    phase: PhaseConfig
    start: int
    end: int
    warmup: int

    @property
    def steps(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class PhasePlan:
    spans: tuple[PhaseSpan, ...]
    samples_per_step: int

    @classmethod
    def from_config(cls, cfg: PretrainConfig) -> PhasePlan:
        spans, start = [], 0
        for number, (phase, steps) in enumerate(zip(cfg.phases, cfg.phase_steps()), start=1):
            warmup = min(warmup_steps(phase, cfg.tokens_per_step), steps)
            spans.append(PhaseSpan(number, phase, start, start + steps, warmup))
            start += steps
        return cls(tuple(spans), cfg.global_batch_size)

    @property
    def total_steps(self) -> int:
        return self.spans[-1].end

    def span_at(self, step: int) -> PhaseSpan:
        """The phase that optimizer step ``step`` (0-based) belongs to; steps past the end stay in the last."""
        index = bisect.bisect_right([span.start for span in self.spans], step) - 1
        return self.spans[max(0, index)]

    def phase_at(self, step: int) -> PhaseConfig:
        return self.span_at(step).phase

    def span_of_sample(self, sample_index: int) -> PhaseSpan:
        """The phase a sample of the training stream is consumed in (samples are read in order, one step at a time)."""
        return self.span_at(sample_index // self.samples_per_step)

    def lr_at(self, step: int) -> float:
        """Learning rate used by optimizer step ``step`` (0-based)."""
        span = self.span_at(step)
        phase, t = span.phase, step - span.start
        if t < span.warmup:
            return phase.lr * (t + 1) / span.warmup
        decay_steps = span.steps - span.warmup
        progress = (t - span.warmup) / decay_steps if decay_steps > 0 else 0.0
        progress = min(max(progress, 0.0), 1.0)
        if phase.schedule == "constant":
            return phase.lr
        if phase.schedule == "one_minus_sqrt":
            return phase.final_lr + (phase.lr - phase.final_lr) * (1.0 - math.sqrt(progress))
        if phase.schedule == "linear":
            return phase.final_lr + (phase.lr - phase.final_lr) * (1.0 - progress)
        return phase.final_lr + (phase.lr - phase.final_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_lr_scheduler(optimizer, plan: PhasePlan, base_lr: float):
    """A ``LambdaLR`` following ``plan``; the optimizer's base lr is ``base_lr`` (the first phase's peak)."""
    from torch.optim.lr_scheduler import LambdaLR

    return LambdaLR(optimizer, lambda step: plan.lr_at(step) / base_lr)
