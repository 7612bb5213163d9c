"""The label sets of Biomed-Enriched, shared by the LLM annotator, the classifier, the dataset builder and the cards.

They live below both the stages and ``biomed.model_cards``, which renders them and imports no stage.

Example::

    from biomed.labels import DOMAIN_LABELS, TYPE_LABELS, check_labels

    check_labels({"type": "study", "domain": "clinical", "educational_score": 4})  # -> ("study", "clinical", 4)

The order of ``TYPE_LABELS`` and ``DOMAIN_LABELS`` is a contract: the classifier's ``type_probs`` and
``domain_probs`` columns list probabilities in this order. Append new labels at the end, never reorder.

The published release (``almanach/Biomed-Enriched``) spells the labels differently and lists its score columns in
another order; ``PUBLISHED_DOCUMENT_TYPES`` / ``PUBLISHED_DOMAINS`` map the kit's ids to those spellings and
``PUBLISHED_DOCUMENT_TYPE_ORDER`` / ``PUBLISHED_DOMAIN_ORDER`` give the order of ``document_type_scores`` and
``domain_scores``. Only the release layer (``biomed.dataset_builder.build``) uses them: the annotator and the
classifier keep the ids above.
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

EDU_THRESHOLD = 3
"""The educational score from which a paragraph counts as educational (the threshold the variants use)."""

PUBLISHED_DOCUMENT_TYPES: dict[str, str] = {
    "review": "Review",
    "study": "Study",
    "clinical_case": "Clinical Case",
    "other": "Other",
}
"""Kit type id -> the published ``document_type`` value. Spelling of the classifier card
(almanach/Biomed-Enriched-classifier, "Model Outputs"); the published row printed by the authors'
``examples/simple.py`` (GitHub Rian-T/biomed-enriched) has ``'document_type': 'Other'``."""

PUBLISHED_DOMAINS: dict[str, str] = {"clinical": "clinical", "biomedical": "biomedical", "other": "other"}
"""Kit domain id -> the published ``domain`` value: lower case, as in the published row of ``examples/simple.py``
(``'domain': 'biomedical'``), although the classifier card capitalises them."""

PUBLISHED_DOCUMENT_TYPE_ORDER: tuple[str, ...] = ("Clinical Case", "Other", "Review", "Study")
"""Order of the published ``document_type_scores``: alphabetical. The row of ``examples/simple.py`` has
``document_type`` 'Other' and scores ``[0.16, 0.83, 0.002, 0.0008]``: its largest score is second, which only
the alphabetical order puts on 'Other' (the card's order would put it on 'Study')."""

PUBLISHED_DOMAIN_ORDER: tuple[str, ...] = ("biomedical", "clinical", "other")
"""Order of the published ``domain_scores``: alphabetical. The same row has ``domain`` 'biomedical' and scores
``[0.82, 0.005, 0.18]``: the largest is first, which only the alphabetical order puts on 'biomedical'."""

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
