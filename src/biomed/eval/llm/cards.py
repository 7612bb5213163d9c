"""Scores of a sweep into the model cards of the checkpoints they belong to (``biomed eval llm --card``).

Example::

    from biomed.eval.llm.cards import write_cards

    write_cards(run_llm_eval(cfg))   # each `biomed train` folder's README.md gains its model-index entries
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path


def write_cards(records: list[dict]) -> list[Path]:
    """Group records by checkpoint folder; re-render the card of each folder that has a decoder ``card.json``."""
    from biomed.model_cards.decoder import write_decoder_card_results

    by_folder: dict[Path, list[dict]] = defaultdict(list)
    for record in records:
        folder = Path(record["checkpoint"])
        if (folder / "card.json").is_file():
            by_folder[folder].append(record)
    written = []
    for folder, scores in by_folder.items():
        write_decoder_card_results(folder / "README.md", scores)
        written.append(folder / "README.md")
    return written
