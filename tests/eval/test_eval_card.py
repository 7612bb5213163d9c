"""Results become model-index entries of a model card, replacing stale ones and keeping the rest."""

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from biomed.eval.card_results import model_index_entries, write_run_results
from biomed.eval.report import aggregate_runs
from biomed.model_cards.eval_results import model_index


def test_eval_results_name_the_metric_and_seeds(fake_run):
    runs = [fake_run("fixtures/cls-single", s, v) for s, v in enumerate([0.8, 0.9])]
    (result,) = model_index(model_index_entries(aggregate_runs(runs)))
    assert (result.task_type, result.dataset_name, result.metric_type) == (
        "text-classification",
        "Fixture single-label",
        "f1",
    )
    assert result.metric_value == 85.0 and result.dataset_split == "test"
    assert result.metric_name.startswith("F1, macro over labels (mean of 2 seeds")


def test_card_gets_model_index_entries(tmp_path, fake_run, write_runs):
    runs = write_runs(tmp_path / "runs_a", [fake_run("fixtures/cls-single", 0, 0.5)])
    card_path = tmp_path / "README.md"
    other = EvalResult(
        task_type="fill-mask", dataset_type="x/y", dataset_name="Y", metric_type="accuracy", metric_value=1.0
    )
    stale = EvalResult(
        task_type="text-classification",
        dataset_type="biomed/fixtures/cls-single",
        dataset_name="Fixture single-label",
        metric_type="f1",
        metric_value=1.0,
    )
    ModelCard.from_template(ModelCardData(model_name="enc", eval_results=[other, stale])).save(card_path)
    write_run_results(card_path, runs)
    card = ModelCard.load(card_path)
    values = {(r.dataset_name, r.metric_value) for r in card.data.eval_results}
    assert values == {("Y", 1.0), ("Fixture single-label", 50.0)}
    assert "model-index" in card.content and card.data.model_name == "enc"

    fresh = write_run_results(tmp_path / "new" / "README.md", runs, model_name="new-model")
    assert fresh.data.to_dict()["model-index"][0]["name"] == "new-model"
