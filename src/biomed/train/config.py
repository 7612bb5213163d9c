"""``PretrainConfig``: the one typed config of ``biomed train`` (continued pre-training of an encoder).

Example::

    from biomed.config import resolve_config
    from biomed.train.config import PretrainConfig

    cfg = resolve_config(PretrainConfig, "recipes/pretrain/modernbert-bio-en-base-detour.yaml", ["data.num_proc=8"])

A run is: a model to start from (``model``), a weighted mixture of text sources packed into sequences of
``data.max_length`` tokens (``data``), and an ordered list of ``phases`` (objective, token budget, learning-rate
shape). The detour is ``[clm, mlm-decay]``; its MLM twin is ``[mlm, mlm-decay]`` with everything else identical.
``training`` is passed to ``transformers.TrainingArguments`` (precision, micro-batch size, logging, FSDP, ...);
the keys the schedule decides (steps, learning rate, accumulation, save interval, seed, sampler) are refused there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from biomed.config import ConfigError, find_recipe_file
from biomed.train.decontamination import DecontaminationConfig, check_recipe_sources


# TrainingArguments keys that the phase schedule computes; accepting them in `training:` would let a recipe
# silently disagree with its own phases.
SCHEDULE_OWNED_KEYS = {
    "output_dir": "output_dir",
    "max_steps": "phases[].tokens and global_batch_size",
    "num_train_epochs": "phases[].tokens",
    "learning_rate": "phases[].lr",
    "lr_scheduler_type": "phases[].schedule",
    "lr_scheduler_kwargs": "phases[].schedule",
    "warmup_steps": "phases[].warmup_tokens",
    "gradient_accumulation_steps": "global_batch_size (divided by micro-batch size and number of processes)",
    "save_steps": "save_every_tokens",
    "save_strategy": "save_every_tokens",
    "seed": "seed",
    "data_seed": "data.shuffle_seed",
    "train_sampling_strategy": "data.shuffle_seed (the mixture is shuffled once, then read in order)",
    "resume_from_checkpoint": "resume",
}


@dataclass
class SourceConfig:
    """One entry of the training mixture.

    Exactly one of ``path`` (a local folder) or ``hub`` (a Hub dataset id) is set. A local folder is either a
    dataset built by ``biomed data build`` (Parquet under ``data/<config>/``, pick the variant with ``config``) or
    any folder of ``.parquet`` / ``.jsonl`` / ``.jsonl.gz`` files.
    """

    name: str = ""  # short label used in logs, the cache manifest and the model card
    weight: float = 1.0  # share of the training tokens drawn from this source (normalised over the mixture)
    path: str | None = None
    hub: str | None = None
    config: str | None = None  # variant (local) or Hub config name
    split: str = "train"  # Hub split
    revision: str | None = None  # Hub revision; pin a commit so that the token cache and the card are exact
    text_column: str = "text"
    template: str | None = None  # format string over columns, e.g. "{instruction}\n{output}" for instruction sets
    where: dict = field(default_factory=dict)  # row filter: {column: value | [values] | {">=": x, "<": y}}
    # consecutive rows sharing these columns' values form one document, their texts joined by newlines in order
    # (a built release's article: [article_id, copy_index]); empty = every row is a document
    document_key: list[str] = field(default_factory=list)
    access: str | None = None  # where to get data behind an agreement; shown when `path` is missing

    def __post_init__(self) -> None:
        if (self.path is None) == (self.hub is None):
            raise ValueError(f"source {self.name or '?'!r} needs exactly one of `path` or `hub`")
        if self.weight <= 0:
            raise ValueError(f"source {self.name or '?'!r} has weight {self.weight}; weights must be > 0")
        if not self.name:
            self.name = Path(self.path).name if self.path else self.hub.split("/")[-1]
        for column, rule in self.where.items():
            _check_where_rule(self.name, column, rule)


WHERE_OPERATORS = (">=", ">", "<=", "<", "==", "!=")


def _check_where_rule(source: str, column: str, rule) -> None:
    """A `where` entry is a value, a non-empty list of values or {operator: value}: refuse any other shape."""
    prefix = f"source {source!r}: where {column!r}"
    if isinstance(rule, dict):
        if not rule:
            raise ValueError(f"{prefix} has no operator; use {{'>=': 4}} and the like")
        for op, bound in rule.items():
            if op not in WHERE_OPERATORS:
                raise ValueError(f"{prefix}: operator {op!r} is not one of {', '.join(WHERE_OPERATORS)}")
            if bound is None or isinstance(bound, (list, dict)):
                raise ValueError(f"{prefix}: operator {op!r} needs one value, got {bound!r}")
    elif isinstance(rule, list):
        if not rule:
            raise ValueError(f"{prefix} lists no value: it would select nothing")
    elif rule is None:
        raise ValueError(f"{prefix} is empty: give a value, a list of values or {{operator: value}}")


@dataclass
class DataConfig:
    """The packed training stream."""

    sources: list[SourceConfig] = field(default_factory=list)
    max_length: int = 8192  # tokens per packed sequence (8192 for ModernBERT, 512 for CamemBERT)
    shuffle_seed: int = 42  # order of the mixture; shared by a detour run and its MLM twin
    cache_dir: str = "~/.cache/biomed/pretrain"  # packed tokens, keyed by source, revision, tokenizer, length
    num_proc: int = 1  # tokenisation processes
    tokenize_batch_size: int = 1000  # documents per tokenisation batch


@dataclass
class PhaseConfig:
    """One entry of the schedule. The optimizer state carries over from one phase to the next."""

    name: str = "mlm"
    objective: Literal["mlm", "clm"] = "mlm"
    tokens: float = 1e9  # training tokens of this phase (rounded to whole optimizer steps)
    lr: float = 2e-4  # peak learning rate of the phase
    schedule: Literal["constant", "one_minus_sqrt", "linear", "cosine"] = "constant"
    warmup_tokens: float = 0.0  # linear warmup from 0 at the start of the phase
    final_lr: float = 0.0  # end of a decaying schedule
    mask_rate: float = 0.15  # MLM only: share of (non-special) tokens to predict
    whole_word_mask: bool = False  # MLM only: mask all sub-tokens of a picked word together (CamemBERT-bio)

    def __post_init__(self) -> None:
        if self.tokens <= 0:
            raise ValueError(f"phase {self.name!r}: tokens must be > 0")
        if self.whole_word_mask and self.objective != "mlm":
            raise ValueError(f"phase {self.name!r}: whole_word_mask is an MLM option, not {self.objective}")
        if not 0.0 < self.mask_rate < 1.0:
            raise ValueError(f"phase {self.name!r}: mask_rate must be in (0, 1)")


@dataclass
class ModelConfig:
    """What to start from and how to run it."""

    init: str = "answerdotai/ModernBERT-base"  # Hub id or local folder of a *ForMaskedLM checkpoint
    revision: str | None = None
    tokenizer: str | None = None  # default: the tokenizer of `init`
    # "auto": flash_attention_2 when flash-attn is installed on CUDA, else flex_attention on CUDA, else sdpa.
    attn_implementation: str = "auto"
    save_dtype: Literal["bfloat16", "float32"] = "bfloat16"  # dtype of the exported final weights
    # decoder: a *ForCausalLM (OLMo 2, Llama, ...) continued with next-token prediction; every phase is then clm
    kind: Literal["encoder", "decoder"] = "encoder"


@dataclass
class FreezeConfig:
    """Layer freezing (the paper's ablation): layers in ``layers`` get no update during the listed phases."""

    layers: str = ""  # "0-7", "8-14" or "0-3,10"; empty = train everything
    phases: list[int] = field(default_factory=lambda: [1])  # 1-based phase numbers


@dataclass
class CardConfig:
    """What the model card says beyond what the run knows by itself."""

    model_name: str = ""  # default: the output folder's name
    language: list[str] = field(default_factory=lambda: ["en"])
    license: str = "apache-2.0"
    hardware: str = ""  # e.g. "4x H100 80GB"; default: what the run saw
    intended_use: str = (
        "Fine-tuning on biomedical and clinical NLP tasks (NER, classification, retrieval) in the training language."
    )


@dataclass
class PretrainConfig:
    """Continued pre-training of an encoder: MLM, the CLM detour, layer freezing."""

    output_dir: str = "pretrain_output"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    phases: list[PhaseConfig] = field(default_factory=lambda: [PhaseConfig()])
    global_batch_size: int = 384  # sequences per optimizer step, reached by gradient accumulation
    seed: int = 17  # model-side randomness (masking, dropout)
    decoupled_weight_decay: bool = True  # Composer's DecoupledAdamW: decay scales with lr / peak lr, not lr
    save_every_tokens: float = 1e9  # checkpoint interval
    resume: bool = True  # continue from the newest checkpoint in output_dir when there is one
    freeze: FreezeConfig = field(default_factory=FreezeConfig)
    card: CardConfig = field(default_factory=CardConfig)
    training: dict = field(default_factory=dict)  # transformers.TrainingArguments keys
    decontamination: DecontaminationConfig = field(default_factory=DecontaminationConfig)  # n-gram overlap check

    def __post_init__(self) -> None:
        if not self.phases:
            raise ValueError("phases must list at least one phase")
        check_recipe_sources(self.data.sources)  # no evaluation set in a pre-training mixture
        if self.global_batch_size <= 0:
            raise ValueError("global_batch_size must be > 0")
        owned = sorted(set(self.training) & set(SCHEDULE_OWNED_KEYS))
        if owned:
            key = owned[0]
            raise ConfigError(f"training.{key} is decided by the kit; set {SCHEDULE_OWNED_KEYS[key]} instead")
        for number in self.freeze.phases:
            if not 1 <= number <= len(self.phases):
                raise ValueError(f"freeze.phases lists phase {number}; phases are numbered 1..{len(self.phases)}")
        parse_layer_range(self.freeze.layers)
        if self.model.kind == "decoder":
            not_clm = [phase.name for phase in self.phases if phase.objective != "clm"]
            if not_clm:
                raise ConfigError(
                    f"model.kind=decoder trains with next-token prediction; phase {not_clm[0]!r} "
                    "must have objective: clm"
                )

    @property
    def tokens_per_step(self) -> int:
        return self.global_batch_size * self.data.max_length

    def phase_steps(self) -> list[int]:
        """Optimizer steps of each phase (at least one)."""
        return [max(1, round(phase.tokens / self.tokens_per_step)) for phase in self.phases]

    @property
    def total_steps(self) -> int:
        return sum(self.phase_steps())

    @property
    def save_steps(self) -> int:
        return max(1, round(self.save_every_tokens / self.tokens_per_step))


def parse_layer_range(spec: str) -> list[int]:
    """``"0-7"`` -> ``[0, ..., 7]``; ``"0-3,10"`` -> ``[0, 1, 2, 3, 10]``; ``""`` -> ``[]``."""
    layers: set[int] = set()
    for part in filter(None, (p.strip() for p in spec.split(","))):
        start, sep, end = part.partition("-")
        try:
            low, high = int(start), int(end) if sep else int(start)
        except ValueError:
            raise ValueError(f"layer range {spec!r}: {part!r} is not N or N-M") from None
        if low < 0 or high < low:
            raise ValueError(f"layer range {spec!r}: {part!r} must be increasing and non-negative")
        layers.update(range(low, high + 1))
    return sorted(layers)


def warmup_steps(phase: PhaseConfig, tokens_per_step: int) -> int:
    """Warmup of a phase in optimizer steps (ceil, so a non-zero warmup is never skipped)."""
    return math.ceil(phase.warmup_tokens / tokens_per_step) if phase.warmup_tokens > 0 else 0


FAMILIES = {"en": "modernbert-bio", "fr": "moderncamembert-bio"}


def find_recipe(lang: str, size: str, objective: str) -> Path:
    """The paper's recipe for ``--lang/--size/--objective``, e.g. ``modernbert-bio-en-large-detour.yaml``."""
    choices = {
        "lang": (lang, tuple(FAMILIES)),
        "size": (size, ("base", "large")),
        "objective": (objective, ("detour", "mlm")),
    }
    for option, (value, valid) in choices.items():
        if value not in valid:
            raise ConfigError(f"--{option} must be one of {', '.join(valid)}; got {value!r}")
    # the same lookup as --config recipes/...: a copy in the working directory, else the packaged one
    return find_recipe_file(f"recipes/pretrain/{FAMILIES[lang]}-{lang}-{size}-{objective}.yaml")


DECODER_VARIANTS = ("BE-Base", "BE-Clinical", "BE-ClinicalCase", "BE-Educational", "BE-All", "BE-French")


def find_decoder_recipe(variant: str) -> Path:
    """The paper's OLMo2-7B-stage1 run on a Biomed-Enriched variant: ``olmo2-7b-stage1-be-all.yaml`` for BE-All."""
    if variant not in DECODER_VARIANTS:
        raise ConfigError(f"--variant must be one of {', '.join(DECODER_VARIANTS)}; got {variant!r}")
    return find_recipe_file(f"recipes/pretrain/olmo2-7b-stage1-{variant.lower()}.yaml")
