"""The Biomed-Enriched decoder suite: which harness task, split and number of shots each score comes from.

Example::

    from biomed.eval.llm.suite import SUITE, GROUPS

    SUITE["medmcqa"].split        # "validation": the harness scores MedMCQA's validation split (4,183 questions)
    GROUPS["mmlu"]                # the six MMLU medical subjects of the paper's MMLU average

The paper (Biomed-Enriched, thesis chapter 2, "Evaluation") scores MedQA, MedMCQA, PubMedQA and six MMLU subjects
zero-shot and FrenchMedMCQA 5-shot. The split sizes of the harness tasks reproduce every published OLMo2-7B-stage1
number exactly as k/N (MedQA 577/1,273, MedMCQA 1,721/4,183, PubMedQA 378/500, MMLU anatomy 74/135, ...), so the
harness tasks are used as they are, metric ``acc`` (``acc_norm`` is the same number for one-letter choices).
Averages are unweighted means over tasks, as in the paper's tables (e.g. (45.33 + 41.14 + 75.60) / 3 = 54.02).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LlmTaskSpec:
    """One task of the suite."""

    key: str  # lm-evaluation-harness task name (the kit's own YAML for frenchmedmcqa)
    title: str
    column: str  # column label in the paper's tables
    group: str  # "qa", "mmlu" or "fr": which average it enters
    num_fewshot: int
    split: str  # the split the harness scores (a local copy names its file after it)
    size: int  # questions in that split on the Hub
    hub_dataset: str
    hub_config: str | None = None
    # A loading-script dataset on the Hub (refused by datasets >= 4): the harness reads these Parquet files instead.
    parquet_files: tuple[tuple[str, str], ...] = ()

    @property
    def harness_task(self) -> str:
        return self.key


_PUBMEDQA_PARQUET = "hf://datasets/bigbio/pubmed_qa@refs%2Fconvert%2Fparquet/pubmed_qa_labeled_fold0_source"

_MMLU = (
    ("anatomy", "Anatomy", "Anat", 135),
    ("clinical_knowledge", "Clinical Knowledge", "Clin", 265),
    ("college_biology", "College Biology", "Bio", 144),
    ("college_medicine", "College Medicine", "Med", 173),
    ("medical_genetics", "Medical Genetics", "Gen", 100),
    ("professional_medicine", "Professional Medicine", "Prof", 272),
)

SUITE: dict[str, LlmTaskSpec] = {
    spec.key: spec
    for spec in (
        LlmTaskSpec("medqa_4options", "MedQA", "MedQA", "qa", 0, "test", 1273, "GBaker/MedQA-USMLE-4-options-hf"),
        LlmTaskSpec("medmcqa", "MedMCQA", "MedMCQA", "qa", 0, "validation", 4183, "openlifescienceai/medmcqa"),
        LlmTaskSpec(
            "pubmedqa",
            "PubMedQA",
            "PubMedQA",
            "qa",
            0,
            "test",
            500,
            "bigbio/pubmed_qa",
            "pubmed_qa_labeled_fold0_source",
            # bigbio/pubmed_qa is a loading script; the Hub's Parquet conversion of the same config is read instead
            parquet_files=tuple((s, f"{_PUBMEDQA_PARQUET}/{s}/0000.parquet") for s in ("train", "validation", "test")),
        ),
        *(
            LlmTaskSpec(f"mmlu_{subject}", f"MMLU {title}", column, "mmlu", 0, "test", size, "cais/mmlu", subject)
            for subject, title, column, size in _MMLU
        ),
        # Not in the harness: the kit's task YAML (tasks/frenchmedmcqa.yaml). Every FrenchMedMCQA accuracy of the
        # paper's figure (thesis plots/chapter2/french_medmcqa.py) is k/321, the size of the single-answer test split
        # of nthngdy/frenchmedmcqa (595/164/321); the original qanastek/frenchmedmcqa is a loading script with
        # multi-answer questions.
        LlmTaskSpec("frenchmedmcqa", "FrenchMedMCQA", "FrenchMedMCQA", "fr", 5, "test", 321, "nthngdy/frenchmedmcqa"),
    )
}

GROUPS: dict[str, tuple[str, ...]] = {
    group: tuple(key for key, spec in SUITE.items() if spec.group == group) for group in ("qa", "mmlu", "fr")
}
AVERAGES = {"qa": "QA avg", "mmlu": "MMLU avg"}  # unweighted means, as the paper's "Avg" columns


def resolve_tasks(names: list[str] | None) -> list[str]:
    """Task keys from names or group names (``qa``, ``mmlu``, ``fr``); all of the suite when empty."""
    from biomed.errors import BiomedError

    if not names:
        return list(SUITE)
    keys: list[str] = []
    for name in names:
        picked = GROUPS.get(name) or ((name,) if name in SUITE else None)
        if picked is None:
            raise BiomedError(f"unknown task {name!r}; tasks: {', '.join(SUITE)}; groups: {', '.join(GROUPS)}")
        keys += [key for key in picked if key not in keys]
    return keys
