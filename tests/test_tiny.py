"""biomed.tiny: one tokenizer trainer and one config per family, for the demo, the tests and the benchmarks."""

import pytest

from biomed.tiny import eval_fixture_texts, save_tiny_model, train_tiny_tokenizer


TEXTS = ["A 54-year-old man presented with chest pain.", "Cells were cultured for 48 h."] * 20


@pytest.mark.parametrize(
    ("family", "cls", "pad", "pair"),
    [
        ("modernbert", "[CLS]", "[PAD]", "[CLS] a [SEP] pain [SEP]"),
        ("roberta", "<s>", "<pad>", "<s> a </s> pain </s>"),
        ("bert", "[CLS]", "[PAD]", "[CLS] a [SEP] pain [SEP]"),
        ("xlm-roberta", "<s>", "<pad>", "<s> a </s> </s> pain </s>"),
    ],
)
def test_each_family_has_its_tokenizer_kind_and_special_ids(family, cls, pad, pair):
    tokenizer = train_tiny_tokenizer(TEXTS, family, vocab_size=200)
    assert (tokenizer.cls_token, tokenizer.pad_token) == (cls, pad)
    # BERT's order puts [PAD] at 0 and [CLS] at 2; RoBERTa and XLM-R have <s> 0, <pad> 1 (ModernBERT's kit order too)
    assert (tokenizer.cls_token_id, tokenizer.pad_token_id) == ((2, 0) if family == "bert" else (0, 1))
    assert tokenizer.decode(tokenizer("a", "pain")["input_ids"]).replace(" ", "") == pair.replace(" ", "")
    if family == "bert":
        assert tokenizer.tokenize("CELLS") == tokenizer.tokenize("cells")  # lowercasing WordPiece


@pytest.mark.parametrize(
    ("family", "mlm_head", "model_class", "layers"),
    [
        ("modernbert", True, "ModernBertForMaskedLM", 3),
        ("roberta", True, "RobertaForMaskedLM", 3),
        ("bert", False, "BertModel", 2),
        ("xlm-roberta", False, "XLMRobertaModel", 2),
    ],
)
def test_saved_models_load_with_the_auto_classes(tmp_path, family, mlm_head, model_class, layers):
    from transformers import AutoModel, AutoModelForMaskedLM, AutoTokenizer

    folder = save_tiny_model(TEXTS, tmp_path / family, family, mlm_head=mlm_head, vocab_size=200)
    model = (AutoModelForMaskedLM if mlm_head else AutoModel).from_pretrained(folder)
    assert type(model).__name__ == model_class and model.config.num_hidden_layers == layers
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert model.config.vocab_size == len(tokenizer) and model.config.pad_token_id == tokenizer.pad_token_id
    model(**tokenizer(TEXTS[:2], padding=True, return_tensors="pt"))


def test_a_modernbert_with_a_wordpiece_tokenizer_and_overrides(tmp_path):
    from transformers import AutoModel

    folder = save_tiny_model(
        eval_fixture_texts(), tmp_path / "m", "modernbert", mlm_head=False, tokenizer_family="bert",
        max_length=512, intermediate_size=96,
    )  # fmt: skip
    model = AutoModel.from_pretrained(folder)
    assert model.config.max_position_embeddings == 512 and model.config.intermediate_size == 96
    with pytest.raises(ValueError, match="unknown tiny family 'gpt'"):
        train_tiny_tokenizer(TEXTS, "gpt")
