"""Building every config of the release recipe: the kit's streaming builder vs plain `datasets` filter + concatenate.

    .venv/bin/python bench/build.py                          # 8 synthetic scored shards of 10,000 paragraphs
    .venv/bin/python bench/build.py --shards 16 --rows 50000
    .venv/bin/python bench/build.py --input scored/          # real scored shards (classify score output)

Both sides read the same scored Parquet shards and write every variant and subset of
``recipes/build/biomed-enriched.yaml`` (selection, article-level upsampling, prefix, withheld text) as Parquet:

1. **biomed**: ``run_build`` (one pass per shard for all configs, pyarrow compute, rolling writers; card without
   plots, which the baseline does not draw);
2. **datasets**: what one writes with the ``datasets`` API: ``load_dataset("parquet")``, then per config
   ``Dataset.filter`` for the conditions, the upsampled articles found with a filter over the whole corpus,
   ``concatenate_datasets`` of the copies, ``map`` for the prefix and the withheld text, ``to_parquet``.

Each side runs in its own subprocess, so its peak RSS (``ru_maxrss``) is its own. The kit is also run on half the
shards: its peak RSS should stay flat (bounded by a shard), while the baseline's grows with the corpus. Rows per
config are checked equal on both sides. Prints input rows per second for both and the ratio; timings vary with the
machine's load (printed).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path


RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "build" / "biomed-enriched.yaml"
TYPES = ("review", "study", "clinical_case", "other")
DOMAINS = ("clinical", "biomedical", "other")


def write_scored_shards(folder: Path, shards: int, rows: int, seed: int = 0) -> list[Path]:
    """Synthetic scored shards: articles of 4-40 paragraphs of ~60 words, labels drawn like a PMC-OA mix."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    vocabulary = np.array("the patient liver cells were treated with dose response study clinical case".split())
    out = []
    (folder / "data").mkdir(parents=True, exist_ok=True)
    article = 0
    for shard in range(shards):
        lengths = []
        while sum(lengths) < rows:
            lengths.append(int(rng.integers(4, 40)))
        lengths[-1] -= sum(lengths) - rows
        ids = np.repeat(np.arange(article, article + len(lengths)), lengths)
        article += len(lengths)
        index = np.concatenate([np.arange(n) for n in lengths])
        words = rng.choice(vocabulary, size=(rows, 60))
        text = [" ".join(w) for w in words]
        clinical_article = rng.random(len(lengths)) < 0.15
        french_article = rng.random(len(lengths)) < 0.02
        group = rng.choice(["commercial", "non_commercial", "other"], size=len(lengths), p=[0.6, 0.3, 0.1])
        type_ = np.where(
            np.repeat(clinical_article, lengths) & (rng.random(rows) < 0.3),
            "clinical_case",
            rng.choice(["review", "study", "other"], size=rows),
        )  # noqa: E501
        domain = np.where(
            np.repeat(clinical_article, lengths) & (rng.random(rows) < 0.8),
            "clinical",
            rng.choice(DOMAINS[1:], size=rows),
        )  # noqa: E501
        edu = np.clip(rng.normal(3.0, 1.0, rows), 1, 5).astype("float32")
        probs = rng.dirichlet(np.ones(4), rows).astype("float32")
        table = pa.table(
            {
                "article_id": pa.array([str(40_000_000 + a) for a in ids]),
                "pmcid": pa.array([f"PMC{a}" for a in ids]),
                "pmid": pa.array([str(40_000_000 + a) for a in ids]),
                "doi": pa.nulls(rows, pa.string()),
                "file": pa.array([f"PMC{a}.nxml" for a in ids]),
                "path": pa.array([f"sec[{i // 4}]/p[{i % 4}]" for i in index]),
                "paragraph_index": pa.array(index, pa.int32()),
                "section": pa.array(["Results"] * rows),
                "text": pa.array(text),
                "article_type": pa.array(["research-article"] * rows),
                "journal": pa.array(["J Bench"] * rows),
                "year": pa.array(np.full(rows, 2020), pa.int32()),
                "language": pa.array(np.where(np.repeat(french_article, lengths), "fr", "en")),
                "license": pa.array(np.where(np.repeat(group, lengths) == "commercial", "CC BY", "CC BY-NC")),
                "license_group": pa.array(np.repeat(group, lengths)),
                "n_chars": pa.array([len(t) for t in text], pa.int32()),
                "n_tokens": pa.array(np.full(rows, 60), pa.int32()),
                "type": pa.array(type_),
                "type_probs": pa.array(list(probs), pa.list_(pa.float32())),
                "domain": pa.array(domain),
                "domain_probs": pa.array(list(probs[:, :3]), pa.list_(pa.float32())),
                "educational_score": pa.array(edu),
                "educational_score_int": pa.array(np.rint(edu).astype("int8")),
                "classifier_version": pa.array(["bench"] * rows),
            }
        )
        path = folder / "data" / f"{shard:05d}.parquet"
        pq.write_table(table, path)
        out.append(path)
    return out


# ------------------------------------------------------------------------------------------------------ one side
def run_biomed(input_dir: Path, out: Path) -> dict[str, int]:
    from biomed.config import resolve_config
    from biomed.dataset_builder.build.stage import BuildConfig, run_build

    options = {"input_dir": str(input_dir), "output_dir": str(out), "card.plots": False}
    summary = run_build(resolve_config(BuildConfig, RECIPE, options=options))
    return {name: stats["rows"] for name, stats in summary.configs.items()}


def run_datasets(input_dir: Path, out: Path) -> dict[str, int]:
    """The same recipe written the plain `datasets` way."""
    import datasets

    from biomed.config import resolve_config
    from biomed.dataset_builder.build.stage import BuildConfig

    cfg = resolve_config(BuildConfig, RECIPE, options={"input_dir": str(input_dir)})
    import pyarrow.parquet as pq

    from biomed.dataset_builder.build.published import release_table_from_scored

    # the recipe's conditions are over the release table (published columns and labels), as in the kit's build
    (out / "release-input").mkdir(parents=True, exist_ok=True)
    files = []
    for shard in sorted((input_dir / "data").glob("*.parquet")):
        files.append(str(out / "release-input" / shard.name))
        pq.write_table(release_table_from_scored(pq.read_table(shard)), files[-1])
    corpus = datasets.load_dataset("parquet", data_files=files, split="train", cache_dir=str(out / "cache"))
    withheld_groups = set(cfg.withhold_text_groups)

    def passes(condition, values):
        ops = {
            "==": lambda v: v == condition.value,
            "!=": lambda v: v != condition.value,
            ">=": lambda v: v >= condition.value,
            ">": lambda v: v > condition.value,
            "<=": lambda v: v <= condition.value,
            "<": lambda v: v < condition.value,
            "in": lambda v: v in condition.value,
            "not_in": lambda v: v not in condition.value,
        }
        test = ops[condition.op]
        return [v is not None and test(v) for v in values]

    def all_pass(conditions, batch):
        keep = [True] * len(batch["article_id"])
        for condition in conditions:
            keep = [k and p for k, p in zip(keep, passes(condition, batch[condition.column]), strict=True)]
        return keep

    rows = {}
    for spec in cfg.variants:
        kept = corpus.filter(lambda b, s=spec: all_pass(s.keep, b), batched=True) if spec.keep else corpus
        factor_of_article: dict[str, int] = {}
        factor_of_path: dict[tuple[str, str], int] = {}
        for rule in spec.upsample:
            matched = corpus.filter(lambda b, r=rule: all_pass(r.when, b), batched=True)
            if rule.level == "paragraph":
                for a, p in zip(matched["article_id"], matched["path"], strict=True):
                    factor_of_path[(a, p)] = max(factor_of_path.get((a, p), 1), int(rule.factor))
                continue
            hits = Counter(matched["article_id"])
            if rule.match == "majority":
                sizes = Counter(corpus["article_id"])
                ids = [a for a, n in hits.items() if 2 * n > sizes[a]]
            else:
                ids = list(hits)
            for a in ids:
                factor_of_article[a] = max(factor_of_article.get(a, 1), int(rule.factor))

        def add_factor(batch, factor_of_article=factor_of_article, factor_of_path=factor_of_path):
            return {
                "factor": [
                    max(factor_of_article.get(a, 1), factor_of_path.get((a, p), 1))
                    for a, p in zip(batch["article_id"], batch["path"], strict=True)
                ]
            }

        kept = kept.map(add_factor, batched=True)
        parts = []
        for copy in range(max(kept["factor"], default=1)):
            part = kept.filter(lambda b, c=copy: [f > c for f in b["factor"]], batched=True) if copy else kept
            parts.append(part.map(lambda b, c=copy: {"copy_index": [c] * len(b["factor"])}, batched=True))
        config = datasets.concatenate_datasets(parts).remove_columns("factor")

        def finish(batch, s=spec):
            texts = batch["text"]
            if s.prefix:
                texts = [s.prefix.format(**{k: batch[k][i] for k in batch}) + t for i, t in enumerate(texts)]
            return {
                "text": [
                    None if g in withheld_groups else t for g, t in zip(batch["license_group"], texts, strict=True)
                ]
            }  # noqa: E501

        config = config.map(finish, batched=True)
        (out / "data").mkdir(parents=True, exist_ok=True)
        config.to_parquet(str(out / "data" / f"{spec.name}.parquet"))
        rows[spec.name] = len(config)
    return rows


def child(side: str, input_dir: Path, out: Path) -> None:
    start = time.perf_counter()
    rows = run_biomed(input_dir, out) if side == "biomed" else run_datasets(input_dir, out)
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "rows": rows, "peak_rss_mb": peak_mb}))


def measure(side: str, input_dir: Path, out: Path) -> dict:
    env = {**os.environ, "HF_DATASETS_CACHE": str(out / "hf-cache"), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, __file__, "--child", side, "--input", str(input_dir), "--out", str(out)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shards", type=int, default=8, help="synthetic shards (default 8)")
    parser.add_argument("--rows", type=int, default=10_000, help="paragraphs per synthetic shard (default 10,000)")
    parser.add_argument("--input", type=Path, help="real scored shards instead of synthetic ones")
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child", choices=("biomed", "datasets"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.input, args.out)
        return

    with tempfile.TemporaryDirectory(prefix="bench-build-") as tmp:
        tmp = Path(tmp)
        if args.input:
            input_dir = args.input
        else:
            input_dir = tmp / "scored"
            write_scored_shards(input_dir, args.shards, args.rows)
        shards = sorted((input_dir / "data").glob("*.parquet"))
        import pyarrow.parquet as pq

        n_rows = sum(pq.read_metadata(p).num_rows for p in shards)
        half = tmp / "half"
        (half / "data").mkdir(parents=True)
        for p in shards[: max(1, len(shards) // 2)]:
            os.symlink(p.resolve(), half / "data" / p.name)

        print(f"input: {len(shards)} shards, {n_rows:,} paragraphs; load average {os.getloadavg()[0]:.2f}")
        ours = measure("biomed", input_dir, tmp / "out-biomed")
        ours_half = measure("biomed", half, tmp / "out-biomed-half")
        theirs = measure("datasets", input_dir, tmp / "out-datasets")
        if ours["rows"] != theirs["rows"]:
            raise SystemExit(f"the two sides disagree on rows per config:\n{ours['rows']}\n{theirs['rows']}")
        print(f"configs: {len(ours['rows'])}, rows written: {sum(ours['rows'].values()):,} (same on both sides)")
        print(f"{'side':<36}{'seconds':>10}{'input rows/s':>16}{'written rows/s':>16}{'peak RSS MB':>14}")
        for name, result in (
            ("biomed run_build", ours),
            ("datasets filter + concatenate", theirs),
            ("biomed run_build, half the shards", ours_half),
        ):
            rows_in = n_rows if "half" not in name else sum(pq.read_metadata(p).num_rows for p in half.glob("*/*"))
            rate, written = rows_in / result["seconds"], sum(result["rows"].values()) / result["seconds"]
            print(
                f"{name:<36}{result['seconds']:>10.2f}{rate:>16,.0f}{written:>16,.0f}{result['peak_rss_mb']:>14,.0f}"
            )
        print(f"speed-up: {theirs['seconds'] / ours['seconds']:.1f}x (target >= 2x)")
        print(
            f"biomed peak RSS, full vs half corpus: {ours['peak_rss_mb']:,.0f} vs {ours_half['peak_rss_mb']:,.0f} MB"
        )


if __name__ == "__main__":
    main()
