"""Label sets, answer parsing and the versioned prompt (golden rendering)."""

import json
from pathlib import Path

import pytest

from biomed.dataset_builder.annotate.llm_client import parse_answer
from biomed.dataset_builder.annotate.prompt import answer_json_schema, load_prompt
from biomed.errors import BiomedError
from biomed.labels import DOMAIN_LABELS, EDU_SCORES, TYPE_LABELS, LabelError, check_labels


GOLDEN = Path(__file__).parent / "golden" / "annotate_v1_messages.json"


def test_label_orders_are_the_contract():
    assert TYPE_LABELS == ("review", "study", "clinical_case", "other")
    assert DOMAIN_LABELS == ("clinical", "biomedical", "other")
    assert EDU_SCORES == (1, 2, 3, 4, 5)


@pytest.mark.parametrize(
    "answer, expected",
    [
        ({"type": "study", "domain": "clinical", "educational_score": 4}, ("study", "clinical", 4)),
        (
            {"type": "Clinical case", "domain": " Biomedical ", "educational_score": 2.0},
            ("clinical_case", "biomedical", 2),
        ),
        (
            {"type": "clinical-case", "domain": "other", "educational_score": 1, "why": "x"},
            ("clinical_case", "other", 1),
        ),
    ],
)
def test_check_labels_accepts_spelling_variants_only(answer, expected):
    assert check_labels(answer) == expected


@pytest.mark.parametrize(
    "answer, reason",
    [
        ({"type": "study", "domain": "clinical"}, "missing_field"),
        ({"type": "editorial", "domain": "clinical", "educational_score": 3}, "invalid_type"),
        ({"type": "study", "domain": "veterinary", "educational_score": 3}, "invalid_domain"),
        ({"type": "study", "domain": "clinical", "educational_score": 7}, "invalid_score"),
        ({"type": "study", "domain": "clinical", "educational_score": 0}, "invalid_score"),
        ({"type": "study", "domain": "clinical", "educational_score": 3.5}, "invalid_score"),
        ({"type": "study", "domain": "clinical", "educational_score": "3"}, "invalid_score"),
        ({"type": "study", "domain": "clinical", "educational_score": True}, "invalid_score"),
        ({"type": "study", "domain": "clinical", "educational_score": None}, "invalid_score"),
    ],
)
def test_check_labels_rejects_with_a_reason(answer, reason):
    with pytest.raises(LabelError) as err:
        check_labels(answer)
    assert err.value.reason == reason


@pytest.mark.parametrize(
    "text, expected",
    [
        ('{"type": "review", "domain": "biomedical", "educational_score": 5}', ("review", "biomedical", 5)),
        ('```json\n{"type": "other", "domain": "other", "educational_score": 1}\n```', ("other", "other", 1)),
        ('Answer: {"type": "study", "domain": "clinical", "educational_score": 3} Done.', ("study", "clinical", 3)),
    ],
)
def test_parse_answer(text, expected):
    assert parse_answer(text) == expected


@pytest.mark.parametrize(
    "text, reason",
    [
        ("", "empty_answer"),
        (None, "empty_answer"),
        ("The paragraph is a study.", "invalid_json"),
        ('{"type": "study", "domain"', "invalid_json"),
        ('{"type": "study" "domain": "clinical"}', "invalid_json"),
        ('{"type": "study", "domain": "clinical", "educational_score": 9}', "invalid_score"),
    ],
)
def test_parse_answer_failures(text, reason):
    with pytest.raises(LabelError) as err:
        parse_answer(text)
    assert err.value.reason == reason


def test_schema_matches_label_sets():
    schema = answer_json_schema()
    assert schema["properties"]["type"]["enum"] == list(TYPE_LABELS)
    assert schema["properties"]["domain"]["enum"] == list(DOMAIN_LABELS)
    assert (
        schema["properties"]["educational_score"]["minimum"],
        schema["properties"]["educational_score"]["maximum"],
    ) == (1, 5)
    assert set(schema["required"]) == {"type", "domain", "educational_score"}


def test_prompt_defines_every_label_and_level():
    prompt = load_prompt("annotate_v1")
    assert prompt.version == "annotate_v1"
    for label in (*TYPE_LABELS, *DOMAIN_LABELS):
        assert f'"{label}"' in prompt.system, label
    for score in EDU_SCORES:
        assert f"\n- {score}: " in prompt.system, score


def test_prompt_rendering_is_golden():
    """The rendered prompt is frozen: changing the wording must come with a new prompt version (and golden file)."""
    prompt = load_prompt("annotate_v1")
    rendered = {
        "version": prompt.version,
        "chat": prompt.messages("Case presentation > History", "A 54-year-old man {{ not a template }} presented."),
        "no_section": prompt.messages(None, "Text."),
        "generate": prompt.generate_prompt("Methods", "Cells were cultured."),
    }
    if not GOLDEN.exists():
        GOLDEN.write_text(json.dumps(rendered, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        pytest.fail(f"wrote {GOLDEN}: review it and commit it")
    assert rendered == json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert "Section: Case presentation > History" in rendered["chat"][1]["content"]
    assert "{{ not a template }}" in rendered["chat"][1]["content"]  # paragraph text is data, never a template


def test_prompt_file_errors(tmp_path):
    with pytest.raises(BiomedError, match="no shipped prompt named 'annotate_v9'.*annotate_v1"):
        load_prompt("annotate_v9")
    bad = tmp_path / "p.yaml"
    bad.write_text("version: x\nsystem: s\n")
    with pytest.raises(BiomedError, match="lacks user"):
        load_prompt(bad)
    bad.write_text("version: x\nsystem: s\nuser: u\nsytem: typo\n")
    with pytest.raises(BiomedError, match="unknown key 'sytem'"):
        load_prompt(bad)
    good = tmp_path / "mine.yaml"
    good.write_text("version: mine_v2\nsystem: Label it.\nuser: '{{ section }}|{{ text }}'\n")
    assert load_prompt(good).messages("S", "T")[1]["content"] == "S|T"
