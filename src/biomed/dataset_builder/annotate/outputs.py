"""What ``biomed data annotate`` writes: the ``annotations.parquet`` schema and metadata, and its summary.

Kept apart from ``biomed.dataset_builder.annotate.stage`` (sampling, requests, cache) because the LLM run and the
gold-label path (``annotate_from_gold``) write the same outputs through these functions.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from biomed.dataset_builder.annotate.prompt import AnnotationPrompt
from biomed.labels import DOMAIN_LABELS, EDU_SCORES, TYPE_LABELS
from biomed.runtime.files import atomic_path


ANNOTATION_SCHEMA = pa.schema(
    [
        ("article_id", pa.string()),
        ("path", pa.string()),
        ("text", pa.string()),
        ("type", pa.string()),
        ("domain", pa.string()),
        ("educational_score", pa.int8()),
        ("model", pa.string()),
        ("prompt_version", pa.string()),
        ("raw_answer", pa.string()),
        ("latency_s", pa.float32()),
        ("tokens_in", pa.int32()),
        ("tokens_out", pa.int32()),
        ("status", pa.string()),
        ("error", pa.string()),
    ]
)
# What the cache stores per answer: the annotation columns that do not come from the sample.
_ANSWER_FIELDS = (
    "type",
    "domain",
    "educational_score",
    "raw_answer",
    "latency_s",
    "tokens_in",
    "tokens_out",
    "status",
    "error",
    "reason",
)


@dataclass
class AnnotateSummary:
    """What a run produced; saved as ``summary.json`` beside ``annotations.parquet``.

    Attributes:
        source: ``llm`` (answers of ``model``) or ``gold`` (hand-made labels, no LLM involved).
        n_paragraphs: rows of ``annotations.parquet``.
        n_cached: answers reused from the cache instead of requested.
        n_requested: paragraphs sent to the LLM by this run; ``requests`` counts HTTP requests (retries included).
        failures: per reason, ``count`` and ``rate`` (over ``n_paragraphs``).
        labels: per field, counts of each label among successful rows.
        tokens: ``in``/``out`` over all rows (as reported by the server), ``run_in``/``run_out`` for this run.
        seconds: wall time of the run; ``request_seconds`` of its request phase (``n_requested / request_seconds``
            is the throughput).
    """

    output_dir: str
    source: str
    model: str
    prompt_version: str
    n_paragraphs: int
    n_ok: int
    n_failed: int
    n_cached: int = 0
    n_requested: int = 0
    requests: int = 0
    failures: dict[str, dict[str, float]] = field(default_factory=dict)
    labels: dict[str, dict[str, int]] = field(default_factory=dict)
    tokens: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    request_seconds: float = 0.0
    agreement: dict[str, Any] | None = None
    agreement_text: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("agreement_text")
        return data

    def render(self) -> str:
        who = "gold labels (hand-made, no LLM)" if self.source == "gold" else f"{self.model} ({self.prompt_version})"
        lines = [
            f"Annotated {self.n_ok:,} of {self.n_paragraphs:,} paragraphs with {who} → "
            f"{self.output_dir}/annotations.parquet"
        ]
        if self.source == "llm":
            lines.append(
                f"  {self.n_cached:,} answers from cache, {self.n_requested:,} paragraphs requested "
                f"({self.requests:,} HTTP requests) in {self.request_seconds:.1f}s; tokens in "
                f"{self.tokens.get('in', 0):,}, out {self.tokens.get('out', 0):,}"
            )
        lines.append(
            f"  ok {self.n_ok:,}, failed {self.n_failed:,}"
            + (
                ": " + ", ".join(f"{reason} {v['count']:,}" for reason, v in self.failures.items())
                if self.failures
                else ""
            )
        )
        for name, counts in self.labels.items():
            lines.append(f"  {name}: " + ", ".join(f"{label} {count:,}" for label, count in counts.items()))
        if self.agreement_text:
            lines.append(self.agreement_text)
        return "\n".join(lines)


def _annotation_table(
    ids: list, paths: list, texts: list, entries: list[dict[str, Any]], model: str, prompt_version: str
) -> pa.Table:
    n = len(ids)
    column = {name: [entry.get(name) for entry in entries] for name in _ANSWER_FIELDS}
    return pa.table(
        {
            "article_id": ids,
            "path": paths,
            "text": texts,
            "type": column["type"],
            "domain": column["domain"],
            "educational_score": column["educational_score"],
            "model": [model] * n,
            "prompt_version": [prompt_version] * n,
            "raw_answer": column["raw_answer"],
            "latency_s": column["latency_s"],
            "tokens_in": column["tokens_in"],
            "tokens_out": column["tokens_out"],
            "status": column["status"],
            "error": column["error"],
        },
        schema=ANNOTATION_SCHEMA,
    )


def _metadata(
    source: str, model: str, prompt: AnnotationPrompt | None, seed: int | None, gold: str = ""
) -> dict[str, str]:
    meta = {
        "biomed.source": source,
        "biomed.model": model,
        "biomed.prompt_version": prompt.version if prompt else "gold",
        "biomed.labels.type": ",".join(TYPE_LABELS),
        "biomed.labels.domain": ",".join(DOMAIN_LABELS),
    }
    if prompt is not None:
        meta["biomed.prompt_digest"] = prompt.digest()
    if seed is not None:
        meta["biomed.sample_seed"] = str(seed)
    if gold:
        meta["biomed.gold_file"] = Path(gold).name
    return meta


def _write_parquet(table: pa.Table, path: Path, metadata: dict[str, str]) -> None:
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **metadata})
    with atomic_path(path) as partial:  # readers never see a half-written file
        pq.write_table(table, partial)


def _summarise(
    out: Path, source: str, model: str, prompt_version: str, entries: list[dict[str, Any]], seconds: float
) -> AnnotateSummary:
    ok = [entry for entry in entries if entry.get("status") == "ok"]
    reasons = Counter(entry.get("reason") or "unknown" for entry in entries if entry.get("status") != "ok")
    n = len(entries)
    labels = {
        "type": _ordered_counts((e["type"] for e in ok), TYPE_LABELS),
        "domain": _ordered_counts((e["domain"] for e in ok), DOMAIN_LABELS),
        "educational_score": _ordered_counts((e["educational_score"] for e in ok), EDU_SCORES),
    }
    return AnnotateSummary(
        output_dir=str(out),
        source=source,
        model=model,
        prompt_version=prompt_version,
        n_paragraphs=n,
        n_ok=len(ok),
        n_failed=n - len(ok),
        failures={reason: {"count": count, "rate": count / n} for reason, count in reasons.most_common()},
        labels=labels,
        tokens={
            "in": sum(e.get("tokens_in") or 0 for e in entries),
            "out": sum(e.get("tokens_out") or 0 for e in entries),
        },
        seconds=seconds,
    )


def _ordered_counts(values, label_set) -> dict[str, int]:
    counts = Counter(values)
    return {str(label): counts.get(label, 0) for label in label_set}
