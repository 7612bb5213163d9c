"""Hand-built extraction shards for the annotate tests: the columns of `biomed data extract`, known texts.

Each paragraph's text carries a ``PARA-<nnnn>`` marker, which the fake LLM server uses to script faults and count
requests per paragraph.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


SECTIONS = ("Introduction", "Methods > Cell culture", "Case presentation", "Discussion")


def paragraph_rows(n: int, start: int = 0) -> list[dict]:
    """``n`` rows with the extraction columns; article ``A<k>`` holds paragraphs ``4k..4k+3``."""
    rows = []
    for i in range(start, start + n):
        rows.append(
            {
                "article_id": f"A{i // 4:03d}",
                "pmcid": f"PMC{i // 4:03d}",
                "pmid": None,
                "doi": None,
                "file": f"a{i // 4}.nxml",
                "path": f"sec[{i % 4}]/p[0]",
                "paragraph_index": i % 4,
                "section": SECTIONS[i % 4],
                "text": f"PARA-{i:04d} Paragraph {i} about hepatic stellate cells and fibrosis. " + "word " * 40,
                "article_type": ("research-article", "case-report", "review-article")[i % 3],
                "journal": "J Test",
                "year": 2020,
                "language": ("en", "fr")[i % 5 == 0],
                "license": ("CC BY", "CC BY-NC")[i % 2],
                "license_group": ("commercial", "non_commercial")[i % 2],
                "n_chars": 300,
                "n_tokens": 50,
            }
        )
    return rows


def write_paragraph_shards(folder: Path, n: int, shards: int = 1, row_group_size: int | None = None) -> Path:
    """Write ``n`` rows as ``folder/data/000_0000k.parquet`` shards; returns ``folder``."""
    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    per = -(-n // shards)
    for k in range(shards):
        rows = paragraph_rows(min(per, n - k * per), start=k * per)
        if rows:
            pq.write_table(pa.Table.from_pylist(rows), data / f"000_{k:05d}.parquet", row_group_size=row_group_size)
    return folder
