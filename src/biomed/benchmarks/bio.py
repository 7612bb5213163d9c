"""BIO tag sequences read as entities, the way seqeval reads them: shared by the loaders and the metrics.

Example::

    from biomed.benchmarks.bio import entities

    print(entities(["B-DISO", "I-DISO", "O"], "strict"))   # {('DISO', 0, 1)}
    print(entities(["I-DISO", "I-DISO", "O"], "strict"))   # set(): strict IOB2 needs a B- first
"""

from __future__ import annotations


def entities(tags: list[str], mode: str) -> set[tuple[str, int, int]]:
    """Entities of one BIO sequence as (type, start, end-inclusive), the way seqeval reads them.

    Args:
        tags: BIO tags.
        mode: ``strict`` (IOB2: an entity starts with ``B-`` and continues with ``I-`` of the same type; anything
            else is no entity) or ``default`` (conlleval: an ``I-`` after ``O`` or another type starts an entity).
    """
    found, etype, start = set(), None, 0
    for i, tag in enumerate([*tags, "O"]):
        prefix, kind = (tag[:1], tag[2:]) if tag != "O" else ("O", None)
        if etype is not None and prefix == "I" and kind == etype:
            continue
        if etype is not None:
            found.add((etype, start, i - 1))
            etype = None
        if prefix == "B" or (mode == "default" and prefix == "I"):
            etype, start = kind, i
    return found
