"""Load the encoder to train, pick its attention backend, reach its layers, group its parameters.

Example::

    from biomed.train.model import load_model, encoder_layers

    model, tokenizer = load_model(cfg.model)
    len(encoder_layers(model))
"""

from __future__ import annotations

import importlib.util
import logging

from biomed.errors import BiomedError
from biomed.train.config import ModelConfig


logger = logging.getLogger(__name__)


def pick_attn_implementation(requested: str, device_type: str, *, decoder: bool = False) -> str:
    """``auto``: flash_attention_2 if flash-attn is installed (CUDA), else flex_attention on CUDA with triton, else
    sdpa. A decoder gets sdpa rather than flex attention: its causal mask is sdpa's own ``is_causal`` kernel.

    On CUDA the sliding-window layers are where the backend matters: sdpa has no banded kernel and attends to the
    whole 8192-token sequence behind a materialised mask, flash and flex attention skip the masked blocks.
    """
    if requested != "auto":
        return requested
    if device_type == "cuda":
        if importlib.util.find_spec("flash_attn") is not None:
            return "flash_attention_2"
        if importlib.util.find_spec("triton") is not None and not decoder:  # flex attention compiles to triton kernels
            return "flex_attention"
    return "sdpa"


def default_device_type() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def auto_model_class(kind: str):
    """``AutoModelForCausalLM`` for ``model.kind=decoder``, ``AutoModelForMaskedLM`` for encoders."""
    from transformers import AutoModelForCausalLM, AutoModelForMaskedLM

    return AutoModelForCausalLM if kind == "decoder" else AutoModelForMaskedLM


def is_causal_lm(model) -> bool:
    """Whether ``model`` is one of transformers' ``*ForCausalLM`` classes (a decoder: causal by construction)."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    names = set(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values())
    return any(cls.__name__ in names for cls in type(model).__mro__)  # the MRO: FSDP2 subclasses the model


def load_model(cfg: ModelConfig, device_type: str | None = None):
    """``(model, tokenizer)`` for training: a ``*ForMaskedLM`` (or ``*ForCausalLM`` for ``kind: decoder``) in
    float32 (bf16 autocast does the rest).

    ModernBERT is switched to sparse prediction (the head runs only where a label is set) on the instance, so
    the saved config stays the upstream one.
    """
    from transformers import AutoTokenizer

    decoder = cfg.kind == "decoder"
    impl = pick_attn_implementation(cfg.attn_implementation, device_type or default_device_type(), decoder=decoder)
    try:
        tokenizer = AutoTokenizer.from_pretrained(cfg.tokenizer or cfg.init, revision=cfg.revision)
        model = auto_model_class(cfg.kind).from_pretrained(cfg.init, revision=cfg.revision, attn_implementation=impl)
    except (OSError, ValueError) as err:  # ValueError: a checkpoint of the wrong kind (encoder asked as decoder)
        expected = "*ForCausalLM" if decoder else "*ForMaskedLM"
        raise BiomedError(
            f"cannot load model.init={cfg.init!r} as model.kind={cfg.kind}: {str(err).splitlines()[0]}. Use a local "
            f"{expected} folder or a Hub id reachable from this machine (set HF_HUB_OFFLINE=1 to use the local "
            "cache only)."
        ) from None
    if hasattr(model, "sparse_prediction"):
        model.sparse_prediction = True
    logger.info("loaded %s (%s attention)", cfg.init, impl)
    return model, tokenizer


def encoder_layers(model):
    """The ``nn.ModuleList`` of transformer layers, for ModernBERT (``model.layers``) and BERT-likes
    (``encoder.layer``)."""
    body = model.base_model
    layers = getattr(body, "layers", None)
    if layers is None and hasattr(body, "encoder"):
        layers = getattr(body.encoder, "layer", None)
    if layers is None:
        raise BiomedError(f"cannot find the transformer layers of {type(model).__name__}; freezing needs them")
    return layers


def frozen_parameters(model, layer_indices: list[int]) -> list:
    """Parameters of the listed layers (an index past the last layer is an error naming the depth)."""
    layers = encoder_layers(model)
    bad = [i for i in layer_indices if i >= len(layers)]
    if bad:
        raise BiomedError(
            f"freeze.layers asks for layer {bad[0]} but {type(model).__name__} has {len(layers)} layers (0-"
            f"{len(layers) - 1})"
        )
    return [p for i in layer_indices for p in layers[i].parameters()]


def parameter_groups(model, weight_decay: float, *, decay_embeddings: bool = True) -> list[dict]:
    """AdamW groups: decay on weight matrices (and embeddings unless ``decay_embeddings=False``), none on biases
    and normalisation weights."""
    import torch

    norm_types = (torch.nn.LayerNorm, torch.nn.GroupNorm, getattr(torch.nn, "RMSNorm", torch.nn.LayerNorm))
    no_decay = set()
    if not decay_embeddings:
        no_decay.add(id(model.get_input_embeddings().weight))
    for module in model.modules():
        for name, param in module.named_parameters(recurse=False):
            if isinstance(module, norm_types) or name == "bias" or "norm" in type(module).__name__.lower():
                no_decay.add(id(param))
    decay_params, plain_params = [], []
    for param in model.parameters():  # deduplicated: a tied decoder weight appears once
        (plain_params if id(param) in no_decay else decay_params).append(param)
    return [
        {"params": decay_params, "weight_decay": weight_decay},
        {"params": plain_params, "weight_decay": 0.0},
    ]
