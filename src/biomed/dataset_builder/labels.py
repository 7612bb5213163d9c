"""The label sets of Biomed-Enriched, shared by the LLM annotator, the classifier and the dataset builder.

Example::

    from biomed.dataset_builder.labels import DOMAIN_LABELS, TYPE_LABELS, check_labels

    check_labels({"type": "study", "domain": "clinical", "educational_score": 4})  # -> ("study", "clinical", 4)

The order of ``TYPE_LABELS`` and ``DOMAIN_LABELS`` is a contract: the classifier's ``type_probs`` and
``domain_probs`` columns list probabilities in this order. Append new labels at the end, never reorder.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


TYPE_LABELS: tuple[str, ...] = ("review", "study", "clinical_case", "other")
"""What kind of text a paragraph is: literature review, original study, clinical case description, other."""

DOMAIN_LABELS: tuple[str, ...] = ("clinical", "biomedical", "other")
"""What a paragraph is about: patient care, biomedical science outside the clinic, or neither."""

EDU_SCORES: tuple[int, ...] = (1, 2, 3, 4, 5)
"""Educational quality for college-level biomedical learning, from 1 (useless) to 5 (outstanding)."""

LABEL_FIELDS: tuple[str, ...] = ("type", "domain", "educational_score")
"""The three annotation fields, in the order they appear in prompts, answers and tables."""


class LabelError(ValueError):
    """An answer whose labels are missing or outside the label sets; ``reason`` is a short machine-readable tag."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def normalize_label(value: Any) -> Any:
    """Lower-case a string label and spell separators as underscores (``"Clinical case"`` -> ``"clinical_case"``).

    Only spelling is normalised: a label outside the set stays invalid, so no answer is silently mapped to another.
    """
    if isinstance(value, str):
        return "_".join(value.strip().lower().replace("-", " ").split())
    return value


def check_labels(answer: Mapping[str, Any]) -> tuple[str, str, int]:
    """Validate one answer and return ``(type, domain, educational_score)``.

    Args:
        answer: a mapping with ``type``, ``domain`` and ``educational_score`` (other keys are ignored).

    Raises:
        LabelError: with reason ``missing_field``, ``invalid_type``, ``invalid_domain`` or ``invalid_score``.
            The score must be an integer 1-5 (``4`` or ``4.0``); ``"4"``, ``4.5``, ``true`` and ``7`` are rejected.
    """
    missing = [name for name in LABEL_FIELDS if name not in answer]
    if missing:
        raise LabelError("missing_field", f"answer lacks {', '.join(missing)}")
    type_ = normalize_label(answer["type"])
    if type_ not in TYPE_LABELS:
        raise LabelError("invalid_type", f"type {answer['type']!r} is not one of {', '.join(TYPE_LABELS)}")
    domain = normalize_label(answer["domain"])
    if domain not in DOMAIN_LABELS:
        raise LabelError("invalid_domain", f"domain {answer['domain']!r} is not one of {', '.join(DOMAIN_LABELS)}")
    score = answer["educational_score"]
    if isinstance(score, float) and score.is_integer():
        score = int(score)
    if isinstance(score, bool) or not isinstance(score, int) or score not in EDU_SCORES:
        raise LabelError("invalid_score", f"educational_score {score!r} is not an integer from 1 to 5")
    return type_, domain, score
