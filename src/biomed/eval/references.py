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
        average: the published unweighted average over the suite's tasks; ``None`` when the paper gives none.
        metric: how the paper computed the numbers (metric variant, seeds, selection).
        source: where the numbers come from (file and lines of the thesis sources, or table).
        tasks: task key -> published score, where sourced.
        std: task key -> published standard deviation over seeds, where sourced.
    """

    model: str
    suite: str
    average: float | None
    metric: str
    source: str
    tasks: dict[str, float] = field(default_factory=dict)
    std: dict[str, float] = field(default_factory=dict)


THESIS = "Touchent, PhD thesis (github.com/Rian-T/thesis, commit 0c3a71a)"
_CH2 = THESIS + ", sources/part_1/chapter2/article.tex (Biomed-Enriched)"
_CH4 = THESIS + ", sources/part_2/chapter4/article.tex (CamemBERT-bio, LREC-COLING 2024)"
_CH5 = THESIS + ", sources/part_2/chapter5/article.tex (CLM detour)"
_APP = THESIS + ", sources/appendix.tex"

_FR_TASKS = (
    "fr/fracco-30",
    "fr/fracco-100",
    "fr/cantemist",
    "fr/distemist",
    "fr/meddialog",
    "fr/diamed",
    "fr/quaero-emea",
    "fr/quaero-medline",
)
_CBIO_TASKS = ("cbio/cas1", "cbio/cas2", "cbio/e3c", "cbio/emea", "cbio/medline")
_EN_CLINICAL = ("en/chemprot", "en/phenotype", "en/cos", "en/social-history", "en/deid")
_EN_BIOMEDICAL = ("en/anatem", "en/bc5cdr", "en/jnlpba", "en/ncbi-disease", "en/gad", "en/hoc")
_EN_TASKS = _EN_CLINICAL + _EN_BIOMEDICAL

_FR_METRIC = (
    "mean over 9 seeds; the table's caption says macro F1 (ch5 l.168); the code (tabib) computes micro, macro, "
    "weighted and sample F1 for multi-label tasks (its runner's own tables show micro: comparison/benchmark.py "
    "l.553-563), weighted F1 for DiaMED, exact span-match micro F1 with nested entities for QUAERO with the span head "
    "(evaluation/span_evaluator.py exact_f1, the number of tabib's results tables)"
)
_CBIO_METRIC = "seqeval strict IOB2 micro F1, best dev checkpoint, mean ± std over 10 seeds (ch4 l.45, l.81)"
_EN_METRIC = (
    "BioClinical-ModernBERT protocol, 5 seeds: NER seqeval default-mode overall F1, classification weighted F1 "
    "(lindvalllab/BioClinical-ModernBERT src/metrics/metrics.py)"
)


def _row(model, suite, average, metric, source, keys, scores, std=()) -> ReferenceRow:
    if len(scores) != len(keys) or (std and len(std) != len(keys)):
        raise ValueError(f"{model}: {len(scores)} scores for {len(keys)} tasks")
    return ReferenceRow(model, suite, average, metric, source, dict(zip(keys, scores)), dict(zip(keys, std)))


_FR_TABLE = _CH5 + ", tab:french-results l.178-189"
_EN_TABLE = _CH5 + ", tab:english-results l.215-229"
_BE_TABLES = _CH2 + ", tab:encoder-clinical l.428-441 and tab:encoder-biomed l.466-479"
_BE_AVERAGE = (
    "; 11-task average computed by the kit from the two tables' per-task scores (the tables give 5- and 6-task "
    "averages)"
)

REFERENCES: dict[str, list[ReferenceRow]] = {
    "fr": [
        _row(
            "ModernCamemBERT-base",
            "fr",
            56.7,
            _FR_METRIC,
            _FR_TABLE,
            _FR_TASKS,
            (70.1, 55.3, 63.3, 20.2, 60.6, 56.4, 68.0, 59.7),
        ),
        _row("DrBERT", "fr", 50.1, _FR_METRIC, _FR_TABLE, _FR_TASKS, (53.0, 35.6, 37.9, 21.4, 63.6, 57.0, 69.6, 62.8)),
        _row(
            "CamemBERT-bio",
            "fr",
            38.3,
            _FR_METRIC,
            _FR_TABLE,
            _FR_TASKS,
            (41.9, 20.1, 12.8, 9.6, 38.6, 47.7, 70.8, 65.2),
        ),
        _row(
            "CamemBERT", "fr", 36.5, _FR_METRIC, _FR_TABLE, _FR_TASKS, (40.8, 19.4, 11.9, 9.5, 37.4, 40.6, 69.5, 62.7)
        ),
        _row(
            "MLM twin, base (10B + 1B)",
            "fr",
            58.9,
            _FR_METRIC,
            _FR_TABLE,
            _FR_TASKS,
            (69.9, 56.8, 64.9, 23.5, 62.5, 63.4, 68.5, 61.4),
        ),
        _row(
            "ModernCamemBERT-bio-base (CLM detour)",
            "fr",
            61.6,
            _FR_METRIC,
            _FR_TABLE,
            _FR_TASKS,
            (74.8, 60.1, 71.0, 25.5, 63.6, 67.4, 68.6, 61.9),
        ),
        _row(
            "MLM twin, large",
            "fr",
            63.0,
            _FR_METRIC,
            _FR_TABLE,
            _FR_TASKS,
            (79.4, 63.3, 72.6, 29.1, 64.5, 61.2, 70.4, 63.5),
        ),
        _row(
            "ModernCamemBERT-bio-large (CLM detour)",
            "fr",
            64.2,
            _FR_METRIC,
            _FR_TABLE,
            _FR_TASKS,
            (80.7, 65.4, 74.4, 30.4, 64.5, 64.8, 70.3, 63.1),
        ),
    ],
    "cbio": [
        _row(
            "CamemBERT-base",
            "cbio",
            71.40,
            _CBIO_METRIC,
            _CH4 + ", tab:bioVSbase l.64-76",
            _CBIO_TASKS,
            (70.50, 79.02, 67.63, 74.14, 65.73),
            (1.75, 0.92, 1.45, 1.95, 0.40),
        ),
        _row(
            "CamemBERT-bio (biomed-fr-small)",
            "cbio",
            72.46,
            _CBIO_METRIC,
            _CH4 + ", tab:bioVSbase l.64-76",
            _CBIO_TASKS,
            (72.94, 80.00, 67.96, 75.93, 65.48),
            (1.12, 0.32, 1.85, 2.42, 0.31),
        ),
        _row(
            "CamemBERT-bio-base (biomed-fr)",
            "cbio",
            73.94,
            _CBIO_METRIC,
            _CH4 + ", tab:bioVSbase l.64-76",
            _CBIO_TASKS,
            (73.03, 81.66, 69.85, 76.71, 68.47),
            (1.29, 0.59, 1.58, 1.50, 0.54),
        ),
    ],
    "en": [
        _row(
            "ModernBERT-base",
            "en",
            74.9,
            _EN_METRIC,
            _EN_TABLE,
            _EN_TASKS,
            (89.5, 48.4, 94.0, 53.1, 78.3, 77.2, 87.9, 74.3, 77.7, 76.8, 66.6),
        ),
        _row(
            "PubMedBERT",
            "en",
            77.0,
            _EN_METRIC,
            _EN_TABLE,
            _EN_TASKS,
            (90.2, 52.0, 95.0, 48.7, 80.4, 83.3, 89.7, 74.9, 82.1, 79.3, 71.0),
        ),
        _row(
            "BioClinical-ModernBERT-base",
            "en",
            77.0,
            _EN_METRIC,
            _EN_TABLE,
            _EN_TASKS,
            (90.0, 60.7, 94.8, 56.0, 81.8, 79.2, 88.7, 74.8, 78.7, 75.8, 67.0),
        ),
        _row(
            "MLM twin, base, 10B",
            "en",
            77.3,
            _EN_METRIC,
            _EN_TABLE,
            _EN_TASKS,
            (90.4, 61.3, 94.4, 55.5, 79.3, 78.9, 88.3, 74.9, 79.2, 78.6, 68.9),
        ),
        _row(
            "CLM detour, base, 10B",
            "en",
            77.8,
            _EN_METRIC,
            _EN_TABLE,
            _EN_TASKS,
            (90.3, 61.0, 94.3, 55.7, 82.6, 79.9, 89.1, 74.2, 80.4, 79.3, 69.4),
        ),
        _row(
            "MLM twin, base, 50B",
            "en",
            77.7,
            _EN_METRIC,
            _EN_TABLE,
            _EN_TASKS,
            (90.5, 61.6, 95.1, 55.7, 81.6, 80.0, 88.7, 74.9, 80.3, 78.7, 67.1),
        ),
        _row(
            "ModernBERT-bio-base (CLM detour, 50B)",
            "en",
            78.0,
            _EN_METRIC,
            _EN_TABLE,
            _EN_TASKS,
            (90.1, 61.9, 95.2, 54.2, 83.2, 81.0, 89.1, 74.5, 80.1, 78.8, 70.0),
        ),
        _row(
            "MLM twin, large, 50B",
            "en",
            77.9,
            _EN_METRIC,
            _EN_TABLE,
            _EN_TASKS,
            (90.5, 61.0, 94.9, 55.0, 82.3, 82.0, 89.4, 75.5, 81.8, 76.4, 67.8),
        ),
        _row(
            "ModernBERT-bio-large (CLM detour, 50B)",
            "en",
            78.7,
            _EN_METRIC,
            _EN_TABLE,
            _EN_TASKS,
            (90.4, 61.3, 94.7, 56.5, 84.2, 83.2, 89.8, 75.3, 81.7, 79.7, 69.3),
        ),
        # Biomed-Enriched encoders (ch2): ModernBERT-base continued on public PMC data, 70B tokens; the two
        # baseline rows of those tables are the ModernBERT-base and BioClinical-ModernBERT rows above.
        _row(
            "BE Baseline (PMC, ch2)",
            "en",
            76.79,
            _EN_METRIC,
            _BE_TABLES + _BE_AVERAGE,
            _EN_TASKS,
            (89.8, 59.6, 94.5, 55.5, 78.5, 78.8, 88.7, 74.8, 81.3, 76.2, 67.0),
        ),
        _row(
            "BE-Clinical (ch2)",
            "en",
            77.08,
            _EN_METRIC,
            _BE_TABLES + "; average: ch2 l.409",
            _EN_TASKS,
            (89.9, 59.9, 94.8, 56.8, 79.7, 78.5, 88.1, 74.6, 79.4, 77.7, 68.5),
        ),
        _row(
            "BE-Clinical + Review decay (ch2)",
            "en",
            77.26,
            _EN_METRIC,
            _BE_TABLES + _BE_AVERAGE,
            _EN_TASKS,
            (90.3, 59.7, 94.6, 55.4, 79.6, 78.5, 88.5, 74.7, 79.6, 80.2, 68.8),
        ),
        _row(
            "BE-Clinical + Study decay (ch2)",
            "en",
            77.27,
            _EN_METRIC,
            _BE_TABLES + _BE_AVERAGE,
            _EN_TASKS,
            (90.3, 60.3, 94.7, 55.6, 78.6, 79.7, 88.4, 74.8, 81.2, 78.7, 67.7),
        ),
        _row(
            "BE-Clinical + Clinical Case decay (ch2)",
            "en",
            77.04,
            _EN_METRIC,
            _BE_TABLES + _BE_AVERAGE,
            _EN_TASKS,
            (89.5, 59.4, 94.5, 57.0, 79.3, 78.7, 88.3, 74.7, 80.0, 77.9, 68.1),
        ),
        _row(
            "BE-Clinical + Biomedical decay (ch2)",
            "en",
            77.32,
            _EN_METRIC,
            _BE_TABLES + "; average: ch2 l.409",
            _EN_TASKS,
            (90.1, 59.9, 94.9, 56.4, 79.6, 79.0, 88.6, 74.7, 79.9, 78.4, 69.0),
        ),
        # English MIMIC-only detour (appendix): absolute scores published for three tasks only.
        _row(
            "CLM detour, MIMIC-only, base, 10B",
            "en",
            None,
            _EN_METRIC,
            _APP + ", tab:mimic-only l.412-430",
            ("en/deid", "en/gad", "en/hoc"),
            (82.66, 77.53, 68.39),
        ),
        _row(
            "MLM twin, MIMIC-only, base, 10B",
            "en",
            None,
            _EN_METRIC,
            _APP + ", tab:mimic-only l.412-430",
            ("en/deid", "en/gad", "en/hoc"),
            (79.89, 75.69, 66.77),
        ),
    ],
}
