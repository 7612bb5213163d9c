"""Records -> model inputs: sub-token label alignment, truncation counting and the batch collator.

Example::

    from biomed.eval.features import encode_ner, tag_names

    encoded, truncation = encode_ner(records, tokenizer, tag_names(["DISO"]), max_length=512, head="linear")
    print(truncation)   # {'examples': …, 'examples_truncated': …, 'words_lost': …, 'entities_lost': …}

Labels go on each word's first sub-token (-100 on the others and on special tokens). Whatever the maximum length
cuts off is counted — examples, words, entities, sub-tokens — and reported; only the words whose first sub-token
survives are scored (``scored_words``), as the BioClinical-ModernBERT code (src/metrics/metrics.py l.60-68: positions
labelled -100 are dropped) and tabib (models/bert_token_ner.py l.262-269) score them.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from biomed.benchmarks.bio import entities
from biomed.eval.heads import IGNORE


def tag_names(types: list[str]) -> list[str]:
    """BIO tag names in id order: ``O``, then ``B-t``, ``I-t`` for each entity type (the span head relies on it)."""
    return ["O"] + [f"{prefix}-{t}" for t in types for prefix in ("B", "I")]


def encode_ner(
    records: list[dict], tokenizer, tags: list[str], max_length: int, head: str, nested: bool = False
) -> tuple[dict[str, list], dict[str, int]]:
    """Tokenise word lists and align BIO labels; count what the maximum length cuts off.

    Args:
        records: ``{"tokens", "tags"}`` records (and ``spans`` when ``nested``).
        tokenizer: a fast tokenizer (``word_ids`` is needed to find first sub-tokens).
        tags: tag names in id order (``tag_names``).
        max_length: maximum sub-tokens per example, special tokens included.
        head: ``linear`` (sub-token ``labels``) or ``span`` (word-level ``labels`` + ``word_index``).
        nested: the records' ``spans`` are the entities (nested ones included): they are what the window can lose,
            and the span head gets the ones inside the window as ``spans`` rows (start, end, type index ≥ 1).

    Returns:
        Columns (``input_ids``, ``attention_mask``, ``labels``, ``length``, ``word_index`` and, when ``nested``,
        ``spans`` for the span head, ``word_positions``: each in-window word's first sub-token, -1 when it has none,
        and ``scored_words``: the words that have a sub-token in the window, the only ones scored) and truncation
        counts.
    """
    tag_id = {t: i for i, t in enumerate(tags)}
    # tag_names order: B-type is tag 2c - 1 for type index c
    type_id = {t[2:]: (i + 1) // 2 for t, i in tag_id.items() if t.startswith("B-")}
    enc = tokenizer([r["tokens"] for r in records], is_split_into_words=True, truncation=True, max_length=max_length)
    columns: dict[str, list] = {
        "input_ids": [],
        "attention_mask": [],
        "labels": [],
        "length": [],
        "word_positions": [],
        "scored_words": [],
    }
    if head == "span":
        columns["word_index"] = []
        if nested:
            columns["spans"] = []
    stats = {
        "examples": len(records),
        "examples_truncated": 0,
        "words_lost": 0,
        "entities_lost": 0,
        "words_without_subtokens": 0,
    }
    for n, record in enumerate(records):
        word_ids = enc.word_ids(n)
        first: dict[int, int] = {}
        for position, word in enumerate(word_ids):
            if word is not None and word not in first:
                first[word] = position
        in_window = max(first) + 1 if first else 0
        # a word the tokenizer turns into nothing (e.g. a control character) has no sub-token to carry its label
        stats["words_without_subtokens"] += sum(1 for w in range(in_window) if w not in first)
        lost = len(record["tokens"]) - in_window
        if lost > 0:
            stats["examples_truncated"] += 1
            stats["words_lost"] += lost
            spans = record["spans"] if nested else [(b, e, t) for t, b, e in entities(record["tags"], "strict")]
            stats["entities_lost"] += sum(1 for _, end, _ in spans if end >= in_window)
        columns["input_ids"].append(enc["input_ids"][n])
        columns["attention_mask"].append(enc["attention_mask"][n])
        columns["length"].append(len(enc["input_ids"][n]))
        columns["word_positions"].append([first.get(w, -1) for w in range(in_window)])
        columns["scored_words"].append(sorted(first))
        word_tags = [tag_id[t] for t in record["tags"][:in_window]]
        if head == "span":
            columns["word_index"].append([first.get(w, 0) for w in range(in_window)])
            columns["labels"].append(word_tags)
            if nested:
                columns["spans"].append([[b, e, type_id[t]] for b, e, t in record["spans"] if e < in_window])
        else:
            labels = [IGNORE] * len(word_ids)
            for word, position in first.items():
                labels[position] = word_tags[word]
            columns["labels"].append(labels)
    return columns, stats


def encode_classification(
    records: list[dict], tokenizer, labels: list[str], max_length: int, multi_label: bool
) -> tuple[dict[str, list], dict[str, int]]:
    """Tokenise texts, encode labels (class id, or a multi-hot vector) and count truncated sub-tokens exactly."""
    label_id = {label: i for i, label in enumerate(labels)}
    enc = tokenizer(
        [r["text"] for r in records], truncation=True, max_length=max_length, return_overflowing_tokens=True
    )
    n_special = tokenizer.num_special_tokens_to_add()
    columns: dict[str, list] = {"input_ids": [], "attention_mask": [], "labels": [], "length": []}
    stats = {"examples": len(records), "examples_truncated": 0, "subtokens_lost": 0}
    seen = set()
    for chunk, sample in enumerate(enc["overflow_to_sample_mapping"]):
        if sample in seen:
            # overflow chunks hold what the maximum length cut off; count it, never train or score on it
            stats["subtokens_lost"] += len(enc["input_ids"][chunk]) - n_special
            continue
        seen.add(sample)
        record = records[sample]
        columns["input_ids"].append(enc["input_ids"][chunk])
        columns["attention_mask"].append(enc["attention_mask"][chunk])
        columns["length"].append(len(enc["input_ids"][chunk]))
        if multi_label:
            vector = [0.0] * len(labels)
            for name in record["labels"]:
                vector[label_id[name]] = 1.0
            columns["labels"].append(vector)
        else:
            columns["labels"].append(label_id[record["labels"][0]])
    chunks = Counter(enc["overflow_to_sample_mapping"])
    stats["examples_truncated"] = sum(1 for count in chunks.values() if count > 1)
    return columns, stats


class PaddingCollator:
    """Pads a batch: dynamically to its longest example (the kit's batching) or to a fixed length (baseline).

    Args:
        pad_token_id: the tokenizer's padding id.
        labels: ``token`` (one label per sub-token), ``word`` (span head: word-level labels + ``word_index``, and
            gold ``spans`` rows padded with -1 when the features carry them) or ``sequence`` (a class id or a
            multi-hot vector per example).
        pad_to: fixed length for every batch, or ``None`` for the longest in the batch.
        multiple_of: round dynamic lengths up to a multiple of this (tensor-core friendly shapes).
    """

    def __init__(self, pad_token_id: int, labels: str, pad_to: int | None = None, multiple_of: int = 8):
        self.pad_token_id = pad_token_id
        self.labels = labels
        self.pad_to = pad_to
        self.multiple_of = multiple_of

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        longest = max(len(f["input_ids"]) for f in features)
        if self.pad_to is not None:
            length = max(self.pad_to, longest)
        else:
            length = -(-longest // self.multiple_of) * self.multiple_of
        batch = {
            "input_ids": torch.tensor([_pad(f["input_ids"], length, self.pad_token_id) for f in features]),
            "attention_mask": torch.tensor([_pad(f["attention_mask"], length, 0) for f in features]),
        }
        if self.labels == "word":
            words = max(max(len(f["word_index"]) for f in features), 1)
            batch["word_index"] = torch.tensor([_pad(f["word_index"], words, -1) for f in features])
            batch["labels"] = torch.tensor([_pad(f["labels"], words, IGNORE) for f in features])
            if "spans" in features[0]:
                rows = max(max(len(f["spans"]) for f in features), 1)
                padded = [_pad(f["spans"], rows, [-1, -1, -1]) for f in features]
                batch["spans"] = torch.tensor(padded, dtype=torch.long).view(-1, rows, 3)
        elif self.labels == "token":
            batch["labels"] = torch.tensor([_pad(f["labels"], length, IGNORE) for f in features])
        else:
            batch["labels"] = torch.tensor(np.array([f["labels"] for f in features]))
        return batch


def _pad(values: list, length: int, value) -> list:
    return list(values) + [value] * (length - len(values))
