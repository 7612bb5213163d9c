"""Loading an encoder from a masked-LM checkpoint: quiet about the dropped head, loud about missing weights."""

import logging

import torch
from transformers import BertConfig, BertForMaskedLM

from biomed.encoders import load_encoder


def _masked_lm_checkpoint(path, layers: int = 2):
    config = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=layers, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=32)  # fmt: skip
    torch.manual_seed(0)
    model = BertForMaskedLM(config)
    model.save_pretrained(path)
    return model


def test_the_pretraining_head_is_dropped_without_a_report(tmp_path, capfd, caplog):
    saved = _masked_lm_checkpoint(tmp_path)
    with caplog.at_level(logging.WARNING):
        encoder = load_encoder(str(tmp_path))
    assert type(encoder).__name__ == "BertModel"
    assert torch.equal(encoder.embeddings.word_embeddings.weight, saved.bert.embeddings.word_embeddings.weight)
    captured = capfd.readouterr()
    assert "LOAD REPORT" not in captured.err + captured.out  # transformers' table of the unused MLM head
    assert not [r for r in caplog.records if r.name == "biomed.encoders"]


def test_missing_encoder_weights_are_reported(tmp_path, caplog):
    _masked_lm_checkpoint(tmp_path, layers=2)
    with caplog.at_level(logging.WARNING, logger="biomed.encoders"):
        encoder = load_encoder(str(tmp_path), num_hidden_layers=3)  # a third layer the checkpoint lacks
    assert len(encoder.encoder.layer) == 3
    (record,) = [r for r in caplog.records if r.name == "biomed.encoders"]
    assert "encoder.layer.2." in record.getMessage() and "randomly initialised" in record.getMessage()
