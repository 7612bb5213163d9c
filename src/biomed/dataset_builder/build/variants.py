"""Variant and subset specs: a declarative selection and/or upsampling over the score columns.

Example::

    import pyarrow.parquet as pq
    from biomed.dataset_builder.build.variants import ConditionSpec, UpsampleSpec, VariantSpec

    spec = VariantSpec(
        name="BE-Educational",
        version="1.0",
        keep=[ConditionSpec(column="educational_score", op=">=", value=3.0, reason="educational_score_below_3")],
        upsample=[UpsampleSpec(name="clinical", when=[ConditionSpec(column="domain", value="clinical")], factor=10)],
    )
    plan = spec.plan(release_table, seed=0)   # a release table (build.published), not a raw scored shard
    plan.copies        # numpy array: how many times each input row is written (0 = dropped)
    plan.dropped       # {"educational_score_below_3": 1234}

A spec is data, written in a recipe (``recipes/build/*.yaml``): thresholds, factors and the prefix format live
there, never in this module. The plan of a shard depends only on the shard's rows, the spec and the seed, so
any build of the same input gives the same rows in the same order.
"""

from __future__ import annotations

import hashlib
import math
import string
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from biomed.errors import BiomedError


MAX_COPIES = 1000
"""The most times one row may be written (the shipped recipes write at most 100): a mistyped factor (``1e9``) is
refused when the recipe resolves, before a byte is written; ``copy_index`` is an int16."""


Op = Literal["==", "!=", ">=", ">", "<=", "<", "in", "not_in"]

_COMPARE = {"==": pc.equal, "!=": pc.not_equal, ">=": pc.greater_equal, ">": pc.greater, "<=": pc.less_equal}
_COMPARE["<"] = pc.less


@dataclass
class ConditionSpec:
    """One test on one column, e.g. ``educational_score >= 3.0``; a null value never passes.

    Attributes:
        column: a column of the release table (``document_type``, ``domain``, ``educational_score``, ``language``,
            ``license_group``…; see ``build.published``), labels spelled as published (``Clinical Case``).
        op: comparison; ``in`` / ``not_in`` take a list ``value``.
        value: what the column is compared with.
        reason: the drop reason recorded when a row fails this condition in ``keep`` (default: derived from
            the condition, e.g. ``not educational_score >= 3.0``).
    """

    column: str
    op: Op = "=="
    value: Any = None
    reason: str = ""

    def __post_init__(self) -> None:
        if self.op in ("in", "not_in") and not isinstance(self.value, (list, tuple)):
            raise ValueError(f"condition on {self.column!r}: op {self.op!r} needs a list value, got {self.value!r}")
        if self.op not in ("in", "not_in") and (self.value is None or isinstance(self.value, (list, dict))):
            raise ValueError(f"condition on {self.column!r}: op {self.op!r} needs one scalar value")

    @property
    def drop_reason(self) -> str:
        if self.reason:
            return self.reason
        value = "[" + ",".join(map(str, self.value)) + "]" if isinstance(self.value, (list, tuple)) else self.value
        return f"not {self.column} {self.op} {value}"

    def mask(self, table: pa.Table) -> np.ndarray:
        """Boolean numpy mask of the rows that pass (null values fail)."""
        if self.column not in table.column_names:
            raise BiomedError(
                f"variant condition uses column {self.column!r}, which the scored shards lack; "
                f"columns: {', '.join(table.column_names)}"
            )
        column = table[self.column]
        if self.op in ("in", "not_in"):
            values = pa.array(list(self.value)).cast(column.type)
            result = pc.is_in(column, value_set=values)
            if self.op == "not_in":
                result = pc.invert(result)
            result = pc.and_kleene(result, pc.is_valid(column))
        else:
            scalar = pa.scalar(self.value).cast(column.type) if not pa.types.is_floating(column.type) else self.value
            result = _COMPARE[self.op](column, scalar)
        return _to_numpy_bool(result)


@dataclass
class UpsampleSpec:
    """Write the rows that match ``when`` ``factor`` times in all (the original and ``factor - 1`` copies).

    Attributes:
        name: short name used in the build summary and the card (``clinical_case_articles``).
        when: conditions that must all hold for a paragraph to match.
        factor: total number of times a matching row is written; a fractional part (``2.5``) is drawn once per
            article from a hash of the seed and the article id, so it is reproducible and order-free.
        level: ``article`` duplicates whole articles (every kept paragraph of an article that matches);
            ``paragraph`` duplicates only the matching paragraphs.
        match: at article level, ``any`` (one matching paragraph makes the article match) or ``majority``
            (more than half of its paragraphs match). Articles are judged on all their paragraphs, before ``keep``.
    """

    name: str
    when: list[ConditionSpec]
    factor: float
    level: Literal["article", "paragraph"] = "article"
    match: Literal["any", "majority"] = "any"

    def __post_init__(self) -> None:
        if not 1 <= self.factor <= MAX_COPIES:
            raise ValueError(
                f"upsample {self.name!r}: factor must be between 1 and {MAX_COPIES} (copies a row is written), got "
                f"{self.factor:g}"
            )
        if not self.when:
            raise ValueError(f"upsample {self.name!r}: 'when' needs at least one condition")


@dataclass
class VariantSpec:
    """One config of the released dataset: which paragraphs, how many times, with what prefix.

    Attributes:
        name: the config name on the Hub (``BE-Educational``); also its folder ``data/<name>/``.
        version: bumped whenever the definition changes; recorded in the Parquet metadata and the card.
        kind: ``variant`` (a pre-training mix) or ``subset`` (a selection for direct use); shown in the card.
        description: one sentence for the card.
        keep: conditions a paragraph must all pass, checked in order; the first that fails names the drop reason.
        upsample: upsampling rules; a row matched by several rules gets the ``combine`` of their factors.
        combine: ``max`` (a clinical case article that is also clinical is written 10 times, not 100) or
            ``product``.
        prefix: format string prepended to ``text``, over column names (``"Type: {document_type}\\n"``); empty = none.
        prefix_labels: display names for column values in the prefix (``clinical: Clinical``).
        layout: ``kit`` (one ``train`` split; the published columns, then the kit's, then ``copy_index``) or
            ``published`` (exactly the published features, split by licence into ``commercial`` and
            ``noncommercial`` like almanach/Biomed-Enriched; no upsampling, no prefix).
    """

    name: str
    version: str
    kind: Literal["variant", "subset"] = "variant"
    description: str = ""
    keep: list[ConditionSpec] = field(default_factory=list)
    upsample: list[UpsampleSpec] = field(default_factory=list)
    combine: Literal["max", "product"] = "max"
    prefix: str = ""
    prefix_labels: dict[str, str] = field(default_factory=dict)
    layout: Literal["kit", "published"] = "kit"

    def __post_init__(self) -> None:
        if self.layout == "published" and (self.upsample or self.prefix):
            raise ValueError(f"variant {self.name!r}: the published layout has no upsampling and no prefix")
        if not self.name or "/" in self.name or self.name.startswith("."):
            raise ValueError(f"variant name {self.name!r} must be a non-empty folder name")
        if not str(self.version).strip():
            raise ValueError(f"variant {self.name!r} needs a version")
        names = [rule.name for rule in self.upsample]
        if self.combine == "product" and math.prod(rule.factor for rule in self.upsample) > MAX_COPIES:
            raise ValueError(
                f"variant {self.name!r}: its upsample factors multiply to more than {MAX_COPIES} copies of a row "
                "(combine: product); lower them or combine: max"
            )
        if len(set(names)) != len(names):
            raise ValueError(f"variant {self.name!r}: upsample names must be unique, got {names}")
        self._prefix_parts = _parse_prefix(self.prefix) if self.prefix else []

    @property
    def columns(self) -> set[str]:
        """Columns this spec reads."""
        used = {c.column for c in self.keep} | {c.column for rule in self.upsample for c in rule.when}
        return used | {part for part, is_field in self._prefix_parts if is_field}

    def plan(self, table: pa.Table, seed: int = 0) -> VariantPlan:
        """Decide, for every row of ``table``, how many times it is written and why it is dropped."""
        n = table.num_rows
        kept = np.ones(n, dtype=bool)
        dropped: dict[str, int] = {}
        for condition in self.keep:
            failed = kept & ~condition.mask(table)
            count = int(failed.sum())
            if count:
                dropped[condition.drop_reason] = dropped.get(condition.drop_reason, 0) + count
            kept &= ~failed

        factors = np.ones(n, dtype=np.float64)
        matched_rows: dict[str, int] = {}
        if self.upsample:
            article_codes = None
            for rule in self.upsample:
                match = np.ones(n, dtype=bool)
                for condition in rule.when:
                    match &= condition.mask(table)
                if rule.level == "article":
                    if article_codes is None:
                        article_codes = _codes(table["article_id"])
                    hits = np.bincount(article_codes, weights=match, minlength=article_codes.max(initial=-1) + 1)
                    if rule.match == "any":
                        article_match = hits > 0
                    else:
                        article_match = hits * 2 > np.bincount(article_codes, minlength=len(hits))
                    match = article_match[article_codes] if n else match
                match &= kept
                matched_rows[rule.name] = int(match.sum())
                rule_factor = np.where(match, rule.factor, 1.0)
                factors = np.maximum(factors, rule_factor) if self.combine == "max" else factors * rule_factor
        copies = _draw_copies(factors, table, seed, self.name) if self.upsample else np.ones(n, dtype=np.int64)
        copies[~kept] = 0
        return VariantPlan(copies=copies, dropped=dropped, upsampled_rows=matched_rows)

    def apply_prefix(self, table: pa.Table) -> pa.Table:
        """``table`` with the prefix prepended to ``text`` (null text stays null)."""
        if not self._prefix_parts:
            return table
        pieces = []
        for part, is_field in self._prefix_parts:
            if not is_field:
                pieces.append(part)
                continue
            if part not in table.column_names:
                raise BiomedError(f"variant {self.name!r}: prefix uses column {part!r}, which the shards lack")
            values = pc.cast(table[part], pa.string())
            if self.prefix_labels:
                keys = pa.array(list(self.prefix_labels), pa.string())
                labels = pa.array(list(self.prefix_labels.values()), pa.string())
                positions = pc.index_in(values, value_set=keys)
                values = pc.coalesce(pc.take(labels, positions), values)
            pieces.append(pc.fill_null(values, ""))
        text = table["text"]
        prefixed = pc.binary_join_element_wise(*pieces, text, "")
        index = table.column_names.index("text")
        return table.set_column(index, "text", pc.if_else(pc.is_null(text), pa.scalar(None, pa.string()), prefixed))

    def to_metadata(self) -> dict[str, Any]:
        """A JSON-able description of the spec, stored in every Parquet file of the config."""
        from biomed.config import config_to_dict

        return config_to_dict(self)


@dataclass
class VariantPlan:
    """What a spec does to one shard.

    Attributes:
        copies: per input row, how many times it is written (0 = dropped).
        dropped: paragraphs dropped per reason.
        upsampled_rows: per upsample rule, the kept rows it matched (before copies).
    """

    copies: np.ndarray
    dropped: dict[str, int]
    upsampled_rows: dict[str, int]

    @property
    def rows_out(self) -> int:
        return int(self.copies.sum())


def _to_numpy_bool(result: pa.ChunkedArray | pa.Array) -> np.ndarray:
    result = pc.fill_null(result, False)
    if isinstance(result, pa.ChunkedArray):
        result = result.combine_chunks() if result.num_chunks else pa.array([], pa.bool_())
    return result.to_numpy(zero_copy_only=False).astype(bool, copy=False)


def _codes(column: pa.ChunkedArray) -> np.ndarray:
    """Dense integer code per distinct value (nulls share one code)."""
    encoded = pc.dictionary_encode(pc.fill_null(column, "")).combine_chunks()
    return encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


def _draw_copies(factors: np.ndarray, table: pa.Table, seed: int, salt: str) -> np.ndarray:
    whole = np.floor(factors).astype(np.int64)
    fraction = factors - whole
    if not fraction.any():
        return whole
    # The fractional copy is drawn per article, from a hash of (seed, variant, article): the same article gets
    # the same answer whatever the shard layout, the row order or the number of workers.
    article_ids = table["article_id"].to_pylist()
    extra = np.zeros(len(factors), dtype=np.int64)
    draws: dict[str, float] = {}
    for i in np.flatnonzero(fraction):
        key = article_ids[i] or ""
        if key not in draws:
            digest = hashlib.blake2b(f"{seed}:{salt}:{key}".encode(), digest_size=8).digest()
            draws[key] = int.from_bytes(digest, "big") / 2**64
        extra[i] = draws[key] < fraction[i]
    return whole + extra


def _parse_prefix(template: str) -> list[tuple[str, bool]]:
    parts: list[tuple[str, bool]] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as err:
        raise ValueError(f"prefix {template!r} is not a valid format string: {err}") from None
    for literal, field_name, format_spec, conversion in parsed:
        if literal:
            parts.append((literal, False))
        if field_name is not None:
            if not field_name or format_spec or conversion:
                raise ValueError(f"prefix {template!r}: use plain column fields like {{type}}, got {{{field_name}}}")
            parts.append((field_name, True))
    return parts
