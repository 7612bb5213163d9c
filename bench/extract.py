"""Extraction throughput: the kit versus pubmed_parser and versus lxml's bare parse, on the same real articles.

Run from the repository root (needs the dev extra for pubmed-parser, langdetect and lingua)::

    python bench/extract.py                       # the embedded sample and ../shared/pmc, each repeated to 2,000 files
    python bench/extract.py --input DIR --rounds 5 --skip-languages --skip-scaling

Three sides read the same files in one process, on one core:

- ``bare parse``: ``lxml.etree.parse`` of every file — the practical limit of any extractor built on lxml;
- ``pubmed_parser``: ``parse_pubmed_paragraph(path, all_paragraph=True)``, the usual baseline;
- ``biomed``: one extraction task's steps chained in-process (reader → length filter → language tagger →
  Parquet writer), i.e. its full output.

It prints paragraphs and MB per second per core for each side and the ratios (targets: at least pubmed_parser's
speed, at least half the bare parse's), for the embedded sample and for the real articles, then the language
identifiers compared on the embedded sample (accuracy against each article's declared language, paragraphs per second),
then the kit's wall-clock scaling from 1 to 2 worker processes on a larger copy of the input.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from lxml import etree


REPO = Path(__file__).resolve().parents[1]


def article_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix in (".xml", ".nxml"))


def time_bare_parse(files: list[Path], rounds: int) -> float:
    started = time.process_time()
    for _ in range(rounds):
        for path in files:
            etree.parse(str(path))
    return time.process_time() - started


def time_pubmed_parser(files: list[Path], rounds: int) -> tuple[float, int]:
    import pubmed_parser

    paragraphs = 0
    started = time.process_time()
    for _ in range(rounds):
        for path in files:
            try:
                paragraphs += len(pubmed_parser.parse_pubmed_paragraph(str(path), all_paragraph=True))
            except Exception:  # pubmed_parser raises on some valid files; count what it gives
                pass
    return time.process_time() - started, paragraphs // rounds


def time_kit(files: list[Path], rounds: int, min_tokens: int) -> tuple[float, int, int]:
    from biomed.dataset_builder.extract.rows import (
        MinTokensFilter,
        TaskCounts,
        filter_rows,
        read_articles,
        tag_languages,
    )
    from biomed.dataset_builder.extract.sources import InputUnit
    from biomed.dataset_builder.extract.stage import ShardWriter

    root = os.path.commonpath([str(p) for p in files])
    # one task's steps over the files repeated `rounds` times: one output shard, as in a real task
    units = [InputUnit(str(p), root) for _ in range(rounds) for p in files]
    with tempfile.TemporaryDirectory() as out:
        counts, errors = TaskCounts(), []
        writer = ShardWriter(Path(out), "00000", max_bytes=0)
        started = time.process_time()
        articles = read_articles(units, None, False, counts, errors)
        for rows in tag_languages(filter_rows(articles, MinTokensFilter(min_tokens).keep, counts), 160, counts):
            writer.write(rows)
        writer.close()
        elapsed = time.process_time() - started
    return elapsed, counts.paragraphs_read // rounds, writer.rows // rounds


def compare_language_identifiers() -> None:
    from biomed.dataset_builder.extract.stage import ExtractConfig, run_extract

    with tempfile.TemporaryDirectory() as out:
        import pyarrow.parquet as pq

        run_extract(ExtractConfig(output_dir=out))
        table = pq.read_table(Path(out) / "data")
    print("\nLanguage identification on the embedded sample (paragraphs >= 64 tokens; truth = article language)")
    print("  truth: xml:lang of the article, or of the translated abstract / body section holding the paragraph")
    rows = table.select(["text", "file", "path"]).to_pylist()
    truth = article_languages()
    texts = [row["text"] for row in rows]
    gold = [truth.get((Path(row["file"]).name, row["path"].split("/")[0]), "en") for row in rows]
    from biomed.dataset_builder.extract.rows import detect_language

    candidates = {"pycld2 (CLD2, 160 chars, full text if unsure; the kit)": detect_language}
    try:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        identifier = LanguageIdentifier.from_model_file(MODEL_FILE)
        candidates["py3langid"] = lambda t: identifier.classify(t)[0]
    except ImportError:
        pass
    try:
        import langdetect

        langdetect.DetectorFactory.seed = 0
        candidates["langdetect (the paper's)"] = langdetect.detect
    except ImportError:
        pass
    try:
        from lingua import LanguageDetectorBuilder

        detector = LanguageDetectorBuilder.from_all_languages().with_low_accuracy_mode().build()
        candidates["lingua (low accuracy mode)"] = lambda t: (
            detector.detect_language_of(t).iso_code_639_1.name.lower() if detector.detect_language_of(t) else "und"
        )
    except ImportError:
        pass
    for name, identify in candidates.items():
        started = time.process_time()
        predicted = [identify(text) for text in texts]
        seconds = time.process_time() - started
        accuracy = sum(p == g for p, g in zip(predicted, gold)) / len(gold)
        print(f"  {name:45s} accuracy {accuracy:6.1%}  {len(texts) / seconds:10,.0f} paragraphs/s")


def article_languages() -> dict[tuple[str, str], str]:
    """Declared language per (file, top element of the path): the article's, or its translated abstract's."""
    from biomed.dataset_builder.extract.stage import embedded_sample_dir

    xml_lang = "{http://www.w3.org/XML/1998/namespace}lang"
    languages = {}
    for path in (embedded_sample_dir() / "articles").glob("*.nxml"):
        root = etree.parse(str(path)).getroot()
        article_language = root.get(xml_lang) or "en"
        meta = root.find("front/article-meta")
        for tag in ("abstract", "trans-abstract"):
            for i, abstract in enumerate(meta.iterfind(tag)):
                languages[(path.name, f"{tag}[{i}]")] = abstract.get(xml_lang) or article_language
        body = root.find("body")
        counts: dict[str, int] = {}
        for child in body if body is not None else []:
            if isinstance(child.tag, str):
                index = counts.get(child.tag, 0)
                counts[child.tag] = index + 1
                languages[(path.name, f"{child.tag}[{index}]")] = child.get(xml_lang) or article_language
    return languages


def scaling(files: list[Path], copies: int) -> None:
    from biomed.dataset_builder.extract.stage import ExtractConfig, run_extract
    from biomed.runtime.executors import ExecutorConfig

    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        for i in range(copies):
            target = corpus / f"copy{i:03d}"
            target.mkdir(parents=True)
            for path in files:
                shutil.copy(path, target / path.name)
        timings = {}
        for workers in (1, 2):
            out = Path(tmp) / f"out{workers}"
            cfg = ExtractConfig(
                inputs=[str(corpus)],
                output_dir=str(out),
                require_pmcid=False,
                executor=ExecutorConfig(tasks=8, workers=workers),
            )
            started = time.perf_counter()
            summary = run_extract(cfg)
            timings[workers] = time.perf_counter() - started
            print(f"  {workers} worker(s): {summary.paragraphs_written:,} paragraphs in {timings[workers]:.2f}s")
        print(f"  speed-up 1 → 2 workers: {timings[1] / timings[2]:.2f}× (ideal 2.00×, on {os.cpu_count()} cores)")


def compare(name: str, files: list[Path], rounds: int, min_tokens: int) -> tuple[float, float]:
    """Time the three sides on ``files`` (one pass each per round); print and return the kit's two ratios."""
    # one warm-up pass each: imports, lazy tables (CLD2, pyarrow) and the page cache are not what we measure
    warm = files[: min(len(files), 50)]
    time_bare_parse(warm, 1)
    time_pubmed_parser(warm, 1)
    time_kit(warm, 1, min_tokens)
    megabytes = sum(p.stat().st_size for p in files) / 1e6
    # The sides take turns, round after round, and each keeps its best round: a busy shared machine slows
    # whichever side runs during the disturbance, and the interleaving spreads that over all three.
    bare = baseline = kit = float("inf")
    for _ in range(rounds):
        bare = min(bare, time_bare_parse(files, 1))
        seconds, baseline_paragraphs = time_pubmed_parser(files, 1)
        baseline = min(baseline, seconds)
        seconds, kit_read, kit_written = time_kit(files, 1, min_tokens)
        kit = min(kit, seconds)
    print(f"\n{name}: {len(files):,} files, {megabytes:.1f} MB; best of {rounds} interleaved rounds; one core (CPU s)")
    print(f"  paragraphs: pubmed_parser {baseline_paragraphs:,}; biomed {kit_read:,} read, {kit_written:,} written")
    # paragraph rates use pubmed_parser's paragraph count for every side, so the ratios are ratios of time
    for side, seconds in (("lxml bare parse", bare), ("pubmed_parser", baseline), ("biomed (full output)", kit)):
        print(f"  {side:22s} {baseline_paragraphs / seconds:10,.0f} paragraphs/s  {megabytes / seconds:7.1f} MB/s")
    print(f"  biomed / pubmed_parser: {baseline / kit:.2f}×   (target ≥ 1×)")
    print(f"  biomed / bare parse:    {bare / kit:.2f}×   (target ≥ 0.50×)")
    return baseline / kit, bare / kit


def repeated(files: list[Path], count: int) -> list[Path]:
    """``files`` repeated in order until there are ``count`` of them (the page cache holds them all)."""
    return [files[i % len(files)] for i in range(max(count, len(files)))]


def main() -> None:
    from biomed.dataset_builder.extract.stage import embedded_sample_dir

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", type=Path, default=REPO.parent / "shared" / "pmc", help="real articles")
    parser.add_argument("--files", type=int, default=2000, help="each input's articles repeated to this many files")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--min-tokens", type=int, default=64)
    parser.add_argument("--copies", type=int, default=150, help="copies of the input for the scaling run")
    parser.add_argument("--skip-languages", action="store_true")
    parser.add_argument("--skip-scaling", action="store_true")
    args = parser.parse_args()

    inputs = {"embedded sample": article_files(embedded_sample_dir() / "articles")}
    if args.input.is_dir():
        inputs[str(args.input)] = article_files(args.input)
    else:
        print(f"{args.input} not found: the embedded sample only (python tests/fetch_shared_pmc.py fetches it)")
    for name, files in inputs.items():
        compare(name, repeated(files, args.files), args.rounds, args.min_tokens)
    if not args.skip_languages:
        compare_language_identifiers()
    if not args.skip_scaling:
        files = inputs[list(inputs)[-1]]
        print(f"\nScaling on {args.copies} copies of the input ({args.copies * len(files)} files):")
        scaling(files, args.copies)


if __name__ == "__main__":
    main()
