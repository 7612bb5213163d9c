"""End to end on the bundled fixtures: N seeds, dev selection, per-run JSON, resume, truncation, learning."""

import dataclasses
import json

import numpy as np
import pytest

from biomed.benchmarks.loaders import load_task_data
from biomed.benchmarks.tasks import SUITES, TASKS
from biomed.errors import BiomedError
from biomed.eval.heads import AutoSequenceClassifier, AutoTokenTagger, SpanNerModel
from biomed.eval.metrics import ner_scores
from biomed.eval.runner import EvalConfig, run_eval, selected_tasks
from biomed.eval.training import (
    build_model,
    decode_predictions,
    prepare_task,
    run_one,
    score_decoded,
    training_arguments,
)


QUICK = {"num_train_epochs": 2}  # structure checks only; the learning test below uses the full fixture protocol


@pytest.fixture(scope="module")
def suite_run(tiny_checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("suite")
    cfg = EvalConfig(model=str(tiny_checkpoint), suite="fixtures", output_dir=out, training=QUICK)
    return cfg, run_eval(cfg)


def test_suite_runs_every_task_for_two_seeds(suite_run):
    cfg, summary = suite_run
    assert (summary.ran, summary.skipped) == (10, 0)
    files = sorted(
        p.relative_to(cfg.output_dir / "runs").as_posix() for p in (cfg.output_dir / "runs").rglob("*.json")
    )
    assert files == [
        f"fixtures/{t}/seed-{s}.json"
        for t in sorted(["cls-multi", "cls-single", "ner-bio", "ner-brat", "ner-span"])
        for s in (0, 1)
    ]
    assert not list((cfg.output_dir / "runs").rglob("*.ckpt")), "checkpoints are deleted once scored"
    run = json.loads((cfg.output_dir / "runs/fixtures/ner-span/seed-1.json").read_text())
    assert run["seed"] == 1 and run["protocol"]["head"] == "span" and run["metric"] == "f1_micro_strict"
    assert set(run["test"]) >= {"f1_micro_strict", "f1_macro_default", "f1_weighted_strict"}
    assert len(run["test_predictions"]) == len(run["test_gold"]) == 12
    assert [len(p) for p in run["test_predictions"]] == [len(g) for g in run["test_gold"]]
    assert run["data"]["stats"] == {} and run["truncation"]["test"]["examples_truncated"] == 0
    brat = json.loads((cfg.output_dir / "runs/fixtures/ner-brat/seed-0.json").read_text())
    assert brat["data"]["stats"]["overlapping_entities_dropped"] == 2
    # the summary is the mean and sample std of the per-seed test scores
    scores = [
        json.loads((cfg.output_dir / f"runs/fixtures/cls-multi/seed-{s}.json").read_text())["test"]["f1_macro"]
        for s in (0, 1)
    ]
    row = summary.tasks["fixtures/cls-multi"]
    assert np.isclose(row["mean"], np.mean(scores)) and np.isclose(row["std"], np.std(scores, ddof=1))
    assert (cfg.output_dir / "config.yaml").is_file() and (cfg.output_dir / "summary.json").is_file()


def test_rerun_skips_finished_runs_and_redoes_changed_ones(suite_run):
    cfg, _ = suite_run
    path = cfg.output_dir / "runs/fixtures/cls-single/seed-0.json"
    before = path.read_bytes()
    again = run_eval(cfg)
    assert (again.ran, again.skipped) == (0, 10)
    assert path.read_bytes() == before
    # a crash mid-write leaves a torn file: it is run again, like a run made with other settings
    path.write_text("{", encoding="utf-8")
    other = cfg.output_dir / "runs/fixtures/cls-single/seed-1.json"
    record = json.loads(other.read_text())
    other.write_text(json.dumps({**record, "fingerprint": "stale"}), encoding="utf-8")
    redo = run_eval(EvalConfig(**{**cfg.__dict__, "tasks": ["fixtures/cls-single"], "suite": None}))
    assert (redo.ran, redo.skipped) == (2, 0)
    assert json.loads(path.read_text())["test"] == json.loads(before)["test"]  # same seed, same result


def test_truncation_is_reported_and_cut_words_are_not_scored(tiny_checkpoint, tmp_path):
    cfg = EvalConfig(
        model=str(tiny_checkpoint),
        tasks=["fixtures/ner-bio"],
        seeds=1,
        output_dir=tmp_path,
        max_length=6,
        training={"num_train_epochs": 1},
    )
    run_eval(cfg)
    run = json.loads((tmp_path / "runs/fixtures/ner-bio/seed-0.json").read_text())
    test = run["truncation"]["test"]
    assert run["max_length"] == 6 and test["examples_truncated"] > 0 and test["entities_lost"] > 0
    full = load_task_data(TASKS["fixtures/ner-bio"]).splits["test"]
    for record, gold, pred in zip(full, run["test_gold"], run["test_predictions"], strict=True):
        # at most 4 words fit in 6 sub-tokens; what the window lost is neither gold nor prediction (BCM, tabib)
        assert len(pred) == len(gold) <= 4 and gold == record["tags"][: len(gold)]
    assert run["test"] == ner_scores(run["test_gold"], run["test_predictions"], run["labels"])


def test_a_perfect_model_scores_one_however_much_truncation_cut(tiny_checkpoint, tiny_tokenizer):
    task = TASKS["fixtures/ner-bio"]
    prep = prepare_task(task, EvalConfig(model=str(tiny_checkpoint), max_length=6), tiny_tokenizer)
    assert prep.truncation["test"]["entities_lost"] > 0
    full = load_task_data(task).splits["test"]
    length = max(len(ids) for ids in prep.encoded["test"]["input_ids"])
    logits = np.full((len(full), length, len(prep.tags)), -5.0)
    for n, record in enumerate(full):
        for w in prep.scored_words["test"][n]:
            logits[n, prep.word_positions["test"][n][w], prep.tags.index(record["tags"][w])] = 5.0
    predicted = decode_predictions(prep, "test", logits)
    assert predicted == prep.gold["test"] != [r["tags"] for r in full]
    assert score_decoded(prep, "test", predicted)["f1_micro_strict"] == 1.0


def test_tiny_models_learn_the_fixtures(tiny_checkpoint, tmp_path):
    summary = run_eval(
        EvalConfig(
            model=str(tiny_checkpoint),
            tasks=["fixtures/ner-span", "fixtures/cls-single"],
            seeds=1,
            output_dir=tmp_path,
        )
    )
    assert summary.tasks["fixtures/ner-span"]["mean"] > 0.8
    assert summary.tasks["fixtures/cls-single"]["mean"] > 0.8


def test_selection_errors():
    with pytest.raises(BiomedError, match="unknown suite 'xx'; valid suites: fr, cbio"):
        selected_tasks(EvalConfig(model="m", suite="xx"))
    with pytest.raises(BiomedError, match="unknown task 'fr/nope'"):
        selected_tasks(EvalConfig(model="m", tasks=["fr/nope"]))
    with pytest.raises(BiomedError, match="no task selected"):
        selected_tasks(EvalConfig(model="m"))
    with pytest.raises(BiomedError, match="no model to evaluate"):
        run_eval(EvalConfig(suite="demo"))


PAPER_TASKS = [name for suite in ("fr", "cbio", "en") for name in SUITES[suite]]
_FIXTURE_OF_KIND = {
    "ner": "fixtures/ner-bio",
    "single_label": "fixtures/cls-single",
    "multi_label": "fixtures/cls-multi",
}


@pytest.mark.parametrize("name", PAPER_TASKS)
def test_every_paper_task_runs_its_protocol_on_fixture_data(name, tiny_checkpoint, tiny_tokenizer, tmp_path):
    """Each task of the fr / cbio / en suites, on the bundled data of its kind: the protocol's head, length (capped
    by the tiny model's 512 positions), loss, metrics and schedule reach the run; one short epoch or a few steps."""
    task = TASKS[name]
    fixture = TASKS[_FIXTURE_OF_KIND[task.kind]]
    # a task whose entities nest reads the fixture's tags as its spans
    task = dataclasses.replace(task, source=dataclasses.replace(fixture.source, nested=task.source.nested), labels=())
    protocol = task.protocol
    short = {"max_steps": 4, "eval_steps": 2, "save_steps": 2} if protocol.max_steps else {"num_train_epochs": 1}
    cfg = EvalConfig(model=str(tiny_checkpoint), output_dir=tmp_path, training=short)
    args = training_arguments(protocol, task, 0, tmp_path, EvalConfig(model=str(tiny_checkpoint)))
    assert args["metric_for_best_model"] == task.dev_metric and args["max_grad_norm"] == protocol.max_grad_norm
    assert args["num_train_epochs"] == protocol.epochs and args["max_steps"] == (protocol.max_steps or -1)
    assert args["eval_strategy"] == ("steps" if protocol.eval_steps else "epoch")
    prep = prepare_task(task, cfg, tiny_tokenizer)
    assert prep.max_length == min(task.max_length, 512)
    model = build_model(task, str(tiny_checkpoint), prep)
    expected = {
        ("auto", "ner"): AutoTokenTagger,
        ("span", "ner"): SpanNerModel,
        ("auto", "single_label"): AutoSequenceClassifier,
        ("auto", "multi_label"): AutoSequenceClassifier,
    }[protocol.head, task.kind]
    assert isinstance(model, expected)
    if task.kind == "multi_label":
        assert (model.pos_weight is not None) == (protocol.multi_label_loss == "weighted_bce")
    record = run_one(task, 0, cfg, tiny_tokenizer, prep, "tiny")
    assert (record["metric"], record["selection_metric"], record["also"]) == (
        task.metric,
        task.dev_metric,
        list(task.also),
    )
    assert {task.metric, task.dev_metric, *task.also} <= set(record["test"])
    assert record["protocol"]["head"] == protocol.head and record["max_length"] == prep.max_length


def test_the_linear_head_is_an_option(tiny_checkpoint):
    tasks = selected_tasks(EvalConfig(model="m", suite="en", head="linear"))
    assert {t.protocol.head for t in tasks} == {"linear"}
    assert TASKS["en/chemprot"].protocol.head == "auto"  # the table itself is untouched
    with pytest.raises(BiomedError, match="span is for NER"):
        selected_tasks(EvalConfig(model="m", suite="fr", head="span"))


def test_multi_label_fallback_predicts_the_top_label_when_none_passes():
    from types import SimpleNamespace

    logits = np.array([[-2.0, -0.5, -1.0], [1.0, -1.0, 2.0]])
    for fallback, first in ((True, ["b"]), (False, [])):
        task = dataclasses.replace(
            TASKS["fixtures/cls-multi"],
            protocol=dataclasses.replace(TASKS["fixtures/cls-multi"].protocol, multi_label_fallback=fallback),
        )
        prep = SimpleNamespace(task=task, gold={"test": [["a"], ["a", "c"]]}, labels=["a", "b", "c"])
        assert decode_predictions(prep, "test", logits) == [first, ["a", "c"]]


def test_auto_heads_run_on_a_modernbert_checkpoint(tmp_path):
    """ModernBERT's own classification head (its pooling) and token head, through the runner."""
    from biomed.tiny import eval_fixture_texts, save_tiny_model

    checkpoint = save_tiny_model(
        eval_fixture_texts(), tmp_path / "tiny-modernbert", "modernbert", mlm_head=False, tokenizer_family="bert"
    )
    cfg = EvalConfig(
        model=str(checkpoint),
        tasks=["fixtures/cls-multi", "fixtures/ner-bio"],
        seeds=1,
        head="auto",
        output_dir=tmp_path / "out",
        training={"num_train_epochs": 1},
    )
    summary = run_eval(cfg)
    assert summary.ran == 2
    for task in ("cls-multi", "ner-bio"):
        run = json.loads((tmp_path / f"out/runs/fixtures/{task}/seed-0.json").read_text())
        assert run["protocol"]["head"] == "auto" and 0.0 <= run["test"][run["metric"]] <= 1.0


def test_the_english_protocol_reads_words_with_a_prefix_space(tmp_path):
    """BCM loads its tokenizers with add_prefix_space=True: each pre-split word reads as a mid-sentence word."""
    from biomed.eval.runner import load_tokenizer
    from biomed.tiny import train_tiny_tokenizer

    train_tiny_tokenizer(["the patient received morphine"] * 20, "modernbert", vocab_size=300).save_pretrained(
        tmp_path
    )
    words = ["patient", "received", "morphine"]
    plain, spaced = (load_tokenizer(str(tmp_path), add_prefix_space=flag) for flag in (False, True))
    tokens = spaced.convert_ids_to_tokens(spaced(words, is_split_into_words=True)["input_ids"])
    assert sum(t.startswith("Ġ") for t in tokens) == len(words)  # one word start per word
    assert not any(
        t.startswith("Ġ") for t in plain.convert_ids_to_tokens(plain(words, is_split_into_words=True)["input_ids"])
    )
    assert all(TASKS[name].protocol.add_prefix_space for name in SUITES["en"])
    assert not any(TASKS[name].protocol.add_prefix_space for name in SUITES["fr"] + SUITES["cbio"])  # tabib: no
