"""``biomed data annotate``: an LLM labels a sample of paragraphs with type, domain and educational quality.

Example::

    from biomed.config import resolve_config
    from biomed.dataset_builder.annotate.stage import AnnotateConfig, run_annotate

    cfg = resolve_config(AnnotateConfig, options={
        "input_dir": "extracted", "output_dir": "annotated", "sample.n": 1000,
        "client.endpoint": "http://localhost:8080", "gold": "sample",
    })
    print(run_annotate(cfg).render())

Steps: draw ``sample.n`` paragraphs reproducibly from the extracted shards
(``biomed.dataset_builder.annotate.sampling``), skip those whose answer is already cached, send the others to the
LLM through ``max_concurrency`` workers (``biomed.dataset_builder.annotate.llm_client``), append each answer to the
cache as it arrives (``biomed.dataset_builder.annotate.cache``), then write ``OUT/annotations.parquet`` (one row per
sampled paragraph, in sample order, the prompt version in every row and in the file metadata), ``OUT/summary.json``
(label distributions, failures by reason, tokens) and ``OUT/config.yaml``. A killed run, rerun with the same
command, sends only the requests whose answer never arrived. ``annotate_from_gold`` writes the same Parquet from the
hand-made gold labels of the embedded sample (what ``biomed demo`` does when no endpoint is given).
The Parquet schema, its metadata and the summary are written by ``biomed.dataset_builder.annotate.outputs``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from biomed.config import dump_config
from biomed.dataset_builder.annotate.agreement import compare_with_gold, read_gold_labels, shipped_gold_path
from biomed.dataset_builder.annotate.cache import AnnotationCache, answer_key
from biomed.dataset_builder.annotate.llm_client import LlmAnnotator, LlmAnswer, LlmClientConfig, resolve_token
from biomed.dataset_builder.annotate.outputs import (
    _ANSWER_FIELDS,
    ANNOTATION_SCHEMA,
    AnnotateSummary,
    _annotation_table,
    _metadata,
    _summarise,
    _write_parquet,
)
from biomed.dataset_builder.annotate.prompt import DEFAULT_PROMPT, AnnotationPrompt, load_prompt
from biomed.dataset_builder.annotate.sampling import EXTRACT_HINT, SamplingConfig, sample_paragraphs
from biomed.errors import BiomedError
from biomed.runtime.files import find_shards
from biomed.runtime.ownership import claim_output, input_fingerprint, mark_finished, require_finished
from biomed.runtime.progress import ProgressBar, progress_bar
from biomed.runtime.summary import write_summary


__all__ = [
    "AnnotateConfig",
    "AnnotateSummary",
    "AnnotatePlan",
    "run_annotate",
    "plan_annotate",
    "annotate_from_gold",
    "ANNOTATION_SCHEMA",
]

logger = logging.getLogger(__name__)

STAGE = "annotate"  # the stage named in the output folder's manifest

# A typical constrained answer, to estimate output tokens before any request.
_TYPICAL_ANSWER = '{"type": "clinical_case", "domain": "biomedical", "educational_score": 3}'


@dataclass
class EstimateConfig:
    """How ``--dry-run`` estimates tokens and cost (no tokenizer is downloaded for it).

    Attributes:
        chars_per_token: characters per token of the model's tokenizer on English scientific text (about 4 for
            the Llama 3 tokenizer).
        usd_per_mtok_in: price of a million prompt tokens; a placeholder of the order of hosted 70B models: set
            your provider's price, or 0 for your own GPUs.
        usd_per_mtok_out: price of a million generated tokens.
        examples: paragraphs whose rendered prompt is printed.
    """

    chars_per_token: float = 4.0
    usd_per_mtok_in: float = 0.6
    usd_per_mtok_out: float = 0.6
    examples: int = 3


@dataclass
class AnnotateConfig:
    """Configuration of ``biomed data annotate``.

    Attributes:
        input_dir: output folder of ``biomed data extract`` (its ``data/*.parquet``), or a Parquet file.
        output_dir: folder receiving ``annotations.parquet``, ``summary.json``, ``config.yaml`` and ``cache/``.
        prompt: a shipped prompt name (``annotate_v1``) or a YAML prompt file; its ``version`` is recorded.
        gold: gold labels JSONL to report agreement with (``sample`` = the embedded sample's); empty = none.
        cache_dir: folder of the answer cache (default ``OUTPUT_DIR/cache``); share it between output folders to
            reuse answers.
        sample: which paragraphs (``sample.n``, ``sample.seed``, ``sample.stratify_by``, ``sample.allocation``).
        client: the LLM endpoint and how hard to try (``client.endpoint``, ``client.model``, ...).
        estimate: token and cost estimate of ``--dry-run``.
    """

    input_dir: str = ""
    output_dir: str = "annotated"
    prompt: str = DEFAULT_PROMPT
    gold: str = ""
    cache_dir: str = ""
    sample: SamplingConfig = field(default_factory=SamplingConfig)
    client: LlmClientConfig = field(default_factory=LlmClientConfig)
    estimate: EstimateConfig = field(default_factory=EstimateConfig)

    def cache_path(self) -> Path:
        return Path(self.cache_dir or Path(self.output_dir) / "cache") / "answers.jsonl"


@dataclass
class AnnotatePlan:
    """What ``--dry-run`` shows: the sample, what is cached, example prompts and the estimated tokens and cost."""

    n_sampled: int
    n_cached: int
    endpoint: str
    model: str
    prompt_version: str
    prompt_source: str
    system: str
    examples: list[dict[str, Any]]
    tokens_in: int
    tokens_out: int
    tokens_out_max: int
    usd: float
    estimate: EstimateConfig

    def render(self) -> str:
        to_send = self.n_sampled - self.n_cached
        lines = [
            f"# sample: {self.n_sampled:,} paragraphs; {self.n_cached:,} already cached; {to_send:,} to send",
            f"# requests go to {self.endpoint or 'Hugging Face Inference Providers (no --endpoint)'}, "
            f"model {self.model}",
            f"# prompt: {self.prompt_version} ({self.prompt_source})",
            "",
            f"[system] (the same for every paragraph, {len(self.system):,} characters)",
            self.system,
        ]
        for i, example in enumerate(self.examples, start=1):
            lines += ["", f"[user] example {i}: {example['article_id']} {example['path']}", example["user"]]
        per = to_send or 1
        lines += [
            "",
            f"# estimated tokens for {to_send:,} requests (≈{self.estimate.chars_per_token:g} characters/token): "
            f"in {self.tokens_in:,} (≈{self.tokens_in / per:,.0f} per paragraph), out ≈{self.tokens_out:,} "
            f"(at most {self.tokens_out_max:,})",
            f"# estimated cost: ${self.usd:,.2f} at ${self.estimate.usd_per_mtok_in:g}/M input and "
            f"${self.estimate.usd_per_mtok_out:g}/M output tokens (estimate.usd_per_mtok_in/out); "
            "retries of invalid answers add to it",
        ]
        return "\n".join(lines)


def plan_annotate(cfg: AnnotateConfig) -> AnnotatePlan:
    """Sample, count cached answers and estimate the run without sending anything (``--dry-run``)."""
    prompt = load_prompt(cfg.prompt)
    sample = _sample(cfg)
    ids, paths, sections, texts = _columns(sample)
    cached = AnnotationCache.read_keys(cfg.cache_path())
    keys = [answer_key(cfg.client.model, prompt.version, *row) for row in zip(ids, paths, texts, strict=True)]
    todo = [i for i in _first_index(keys) if keys[i] not in cached]
    per_token = cfg.estimate.chars_per_token
    fixed = len(prompt.system)
    tokens_in = sum(math.ceil((fixed + len(_render_user(prompt, sections[i], texts[i]))) / per_token) for i in todo)
    tokens_out = len(todo) * math.ceil(len(_TYPICAL_ANSWER) / per_token)
    usd = (tokens_in * cfg.estimate.usd_per_mtok_in + tokens_out * cfg.estimate.usd_per_mtok_out) / 1e6
    examples = [
        {"article_id": ids[i], "path": paths[i], "user": _render_user(prompt, sections[i], texts[i])}
        for i in range(min(cfg.estimate.examples, len(ids)))
    ]
    return AnnotatePlan(
        n_sampled=len(ids),
        n_cached=len(set(keys)) - len(todo),
        endpoint=cfg.client.endpoint,
        model=cfg.client.model,
        prompt_version=prompt.version,
        prompt_source=prompt.source,
        system=prompt.system,
        examples=examples,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        tokens_out_max=len(todo) * cfg.client.max_tokens,
        usd=usd,
        estimate=cfg.estimate,
    )


def run_annotate(
    cfg: AnnotateConfig, progress: bool = True, overwrite: bool = False, wait: bool = False
) -> AnnotateSummary:
    """Annotate the sample of ``cfg`` and write its outputs; returns the summary (also ``summary.json``).

    The output folder is owned (``biomed.runtime.ownership``): another stage's folder, or one annotating another
    input, is refused unless ``overwrite`` (which deletes it, cache included). A rerun with another prompt, model
    or sample rewrites ``annotations.parquet`` whole: the cache is keyed by request, so answers never mix.

    Args:
        cfg: the resolved config.
        progress: show a progress bar on stderr (rate, failures, tokens).
        overwrite: start afresh in a folder that holds something else.
        wait: when the input is an extraction still being written, wait for it instead of refusing it.

    Raises:
        BiomedError: bad input, no endpoint and no token, an unusable output folder, an endpoint refusing every
            request, every paragraph failing, or an interruption (answers received until then are cached: the same
            command resumes).
    """
    prompt = load_prompt(cfg.prompt)
    token = resolve_token(cfg.client.token_env, cfg.client.endpoint)
    if not cfg.client.endpoint and not token:
        raise BiomedError(
            "no --endpoint given and no Hugging Face token found: pass --endpoint URL of a TGI, vLLM or "
            "OpenAI-compatible server, or log in (`hf auth login`) to use Inference Providers"
        )
    gold = read_gold_labels(_gold_path(cfg.gold)) if cfg.gold else None
    require_finished(cfg.input_dir, "extract", "data classify score", wait=wait, on_wait=logger.warning)
    sample = _sample(cfg)
    with _claim(cfg, overwrite) as out:
        summary = _annotate_sample(cfg, out, prompt, token, gold, sample, progress)
        mark_finished(out, produced={"paragraphs": summary.n_paragraphs, "ok": summary.n_ok})
        return summary


def _claim(cfg: AnnotateConfig, overwrite: bool):
    # what the folder is: annotations of one input; the prompt, model and sample may change from run to run
    inputs = input_fingerprint(Path(cfg.input_dir).expanduser())
    return claim_output(cfg.output_dir, STAGE, {}, inputs, overwrite, config=dump_config(cfg))


def _annotate_sample(
    cfg: AnnotateConfig,
    out: Path,
    prompt: AnnotationPrompt,
    token: str | None,
    gold: dict | None,
    sample: pa.Table,
    progress: bool,
) -> AnnotateSummary:
    ids, paths, sections, texts = _columns(sample)
    keys = [answer_key(cfg.client.model, prompt.version, *row) for row in zip(ids, paths, texts, strict=True)]
    started = time.perf_counter()
    with AnnotationCache(cfg.cache_path()) as cache:
        if cache.skipped_lines:
            logger.warning("skipped %d unreadable line(s) of %s (cut by a kill)", cache.skipped_lines, cache.path)
        todo = [i for i in _first_index(keys) if keys[i] not in cache]
        n_cached = len(set(keys)) - len(todo)
        run = _RunCounters()
        uncached: dict[str, dict[str, Any]] = {}
        requests_started = time.perf_counter()
        try:
            asyncio.run(
                _annotate_all(
                    cfg, prompt, token, todo, (ids, paths, sections, texts), keys, cache, uncached, run, progress
                )
            )
        except KeyboardInterrupt:
            raise BiomedError(
                f"interrupted after {run.done:,} of {len(todo):,} requests; the answers are cached in {cache.path}: "
                "rerun the same command to resume"
            ) from None
        request_seconds = time.perf_counter() - requests_started
        entries = [cache.get(key) or uncached[key] for key in keys]
    table = _annotation_table(ids, paths, texts, entries, cfg.client.model, prompt.version)
    _write_parquet(table, out / "annotations.parquet", _metadata("llm", cfg.client.model, prompt, cfg.sample.seed))
    summary = _summarise(out, "llm", cfg.client.model, prompt.version, entries, time.perf_counter() - started)
    summary.n_cached, summary.n_requested, summary.requests = n_cached, len(todo), run.requests
    summary.request_seconds = request_seconds
    summary.tokens.update(run_in=run.tokens_in, run_out=run.tokens_out)
    if gold is not None:
        report = compare_with_gold(
            table.select(["article_id", "path", "status", "type", "domain", "educational_score"]).to_pylist(), gold
        )
        summary.agreement, summary.agreement_text = report.to_dict(), report.render()
    write_summary(out, summary.to_dict())
    if summary.n_paragraphs and not summary.n_ok:
        reasons = ", ".join(f"{reason} {v['count']:,}" for reason, v in summary.failures.items())
        raise BiomedError(
            f"every one of the {summary.n_paragraphs:,} paragraphs failed ({reasons}); nothing was annotated: check "
            f"--endpoint, --model and --api (each failure and its reason: {out / 'annotations.parquet'})"
        )
    return summary


def annotate_from_gold(
    extracted_dir: str | Path, out_dir: str | Path, gold_path: str | Path | None = None
) -> AnnotateSummary:
    """Write ``annotations.parquet`` from hand-made gold labels instead of an LLM (the demo without an endpoint).

    Every extracted paragraph with a gold label becomes an ``ok`` row with ``model = prompt_version = "gold"``;
    paragraphs without one are left out and logged.

    Args:
        extracted_dir: output folder of ``biomed data extract`` (e.g. on the embedded sample).
        out_dir: folder receiving ``annotations.parquet``, ``summary.json`` and ``config.yaml``.
        gold_path: gold labels JSONL; default: the embedded sample's ``gold_labels.jsonl``.
    """
    gold_path = Path(gold_path) if gold_path else shipped_gold_path()
    gold = read_gold_labels(gold_path)
    cfg = AnnotateConfig(input_dir=str(extracted_dir), output_dir=str(out_dir), gold=str(gold_path))
    require_finished(extracted_dir, "extract")
    shards = find_shards(extracted_dir, hint=EXTRACT_HINT, allow_file=True)
    with _claim(cfg, overwrite=False) as out:
        summary = _annotations_from_gold(out, shards, gold, gold_path)
        mark_finished(out, produced={"paragraphs": summary.n_paragraphs, "ok": summary.n_ok})
        return summary


def _annotations_from_gold(out: Path, shards: list[Path], gold: dict, gold_path: Path) -> AnnotateSummary:
    started = time.perf_counter()
    table = pa.concat_tables(pq.read_table(shard, columns=["article_id", "path", "text"]) for shard in shards)
    ids, paths, texts = (table.column(name).to_pylist() for name in ("article_id", "path", "text"))
    keep = [i for i, key in enumerate(zip(ids, paths, strict=True)) if key in gold]
    if len(keep) < len(ids):
        logger.warning(
            "%d of %d extracted paragraphs have no gold label in %s and are left out",
            len(ids) - len(keep),
            len(ids),
            gold_path,
        )
    entries = [
        {"status": "ok", **{name: gold[(ids[i], paths[i])][name] for name in ("type", "domain", "educational_score")}}
        for i in keep
    ]
    ids, paths, texts = [ids[i] for i in keep], [paths[i] for i in keep], [texts[i] for i in keep]
    gold_table = _annotation_table(ids, paths, texts, entries, "gold", "gold")
    _write_parquet(gold_table, out / "annotations.parquet", _metadata("gold", "gold", None, None, str(gold_path)))
    summary = _summarise(out, "gold", "gold", "gold", entries, time.perf_counter() - started)
    write_summary(out, summary.to_dict())
    return summary


@dataclass
class _RunCounters:
    done: int = 0
    failed: int = 0
    requests: int = 0
    tokens_in: int = 0
    tokens_out: int = 0


async def _annotate_all(
    cfg: AnnotateConfig,
    prompt: AnnotationPrompt,
    token: str | None,
    todo: list[int],
    columns: tuple[list, list, list, list],
    keys: list[str],
    cache: AnnotationCache,
    uncached: dict[str, dict[str, Any]],
    run: _RunCounters,
    show_progress: bool,
) -> None:
    ids, paths, sections, texts = columns
    pending = iter(todo)
    with progress_bar("annotating", total=len(todo), unit="requests", enabled=show_progress and bool(todo)) as bar:

        async def worker(annotator: LlmAnnotator) -> None:
            # Workers share one iterator: each takes the next paragraph when its previous request is done, so at
            # most `max_concurrency` requests (retries and backoff included) are ever in flight.
            for i in pending:
                answer = await annotator.annotate(sections[i], texts[i], tag=f"{ids[i]} {paths[i]}")
                entry = _entry(answer)
                if answer.transient:
                    uncached[keys[i]] = entry  # in this run's output, retried by the next run
                else:
                    cache.append(keys[i], entry)
                run.done += 1
                run.failed += answer.status != "ok"
                run.requests += answer.requests
                run.tokens_in += answer.tokens_in or 0
                run.tokens_out += answer.tokens_out or 0
                _show(bar, run)

        async with LlmAnnotator(cfg.client, prompt, token) as annotator:
            workers = [
                asyncio.ensure_future(worker(annotator)) for _ in range(min(cfg.client.max_concurrency, len(todo)))
            ]
            try:
                await asyncio.gather(*workers)
            finally:
                for task_ in workers:
                    task_.cancel()
                await asyncio.gather(*workers, return_exceptions=True)


def _entry(answer: LlmAnswer) -> dict[str, Any]:
    return {name: getattr(answer, name) for name in _ANSWER_FIELDS}


def _show(bar: ProgressBar, run: _RunCounters) -> None:
    bar.advance()
    bar.update(description=f"annotating ({run.failed:,} failed, {run.tokens_in + run.tokens_out:,} tokens)")


def _sample(cfg: AnnotateConfig) -> pa.Table:
    if not cfg.input_dir:
        raise BiomedError("no input: pass the output folder of `biomed data extract` (INPUT argument or input_dir)")
    return sample_paragraphs(cfg.input_dir, cfg.sample)


def _columns(sample: pa.Table) -> tuple[list, list, list, list]:
    ids = sample.column("article_id").to_pylist()
    paths = sample.column("path").to_pylist()
    texts = sample.column("text").to_pylist()
    sections = sample.column("section").to_pylist() if "section" in sample.column_names else [""] * len(ids)
    return ids, paths, sections, texts


def _first_index(keys: list[str]) -> list[int]:
    """Indices of the first occurrence of each key: a paragraph present twice is requested once."""
    seen: dict[str, int] = {}
    for i, key in enumerate(keys):
        seen.setdefault(key, i)
    return list(seen.values())


def _render_user(prompt: AnnotationPrompt, section: str | None, text: str) -> str:
    return prompt.messages(section, text)[1]["content"]


def _gold_path(gold: str) -> Path:
    return shipped_gold_path() if gold == "sample" else Path(gold)
