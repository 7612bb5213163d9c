"""Published scores of the papers the kit reproduces, with the definition of every number.

Example::

    from biomed.eval.references import REFERENCES

    for row in REFERENCES["fr"]:
        print(row.model, row.average, row.metric)

Scores are in points (0-100) as published. ``tasks`` holds per-task scores only where a public source gives them
(a paper table or a published model-index); an empty mapping means only the average was sourced. Never fill a
number here that cannot be traced to ``source``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ReferenceRow:
    """One published result row.

    Attributes:
        model: the model as the paper names it.
        suite: the kit's suite the numbers belong to (``fr``, ``cbio``, ``en``).
        average: the published unweighted average over the suite's tasks.
        metric: how the paper computed the numbers (metric variant, seeds, selection).
        source: where the numbers come from.
        tasks: task key -> published score, where sourced.
    """

    model: str
    suite: str
    average: float
    metric: str
    source: str
    tasks: dict[str, float] = field(default_factory=dict)


_FR_METRIC = (
    "unweighted average over the 8 tasks of the mean over 9 seeds; classification: macro F1 (linear head on the "
    "first token); NER (EMEA, MEDLINE): seqeval strict IOB2 entity F1 with the BiLSTM-CRF-biaffine span head"
)
_FR_SOURCE = "CLM-detour paper (ModernCamemBERT-bio), French evaluation table"
_CBIO_METRIC = (
    "mean F1 over CAS1, CAS2, E3C, EMEA, MEDLINE; seqeval strict IOB2 micro F1, best dev checkpoint, mean of 10 seeds"
)
_CBIO_SOURCE = "Touchent, Romary & de La Clergerie, CamemBERT-bio (LREC-COLING 2024, arXiv:2306.15550)"
_EN_METRIC = (
    "unweighted average over the English suite (BioClinical-ModernBERT protocol: 5 seeds, best epoch on dev, "
    "early stopping patience 3)"
)
_EN_SOURCE = "English evaluation table of the kit's papers (averages as published)"

REFERENCES: dict[str, list[ReferenceRow]] = {
    "fr": [
        ReferenceRow("ModernCamemBERT-base", "fr", 56.7, _FR_METRIC, _FR_SOURCE),
        ReferenceRow("MLM continued pre-training, base (the paper's MLM twin)", "fr", 58.9, _FR_METRIC, _FR_SOURCE),
        ReferenceRow(
            "ModernCamemBERT-bio-base (CLM detour)",
            "fr",
            61.6,
            _FR_METRIC,
            _FR_SOURCE + "; per-task scores from the almanach/ModernCamemBERT-bio-base model-index",
            {
                "fr/fracco-30": 74.8,
                "fr/fracco-100": 60.1,
                "fr/cantemist": 71.0,
                "fr/distemist": 25.5,
                "fr/meddialog": 63.6,
                "fr/diamed": 67.4,
                "fr/quaero-emea": 68.6,
                "fr/quaero-medline": 61.9,
            },
        ),
        ReferenceRow("ModernCamemBERT-bio-large (CLM detour)", "fr", 64.2, _FR_METRIC, _FR_SOURCE),
    ],
    "cbio": [
        ReferenceRow("CamemBERT-base", "cbio", 71.40, _CBIO_METRIC, _CBIO_SOURCE),
        ReferenceRow("CamemBERT-bio-base", "cbio", 73.94, _CBIO_METRIC, _CBIO_SOURCE),
    ],
    "en": [
        ReferenceRow("ModernBERT-base", "en", 74.9, _EN_METRIC, _EN_SOURCE),
        ReferenceRow("BioClinical-ModernBERT-base", "en", 77.0, _EN_METRIC, _EN_SOURCE),
        ReferenceRow("ModernBERT-bio-base", "en", 78.0, _EN_METRIC, _EN_SOURCE),
        ReferenceRow("ModernBERT-bio-large", "en", 78.7, _EN_METRIC, _EN_SOURCE),
    ],
}
