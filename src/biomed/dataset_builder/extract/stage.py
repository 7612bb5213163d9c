"""``biomed data extract``: PMC-OA articles to Parquet shards with one row per paragraph.

Example::

    from biomed.dataset_builder.extract.stage import ExtractConfig, run_extract

    summary = run_extract(ExtractConfig(inputs=["~/pmc/oa_comm"], output_dir="extracted"))
    print(summary.render())

The pipeline is three datatrove steps, run by the executor of ``cfg.executor`` (local processes by default,
Slurm or Ray on clusters): ``PmcArticleReader`` (files and packages → one document per paragraph, skipped
files recorded with their reason), ``MinTokensFilter`` (drops paragraphs under ``min_tokens`` words, counted
as ``too_short``), ``LanguageTagger`` (CLD2 on the paragraph's first characters), then datatrove's
``ParquetWriter``. Each task writes ``data/<n>_<rank>.parquet`` (``n`` counts the task's shards: a new one
every ``max_shard_bytes``; an article never straddles two) and ``errors/<rank>.jsonl``; datatrove's
completion markers under ``logs/`` make a rerun after a crash redo only unfinished tasks, overwriting their
partial files. Paragraph rules are documented in ``biomed.dataset_builder.extract.jats``.

``n_tokens`` counts whitespace-separated words, plus one per character of scripts written without spaces
(Chinese, Japanese, Thai…), so the paper's 64-token minimum means the same amount of text in every language.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

import yaml

from biomed.config import config_to_dict, save_config
from biomed.dataset_builder.extract.jats import EXTRACTOR_VERSION, Article, ArticleError, parse_article
from biomed.dataset_builder.extract.licenses import license_group, normalise_license
from biomed.dataset_builder.extract.sources import (
    InputUnit,
    SourceError,
    iter_article_sources,
    iter_unit,
    list_input_units,
    read_file_list,
)
from biomed.errors import BiomedError
from biomed.runtime.executors import ExecutorConfig, build_executor


__all__ = ["ExtractConfig", "ExtractSummary", "run_extract", "parse_article", "iter_article_sources", "SCHEMA_COLUMNS"]

# characters of scripts written without spaces between words, each counted as one token
_UNSPACED_SCRIPT = re.compile(r"[\u0e00-\u0e7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_CONTROL = dict.fromkeys(range(32), " ")


def embedded_sample_dir() -> Path:
    """The folder of the sample articles shipped with the package."""
    return Path(str(files("biomed.dataset_builder") / "sample"))


@dataclass
class ExtractConfig:
    """Configuration of ``biomed data extract``.

    Attributes:
        inputs: folders of ``.xml``/``.nxml`` articles and/or PMC OA bulk packages; empty = the embedded sample.
        output_dir: folder receiving ``data/*.parquet``, ``errors.jsonl``, ``summary.json``, ``config.yaml``.
        file_list: PMC OA file list CSV; its PMID and licence win over the article's. With no inputs, the
            embedded sample's list is used.
        min_tokens: paragraphs with fewer tokens (see module docstring) are dropped; the paper used 64.
        require_pmcid: skip articles without a PMCID (publisher files before PMC ingestion); when false, such
            articles are keyed by ``doi:<DOI>``.
        language_chars: how many leading characters of a paragraph the language identifier reads.
        max_shard_bytes: a task starts a new output shard once its current one holds this many (compressed) bytes;
            128 MiB is about 300k paragraphs. Later stages resume shard by shard (a killed ``classify score``
            redoes only its unfinished shards), so bounded shards bound what a crash costs. 0 = one shard per task.
        executor: where the tasks run (``executor.kind``, ``executor.tasks``, ``executor.workers``, …).
    """

    inputs: list[str] = field(default_factory=list)
    output_dir: str = "extracted"
    file_list: str | None = None
    min_tokens: int = 64
    require_pmcid: bool = True
    language_chars: int = 160
    max_shard_bytes: int = 128 * 2**20
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)

    def __post_init__(self):
        if self.min_tokens < 0:
            raise ValueError("min_tokens must be >= 0")
        if self.max_shard_bytes < 0:
            raise ValueError("max_shard_bytes must be >= 0 (0: one shard per task)")
        if self.language_chars < 1:
            raise ValueError("language_chars must be >= 1")


# the output's columns, in order; `parquet_schema` gives their types
SCHEMA_COLUMNS = [
    "article_id", "pmcid", "pmid", "doi", "file", "path", "paragraph_index", "section", "text", "article_type",
    "journal", "year", "language", "license", "license_group", "n_chars", "n_tokens",
]  # fmt: skip
_INT_COLUMNS = {"paragraph_index", "year", "n_chars", "n_tokens"}


def parquet_schema():
    """The Arrow schema of extraction shards, with the extractor version in its metadata."""
    import pyarrow as pa

    return pa.schema(
        [(name, pa.int32() if name in _INT_COLUMNS else pa.string()) for name in SCHEMA_COLUMNS],
        metadata={"biomed.extractor_version": EXTRACTOR_VERSION},
    )


def count_tokens(text: str, words: int) -> int:
    """Whitespace words, plus one per character of a script written without spaces (see the module docstring)."""
    if text.isascii():
        return words
    return words + len(_UNSPACED_SCRIPT.findall(text))


def article_rows(article: Article, license_name: str, pmid: str | None, article_id: str) -> list[dict]:
    """One output row per paragraph (``language`` still unset: the tagger fills it after length filtering)."""
    group = license_group(license_name)
    rows = []
    for paragraph in article.paragraphs:
        text = paragraph.text
        rows.append(
            {
                "article_id": article_id,
                "pmcid": article.pmcid,
                "pmid": pmid,
                "doi": article.doi,
                "file": article.file,
                "path": paragraph.path,
                "paragraph_index": paragraph.paragraph_index,
                "section": paragraph.section,
                "text": text,
                "article_type": article.article_type,
                "journal": article.journal,
                "year": article.year,
                "language": None,
                "license": license_name,
                "license_group": group,
                "n_chars": len(text),
                "n_tokens": count_tokens(text, text.count(" ") + 1),
            }
        )
    return rows


def resolve_article(article: Article, file_list: dict | None, require_pmcid: bool) -> tuple[str, str | None, str]:
    """``(article_id, pmid, license)`` of an article, applying the file list; raise ``ArticleError`` to skip it."""
    pmid, license_name = article.pmid, article.license
    if file_list and article.pmcid and article.pmcid in file_list:
        listed_pmid, listed_license = file_list[article.pmcid]
        pmid = pmid or listed_pmid
        listed = normalise_license(listed_license)
        if listed:
            license_name = listed
    if not article.has_body:
        raise ArticleError("no_body", "the article has no <body> (e.g. a PDF-only or ahead-of-print record)")
    if not article.pmcid and require_pmcid:
        raise ArticleError("no_pmcid", "no <article-id pub-id-type='pmc'>; set require_pmcid=false to key by DOI")
    if license_name == "":
        raise ArticleError("unknown_license", "the <license> element names no licence we recognise")
    article_id = pmid or article.pmcid or (f"doi:{article.doi}" if article.doi else None)
    if article_id is None:
        raise ArticleError("no_identifier", "no PMID, PMCID nor DOI")
    return article_id, pmid, license_name


def _datatrove_steps():
    # datatrove is imported lazily so that `biomed --help` and the non-extraction commands stay fast.
    # Documents travel one per *article*, with its paragraph rows in ``metadata["rows"]``: per-document
    # bookkeeping (stats, file routing) then costs once per article instead of once per paragraph, which
    # measured twice as fast end to end on real articles (bench/extract.py).
    from datatrove.data import Document
    from datatrove.pipeline.base import PipelineStep
    from datatrove.pipeline.writers import ParquetWriter

    class PmcArticleReader(PipelineStep):
        """Read this task's share of the input units; yield one document per article, skipped ones recorded."""

        name = "PMC-OA JATS reader"
        type = "📖 - READER"

        def __init__(self, units: list[InputUnit], output_dir: str, file_list: str | None, require_pmcid: bool):
            super().__init__()
            self.units = units
            self.output_dir = output_dir
            self.file_list_path = file_list
            self.require_pmcid = require_pmcid

        def run(self, data=None, rank: int = 0, world_size: int = 1):
            file_list = read_file_list(self.file_list_path) if self.file_list_path else None
            errors_dir = Path(self.output_dir) / "errors"
            errors_dir.mkdir(parents=True, exist_ok=True)
            progress = Path(self.output_dir) / "logs" / "progress"
            progress.mkdir(parents=True, exist_ok=True)
            articles = 0
            with open(errors_dir / f"{rank:05d}.jsonl", "w", encoding="utf-8") as errors:

                def record(name: str, reason: str, detail: str) -> None:
                    self.stat_update(f"skipped_{reason}")
                    errors.write(json.dumps({"file": name, "reason": reason, "detail": detail}) + "\n")

                for unit in self.units[rank::world_size]:
                    try:
                        for name, data_bytes in iter_unit(unit):
                            with self.track_time():
                                try:
                                    article = parse_article(data_bytes, file=name)
                                    article_id, pmid, license_name = resolve_article(
                                        article, file_list, self.require_pmcid
                                    )
                                except ArticleError as err:
                                    where = f"{unit.path}::{name}" if unit.is_package else unit.path
                                    record(where, err.reason, err.detail)
                                    continue
                                rows = article_rows(article, license_name, pmid, article_id)
                            self.stat_update("articles")
                            self.stat_update("paragraphs", value=len(rows), unit="article")
                            articles += 1
                            if articles % 500 == 0:
                                (progress / f"{rank:05d}").write_text(str(articles))
                            yield Document(text="", id=article_id, metadata={"rows": rows})
                    except SourceError as err:
                        record(unit.path, err.reason, err.detail)
            (progress / f"{rank:05d}").write_text(str(articles))

    class MinTokensFilter(PipelineStep):
        """Keep paragraphs of at least ``min_tokens`` tokens; the others are dropped and counted as ``too_short``."""

        name = "minimum length"
        type = "🔻 - FILTER"

        def __init__(self, min_tokens: int):
            super().__init__()
            self.min_tokens = min_tokens

        def keep(self, row: dict) -> bool | tuple[bool, str]:
            return row["n_tokens"] >= self.min_tokens or (False, "too_short")

        def run(self, data, rank: int = 0, world_size: int = 1):
            drops: Counter = Counter()
            kept_total = 0
            for doc in data:
                kept = []
                for row in doc.metadata["rows"]:
                    verdict = self.keep(row)
                    if verdict is True:
                        kept.append(row)
                    else:
                        drops[verdict[1]] += 1
                kept_total += len(kept)
                if kept:
                    doc.metadata["rows"] = kept
                    yield doc
            self.stat_update("forwarded", value=kept_total, unit="task")
            for reason, count in drops.items():
                self.stat_update(f"dropped_{reason}", value=count, unit="task")

    class LanguageTagger(PipelineStep):
        """Set each paragraph's ``language`` (ISO 639-1, ``und`` when undecided) with CLD2 on its first characters."""

        name = "CLD2 language"
        type = "🏷 - TAGGER"

        def __init__(self, chars: int):
            super().__init__()
            self.chars = chars

        def run(self, data, rank: int = 0, world_size: int = 1):
            languages: Counter = Counter()
            for doc in data:
                for row in doc.metadata["rows"]:
                    language = detect_language(row["text"], self.chars)
                    languages[language] += 1
                    row["language"] = language
                yield doc
            for language, count in languages.items():
                self.stat_update(f"language_{language}", value=count, unit="task")

    class ParagraphParquetWriter(ParquetWriter):
        """datatrove's Parquet writer, writing every paragraph row of each article document."""

        def _write(self, document: list[dict], file_handler, filename: str):
            from biomed.upstream import write_rows_to_parquet

            write_rows_to_parquet(self, document, file_handler, filename)
            self.stat_update("paragraphs_written", value=len(document), unit="article")

    return PmcArticleReader, MinTokensFilter, LanguageTagger, ParagraphParquetWriter


# CLD2's normalised score of its best language; below it, the first characters were not enough (e.g. a Spanish
# paragraph opening on Latin species names) and the whole paragraph is read. On real articles and the sample,
# 99 % of paragraphs score above 500 and every wrong call on the prefix scored under 250.
_CONFIDENT_SCORE = 400.0


def detect_language(text: str, chars: int = 160) -> str:
    """ISO 639-1 code of ``text`` from CLD2 (pycld2), reading its first ``chars`` characters; ``und`` if unsure."""
    language, score = _cld2(text[:chars])
    if score < _CONFIDENT_SCORE and len(text) > chars:
        language, score = _cld2(text)
    return language


def _cld2(text: str) -> tuple[str, float]:
    import pycld2

    try:
        _, _, details = pycld2.detect(text, isPlainText=True, bestEffort=True)
    except (pycld2.error, UnicodeEncodeError):
        try:
            clean = text.translate(_CONTROL).encode("utf-8", "replace").decode("utf-8")
            _, _, details = pycld2.detect(clean, isPlainText=True, bestEffort=True)
        except (pycld2.error, UnicodeEncodeError):
            return "und", 0.0
    code, score = details[0][1], details[0][3]
    if code in ("un", "xxx", ""):
        return "und", score
    # CLD2 names a few languages with a region or script (zh-Hant): keep the ISO 639-1 part
    return code.split("-")[0], score


def build_pipeline(cfg: ExtractConfig, units: list[InputUnit], file_list: str | None) -> list:
    reader_cls, filter_cls, tagger_cls, writer_cls = _datatrove_steps()
    return [
        reader_cls(units, cfg.output_dir, file_list, cfg.require_pmcid),
        filter_cls(cfg.min_tokens),
        tagger_cls(cfg.language_chars),
        writer_cls(
            output_folder=str(Path(cfg.output_dir) / "data"),
            output_filename="${rank}.parquet",
            adapter=_rows_of,
            schema=parquet_schema(),
            compression="zstd",
            batch_size=4096,
            max_file_size=cfg.max_shard_bytes or -1,
        ),
    ]


def _rows_of(writer, document) -> list[dict]:
    return document.metadata["rows"]


@dataclass
class ExtractSummary:
    """What a run read, wrote and skipped; saved as ``summary.json`` beside the shards."""

    output_dir: str
    units: int
    articles: int
    paragraphs_read: int
    paragraphs_written: int
    dropped: dict[str, int]
    skipped: dict[str, int]
    languages: dict[str, int]
    seconds: float
    extractor_version: str = EXTRACTOR_VERSION

    @property
    def files_failed(self) -> int:
        return sum(self.skipped.values())

    def to_dict(self) -> dict:
        return {**self.__dict__, "files_failed": self.files_failed}

    def render(self) -> str:
        lines = [
            f"Extracted {self.paragraphs_written:,} paragraphs from {self.articles:,} articles "
            f"({self.units:,} input files) in {self.seconds:.1f}s → {self.output_dir}/data/",
            f"  read {self.paragraphs_read:,} paragraphs; dropped: "
            + (", ".join(f"{k} {v:,}" for k, v in sorted(self.dropped.items())) or "none"),
            "  languages: " + ", ".join(f"{k} {v:,}" for k, v in Counter(self.languages).most_common(8)),
        ]
        if self.skipped:
            lines.append(
                f"  skipped {self.files_failed:,} articles/files: "
                + ", ".join(f"{k} {v:,}" for k, v in sorted(self.skipped.items()))
                + f" (details in {self.output_dir}/errors.jsonl)"
            )
        return "\n".join(lines)


def run_extract(cfg: ExtractConfig) -> ExtractSummary:
    """Run the extraction pipeline of ``cfg`` and return its summary (also saved as ``summary.json``)."""
    inputs = list(cfg.inputs)
    file_list = cfg.file_list
    if not inputs:
        sample = embedded_sample_dir()
        inputs = [str(sample / "articles")]
        file_list = file_list or str(sample / "oa_file_list.csv")
    units = list_input_units(inputs)
    if file_list:
        read_file_list(file_list)  # fail before starting any task if the CSV is unusable
    out = Path(cfg.output_dir)
    previous = out / "config.yaml"
    if previous.exists() and (out / "logs" / "completions").exists():
        # a rerun resumes: only settings that shape the output must match (workers, Slurm time… may change)
        before = _output_settings(yaml.safe_load(previous.read_text(encoding="utf-8")))
        now = _output_settings(config_to_dict(cfg))
        changed = sorted(key for key in before.keys() | now.keys() if before.get(key) != now.get(key))
        if changed:
            raise BiomedError(
                f"{out} holds a run made with other settings ({', '.join(changed)}); resume it with the same "
                f"options (see {previous}) or choose a new --out"
            )
    save_config(cfg, out)

    started = time.perf_counter()
    pipeline = build_pipeline(cfg, units, file_list)
    executor = build_executor(cfg.executor, pipeline, out / "logs", job_name="biomed-extract")
    _run_with_progress(executor, out, cfg.executor.resolved_tasks())
    summary = _summarise(out, len(units), time.perf_counter() - started)
    (out / "summary.json").write_text(json.dumps(summary.to_dict(), indent=2) + "\n")
    return summary


def _output_settings(config: dict) -> dict:
    """The config keys that decide what the shards hold (and how the input is split between them)."""
    settings = {key: value for key, value in config.items() if key != "executor"}
    settings["executor.tasks"] = config["executor"]["tasks"]
    # a run saved before the key existed split its shards at datatrove's default, 5 GiB
    settings.setdefault("max_shard_bytes", 5 * 2**30)
    return settings


def _run_with_progress(executor, out: Path, tasks: int) -> None:
    import threading

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    if type(executor).__name__ != "LocalPipelineExecutor":
        executor.run()  # cluster executors submit jobs and return; their progress is in the scheduler
        return
    failure: list[BaseException] = []

    def target():
        try:
            executor.run()
        except BaseException as err:  # re-raised in the caller's thread
            failure.append(err)

    worker = threading.Thread(target=target, daemon=True)
    columns = (TextColumn("extract"), BarColumn(), TextColumn("{task.completed}/{task.total} tasks"),
               TextColumn("{task.fields[articles]:,} articles"), TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, transient=True) as progress:
        bar = progress.add_task("extract", total=tasks, articles=0)
        worker.start()
        while worker.is_alive():
            worker.join(0.5)
            done = len(list((out / "logs" / "completions").glob("*")))
            articles = sum(int(p.read_text() or 0) for p in (out / "logs" / "progress").glob("*"))
            progress.update(bar, completed=done, articles=articles)
    if failure:
        raise failure[0]


def _summarise(out: Path, units: int, seconds: float) -> ExtractSummary:
    stats = json.loads((out / "logs" / "stats.json").read_text())
    counters: Counter = Counter()
    for step in stats:
        for key, value in step.get("stats", {}).items():
            counters[key] += value["total"] if isinstance(value, dict) else value
    errors = []
    for part in sorted((out / "errors").glob("*.jsonl")):
        errors.extend(line for line in part.read_text(encoding="utf-8").splitlines() if line)
    (out / "errors.jsonl").write_text("".join(line + "\n" for line in errors), encoding="utf-8")
    return ExtractSummary(
        output_dir=str(out),
        units=units,
        articles=int(counters["articles"]),
        paragraphs_read=int(counters["paragraphs"]),
        paragraphs_written=int(counters["paragraphs_written"]),
        dropped={k.removeprefix("dropped_"): int(v) for k, v in counters.items() if k.startswith("dropped_")},
        skipped={k.removeprefix("skipped_"): int(v) for k, v in counters.items() if k.startswith("skipped_")},
        languages={k.removeprefix("language_"): int(v) for k, v in counters.items() if k.startswith("language_")},
        seconds=seconds,
    )
