"""The paper's published decoder results, each number with its source (Biomed-Enriched, thesis chapter 2).

Example::

    from biomed.eval.llm.references import PAPER_ROWS

    PAPER_ROWS["+ BE-All (33.6B)"]["medqa_4options"]   # 47.21, tab:decoder-qa

Source: GitHub Rian-T/thesis, ``sources/part_1/chapter2/article.tex`` (commit 0c3a71a): tables
``tab:decoder-qa`` (MedQA, MedMCQA, PubMedQA, Avg) and ``tab:decoder-mmlu`` (the six MMLU medical subjects, Avg);
FrenchMedMCQA from the data of ``fig:french-performance`` (``plots/chapter2/french_medmcqa.py``: the final
point at 33.6B tokens; the prose rounds it to "40.5 % vs 38.3 %"). The tables say Llama-3-8B where the prose says
Llama-3.1-8B; the tables' label is kept. "BE-All (12.6B)" equals the BE-All run's checkpoint at 12.6B tokens in
``plots/chapter2/decoder_curves.py`` (every one of its nine values), i.e. an intermediate checkpoint of the 33.6B
run, not a separate shorter run.

Every value of the tables is k/N for the harness split sizes (``biomed.eval.llm.suite``) except the Meditron-70B
row's: it is given to one decimal, seven of its nine values are no k/N, and three (Clinical Knowledge 66.7, College
Biology 76.3, Professional Medicine 71.6) are no k/N even rounded to one decimal. It was not produced by this harness
on these splits (``QUOTED_ROWS``): it keeps its published values under a source that says so.
"""

from __future__ import annotations


QA_TABLE = "thesis ch. 2, tab:decoder-qa"
MMLU_TABLE = "thesis ch. 2, tab:decoder-mmlu"
FRENCH_FIGURE = "thesis ch. 2, fig:french-performance (plots/chapter2/french_medmcqa.py, 33.6B point)"
QUOTED_ROWS = ("Meditron-70B",)
"""Rows whose values are not accuracies on the harness splits (no k/N of the split sizes): quoted, not comparable."""
_QUOTED = "; one decimal, not k/N on the harness splits: quoted, not comparable with a harness run"

_QA_KEYS = ("medqa_4options", "medmcqa", "pubmedqa", "qa_avg")
_MMLU_KEYS = (
    "mmlu_anatomy",
    "mmlu_clinical_knowledge",
    "mmlu_college_biology",
    "mmlu_college_medicine",
    "mmlu_medical_genetics",
    "mmlu_professional_medicine",
    "mmlu_avg",
)
# tab:decoder-qa: MedQA, MedMCQA, PubMedQA, Avg
_QA = {
    "Llama-3-8B": (59.70, 57.47, 74.80, 63.99),
    "Meditron-70B": (57.10, 46.80, 76.60, 60.17),
    "OLMo2-7B-stage1": (45.33, 41.14, 75.60, 54.02),
    "+ BE-Base": (44.85, 41.91, 76.40, 54.39),
    "+ BE-Clinical": (41.95, 39.35, 76.60, 52.63),
    "+ BE-ClinicalCase": (42.11, 39.52, 76.60, 52.74),
    "+ BE-Educational": (45.64, 43.08, 77.00, 55.24),
    "+ BE-All (33.6B)": (47.21, 42.79, 76.60, 55.53),
    "+ BE-All (12.6B)": (47.21, 42.94, 76.40, 55.52),
}
# tab:decoder-mmlu: Anatomy, Clinical Knowledge, College Biology, College Medicine, Medical Genetics,
# Professional Medicine, Avg
_MMLU = {
    "Llama-3-8B": (68.89, 74.72, 78.47, 61.85, 83.00, 70.22, 72.86),
    "Meditron-70B": (53.30, 66.70, 76.30, 63.00, 69.00, 71.60, 66.65),
    "OLMo2-7B-stage1": (54.81, 63.40, 69.44, 53.18, 69.00, 59.93, 61.63),
    "+ BE-Base": (57.04, 64.15, 70.83, 59.54, 69.00, 59.93, 63.42),
    "+ BE-Clinical": (53.33, 63.40, 65.28, 58.38, 66.00, 63.97, 61.73),
    "+ BE-ClinicalCase": (57.04, 64.91, 66.67, 59.54, 69.00, 62.87, 63.34),
    "+ BE-Educational": (57.04, 65.28, 68.06, 56.65, 71.00, 58.82, 62.81),
    "+ BE-All (33.6B)": (60.00, 65.66, 68.06, 58.96, 69.00, 61.40, 63.85),
    "+ BE-All (12.6B)": (64.44, 64.53, 68.75, 57.23, 71.00, 62.87, 64.80),
}
# fig:french-performance, 5-shot FrenchMedMCQA at 33.6B tokens (the baseline is the figure's horizontal line)
_FRENCH = {"OLMo2-7B-stage1": 38.32, "+ BE-Base": 38.32, "+ BE-All (33.6B)": 36.76, "+ BE-French": 40.5}

PAPER_ROWS: dict[str, dict[str, float]] = {}
PAPER_SOURCES: dict[tuple[str, str], str] = {}
for _model, _values in _QA.items():
    PAPER_ROWS.setdefault(_model, {}).update(zip(_QA_KEYS, _values))
    _source = QA_TABLE + (_QUOTED if _model in QUOTED_ROWS else "")
    PAPER_SOURCES.update({(_model, key): _source for key in _QA_KEYS})
for _model, _values in _MMLU.items():
    PAPER_ROWS.setdefault(_model, {}).update(zip(_MMLU_KEYS, _values))
    _source = MMLU_TABLE + (_QUOTED if _model in QUOTED_ROWS else "")
    PAPER_SOURCES.update({(_model, key): _source for key in _MMLU_KEYS})
for _model, _value in _FRENCH.items():
    PAPER_ROWS.setdefault(_model, {})["frenchmedmcqa"] = _value
    PAPER_SOURCES[(_model, "frenchmedmcqa")] = FRENCH_FIGURE
