"""Fine-tuning heads: the model's own ``AutoModelFor*Classification``, bare linear classifiers, the span NER head.

Example::

    from transformers import AutoModel
    from biomed.eval.heads import SpanNerModel

    model = SpanNerModel(AutoModel.from_pretrained("checkpoint"), num_types=10)

- ``AutoSequenceClassifier`` / ``load_auto_model``: ``AutoModelForSequenceClassification`` and
  ``AutoModelForTokenClassification``, the model's own pooling and head, as tabib and the BioClinical-ModernBERT
  code fine-tune (the protocols' default head, ``head="auto"``); the sequence loss is taken outside the model so
  that multi-label tasks can weight it (tabib ``WeightedBCETrainer``).
- ``SequenceClassifier``: a bare linear layer on the first token (``head="linear"``);
  cross-entropy for single-label, (optionally weighted) binary cross-entropy for multi-label.
- ``TokenTagger``: a linear layer per sub-token; labels sit on each word's first sub-token, the rest are -100.
- ``SpanNerModel``: the CLM-detour NER head. Word vectors (first sub-tokens) go through a BiLSTM; a linear-chain
  CRF over BIO tags and a biaffine span scorer (Yu, Bohnet & Poesio 2020) are trained jointly; decoding takes the
  biaffine's best non-overlapping spans (the CRF's Viterbi path is available with ``decoder="crf"``). With
  ``nested=True`` (data that keeps nested entities, tabib's QUAERO) the biaffine trains on every gold span, nested
  ones included, and decoding keeps nested spans as tabib's span model does (``decode_nested_spans``).

In evaluation mode the span model returns decoded word-level tag ids as ``logits`` so the ``Trainer`` gathers
them like any prediction; with ``nested=True`` it returns the decoded spans, (batch, spans, 3) rows of
(start, end, type index ≥ 1) padded with -100.
"""

from __future__ import annotations

import torch
from torch import nn


IGNORE = -100


def load_auto_model(kind: str, name_or_path: str, num_labels: int, **kwargs):
    """``AutoModelForSequenceClassification`` (``kind="sequence"``) or ``AutoModelForTokenClassification``
    (``kind="token"``) with a fresh head of ``num_labels`` outputs, without transformers' load report.

    A released encoder is saved with its pretraining head: those weights go unused and the new head starts random,
    which is the normal case here, so only encoder weights the checkpoint lacks are reported (in one line).
    """
    import logging

    from transformers import AutoModelForSequenceClassification, AutoModelForTokenClassification
    from transformers.utils import logging as hf_logging

    cls = AutoModelForSequenceClassification if kind == "sequence" else AutoModelForTokenClassification
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        model, info = cls.from_pretrained(name_or_path, num_labels=num_labels, output_loading_info=True, **kwargs)
    finally:
        hf_logging.set_verbosity(verbosity)
    head = ("classifier.", "score.", "head.", "pooler.")
    missing = sorted(k for k in info.get("missing_keys", ()) if not k.startswith(head))
    if missing:
        logging.getLogger(__name__).warning(
            "%s lacks %d encoder weight(s), randomly initialised (first: %s)", name_or_path, len(missing), missing[0]
        )
    return model


class AutoSequenceClassifier(nn.Module):
    """``AutoModelForSequenceClassification`` with the loss computed here: cross-entropy, or binary cross-entropy
    with per-label positive weights for multi-label (tabib ``models/bert_multilabel_cls.py`` l.45-69).

    Args:
        model: the ``*ForSequenceClassification`` model (its own pooling and head).
        multi_label: sigmoid/BCE instead of softmax/cross-entropy.
        pos_weight: per-label positive weights for BCE, or ``None``.
    """

    def __init__(self, model: nn.Module, multi_label: bool = False, pos_weight=None):
        super().__init__()
        self.model = model
        self.multi_label = multi_label
        self.register_buffer("pos_weight", None if pos_weight is None else torch.as_tensor(pos_weight).float())

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None):
        kwargs = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        logits = self.model(input_ids=input_ids, attention_mask=attention_mask, **kwargs).logits
        if labels is None:
            return {"logits": logits}
        if self.multi_label:
            loss = nn.functional.binary_cross_entropy_with_logits(logits, labels.float(), pos_weight=self.pos_weight)
        else:
            loss = nn.functional.cross_entropy(logits, labels.long())
        return {"loss": loss, "logits": logits}


class AutoTokenTagger(nn.Module):
    """``AutoModelForTokenClassification`` (its own dropout and linear head), labels on first sub-tokens."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None):
        kwargs = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, labels=labels, **kwargs)
        return {"loss": out.loss, "logits": out.logits} if labels is not None else {"logits": out.logits}


class SequenceClassifier(nn.Module):
    """Encoder + dropout + linear layer on the first token's hidden state.

    Args:
        encoder: a transformers base model (``AutoModel``).
        num_labels: number of classes.
        multi_label: sigmoid/BCE instead of softmax/cross-entropy.
        pos_weight: per-label positive weights for BCE (the weighted-BCE protocol), or ``None``.
    """

    def __init__(self, encoder: nn.Module, num_labels: int, multi_label: bool = False, pos_weight=None):
        super().__init__()
        self.encoder = encoder
        hidden = encoder.config.hidden_size
        self.dropout = nn.Dropout(getattr(encoder.config, "hidden_dropout_prob", 0.1) or 0.1)
        self.classifier = nn.Linear(hidden, num_labels)
        self.multi_label = multi_label
        self.register_buffer("pos_weight", None if pos_weight is None else torch.as_tensor(pos_weight).float())

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None):
        kwargs = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **kwargs).last_hidden_state
        logits = self.classifier(self.dropout(hidden[:, 0]))
        loss = None
        if labels is not None:
            if self.multi_label:
                loss = nn.functional.binary_cross_entropy_with_logits(
                    logits, labels.float(), pos_weight=self.pos_weight
                )
            else:
                loss = nn.functional.cross_entropy(logits, labels.long())
        return {"loss": loss, "logits": logits} if loss is not None else {"logits": logits}


class TokenTagger(nn.Module):
    """Encoder + dropout + linear layer per sub-token; cross-entropy ignoring -100 (non-first sub-tokens)."""

    def __init__(self, encoder: nn.Module, num_tags: int):
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(getattr(encoder.config, "hidden_dropout_prob", 0.1) or 0.1)
        self.classifier = nn.Linear(encoder.config.hidden_size, num_tags)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None):
        kwargs = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **kwargs).last_hidden_state
        logits = self.classifier(self.dropout(hidden))
        if labels is None:
            return {"logits": logits}
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=IGNORE)
        return {"loss": loss, "logits": logits}


class LinearChainCrf(nn.Module):
    """A linear-chain CRF with start/end scores; ``allowed`` masks transitions that BIO forbids.

    Args:
        num_tags: number of tags.
        allowed: optional (num_tags, num_tags) bool matrix, ``allowed[i, j]`` = tag j may follow tag i, and
            ``start_allowed`` (num_tags,) = tag may open a sequence. Forbidden moves score -1e4.
    """

    def __init__(self, num_tags: int, allowed: torch.Tensor | None = None, start_allowed: torch.Tensor | None = None):
        super().__init__()
        self.transitions = nn.Parameter(torch.zeros(num_tags, num_tags))
        self.start = nn.Parameter(torch.zeros(num_tags))
        self.end = nn.Parameter(torch.zeros(num_tags))
        penalty = torch.zeros(num_tags, num_tags)
        start_penalty = torch.zeros(num_tags)
        if allowed is not None:
            penalty[~allowed] = -1e4
        if start_allowed is not None:
            start_penalty[~start_allowed] = -1e4
        self.register_buffer("penalty", penalty)
        self.register_buffer("start_penalty", start_penalty)

    def _scores(self):
        return self.transitions + self.penalty, self.start + self.start_penalty

    def neg_log_likelihood(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean negative log-likelihood; ``mask`` (batch, length) must be left-aligned (words then padding)."""
        trans, start = self._scores()
        batch, length, _ = emissions.shape
        tags = tags.clamp(min=0)
        mask_f = mask.float()
        # score of the gold path
        gold = start[tags[:, 0]] + emissions[:, 0].gather(1, tags[:, :1]).squeeze(1)
        for t in range(1, length):
            step = trans[tags[:, t - 1], tags[:, t]] + emissions[:, t].gather(1, tags[:, t : t + 1]).squeeze(1)
            gold = gold + step * mask_f[:, t]
        last = tags.gather(1, (mask.sum(1) - 1).clamp(min=0).unsqueeze(1)).squeeze(1)
        gold = gold + self.end[last]
        # log partition function
        alpha = start.unsqueeze(0) + emissions[:, 0]
        for t in range(1, length):
            nxt = torch.logsumexp(alpha.unsqueeze(2) + trans.unsqueeze(0), dim=1) + emissions[:, t]
            alpha = torch.where(mask[:, t : t + 1].bool(), nxt, alpha)
        log_z = torch.logsumexp(alpha + self.end.unsqueeze(0), dim=1)
        return (log_z - gold).mean()

    @torch.no_grad()
    def viterbi(self, emissions: torch.Tensor, mask: torch.Tensor) -> list[list[int]]:
        """Best tag path per sequence (length = number of unmasked positions)."""
        trans, start = self._scores()
        batch, length, _ = emissions.shape
        score = start.unsqueeze(0) + emissions[:, 0]
        history = []
        for t in range(1, length):
            best, idx = (score.unsqueeze(2) + trans.unsqueeze(0)).max(dim=1)
            nxt = best + emissions[:, t]
            keep = mask[:, t : t + 1].bool()
            score = torch.where(keep, nxt, score)
            history.append(torch.where(keep, idx, torch.arange(idx.shape[1], device=idx.device).expand_as(idx)))
        score = score + self.end.unsqueeze(0)
        paths = []
        for b in range(batch):
            n = int(mask[b].sum())
            if n == 0:
                paths.append([])
                continue
            tag = int(score[b].argmax())
            path = [tag]
            for t in range(n - 1, 0, -1):
                tag = int(history[t - 1][b, tag])
                path.append(tag)
            paths.append(path[::-1])
        return paths


class BiaffineSpanScorer(nn.Module):
    """Scores every (start, end) word pair for each entity type plus "no entity" (class 0)."""

    def __init__(self, hidden: int, num_types: int, size: int = 128, dropout: float = 0.2):
        super().__init__()
        self.start_mlp = nn.Sequential(nn.Linear(hidden, size), nn.GELU(), nn.Dropout(dropout))
        self.end_mlp = nn.Sequential(nn.Linear(hidden, size), nn.GELU(), nn.Dropout(dropout))
        self.weight = nn.Parameter(torch.zeros(num_types + 1, size + 1, size + 1))
        nn.init.xavier_uniform_(self.weight)

    def forward(self, words: torch.Tensor) -> torch.Tensor:
        """(batch, n, hidden) -> (batch, n, n, num_types + 1) scores for span [i, j]."""
        ones = words.new_ones(*words.shape[:2], 1)
        start = torch.cat([self.start_mlp(words), ones], dim=-1)
        end = torch.cat([self.end_mlp(words), ones], dim=-1)
        return torch.einsum("bix,cxy,bjy->bijc", start, self.weight, end)


def _span_candidates(scores: torch.Tensor, n_words: int, max_width: int) -> list[tuple[float, int, int, int]]:
    """(probability, start, end, type index ≥ 1) of every span up to ``max_width`` words whose best class is an
    entity type, from one (n, n, C+1) score tensor, in row-major (start, then end) order."""
    probs = scores[:n_words, :n_words].softmax(-1)
    best_p, best_c = probs.max(-1)
    idx = torch.arange(n_words, device=scores.device)
    valid = (idx.unsqueeze(1) <= idx.unsqueeze(0)) & (idx.unsqueeze(0) - idx.unsqueeze(1) < max_width)
    starts, ends = torch.nonzero(valid & (best_c > 0), as_tuple=True)
    return list(
        zip(best_p[starts, ends].tolist(), starts.tolist(), ends.tolist(), best_c[starts, ends].tolist(), strict=True)
    )


def decode_spans(scores: torch.Tensor, n_words: int, max_width: int) -> list[tuple[int, int, int]]:
    """Best non-overlapping spans from one (n, n, C+1) score tensor: (start, end, type index ≥ 1).

    Candidates are spans whose best class is an entity type; they are taken greedily by probability, skipping
    any that overlaps a span already taken (flat NER, Yu et al. 2020).
    """
    candidates = sorted(_span_candidates(scores, n_words, max_width), reverse=True)
    taken = [False] * n_words
    spans = []
    for _, i, j, c in candidates:
        if not any(taken[i : j + 1]):
            spans.append((i, j, c))
            for k in range(i, j + 1):
                taken[k] = True
    return sorted(spans)


def decode_nested_spans(scores: torch.Tensor, n_words: int, max_width: int) -> list[tuple[int, int, int]]:
    """Spans from one (n, n, C+1) score tensor with nested entities allowed: (start, end, type index ≥ 1).

    As tabib's span model decodes (models/bert_span_ner.py l.480-481, l.951-1011, l.1021-1061; every span config's
    ``filter_predictions: no_overlapping_same_label``, configs/base/ner_span_bert.yaml l.45-46): every span up to
    ``max_width`` words whose best class is an entity type is a candidate with that class's probability; candidates
    are taken by probability, then the longer first, then in (start, end) order, and one is dropped when it overlaps
    (nested in, containing or crossing) a span of the same type already taken. Spans of different types may nest
    or cross. tabib's candidates are the spans whose best entity label has a sigmoid above 0.5 (its biaffine trains
    a BCE per label); this head's biaffine is a softmax over no-entity and the types, so a span is a candidate when
    an entity type beats no-entity.
    """
    candidates = _span_candidates(scores, n_words, max_width)  # (start, end) order, as tabib lists its spans
    candidates.sort(key=lambda c: (-c[0], -(c[2] - c[1])))  # stable: ties keep (start, end) order, as tabib's
    # spans are word intervals: two overlap exactly when they share a word, so one occupancy row per type suffices
    taken = [[False] * n_words for _ in range(scores.shape[-1])]
    kept = []
    for _, i, j, c in candidates:
        if not any(taken[c][i : j + 1]):
            kept.append((i, j, c))
            taken[c][i : j + 1] = [True] * (j + 1 - i)
    return sorted(kept)


def spans_to_tag_ids(spans: list[tuple[int, int, int]], n_words: int, num_types: int) -> list[int]:
    """Spans (type index ≥ 1) -> BIO tag ids in the order O, B-type1, I-type1, B-type2, …"""
    tags = [0] * n_words
    for i, j, c in spans:
        tags[i] = 2 * c - 1
        for k in range(i + 1, j + 1):
            tags[k] = 2 * c
    return tags


def tag_ids_to_spans(tags: list[int]) -> list[tuple[int, int, int]]:
    """BIO tag ids (O, B-1, I-1, …) -> spans (start, end, type index ≥ 1); strict IOB2 reading."""
    spans, start, ctype = [], None, 0
    for k, tag in enumerate([*tags, 0]):
        if tag > 0 and tag % 2 == 0 and start is not None and tag // 2 == ctype:
            continue
        if start is not None:
            spans.append((start, k - 1, ctype))
            start = None
        if tag % 2 == 1:
            start, ctype = k, (tag + 1) // 2
    return spans


def bio_constraints(num_types: int) -> tuple[torch.Tensor, torch.Tensor]:
    """BIO transition masks for tags O, B-1, I-1, …: I-x only after B-x or I-x, never first."""
    n = 2 * num_types + 1
    allowed = torch.ones(n, n, dtype=torch.bool)
    start_allowed = torch.ones(n, dtype=torch.bool)
    for c in range(1, num_types + 1):
        inside = 2 * c
        allowed[:, inside] = False
        allowed[2 * c - 1, inside] = True
        allowed[inside, inside] = True
        start_allowed[inside] = False
    return allowed, start_allowed


class GatedBiLstm(nn.Module):
    """Stacked BiLSTM layers, each mixed into its input by a learned gate then layer-normed (tabib's
    ``BiLSTMContextualizer``, ``models/bert_span_ner.py`` l.32-112, after nlstruct).

    Args:
        input_size: width of the word vectors.
        width: output width of each layer (both directions together; ``width // 2`` per direction).
        layers: number of stacked layers.
        dropout: dropout on each layer's output.
    """

    def __init__(self, input_size: int, width: int, layers: int, dropout: float):
        super().__init__()
        self.project = nn.Linear(input_size, width) if input_size != width else nn.Identity()
        self.lstms = nn.ModuleList(
            nn.LSTM(width, width // 2, batch_first=True, bidirectional=True) for _ in range(layers)
        )
        self.gates = nn.ModuleList(nn.Linear(width, 1) for _ in range(layers))
        self.norms = nn.ModuleList(nn.LayerNorm(width) for _ in range(layers))
        self.dropout = nn.Dropout(dropout)

    def forward(self, words: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.project(words)
        lengths = mask.sum(1).clamp(min=1).cpu()
        for lstm, gate, norm in zip(self.lstms, self.gates, self.norms, strict=True):
            packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            out, _ = lstm(packed)
            out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
            out = self.dropout(out)
            g = torch.sigmoid(gate(out))
            x = norm(x * (1 - g) + out * g)
        return x


class SpanNerModel(nn.Module):
    """Encoder -> first sub-token of each word -> gated BiLSTM stack -> (CRF over BIO tags, biaffine span scorer).

    Inputs carry ``word_index`` (batch, n_words): the position of each word's first sub-token, -1 for padding and
    for words cut off by truncation; ``labels`` (batch, n_words) are BIO tag ids (-100 on padding). The default
    sizes are tabib's (``configs/base/ner_span_bert.yaml`` l.9-21); tabib scores sub-token spans with a BIOUL
    tagger's CRF marginals plus a per-label biaffine and a BCE per span, where this head works on words with a
    BIO CRF and a softmax biaffine (``docs/fidelity.md`` lists the differences).

    Args:
        encoder: a transformers base model.
        num_types: number of entity types (tags are O, B-t, I-t for each type).
        lstm_width: output width of each BiLSTM layer (both directions).
        lstm_layers: stacked BiLSTM layers.
        biaffine_size: width of the biaffine start/end projections.
        max_width: longest span (in words) the biaffine scorer proposes.
        dropout: dropout of word vectors, contextualiser and scorer.
        decoder: ``biaffine`` (default) or ``crf``.
        nested: train the biaffine on the gold spans given as ``spans`` (nested ones included) and decode nested
            spans (``decode_nested_spans``); evaluation then returns spans, not tags. Biaffine decoding only.
    """

    def __init__(
        self,
        encoder: nn.Module,
        num_types: int,
        lstm_width: int = 400,
        lstm_layers: int = 3,
        biaffine_size: int = 64,
        max_width: int = 40,
        dropout: float = 0.4,
        decoder: str = "biaffine",
        nested: bool = False,
    ):
        super().__init__()
        if lstm_width < 2 or lstm_layers < 1:
            raise ValueError("the span head needs lstm_width >= 2 and lstm_layers >= 1")
        if nested and decoder != "biaffine":
            raise ValueError("nested spans are decoded by the biaffine scorer; a CRF path holds one tag per word")
        self.nested = nested
        self.encoder = encoder
        self.num_types = num_types
        self.max_width = max_width
        self.decoder = decoder
        self.dropout = nn.Dropout(dropout)
        self.lstm = GatedBiLstm(encoder.config.hidden_size, 2 * (lstm_width // 2), lstm_layers, dropout)
        width = 2 * (lstm_width // 2)
        self.emissions = nn.Linear(width, 2 * num_types + 1)
        allowed, start_allowed = bio_constraints(num_types)
        self.crf = LinearChainCrf(2 * num_types + 1, allowed, start_allowed)
        self.biaffine = BiaffineSpanScorer(width, num_types, size=biaffine_size, dropout=dropout)

    def word_vectors(self, input_ids, attention_mask, word_index, token_type_ids=None):
        kwargs = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **kwargs).last_hidden_state
        mask = word_index >= 0
        gathered = hidden.gather(1, word_index.clamp(min=0).unsqueeze(-1).expand(-1, -1, hidden.shape[-1]))
        words = self.dropout(gathered * mask.unsqueeze(-1))
        return self.dropout(self.lstm(words, mask)), mask

    def forward(self, input_ids, word_index, attention_mask=None, token_type_ids=None, labels=None, spans=None):
        """``spans`` (batch, n_spans, 3): gold (start, end, type index ≥ 1) rows padded with -1, nested ones
        included; when given the biaffine trains on them instead of the spans read from the BIO ``labels`` (which
        still train the CRF)."""
        words, mask = self.word_vectors(input_ids, attention_mask, word_index, token_type_ids)
        emissions = self.emissions(words)
        span_scores = self.biaffine(words)
        loss = None
        if labels is not None:
            loss = self.crf.neg_log_likelihood(emissions, labels.clamp(min=0), mask)
            loss = loss + self._span_loss(span_scores, labels, mask, spans)
        if self.training:
            return {"loss": loss, "logits": emissions}
        logits = self.decode_nested(span_scores, mask) if self.nested else self.decode(emissions, span_scores, mask)
        return {"loss": loss, "logits": logits} if loss is not None else {"logits": logits}

    def _span_loss(self, span_scores, labels, mask, spans=None):
        gold = torch.zeros(span_scores.shape[:3], dtype=torch.long, device=span_scores.device)
        if spans is not None:
            b, k = torch.nonzero(spans[..., 2] > 0, as_tuple=True)
            gold[b, spans[b, k, 0], spans[b, k, 1]] = spans[b, k, 2]
        else:
            for b, row in enumerate(labels.tolist()):
                n = int(mask[b].sum())
                for i, j, c in tag_ids_to_spans([max(t, 0) for t in row[:n]]):
                    gold[b, i, j] = c
        n = span_scores.shape[1]
        idx = torch.arange(n, device=span_scores.device)
        upper = (idx.unsqueeze(1) <= idx.unsqueeze(0)) & (idx.unsqueeze(0) - idx.unsqueeze(1) < self.max_width)
        valid = upper.unsqueeze(0) & mask.unsqueeze(1) & mask.unsqueeze(2)
        return nn.functional.cross_entropy(span_scores[valid], gold[valid])

    @torch.no_grad()
    def decode(self, emissions, span_scores, mask) -> torch.Tensor:
        """Word-level BIO tag ids, (batch, n_words), -100 on padding."""
        out = torch.full(mask.shape, IGNORE, dtype=torch.long, device=mask.device)
        if self.decoder == "crf":
            paths = self.crf.viterbi(emissions, mask)
        else:
            paths = []
            for b in range(mask.shape[0]):
                n = int(mask[b].sum())
                spans = decode_spans(span_scores[b], n, self.max_width)
                paths.append(spans_to_tag_ids(spans, n, self.num_types))
        for b, path in enumerate(paths):
            out[b, : len(path)] = torch.tensor(path, dtype=torch.long, device=mask.device)
        return out

    @torch.no_grad()
    def decode_nested(self, span_scores, mask) -> torch.Tensor:
        """Decoded spans, (batch, max spans, 3) rows of (start, end, type index ≥ 1), padded with -100."""
        found = [decode_nested_spans(span_scores[b], int(mask[b].sum()), self.max_width) for b in range(mask.shape[0])]
        out = torch.full((mask.shape[0], max([1, *map(len, found)]), 3), IGNORE, dtype=torch.long, device=mask.device)
        for b, rows in enumerate(found):
            if rows:
                out[b, : len(rows)] = torch.tensor(rows, dtype=torch.long, device=mask.device)
        return out
