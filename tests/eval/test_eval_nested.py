"""End to end on a QUAERO-shaped local-Hub dataset: nested entities are trained on, predicted and scored as tabib's
span model scores them (exact (start, end, type) matches), none dropped."""

import dataclasses
import json

import numpy as np
from typer.testing import CliRunner

from biomed.benchmarks.loaders import TaskData
from biomed.benchmarks.tasks import TASKS
from biomed.cli import app
from biomed.eval.heads import SpanNerModel
from biomed.eval.metrics import METRIC_LABELS
from biomed.eval.report import bootstrap_task
from biomed.eval.runner import EvalConfig
from biomed.eval.training import decode_predictions, prepare_task, score_decoded


SENTENCES = [
    ("Cancer du foie droit.", [(0, 20, "DISO"), (10, 20, "ANAT"), (10, 14, "ANAT")]),
    ("Douleur abdominale aiguë.", [(0, 24, "DISO"), (8, 18, "ANAT")]),
    ("Infection du rein traitée par amoxicilline.", [(0, 17, "DISO"), (13, 17, "ANAT"), (30, 42, "CHEM")]),
    ("Fracture du fémur gauche.", [(0, 24, "DISO"), (12, 24, "ANAT")]),
]


def _document(doc_id: str, picks: list[int]) -> dict:
    text, entities, offset = "", [], 0
    for k in picks:
        sentence, spans = SENTENCES[k]
        for start, end, label in spans:
            begin, stop = offset + start, offset + end
            entities.append(
                {"start": begin, "end": stop, "label": label, "fragments": [{"begin": begin, "end": stop}]}
            )
        text += sentence + "\n"
        offset = len(text)
    return {"doc_id": doc_id, "text": text, "entities": entities}


def test_eval_run_scores_nested_entities_and_drops_none(local_hub, tiny_checkpoint, tmp_path, monkeypatch):
    import datasets

    splits = {
        "train": [_document(f"train-{n}", [n % 4, (n + 1) % 4, (n + 2) % 4]) for n in range(8)],
        "val": [_document("val-0", [0, 1])],
        "test": [_document("test-0", [2, 3]), _document("test-1", [0])],
    }
    repo_id = f"{local_hub.user}/tabib-emea"
    datasets.DatasetDict({name: datasets.Dataset.from_list(rows) for name, rows in splits.items()}).push_to_hub(
        repo_id
    )
    task = TASKS["fr/quaero-emea"]
    monkeypatch.setitem(
        TASKS, task.name, dataclasses.replace(task, source=dataclasses.replace(task.source, hub_id=repo_id))
    )
    seen = []  # the gold spans the span head trains on, as the Trainer hands them over
    forward = SpanNerModel.forward

    # the Trainer keeps the dataset columns the forward's signature names: the spy keeps the signature
    def spy(self, input_ids, word_index, attention_mask=None, token_type_ids=None, labels=None, spans=None):
        if self.training:
            seen.extend(row for row in spans.reshape(-1, 3).tolist() if row[2] > 0)
        return forward(self, input_ids, word_index, attention_mask, token_type_ids, labels, spans)

    monkeypatch.setattr(SpanNerModel, "forward", spy)
    args = ["eval", "run", str(tiny_checkpoint), "--task", task.name, "--seeds", "1", "--out", str(tmp_path)]
    short = ["--set", "training.max_steps=4", "--set", "training.eval_steps=2", "--set", "training.save_steps=2"]
    result = CliRunner().invoke(app, [*args, *short])
    assert result.exit_code == 0, result.output
    assert METRIC_LABELS["f1_micro_span"] in result.output
    run = json.loads((tmp_path / "runs/fr/quaero-emea/seed-0.json").read_text())

    assert run["metric"] == "f1_micro_span" and set(run["test"]) == {
        "f1_micro_span",
        "f1_macro_span",
        "f1_weighted_span",
    }
    stats = run["data"]["stats"]
    assert "overlapping_entities_dropped" not in stats and stats["overlapping_entities_kept"] > 0
    # every test entity is scored: 3 sentences' spans + 1 sentence's, the nested ones among them
    assert run["test_gold"] == [
        [[0, 2, "DISO"], [2, 2, "ANAT"], [5, 5, "CHEM"]],
        [[0, 3, "DISO"], [2, 3, "ANAT"]],
        [[0, 3, "DISO"], [2, 2, "ANAT"], [2, 3, "ANAT"]],
    ]
    # training batches carried the nested spans (type index 1 = ANAT: "foie" inside "foie droit" inside a DISO)
    assert [2, 2, 1] in seen and [2, 3, 1] in seen and [0, 3, run["labels"].index("DISO") + 1] in seen
    assert run["entities_scored"]["test"]["gold"] == 8 and run["entities_scored"]["test"]["gold_overlapping"] == 7
    assert run["truncation"]["test"]["entities_lost"] == 0
    for rows in run["test_predictions"]:
        assert all(isinstance(i, int) and i <= j and t in run["labels"] for i, j, t in rows)
    assert run["entities_scored"]["test"]["predicted"] == sum(map(len, run["test_predictions"]))
    # the headline is tabib's exact_f1: micro F1 over the (start, end, type) sets of each example
    gold = [{tuple(s) for s in doc} for doc in run["test_gold"]]
    pred = [{tuple(s) for s in doc} for doc in run["test_predictions"]]
    tp = sum(len(g & p) for g, p in zip(gold, pred, strict=True))
    fp = sum(len(p - g) for g, p in zip(gold, pred, strict=True))
    fn = sum(len(g - p) for g, p in zip(gold, pred, strict=True))
    assert np.isclose(run["test"]["f1_micro_span"], 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["tasks"]["fr/quaero-emea"]["metric"] == "f1_micro_span"
    # the report's paired bootstrap reads the stored spans
    assert bootstrap_task([run], [run], samples=20, seed=0)["delta"] == 0.0


def test_a_one_tag_per_word_head_on_a_nested_task_is_scored_on_the_spans_of_its_tags(tiny_checkpoint, tiny_tokenizer):
    """``--set head=linear`` on a nested task: the tagger's tags become spans; the nested gold it cannot hold are
    misses."""
    task = TASKS["fixtures/ner-bio"]
    task = dataclasses.replace(task, source=dataclasses.replace(task.source, nested=True))
    records = [
        {"tokens": ["Cancer", "du", "foie", "."], "tags": ["B-DISO", "I-DISO", "I-DISO", "O"]},
        {"tokens": ["foie", "droit"], "tags": ["B-ANAT", "I-ANAT"]},
    ]
    records[0]["spans"] = [[0, 2, "DISO"], [2, 2, "ANAT"]]
    records[1]["spans"] = [[0, 1, "ANAT"]]
    data = TaskData(splits={s: records for s in ("train", "dev", "test")}, labels=["ANAT", "DISO"])
    prep = prepare_task(task, EvalConfig(model=str(tiny_checkpoint)), tiny_tokenizer, data)
    assert prep.gold["test"] == [[[0, 2, "DISO"], [2, 2, "ANAT"]], [[0, 1, "ANAT"]]]
    length = max(len(ids) for ids in prep.encoded["test"]["input_ids"])
    logits = np.full((2, length, len(prep.tags)), -5.0)
    for n, record in enumerate(records):  # a perfect tagger: every word's gold tag on its first sub-token
        for w, tag in enumerate(record["tags"]):
            logits[n, prep.word_positions["test"][n][w], prep.tags.index(tag)] = 5.0
    predicted = decode_predictions(prep, "test", logits)
    assert predicted == [[[0, 2, "DISO"]], [[0, 1, "ANAT"]]]
    # 2 hits, the nested ANAT missed: 2*2 / (2*2 + 0 + 1)
    assert np.isclose(score_decoded(prep, "test", predicted)["f1_micro_span"], 4 / 5)
