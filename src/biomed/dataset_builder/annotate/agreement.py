"""Agreement between LLM annotations and hand-made gold labels: accuracy, macro F1, Cohen's kappa, confusion.

Example::

    import pyarrow.parquet as pq
    from biomed.dataset_builder.annotate.agreement import compare_with_gold, read_gold_labels

    gold = read_gold_labels("src/biomed/dataset_builder/sample/gold_labels.jsonl")
    report = compare_with_gold(pq.read_table("annotated/annotations.parquet").to_pylist(), gold)
    print(report.render())

Only paragraphs present in both, with a successful annotation, are scored; gold paragraphs whose annotation
failed or is missing are counted separately so that a low failure rate cannot hide behind a high accuracy.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

from biomed.dataset_builder.label_metrics import (
    accuracy,
    cohen_kappa,
    confusion_matrix,
    f1_by_label,
    macro_f1,
    macro_f1_name,
)
from biomed.errors import BiomedError
from biomed.labels import DOMAIN_LABELS, EDU_SCORES, TYPE_LABELS, LabelError, check_labels


LABEL_SETS: dict[str, tuple] = {"type": TYPE_LABELS, "domain": DOMAIN_LABELS, "educational_score": EDU_SCORES}


def shipped_gold_path() -> Path:
    """The gold labels of the embedded sample, shipped with the package."""
    return Path(str(files("biomed.dataset_builder") / "sample" / "gold_labels.jsonl"))


def read_gold_labels(path: str | Path) -> dict[tuple[str, str], dict[str, Any]]:
    """Gold labels by paragraph key ``(article_id, path)``, each checked against the label sets.

    Raises:
        BiomedError: the file is missing, a line is not JSON, lacks a key, has an invalid label or repeats a key;
            the message names the line.
    """
    path = Path(path)
    if not path.is_file():
        raise BiomedError(f"gold label file {path} does not exist")
    gold: dict[tuple[str, str], dict[str, Any]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            key = (str(record["article_id"]), str(record["path"]))
            type_, domain, score = check_labels(record)
        except json.JSONDecodeError as err:
            raise BiomedError(f"{path}, line {number}: not JSON ({err.msg})") from None
        except KeyError as err:
            raise BiomedError(f"{path}, line {number}: missing {err.args[0]!r}; need article_id and path") from None
        except LabelError as err:
            raise BiomedError(f"{path}, line {number}: {err}") from None
        if key in gold:
            raise BiomedError(f"{path}, line {number}: paragraph {key} is labelled twice")
        gold[key] = {**record, "type": type_, "domain": domain, "educational_score": score}
    return gold


@dataclass
class LabelAgreement:
    """Agreement on one label field; the confusion matrix has gold labels as rows, predictions as columns.

    ``kappa`` is None when it is undefined (both sides use a single, identical label). ``weighted_kappa``
    (quadratic weights) is given for the ordinal educational score only.
    """

    field: str
    n: int
    accuracy: float
    macro_f1: float
    kappa: float | None
    labels: list
    confusion: list[list[int]]
    f1_by_label: dict[str, float]
    weighted_kappa: float | None = None
    macro_f1_name: str = "macro F1"

    def render(self) -> str:
        width = max(len(str(label)) for label in self.labels) + 2
        kappa = "n/a" if self.kappa is None else f"{self.kappa:.3f}"
        lines = [
            f"{self.field}: n={self.n} accuracy={self.accuracy:.3f} kappa={kappa}"
            + (f" weighted-kappa={self.weighted_kappa:.3f}" if self.weighted_kappa is not None else "")
            + f"; {self.macro_f1_name}: {self.macro_f1:.3f}"
        ]
        lines.append("  gold \\ llm".ljust(width + 2) + "".join(str(label).rjust(width) for label in self.labels))
        for label, row in zip(self.labels, self.confusion, strict=True):
            lines.append(f"  {label}".ljust(width + 2) + "".join(str(count).rjust(width) for count in row))
        return "\n".join(lines)


@dataclass
class AgreementReport:
    """Agreement of annotations with gold labels, per field.

    Attributes:
        n_gold: gold paragraphs.
        n_scored: gold paragraphs with a successful annotation (the ``n`` of every field).
        n_failed: gold paragraphs whose annotation failed.
        n_missing: gold paragraphs that were not annotated at all.
    """

    n_gold: int
    n_scored: int
    n_failed: int
    n_missing: int
    fields: dict[str, LabelAgreement] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def render(self) -> str:
        head = (
            f"agreement with gold: {self.n_scored} of {self.n_gold} gold paragraphs scored "
            f"({self.n_failed} failed, {self.n_missing} not annotated)"
        )
        return "\n".join([head, *(agreement.render() for agreement in self.fields.values())])


def compare_with_gold(
    annotations: Iterable[Mapping[str, Any]], gold: Mapping[tuple[str, str], Mapping[str, Any]]
) -> AgreementReport:
    """Score annotation rows (``article_id``, ``path``, ``status``, labels) against gold labels by paragraph key."""
    by_key = {(row["article_id"], row["path"]): row for row in annotations}
    pairs, failed, missing = [], 0, 0
    for key, labels in gold.items():
        row = by_key.get(key)
        if row is None:
            missing += 1
        elif row.get("status", "ok") != "ok":
            failed += 1
        else:
            pairs.append((labels, row))
    report = AgreementReport(n_gold=len(gold), n_scored=len(pairs), n_failed=failed, n_missing=missing)
    if pairs:
        for name, label_set in LABEL_SETS.items():
            report.fields[name] = label_agreement(
                name, [g[name] for g, _ in pairs], [p[name] for _, p in pairs], label_set
            )
    return report


def label_agreement(name: str, gold: Sequence, predicted: Sequence, label_set: Sequence) -> LabelAgreement:
    """Accuracy, macro F1 (:func:`~biomed.dataset_builder.label_metrics.macro_f1`), Cohen's kappa, confusion."""
    confusion = confusion_matrix(gold, predicted, label_set)
    f1 = f1_by_label(confusion, label_set)
    head = "educational score" if name == "educational_score" else name
    return LabelAgreement(
        field=name,
        n=int(confusion.sum()),
        accuracy=accuracy(confusion),
        macro_f1=macro_f1(confusion),
        kappa=cohen_kappa(confusion),
        labels=list(label_set),
        confusion=confusion.tolist(),
        # a label absent from both sides has no F1 (no evidence either way): left out, as macro F1 leaves it out
        f1_by_label={label: value for label, value in f1.items() if value is not None},
        weighted_kappa=cohen_kappa(confusion, "quadratic") if name == "educational_score" else None,
        macro_f1_name=macro_f1_name(confusion, head),
    )
