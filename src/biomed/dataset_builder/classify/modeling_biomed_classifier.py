"""The Biomed-Enriched paragraph classifier: one shared encoder, three heads (type, domain, educational quality).

This file is self-contained (it imports only torch and transformers) because ``save_pretrained`` copies it into
every checkpoint folder: a downstream user without the kit loads a checkpoint with::

    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained("path/or/hub-id", trust_remote_code=True)
    tokenizer = AutoTokenizer.from_pretrained("path/or/hub-id")
    out = model(**tokenizer(["The patient, a 54-year-old man, ..."], return_tensors="pt"))
    out.type_logits.softmax(-1), out.domain_logits.softmax(-1), out.educational_score

Checkpoints trained by the kit also map ``AutoModelForSequenceClassification`` to this class, so
``pipeline("text-classification", model=path, trust_remote_code=True)`` reports the type head.

With the kit installed, ``register_auto_classes()`` makes ``AutoModel.from_pretrained(path)`` work without
``trust_remote_code``; the kit calls it before it trains or loads a classifier.
"""

from dataclasses import dataclass

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification, PreTrainedConfig, PreTrainedModel
from transformers import initialization as init
from transformers.configuration_utils import SubConfigSpec
from transformers.utils import ModelOutput


MODEL_TYPE = "biomed_classifier"


class BiomedClassifierConfig(PreTrainedConfig):
    """Configuration of :class:`BiomedClassifierModel`.

    Attributes:
        encoder_config: the backbone's config (any ``AutoModel`` encoder; XLM-R by default).
        type_labels: labels of the type head, in output order (also ``id2label``, so that a stock
            ``text-classification`` pipeline reports the type).
        domain_labels: labels of the domain head, in output order.
        educational_min: lowest educational score; the regression head is trained on raw scores and the rounded
            score is clipped to ``[educational_min, educational_max]``.
        educational_max: highest educational score.
        classifier_dropout: dropout on the pooled first-token representation before the heads.
        max_length: the length (in tokens) the classifier was trained with; the default truncation when scoring.
        classifier_version: the version string recorded in every scored Parquet shard and in the model card.
    """

    model_type = MODEL_TYPE
    sub_configs_defaults = {"encoder_config": SubConfigSpec(config_class=AutoConfig, model_type="xlm-roberta")}

    encoder_config: dict | PreTrainedConfig | None = None
    type_labels: list[str] | None = None
    domain_labels: list[str] | None = None
    educational_min: int = 1
    educational_max: int = 5
    classifier_dropout: float = 0.1
    max_length: int = 512
    classifier_version: str = ""

    def __post_init__(self, **kwargs):
        self.type_labels = list(self.type_labels or ["review", "study", "clinical_case", "other"])
        self.domain_labels = list(self.domain_labels or ["clinical", "biomedical", "other"])
        # id2label describes the type head so that stock pipelines (text-classification) report the type
        self.id2label = dict(enumerate(self.type_labels))
        self.label2id = {label: i for i, label in enumerate(self.type_labels)}
        super().__post_init__(**kwargs)


@dataclass
class BiomedClassifierOutput(ModelOutput):
    """Output of :class:`BiomedClassifierModel`.

    Attributes:
        loss: summed cross-entropy (type, domain) and mean squared error (educational score), when labels are given.
        logits: the type head's logits (same tensor as ``type_logits``), for stock ``text-classification`` pipelines.
        type_logits: ``(batch, len(type_labels))``.
        domain_logits: ``(batch, len(domain_labels))``.
        educational_score: ``(batch,)`` raw regression output on the 1-5 scale.
    """

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    type_logits: torch.Tensor | None = None
    domain_logits: torch.Tensor | None = None
    educational_score: torch.Tensor | None = None


class BiomedClassifierPreTrainedModel(PreTrainedModel):
    config_class = BiomedClassifierConfig
    config: BiomedClassifierConfig
    base_model_prefix = "biomed_classifier"
    supports_gradient_checkpointing = True
    _supports_flash_attn = True
    _supports_sdpa = True
    _supports_flex_attn = True
    _supports_attention_backend = True

    def _init_weights(self, module):
        super()._init_weights(module)
        if module is getattr(self, "educational_head", None):
            # start at the middle of the scale: the squared error would otherwise swamp both cross-entropies
            init.constant_(module.bias, (self.config.educational_min + self.config.educational_max) / 2)


class BiomedClassifierModel(BiomedClassifierPreTrainedModel):
    """A shared encoder, its first-token representation, and one linear head per annotation dimension."""

    def __init__(self, config: BiomedClassifierConfig):
        super().__init__(config)
        self.encoder = AutoModel.from_config(config.encoder_config)
        # the first-token representation is used raw (as in the paper); an unused pooler would only cost memory
        # and leave parameters without gradients (an error under DDP)
        if getattr(self.encoder, "pooler", None) is not None:
            self.encoder.pooler = None
        hidden = config.encoder_config.hidden_size
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.type_head = nn.Linear(hidden, len(config.type_labels))
        self.domain_head = nn.Linear(hidden, len(config.domain_labels))
        self.educational_head = nn.Linear(hidden, 1)
        self.post_init()

    def get_input_embeddings(self):
        return self.encoder.get_input_embeddings()

    def set_input_embeddings(self, value):
        self.encoder.set_input_embeddings(value)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        type_labels: torch.Tensor | None = None,
        domain_labels: torch.Tensor | None = None,
        educational_labels: torch.Tensor | None = None,
        first_token_only: bool = False,
    ) -> BiomedClassifierOutput:
        """Score a padded batch; with all three label tensors, also return the summed loss.

        ``first_token_only=True`` (inference) computes the encoder's last layer for the first token alone, the only
        position the heads read: the same scores with about ``10 / (12 * num_layers)`` less compute. It applies to
        BERT-family encoders (BERT, RoBERTa, XLM-R, CamemBERT) with SDPA attention; others run the full encoder.
        """
        if first_token_only and not self.training and self._has_first_token_path():
            first = self._first_token_state(input_ids, attention_mask, token_type_ids)
        else:
            extra = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
            first = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **extra).last_hidden_state[:, 0]
        pooled = self.dropout(first)
        type_logits = self.type_head(pooled)
        domain_logits = self.domain_head(pooled)
        educational = self.educational_head(pooled).squeeze(-1)
        loss = None
        if type_labels is not None and domain_labels is not None and educational_labels is not None:
            loss = (
                nn.functional.cross_entropy(type_logits.float(), type_labels)
                + nn.functional.cross_entropy(domain_logits.float(), domain_labels)
                + nn.functional.mse_loss(educational.float(), educational_labels.float())
            )
        return BiomedClassifierOutput(
            loss=loss,
            logits=type_logits,
            type_logits=type_logits,
            domain_logits=domain_logits,
            educational_score=educational,
        )

    def _has_first_token_path(self) -> bool:
        """Whether the encoder is a BERT-family stack of layers that ``_first_token_state`` knows how to run."""
        encoder = self.encoder
        layers = getattr(getattr(encoder, "encoder", None), "layer", None)
        if not layers or not hasattr(encoder, "embeddings") or encoder.config._attn_implementation != "sdpa":
            return False
        last = layers[-1]
        attention = getattr(getattr(last, "attention", None), "self", None)
        return (
            not getattr(encoder.config, "is_decoder", False)
            and hasattr(last, "feed_forward_chunk")
            and hasattr(last.attention, "output")
            and all(hasattr(attention, name) for name in ("query", "key", "value", "attention_head_size", "scaling"))
        )

    def _first_token_state(self, input_ids, attention_mask, token_type_ids) -> torch.Tensor:
        """The encoder's last hidden state at the first token, with the last layer run for that token only.

        Every layer but the last runs as usual. In the last one, keys and values still come from every token, but
        the query, the attention output, the feed-forward block and its layer norms only from the first: the rest
        of that layer's output would be thrown away.
        """
        encoder = self.encoder
        hidden = encoder.embeddings(input_ids=input_ids, token_type_ids=token_type_ids)
        # SDPA's boolean key mask, broadcast over heads and queries: built directly, it needs no (batch, 1, length,
        # length) tensor and no check of its values (a device-to-host sync per batch on GPU)
        mask = None if attention_mask is None else attention_mask[:, None, None, :].bool()
        *layers, last = encoder.encoder.layer
        for layer in layers:
            hidden = layer(hidden, mask)
        attention = last.attention.self
        batch, length, _ = hidden.shape
        first = hidden[:, :1]
        query = attention.query(first).view(batch, 1, -1, attention.attention_head_size).transpose(1, 2)
        key = attention.key(hidden).view(batch, length, -1, attention.attention_head_size).transpose(1, 2)
        value = attention.value(hidden).view(batch, length, -1, attention.attention_head_size).transpose(1, 2)
        context = nn.functional.scaled_dot_product_attention(
            query, key, value, attn_mask=mask, scale=attention.scaling
        )
        context = context.transpose(1, 2).reshape(batch, 1, -1)
        return last.feed_forward_chunk(last.attention.output(context, first))[:, 0]


def register_auto_classes() -> None:
    """Make ``AutoConfig``/``AutoModel`` know ``biomed_classifier`` and make ``save_pretrained`` ship this file.

    Idempotent. ``AutoModelForSequenceClassification`` is registered too, so that
    ``pipeline("text-classification", model=path)`` reports the type head.
    """
    AutoConfig.register(MODEL_TYPE, BiomedClassifierConfig, exist_ok=True)
    AutoModel.register(BiomedClassifierConfig, BiomedClassifierModel, exist_ok=True)
    AutoModelForSequenceClassification.register(BiomedClassifierConfig, BiomedClassifierModel, exist_ok=True)
    # with these, save_pretrained copies this file beside the weights and writes `auto_map` in config.json,
    # which is what `trust_remote_code=True` loads when the kit is not installed
    BiomedClassifierConfig.register_for_auto_class()
    BiomedClassifierModel.register_for_auto_class("AutoModel")
