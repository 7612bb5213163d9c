"""The span head: CRF likelihood and Viterbi, biaffine span decoding, on hand-made numbers."""

import itertools

import pytest
import torch
from transformers import BertConfig, BertModel

from biomed.eval.heads import (
    LinearChainCrf,
    SpanNerModel,
    bio_constraints,
    decode_nested_spans,
    decode_spans,
    spans_to_tag_ids,
    tag_ids_to_spans,
)


def test_crf_likelihood_equals_brute_force_and_viterbi_finds_the_best_path():
    torch.manual_seed(0)
    crf = LinearChainCrf(3)
    with torch.no_grad():
        crf.transitions.copy_(torch.randn(3, 3))
        crf.start.copy_(torch.randn(3))
        crf.end.copy_(torch.randn(3))
    emissions = torch.randn(1, 4, 3)
    mask = torch.tensor([[1, 1, 1, 0]])

    def path_score(path):
        s = crf.start[path[0]] + emissions[0, 0, path[0]] + crf.end[path[-1]]
        for t in range(1, len(path)):
            s = s + crf.transitions[path[t - 1], path[t]] + emissions[0, t, path[t]]
        return s

    paths = list(itertools.product(range(3), repeat=3))
    scores = torch.stack([path_score(p) for p in paths])
    gold = (0, 2, 1)
    expected = torch.logsumexp(scores, 0) - path_score(gold)
    nll = crf.neg_log_likelihood(emissions, torch.tensor([[0, 2, 1, 0]]), mask)
    assert torch.isclose(nll, expected, atol=1e-5)
    assert crf.viterbi(emissions, mask) == [list(paths[int(scores.argmax())])]


def test_bio_constraints_forbid_inside_without_begin():
    allowed, start_allowed = bio_constraints(1)  # tags O, B-X, I-X
    crf = LinearChainCrf(3, allowed, start_allowed)
    # emissions favour "O I-X I-X", which BIO forbids: the best legal path is O B-X I-X
    emissions = torch.tensor([[[5.0, 0.0, 0.0], [0.0, 1.0, 3.0], [0.0, 0.0, 3.0]]])
    assert crf.viterbi(emissions, torch.ones(1, 3)) == [[0, 1, 2]]


def test_biaffine_decoding_takes_best_non_overlapping_spans():
    n, classes = 5, 3  # no-entity + 2 types
    scores = torch.zeros(n, n, classes)
    scores[..., 0] = 5.0  # everything is "no entity"…
    scores[0, 1, 1] = 9.0  # …except span 0-1 type 1 (confident)
    scores[1, 2, 2] = 7.0  # overlaps 0-1 and is less confident: dropped
    scores[3, 3, 2] = 8.0  # a single-word type-2 entity
    scores[3, 4, 1] = 8.5  # wider than max_width=1 if we cap it, else overlaps 3-3 and wins
    assert decode_spans(scores, n, max_width=2) == [(0, 1, 1), (3, 4, 1)]
    assert decode_spans(scores, n, max_width=1) == [(3, 3, 2)]
    assert decode_spans(scores, 3, max_width=2) == [(0, 1, 1)]  # words past n_words are never proposed


def tabib_decode(scores: torch.Tensor, n_words: int, max_width: int) -> list[tuple[int, int, int]]:
    """tabib's span decoding transcribed on its own terms (models/bert_span_ner.py l.480-481, l.979-1011 and
    ``_filter_overlapping_predictions`` l.1021-1061 in mode ``no_overlapping_same_label``): entities as dicts with
    exclusive ends and a confidence; the kit's softmax stands where tabib's sigmoid thresholds."""
    entities = []
    for start in range(n_words):
        for end in range(start, min(start + max_width, n_words)):
            probs = scores[start, end].softmax(-1)
            label = int(probs.argmax())
            if label > 0:
                entities.append({"start": start, "end": end + 1, "label": label, "confidence": float(probs[label])})
    sorted_ents = sorted(entities, key=lambda e: (-e.get("confidence", 0), -(e["end"] - e["start"])))
    kept = []
    for ent in sorted_ents:
        overlap = False
        for kept_ent in kept:
            if ent["start"] < kept_ent["end"] and ent["end"] > kept_ent["start"]:
                if ent["label"] == kept_ent["label"]:
                    overlap = True
                    break
        if not overlap:
            kept.append(ent)
    return [(e["start"], e["end"] - 1, e["label"]) for e in sorted(kept, key=lambda e: (e["start"], e["end"]))]


def test_nested_decoding_keeps_nested_spans_and_resolves_same_type_overlaps_as_tabib():
    n = 6
    scores = torch.zeros(n, n, 3)  # no-entity, type 1, type 2
    scores[..., 0] = 5.0
    scores[0, 3, 1] = 9.0  # the most confident span
    scores[1, 2, 2] = 8.0  # nested in 0-3, another type: kept
    scores[1, 1, 1] = 7.0  # nested in 0-3, same type: dropped
    scores[3, 5, 2] = 8.5  # crosses 0-3 (word 3), another type: kept
    scores[2, 4, 2] = 6.0  # crosses 1-2 and 3-5 of its own type, less confident: dropped
    scores[5, 5, 1] = 6.5  # inside 3-5 (type 2), overlaps no type-1 span: kept
    expected = [(0, 3, 1), (1, 2, 2), (3, 5, 2), (5, 5, 1)]
    assert decode_nested_spans(scores, n, max_width=4) == expected == tabib_decode(scores, n, 4)
    assert decode_nested_spans(scores, n, max_width=3) == [(1, 1, 1), (1, 2, 2), (3, 5, 2), (5, 5, 1)]
    # equal confidence: the longer span first, then the earlier one (tabib's sort is stable over its span order)
    tie = torch.zeros(4, 4, 2)
    tie[..., 0] = 5.0
    tie[0, 0, 1] = tie[0, 1, 1] = tie[1, 2, 1] = tie[3, 3, 1] = tie[2, 3, 1] = 9.0
    assert decode_nested_spans(tie, 4, max_width=4) == [(0, 1, 1), (2, 3, 1)] == tabib_decode(tie, 4, 4)


def test_nested_decoding_equals_tabibs_on_random_scores():
    generator = torch.Generator().manual_seed(0)
    for _ in range(20):
        scores = torch.randn(7, 7, 4, generator=generator) * 3
        assert decode_nested_spans(scores, 6, max_width=3) == tabib_decode(scores, 6, 3)


def test_span_model_trains_on_nested_spans_and_decodes_them():
    torch.manual_seed(0)
    encoder = BertModel(
        BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
    )
    model = SpanNerModel(
        encoder, num_types=2, lstm_width=32, lstm_layers=1, biaffine_size=16, max_width=4, dropout=0.0, nested=True
    )
    # example 0: "Cancer du foie" type 1 with "foie" type 2 nested in it; example 1: one type-2 word
    gold = [[[0, 2, 1], [2, 2, 2]], [[1, 1, 2], [-1, -1, -1]]]
    inputs = {
        "input_ids": torch.tensor([[2, 10, 11, 12, 3], [2, 14, 15, 3, 0]]),
        "attention_mask": torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]]),
        "word_index": torch.tensor([[1, 2, 3], [1, 2, -1]]),
        "labels": torch.tensor([[1, 2, 2], [0, 3, -100]]),  # the flattened tags train the CRF
        "spans": torch.tensor(gold),
    }
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(40):
        loss = model(**inputs)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    out = model(**inputs)["logits"]
    assert out.shape == (2, 2, 3)
    assert out.tolist() == [[[0, 2, 1], [2, 2, 2]], [[1, 1, 2], [-100, -100, -100]]]
    # the biaffine's targets are the given spans, the nested type-2 "foie" included, not the spans of the tags
    perfect = torch.zeros(2, 3, 3, 3)
    perfect[..., 0] = 10.0
    for b, rows in enumerate(gold):
        for i, j, c in rows:
            if c > 0:
                perfect[b, i, j] = torch.nn.functional.one_hot(torch.tensor(c), 3) * 10.0
    mask = inputs["word_index"] >= 0
    assert model._span_loss(perfect, inputs["labels"], mask, inputs["spans"]) < 1e-3
    assert model._span_loss(perfect, inputs["labels"], mask) > 0.1


def test_nested_span_head_refuses_the_crf_decoder():
    encoder = BertModel(
        BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    )
    with pytest.raises(ValueError, match="nested"):
        SpanNerModel(encoder, num_types=2, decoder="crf", nested=True)


def test_span_and_tag_conversions_round_trip():
    spans = [(0, 1, 1), (3, 3, 2)]
    tags = spans_to_tag_ids(spans, 5, 2)
    assert tags == [1, 2, 0, 3, 0]
    assert tag_ids_to_spans(tags) == spans
    assert tag_ids_to_spans([2, 2, 0, 1]) == [(3, 3, 1)]  # strict reading: I- without B- is no entity


def test_span_model_trains_and_decodes_word_level_tags():
    torch.manual_seed(0)
    encoder = BertModel(
        BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
    )
    model = SpanNerModel(encoder, num_types=2, lstm_width=32, lstm_layers=2, biaffine_size=16, dropout=0.1)
    inputs = {
        "input_ids": torch.tensor([[2, 10, 11, 12, 13, 3], [2, 14, 15, 3, 0, 0]]),
        "attention_mask": torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]]),
        "word_index": torch.tensor([[1, 3, 4], [1, 2, -1]]),
        "labels": torch.tensor([[1, 0, 3], [3, 4, -100]]),
    }
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    first = None
    for _ in range(30):
        loss = model(**inputs)["loss"]
        first = first if first is not None else loss.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < first / 2
    model.eval()
    out = model(**inputs)["logits"]
    assert out.tolist() == [[1, 0, 3], [3, 4, -100]]


def test_span_head_defaults_are_tabibs_sizes():
    """tabib configs/base/ner_span_bert.yaml: 3 BiLSTM layers of 400 (200 per direction), biaffine 64, spans of 40,
    dropout 0.4; the protocol of the French NER tasks carries the same numbers."""
    from biomed.benchmarks.tasks import TASKS

    encoder = BertModel(
        BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    )
    model = SpanNerModel(encoder, num_types=3)
    assert len(model.lstm.lstms) == 3
    assert all(lstm.hidden_size == 200 and lstm.bidirectional for lstm in model.lstm.lstms)
    assert model.biaffine.start_mlp[0].out_features == 64
    assert (model.max_width, model.dropout.p) == (40, 0.4)
    sizes = TASKS["fr/quaero-emea"].protocol.span
    assert (sizes.lstm_layers, sizes.lstm_width, sizes.biaffine_size, sizes.max_width, sizes.dropout) == (
        3,
        400,
        64,
        40,
        0.4,
    )


def test_auto_sequence_classifier_weights_the_positives_of_its_bce():
    from transformers import BertForSequenceClassification

    from biomed.eval.heads import AutoSequenceClassifier

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=50, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, num_labels=3
    )
    inner = BertForSequenceClassification(config).eval()
    weights = torch.tensor([1.0, 4.0, 9.0])
    model = AutoSequenceClassifier(inner, multi_label=True, pos_weight=weights)
    ids = torch.tensor([[2, 7, 8, 3], [2, 9, 3, 0]])
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])
    labels = torch.tensor([[1, 0, 1], [0, 1, 0]])
    out = model(input_ids=ids, attention_mask=mask, labels=labels)
    logits = inner(input_ids=ids, attention_mask=mask).logits  # the model's own pooling and head
    assert torch.allclose(out["logits"], logits)
    by_hand = -(
        weights * labels * torch.nn.functional.logsigmoid(logits)
        + (1 - labels) * torch.nn.functional.logsigmoid(-logits)
    )
    assert torch.isclose(out["loss"], by_hand.mean())
    unweighted = AutoSequenceClassifier(inner, multi_label=True)(input_ids=ids, attention_mask=mask, labels=labels)
    assert not torch.isclose(unweighted["loss"], out["loss"])
