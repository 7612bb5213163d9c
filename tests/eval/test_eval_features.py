"""Labels sit on each word's first sub-token; truncation is counted, never silent; padding modes."""

import torch

from biomed.eval.features import PaddingCollator, encode_classification, encode_ner, tag_names
from biomed.eval.heads import IGNORE


RECORD = {"tokens": ["hépatocarcinome", "du", "foie", "droit"], "tags": ["B-DISO", "O", "B-ANAT", "I-ANAT"]}
TAGS = tag_names(["ANAT", "DISO"])  # O, B-ANAT, I-ANAT, B-DISO, I-DISO


def test_labels_on_first_subtoken(tiny_tokenizer):
    columns, stats = encode_ner([RECORD], tiny_tokenizer, TAGS, max_length=64, head="linear")
    enc = tiny_tokenizer(RECORD["tokens"], is_split_into_words=True)
    word_ids = enc.word_ids()
    assert word_ids.count(0) > 1, "the fixture word must be split into several sub-tokens for this test to bite"
    expected = []
    for k, word in enumerate(word_ids):
        first = word is not None and (k == 0 or word_ids[k - 1] != word)
        expected.append(TAGS.index(RECORD["tags"][word]) if first else IGNORE)
    assert columns["labels"][0] == expected
    assert columns["word_positions"][0] == [word_ids.index(w) for w in range(4)]
    assert stats["examples_truncated"] == 0 and stats["entities_lost"] == 0


def test_span_head_gets_word_level_labels(tiny_tokenizer):
    columns, _ = encode_ner([RECORD], tiny_tokenizer, TAGS, max_length=64, head="span")
    assert columns["labels"][0] == [3, 0, 1, 2]
    assert columns["word_index"][0] == columns["word_positions"][0]


def test_truncation_is_counted(tiny_tokenizer):
    n_first = len(tiny_tokenizer(["hépatocarcinome", "du"], is_split_into_words=True)["input_ids"])
    columns, stats = encode_ner([RECORD, RECORD], tiny_tokenizer, TAGS, max_length=n_first, head="linear")
    # [CLS] hépatocarcinome du [SEP]: foie droit (one ANAT entity) cut off in both examples
    assert stats == {
        "examples": 2,
        "examples_truncated": 2,
        "words_lost": 4,
        "entities_lost": 2,
        "words_without_subtokens": 0,
    }
    assert len(columns["word_positions"][0]) == 2
    assert columns["scored_words"] == [[0, 1], [0, 1]]  # only these two words are scored

    texts = [{"text": "foie " * 30, "labels": ["a"]}, {"text": "foie", "labels": ["b"]}]
    columns, stats = encode_classification(texts, tiny_tokenizer, ["a", "b"], max_length=10, multi_label=False)
    assert stats == {"examples": 2, "examples_truncated": 1, "subtokens_lost": 30 - 8}
    assert columns["labels"] == [0, 1] and [len(x) for x in columns["input_ids"]] == [10, 3]


def test_collator_pads_dynamically_or_to_max_length():
    features = [
        {"input_ids": [2, 5, 3], "attention_mask": [1, 1, 1], "labels": [IGNORE, 1, IGNORE]},
        {"input_ids": [2, 3], "attention_mask": [1, 1], "labels": [IGNORE, IGNORE]},
    ]
    dynamic = PaddingCollator(0, "token", multiple_of=1)(features)
    assert dynamic["input_ids"].tolist() == [[2, 5, 3], [2, 3, 0]]
    assert dynamic["labels"].tolist() == [[IGNORE, 1, IGNORE], [IGNORE, IGNORE, IGNORE]]
    fixed = PaddingCollator(0, "token", pad_to=16)(features)
    assert fixed["input_ids"].shape == (2, 16) and fixed["attention_mask"].sum().item() == 5
    multi = PaddingCollator(0, "sequence")([{**f, "labels": [1.0, 0.0]} for f in features])
    assert multi["labels"].dtype == torch.float64 and multi["labels"].shape == (2, 2)


NESTED = {**RECORD, "spans": [[0, 3, "DISO"], [2, 3, "ANAT"], [2, 2, "ANAT"]]}  # "foie (droit)" inside the DISO


def test_nested_spans_reach_the_span_head_and_truncation_counts_them(tiny_tokenizer):
    columns, stats = encode_ner([NESTED], tiny_tokenizer, TAGS, max_length=64, head="span", nested=True)
    assert columns["spans"] == [[[0, 3, 2], [2, 3, 1], [2, 2, 1]]]  # type index: ANAT 1, DISO 2 (tag_names order)
    assert columns["labels"][0] == [3, 0, 1, 2]  # the tags stay as they were, for the CRF
    n_three = len(tiny_tokenizer(RECORD["tokens"][:3], is_split_into_words=True)["input_ids"])
    columns, stats = encode_ner([NESTED], tiny_tokenizer, TAGS, max_length=n_three, head="span", nested=True)
    # "droit" is cut off: the DISO and the wide ANAT end on it and are lost, the nested "foie" stays
    assert stats["entities_lost"] == 2 and columns["spans"] == [[[2, 2, 1]]]
    flat, flat_stats = encode_ner([NESTED], tiny_tokenizer, TAGS, max_length=n_three, head="span")
    assert "spans" not in flat and flat_stats["entities_lost"] == 1  # a flat task counts its tags' entities


def test_collator_pads_gold_spans_with_minus_one():
    features = [
        {"input_ids": [2, 5, 6, 3], "attention_mask": [1] * 4, "labels": [1, 2], "word_index": [1, 2], "spans": []},
        {"input_ids": [2, 5, 3], "attention_mask": [1] * 3, "labels": [3], "word_index": [1], "spans": [[0, 0, 2]]},
    ]
    batch = PaddingCollator(0, "word", multiple_of=1)(features)
    assert batch["spans"].tolist() == [[[-1, -1, -1]], [[0, 0, 2]]]
    assert "spans" not in PaddingCollator(0, "word")([{k: v for k, v in f.items() if k != "spans"} for f in features])
