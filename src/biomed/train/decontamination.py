"""Keep evaluation sets out of pre-training: refuse a source that is one (by name) or that overlaps one (by n-grams).

Example::

    from biomed.train.decontamination import NgramIndex, check_recipe_sources

    check_recipe_sources(cfg.data.sources)            # at recipe resolution: no source may name an evaluation set
    index = NgramIndex({"fr/diamed": load_test_texts})      # the test split of each evaluation task
    report = index.scan(documents)                     # the share of each test split found in the documents

Two checks, both refusing with the evaluation set named:

1. **Identity, when a recipe is resolved** (``PretrainConfig`` calls :func:`check_recipe_sources`): a source whose
   Hub id, name, folder or config is an evaluation set's is refused. The evaluation sets are the kit's task table
   (``biomed.benchmarks.tasks.TASKS``: their Hub ids) and the benchmarks the papers evaluate on without fine-tuning
   (thesis ch2 l.305: MMLU, MedQA, MedMCQA, PubMedQA, FrenchMedMCQA; tabib's MediQAl). FrenchMedMCQA is why this
   exists: an earlier version of the French recipes described their 20 % as question answering sets including it.
2. **Overlap, before training** (``biomed train`` runs :func:`decontaminate` when ``decontamination.against`` lists
   suites or tasks): every document of every source is cut into word n-grams (13, the length GPT-3 and its
   successors use for decontamination) and compared with the n-grams of each task's test split; a source in which
   more than ``max_share`` of a test split's examples appear is refused. This is what catches a corpus that
   shares documents with a test set without naming it, such as a drug-leaflet corpus and QUAERO EMEA's test
   leaflets, or E3C's clinical layer and its annotated layers.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from biomed.errors import BiomedError
from biomed.runtime.files import read_json, remove_temporaries, write_json


if TYPE_CHECKING:
    from biomed.train.config import PretrainConfig, SourceConfig

logger = logging.getLogger(__name__)

NGRAM = 13
"""Word n-gram length of the overlap check (GPT-3, Brown et al. 2020, appendix C; Llama 2 and OLMo use 13 too)."""

_WORD_RE = re.compile(r"\w+", re.UNICODE)

# Benchmarks evaluated without fine-tuning (absent from the task table): name -> Hub ids of their public copies.
BENCHMARKS: dict[str, tuple[str, ...]] = {
    # ch2 l.305; the extended copy is the one tabib reads (src/tabib/data/french_med_mcqa_extended.py l.28)
    "FrenchMedMCQA": ("qanastek/FrenchMedMCQA", "uy-rrodriguez/FrenchMedMCQA-extended"),
    "MedMCQA": ("openlifescienceai/medmcqa",),  # ch2 l.305
    "MedQA": ("GBaker/MedQA-USMLE-4-options", "bigbio/med_qa"),  # ch2 l.305
    "PubMedQA": ("qiaojin/PubMedQA", "bigbio/pubmed_qa"),  # ch2 l.305
    "MMLU": ("cais/mmlu",),  # ch2 l.305 (medical subsets)
    "MediQAl": ("ANR-MALADES/MediQAl",),  # tabib src/tabib/data/mediqal.py: an evaluation set of the French work
}


@dataclass
class DecontaminationConfig:
    """The overlap check of ``biomed train`` (the identity check always runs).

    Attributes:
        against: evaluation suites (``fr``, ``cbio``, ``en``) or task keys whose test splits no source may overlap;
            empty = no overlap check.
        data_dir: local copies of evaluation data, laid out as for ``biomed eval run --data-dir``; tasks that are
            neither there nor public are skipped with a warning that names them.
        ngram: n-gram length, in words.
        max_share: largest share of a test split's examples a source may contain.
        max_documents: documents read per source (``None`` = all); a cap makes the check a sample.
    """

    against: list[str] = field(default_factory=list)
    data_dir: str | None = None
    ngram: int = NGRAM
    max_share: float = 0.01
    max_documents: int | None = None

    def __post_init__(self) -> None:
        if self.ngram < 1:
            raise ValueError(f"decontamination.ngram must be >= 1; got {self.ngram}")
        if not 0.0 <= self.max_share < 1.0:
            raise ValueError(f"decontamination.max_share must be in [0, 1); got {self.max_share}")


def evaluation_sets() -> dict[str, str]:
    """Lower-cased identifier -> the evaluation set it names: Hub ids and names of the task table and benchmarks."""
    from biomed.benchmarks.tasks import TASKS

    names: dict[str, str] = {}
    for key, task in TASKS.items():
        if key.startswith(("fixtures/", "demo/")):
            continue
        if task.source.hub_id:  # one Hub dataset can hold several tasks (QUAERO: EMEA and MEDLINE, two suites)
            hub = task.source.hub_id.lower()
            names[hub] = f"{names[hub]}, " if hub in names else ""
            names[hub] += f"{task.title} ({key})"
    for name, hub_ids in BENCHMARKS.items():
        names[_normal(name)] = name
        for hub_id in hub_ids:
            names[hub_id.lower()] = name
    return names


def _normal(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def check_recipe_sources(sources: Iterable[SourceConfig]) -> None:
    """Refuse any source whose Hub id, name, folder name or config names an evaluation set.

    Raises:
        ValueError: naming the source and the evaluation set (the config loader reports it as a config error).
    """
    known = evaluation_sets()
    short = {k: v for k, v in known.items() if "/" not in k}
    for source in sources:
        found = None
        if source.hub and source.hub.lower() in known:
            found = known[source.hub.lower()]
        candidates = [source.name, source.config or "", Path(source.path).name if source.path else ""]
        if source.hub:
            candidates.append(source.hub.split("/")[-1])
        for candidate in candidates:
            found = found or short.get(_normal(candidate))
        if found:
            raise ValueError(
                f"source {source.name!r} is the evaluation set {found}: no evaluation set may be part of a "
                "pre-training mixture (its test split would be trained on); remove it from data.sources"
            )


MIN_WORDS = 8
"""A test example shorter than the n-gram is matched as a whole when it has at least this many words (a title, a
short sentence); shorter ones would match by chance ("le patient est décédé") and are not checked."""


def words_of(text: str) -> list[str]:
    """Lower-cased ``\\w+`` words: the unit of the overlap check (tokenisation and punctuation do not matter)."""
    return _WORD_RE.findall(text.lower())


def ngrams(words: list[str], n: int) -> set[bytes]:
    """Hashed word n-grams of a word list (none when it is shorter than ``n``)."""
    return {
        hashlib.blake2b(" ".join(words[i : i + n]).encode(), digest_size=8).digest() for i in range(len(words) - n + 1)
    }


class NgramIndex:
    """The n-grams of evaluation test splits, to look documents up against (memory: the test splits only).

    An example of at least ``n`` words is indexed by its n-grams; a shorter one of at least ``MIN_WORDS`` words by
    its whole word sequence, looked up among the documents' spans of that length.

    Args:
        splits: task key -> test texts (NER examples as their words joined by spaces).
        n: n-gram length.
    """

    def __init__(self, splits: dict[str, list[str]], n: int = NGRAM):
        self.n = n
        self.sizes = {task: len(texts) for task, texts in splits.items()}
        self.owners: dict[bytes, list[tuple[str, int]]] = {}
        self.lengths: set[int] = set()
        for task, texts in splits.items():
            for i, text in enumerate(texts):
                words = words_of(text)
                size = n if len(words) >= n else len(words)
                if size < min(n, MIN_WORDS):
                    continue
                self.lengths.add(size)
                for gram in ngrams(words, size):
                    self.owners.setdefault(gram, []).append((task, i))

    def scan(self, documents: Iterable[str], limit: int | None = None) -> dict[str, float]:
        """Share of each test split's examples that share an n-gram (or their whole text) with ``documents``."""
        hit: dict[str, set[int]] = {task: set() for task in self.sizes}
        for count, document in enumerate(documents):
            if limit is not None and count >= limit:
                break
            words = words_of(document)
            for size in self.lengths:
                for gram in ngrams(words, size):
                    for task, i in self.owners.get(gram, ()):
                        hit[task].add(i)
        return {task: len(hit[task]) / size if size else 0.0 for task, size in self.sizes.items()}


def load_test_texts(against: list[str], data_dir: str | None) -> dict[str, list[str]]:
    """The test split of every task named by ``against`` (suites expand to their tasks) that can be loaded."""
    from biomed.benchmarks.loaders import load_task_data
    from biomed.benchmarks.tasks import SUITES, TASKS

    keys: list[str] = []
    for name in against:
        if name in SUITES:
            keys.extend(SUITES[name])
        elif name in TASKS:
            keys.append(name)
        else:
            raise BiomedError(f"decontamination.against: {name!r} is neither a suite ({', '.join(SUITES)}) nor a task")
    texts, skipped = {}, []
    for key in dict.fromkeys(keys):
        try:
            data = load_task_data(TASKS[key], Path(data_dir).expanduser() if data_dir else None)
        except BiomedError as err:
            skipped.append(f"{key} ({err})")
            continue
        split = data.splits["test"]
        texts[key] = [" ".join(r["tokens"]) if "tokens" in r else r["text"] for r in split]
    if skipped:
        logger.warning("decontamination: not checked against %d task(s) without data: %s", len(skipped), skipped)
    return texts


def decontaminate(cfg: PretrainConfig) -> dict[str, dict[str, float]]:
    """The overlap check of a run: every source against the test splits of ``cfg.decontamination.against``.

    Returns:
        source name -> task -> share of the task's test examples found in the source.

    Raises:
        BiomedError: a source holds more than ``max_share`` of a test split; the message names both.
    """
    from biomed.train.data import iter_documents, source_fingerprint

    settings = cfg.decontamination
    if not settings.against:
        return {}
    # a passed check is cached beside the packed tokens: a resumed run does not read its corpus again. The cache is
    # written atomically and read strictly (an unreadable one is computed again); under torchrun the main process
    # computes it while the others wait (`run_pretrain`), then read it.
    key = hashlib.sha256(
        json.dumps(
            {"sources": [source_fingerprint(s) for s in cfg.data.sources], "settings": dataclasses.asdict(settings)},
            sort_keys=True,
            default=str,
        ).encode()
    ).hexdigest()[:16]
    cached = Path(cfg.data.cache_dir).expanduser() / "decontamination" / f"{key}.json"
    names = [source.name for source in cfg.data.sources]
    if cached.exists():
        shares = read_json(cached)
        if _valid_shares(shares, names):
            return shares
        logger.warning("decontamination cache %s is unreadable (a write cut short?); checking again", cached)
    index = NgramIndex(load_test_texts(settings.against, settings.data_dir), settings.ngram)
    shares = {}
    for source in cfg.data.sources:
        shares[source.name] = index.scan(iter_documents(source), settings.max_documents)
        worst = max(shares[source.name].items(), key=lambda kv: kv[1], default=(None, 0.0))
        if worst[0] is not None and worst[1] > settings.max_share:
            raise BiomedError(
                f"source {source.name!r} contains {100 * worst[1]:.1f} % of the test examples of {worst[0]} "
                f"({settings.ngram}-gram overlap, limit {100 * settings.max_share:.1f} %): training on it would "
                "contaminate that evaluation. Remove those documents from the source, or drop the task from "
                "decontamination.against if the overlap is intended and reported."
            )
    remove_temporaries(cached)  # what a write killed part-way left
    try:
        write_json(cached, shares)
    except OSError as err:  # the check passed; only the shortcut for the next run is lost
        logger.warning("cannot cache the decontamination check in %s: %s", cached, err.strerror or err)
    return shares


def _valid_shares(shares, sources: list[str]) -> bool:
    """Whether a cached check is whole: a share in [0, 1] per task for every source of the run."""
    return (
        isinstance(shares, dict)
        and set(shares) == set(sources)
        and all(
            isinstance(by_task, dict)
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1 for v in by_task.values())
            for by_task in shares.values()
        )
    )
