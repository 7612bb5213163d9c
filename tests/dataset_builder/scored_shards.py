"""Scored shards for the build, push and rehydrate tests: the columns of `biomed data classify score`.

Two sources: `scored_table(articles)` builds rows by hand from a compact description (every label chosen by the
test), and `score_extracted(extracted, scored)` adds deterministic scores to the real extraction of the embedded
sample and `../shared/pmc` (so that rehydration can find the texts again in real JATS files).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from biomed.dataset_builder.extract.rows import parquet_schema
from biomed.labels import DOMAIN_LABELS, TYPE_LABELS


TYPES = TYPE_LABELS
DOMAINS = DOMAIN_LABELS
SHARED_PMC = Path(__file__).resolve().parents[2] / ".." / "shared" / "pmc"

SCORE_FIELDS = [
    ("type", pa.string()),
    ("type_probs", pa.list_(pa.float32())),
    ("domain", pa.string()),
    ("domain_probs", pa.list_(pa.float32())),
    ("educational_score", pa.float32()),
    ("educational_score_int", pa.int8()),
    ("classifier_version", pa.string()),
]
SCHEMA = pa.schema(list(parquet_schema().remove_metadata()) + [pa.field(n, t) for n, t in SCORE_FIELDS])


def paragraph(type_: str = "study", domain: str = "biomedical", edu: float = 3.0, language: str = "en") -> dict:
    """One paragraph's labels, for `scored_table`."""
    return {"type": type_, "domain": domain, "edu": edu, "language": language}


def scored_table(articles: dict[str, tuple[str, list[dict]]]) -> pa.Table:
    """Rows for ``{article_id: (license_group, [paragraph(...), ...])}``; texts are unique and name their key."""
    rows = []
    for article_id, (group, paragraphs) in articles.items():
        for i, p in enumerate(paragraphs):
            text = f"TEXT {article_id} p{i} {p['type']} {p['domain']} " + "lorem " * (5 + i)
            one_hot_t = [float(t == p["type"]) for t in TYPES]
            one_hot_d = [float(d == p["domain"]) for d in DOMAINS]
            rows.append(
                {
                    "article_id": article_id,
                    "pmcid": f"PMC{article_id}",
                    "pmid": article_id,
                    "doi": None,
                    "file": f"{article_id}.nxml",
                    "path": f"sec[0]/p[{i}]",
                    "paragraph_index": i,
                    "section": "Results",
                    "text": text,
                    "article_type": "research-article",
                    "journal": "J Test",
                    "year": 2021,
                    "language": p["language"],
                    "license": {"commercial": "CC BY", "non_commercial": "CC BY-NC"}.get(group, "other"),
                    "license_group": group,
                    "n_chars": len(text),
                    "n_tokens": len(text.split()),
                    "type": p["type"],
                    "type_probs": one_hot_t,
                    "domain": p["domain"],
                    "domain_probs": one_hot_d,
                    "educational_score": p["edu"],
                    "educational_score_int": None if p["edu"] is None else int(np.clip(round(p["edu"]), 1, 5)),
                    "classifier_version": "clf-test-v1",
                }
            )
    return pa.Table.from_pylist(rows, schema=SCHEMA)


def write_shards(folder: Path, tables: list[pa.Table]) -> Path:
    """Write ``tables`` as ``folder/data/0000i.parquet``; return ``folder``."""
    (folder / "data").mkdir(parents=True, exist_ok=True)
    for i, table in enumerate(tables):
        pq.write_table(table, folder / "data" / f"{i:05d}.parquet")
    return folder


def score_extracted(extracted: Path, scored: Path) -> Path:
    """Add deterministic score columns (a hash of each key) to the extraction shards of ``extracted``."""
    (scored / "data").mkdir(parents=True, exist_ok=True)
    for shard in sorted((extracted / "data").glob("*.parquet")):
        table = pq.read_table(shard)
        ids, paths = table["article_id"].to_pylist(), table["path"].to_pylist()
        draws = [hashlib.sha256(f"{a}|{p}".encode()).digest() for a, p in zip(ids, paths, strict=True)]
        types = [TYPES[d[0] % 4] for d in draws]
        domains = [DOMAINS[d[1] % 3] for d in draws]
        edu = [1.0 + 4.0 * d[2] / 255 for d in draws]
        columns = {
            "type": pa.array(types),
            "type_probs": pa.array([[float(t == x) for x in TYPES] for t in types], pa.list_(pa.float32())),
            "domain": pa.array(domains),
            "domain_probs": pa.array([[float(d == x) for x in DOMAINS] for d in domains], pa.list_(pa.float32())),
            "educational_score": pa.array(edu, pa.float32()),
            "educational_score_int": pa.array([int(np.clip(round(e), 1, 5)) for e in edu], pa.int8()),
            "classifier_version": pa.array(["clf-test-v1"] * table.num_rows),
        }
        for name, column in columns.items():
            table = table.append_column(name, column)
        pq.write_table(table, scored / "data" / shard.name)
    return scored


def extract_sample(out: Path) -> Path:
    """The real extraction (kit rules) of the embedded sample and the shared PMC articles, into ``out``."""
    from biomed.dataset_builder.extract.stage import ExtractConfig, embedded_sample_dir, run_extract

    run_extract(
        ExtractConfig(inputs=[str(embedded_sample_dir() / "articles"), str(SHARED_PMC / "pmc")], output_dir=str(out))
    )
    return out


def mixed_articles(n: int = 12) -> dict[str, tuple[str, list[dict]]]:
    """``n`` articles of every licence group, with clinical cases, French articles and every score."""
    groups = ("commercial", "non_commercial", "other")
    articles = {}
    for a in range(n):
        paragraphs = []
        for i in range(3 + a % 4):
            paragraphs.append(
                paragraph(
                    TYPES[(a + i) % 4],
                    "clinical" if a % 4 == 1 else DOMAINS[(a * 2 + i) % 3],
                    1.0 + (a + 2 * i) % 5,
                    "fr" if a % 5 == 0 else "en",
                )
            )
        articles[str(30_000_000 + a)] = (groups[a % 3], paragraphs)
    return articles


def build_release(folder: Path, plots: bool = False, **overrides) -> Path:
    """The release recipe built from `mixed_articles` into ``folder/release``; returns the release folder."""
    from biomed.config import resolve_config
    from biomed.dataset_builder.build.stage import BuildConfig, default_recipe, run_build

    articles = mixed_articles()
    ids = list(articles)
    scored = write_shards(
        folder / "scored",
        [scored_table({k: articles[k] for k in ids[:7]}), scored_table({k: articles[k] for k in ids[7:]})],
    )
    options = {"input_dir": str(scored), "output_dir": str(folder / "release"), "card.plots": plots, **overrides}
    return run_build(resolve_config(BuildConfig, default_recipe(), options=options)).output_dir
