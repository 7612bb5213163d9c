"""`biomed data build`: variant specs, the streaming builder, the release folder and its card."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dataset_builder.scored_shards import paragraph, scored_table, write_shards

from biomed.config import ConfigError, build_config, resolve_config
from biomed.dataset_builder.build.published import release_table_from_scored
from biomed.dataset_builder.build.stage import BuildConfig, CardConfig, default_recipe, run_build
from biomed.dataset_builder.build.variants import ConditionSpec, UpsampleSpec, VariantSpec
from biomed.dataset_builder.build.writer import PARQUET_METADATA_KEY
from biomed.errors import BiomedError
from biomed.runtime.executors import ExecutorConfig


EDU3 = ConditionSpec(column="educational_score", op=">=", value=3.0, reason="edu_below_3")
P = paragraph


def R(articles) -> pa.Table:
    """The release table (published columns and labels, then the kit's) that the specs read."""
    return release_table_from_scored(scored_table(articles))


# Five articles over two shards; every upsampling rule of the paper's recipe has a case that matches and one that
# almost matches (one clinical paragraph of three is not a clinical article under "majority").
ARTICLES_1 = {
    "1": ("commercial", [P("clinical_case", "clinical", 4), P("study", "clinical", 2), P("other", "other", 3)]),
    "2": ("non_commercial", [P("study", "biomedical", 4), P("review", "clinical", 5), P("study", "other", 1)]),
    "3": ("commercial", [P("study", "clinical", 3), P("study", "clinical", 3.4), P("study", "biomedical", 1.2)]),
}
ARTICLES_2 = {
    "4": ("other", [P("clinical_case", "clinical", 2, "fr"), P("study", "clinical", 4, "fr")]),
    "5": ("commercial", [P("review", "biomedical", 3, "fr"), P("review", "biomedical", None, "en")]),
}


def _spec(**kwargs) -> VariantSpec:
    return VariantSpec(version="1.0", **kwargs)


def _rule(name, column, value, factor, **kwargs) -> UpsampleSpec:
    return UpsampleSpec(name=name, when=[ConditionSpec(column=column, value=value)], factor=factor, **kwargs)


SPECS = [
    _spec(name="all"),
    _spec(name="edu", keep=[EDU3]),
    _spec(name="clin", upsample=[_rule("clinical_articles", "domain", "clinical", 3, match="majority")]),
    _spec(
        name="mix",
        keep=[EDU3],
        upsample=[
            _rule("case_articles", "document_type", "Clinical Case", 3),
            _rule("french_articles", "language", "fr", 2, match="majority"),
        ],
        prefix="[{document_type}|{educational_score_int}] ",
        prefix_labels={"Clinical Case": "Case"},
    ),
    _spec(name="para", upsample=[_rule("case_paragraphs", "document_type", "Clinical Case", 4, level="paragraph")]),
    _spec(name="cases", kind="subset", keep=[ConditionSpec(column="document_type", value="Clinical Case")]),
]


def _config(tmp_path: Path, specs=SPECS, plots: bool = False, **kwargs) -> BuildConfig:
    scored = write_shards(tmp_path / "scored", [scored_table(ARTICLES_1), scored_table(ARTICLES_2)])
    card = CardConfig(plots=plots)
    return BuildConfig(
        input_dir=str(scored), output_dir=str(tmp_path / "release"), variants=specs, card=card, **kwargs
    )


def _expected(spec: VariantSpec, shards: list[list[dict]]) -> list[tuple[str, str, int]]:
    """A plain-Python reading of a spec: (article_id, path, copy_index) in the order the builder writes them:
    shard after shard, each shard's selected rows, then its first copies, then its second copies..."""
    return [key for rows in shards for key in _expected_shard(spec, rows)]


def _expected_shard(spec: VariantSpec, rows: list[dict]) -> list[tuple[str, str, int]]:

    def passes(condition, row):
        value = row[condition.column]
        if value is None:
            return False
        return {"==": value == condition.value, ">=": value >= condition.value}[condition.op]

    copies = {}
    for row in rows:
        if not all(passes(c, row) for c in spec.keep):
            continue
        factor = 1
        for rule in spec.upsample:
            if rule.level == "paragraph":
                hit = all(passes(c, row) for c in rule.when)
            else:
                article = [r for r in rows if r["article_id"] == row["article_id"]]
                hits = sum(all(passes(c, r) for c in rule.when) for r in article)
                hit = hits > 0 if rule.match == "any" else 2 * hits > len(article)
            factor = max(factor, int(rule.factor)) if hit else factor
        copies[(row["article_id"], row["path"])] = factor
    out = []
    for copy in range(max(copies.values(), default=0)):
        out += [(a, p, copy) for (a, p), n in copies.items() if n > copy]
    return out


def _read(folder: Path, name: str) -> pa.Table:
    files = sorted((folder / "data" / name).glob("*.parquet"))
    return pa.concat_tables(pq.read_table(f) for f in files)


def test_condition_fails_on_null_and_names_its_reason():
    table = R(ARTICLES_2)
    mask = EDU3.mask(table)
    assert mask.tolist() == [False, True, True, False]  # edu 2, 4, 3, None
    assert ConditionSpec(column="type", op="in", value=["review", "study"]).drop_reason == "not type in [review,study]"
    with pytest.raises(BiomedError, match="'nope'.*columns: id, article_id"):
        ConditionSpec(column="nope", value=1).mask(table)
    with pytest.raises(ValueError, match="needs a list"):
        ConditionSpec(column="type", op="in", value="review")


def test_plan_counts_each_drop_once_under_the_first_failing_condition():
    spec = _spec(name="x", keep=[ConditionSpec(column="language", value="en", reason="not_en"), EDU3])
    plan = spec.plan(R({**ARTICLES_1, **ARTICLES_2}))
    # 3 French paragraphs fail the first condition (one of them, edu 2, would fail the second as well)
    assert plan.dropped == {"not_en": 3, "edu_below_3": 4}
    assert plan.rows_out == 13 - 7


def test_fractional_factor_is_drawn_per_article_from_the_seed():
    articles = {
        str(i): ("commercial", [P("clinical_case", "clinical", 3), P("study", "other", 3)]) for i in range(200)
    }
    table = R(articles)
    spec = _spec(name="frac", upsample=[_rule("cases", "document_type", "Clinical Case", 2.5)])
    copies = spec.plan(table, seed=0).copies
    assert set(copies.tolist()) == {2, 3}
    assert all(copies[0::2] == copies[1::2])  # both paragraphs of an article get the same draw
    assert abs(copies.mean() - 2.5) < 0.15
    assert (spec.plan(table, seed=0).copies == copies).all()
    assert not (spec.plan(table, seed=1).copies == copies).all()
    # the draw depends on the article, not on where it sits: reversed rows, same copies per article
    reversed_copies = spec.plan(table.take(pa.array(np.arange(len(table))[::-1])), seed=0).copies[::-1]
    assert (reversed_copies == copies).all()


def test_prefix_uses_labels_and_keeps_withheld_text_null():
    table = R(ARTICLES_2)
    table = table.set_column(table.column_names.index("text"), "text", pa.array(["a", None, "c", "d"]))
    out = SPECS[3].apply_prefix(table)["text"].to_pylist()
    assert out == ["[Case|2] a", None, "[Review|3] c", "[Review|] d"]
    with pytest.raises(ValueError, match="plain column fields"):
        _spec(name="bad", prefix="{type:>5}")


def test_build_writes_every_config_as_the_specs_say(tmp_path):
    summary = run_build(_config(tmp_path))
    shards = [R(ARTICLES_1).to_pylist(), R(ARTICLES_2).to_pylist()]
    rows = shards[0] + shards[1]
    release = Path(summary.output_dir)
    for spec in SPECS:
        table = _read(release, spec.name)
        got = list(zip(table["article_id"].to_pylist(), table["path"].to_pylist(), table["copy_index"].to_pylist()))
        assert got == _expected(spec, shards), spec.name
        assert summary.configs[spec.name]["rows"] == len(got)
    # majority: article 3 (2 of 3 clinical) is upsampled, article 1 (2 of 3) too, article 2 (1 of 3) is not
    clin = _read(release, "clin").to_pylist()
    assert {r["article_id"] for r in clin if r["copy_index"] == 2} == {"1", "3", "4"}
    assert summary.configs["edu"]["dropped"] == {"edu_below_3": 5}
    assert summary.configs["mix"]["upsampled"] == {"case_articles": 3, "french_articles": 1}  # kept rows only
    assert summary.configs["cases"]["tokens"] == sum(
        r["n_tokens"] for r in rows if r["document_type"] == "Clinical Case"
    )


def test_text_of_restricted_licences_is_withheld_and_keys_stay(tmp_path):
    summary = run_build(_config(tmp_path))
    source = {(r["article_id"], r["path"]): r for r in R({**ARTICLES_1, **ARTICLES_2}).to_pylist()}
    withheld = 0
    for spec in SPECS:
        for row in _read(Path(summary.output_dir), spec.name).to_pylist():
            original = source[(row["article_id"], row["path"])]
            assert row["document_type"] == original["document_type"]
            assert row["educational_score"] == original["educational_score"]
            assert row["text_hash"] == original["text_hash"] and row["n_chars"] == original["n_chars"]
            if original["license_group"] == "commercial":
                assert original["text"] in row["text"]
            else:
                assert row["text"] is None
                withheld += 1
        assert summary.configs[spec.name]["withheld_rows"] == sum(
            1 for r in _read(Path(summary.output_dir), spec.name)["text"].to_pylist() if r is None
        )
    assert withheld > 0


def test_parquet_metadata_and_card_record_spec_versions(tmp_path):
    specs = [_spec(name="all"), VariantSpec(name="edu", version="2.3-beta", keep=[EDU3])]
    summary = run_build(_config(tmp_path, specs=specs, default_config="edu", plots=True))
    release = Path(summary.output_dir)
    meta = json.loads(
        pq.read_schema(next((release / "data" / "edu").glob("*.parquet"))).metadata[PARQUET_METADATA_KEY]
    )
    assert meta["variant"]["version"] == "2.3-beta"
    assert meta["variant"]["keep"][0]["value"] == 3
    assert meta["classifier_versions"] == ["clf-test-v1"]
    assert meta["withhold_text_groups"] == ["non_commercial", "other"]
    card = (release / "README.md").read_text()
    assert "| `edu` | variant | 2.3-beta |" in card
    assert "`edu_below_3` 5" in card
    assert (release / "config.yaml").is_file() and (release / "build_summary.json").is_file()
    images = sorted(p.name for p in (release / "images").glob("*.png"))
    assert images == ["configs.png", "educational_score.png", "labels.png"]
    for name in images:
        assert f"](images/{name})" in card
    header = card.split("---\n")[1]
    assert "default: true" in header.split("config_name: edu")[1].split("config_name")[0]


def test_load_dataset_reads_each_config_and_the_default(tmp_path):
    import datasets

    summary = run_build(_config(tmp_path, specs=SPECS[:3], default_config="edu"))
    release = str(summary.output_dir)
    for spec in SPECS[:3]:
        loaded = datasets.load_dataset(release, spec.name, split="train")
        assert loaded.to_list() == _read(Path(release), spec.name).to_pylist()
    assert len(datasets.load_dataset(release, split="train")) == summary.configs["edu"]["rows"]


def test_output_does_not_depend_on_workers_or_shard_size(tmp_path):
    one = run_build(_config(tmp_path / "a"))
    many = run_build(_config(tmp_path / "b", executor=ExecutorConfig(workers=2), shard_size_mb=0, row_group_mb=0))
    files = sorted((Path(many.output_dir) / "data" / "mix").glob("*.parquet"))
    assert len(files) > 2 and files[0].name == f"train-00000-of-{len(files):05d}.parquet"
    for spec in SPECS:
        assert _read(Path(one.output_dir), spec.name).equals(_read(Path(many.output_dir), spec.name))
        assert one.configs[spec.name]["counts"] == many.configs[spec.name]["counts"]


def test_rerun_after_a_crash_redoes_only_unfinished_tasks(tmp_path, monkeypatch):
    from biomed.dataset_builder.build import stage as build

    real = build._run_task

    def crash_on_second(job):
        if job.task == 1:
            raise RuntimeError("killed")
        real(job)

    monkeypatch.setattr(build, "_run_task", crash_on_second)
    cfg = _config(tmp_path, executor=ExecutorConfig(tasks=2))
    with pytest.raises(RuntimeError):
        run_build(cfg)
    assert not (tmp_path / "release" / "data").exists()  # nothing half-built is visible
    monkeypatch.setattr(build, "_run_task", real)
    summary = run_build(cfg)
    assert summary.resumed_tasks == 1
    clean = run_build(_config(tmp_path / "clean", executor=ExecutorConfig(tasks=2)))
    for spec in SPECS:
        assert _read(Path(summary.output_dir), spec.name).equals(_read(Path(clean.output_dir), spec.name))
    assert not (Path(summary.output_dir) / ".build").exists()


def test_config_selecting_nothing_is_reported_not_published(tmp_path):
    none = _spec(name="none", keep=[ConditionSpec(column="language", value="xx")])
    summary = run_build(_config(tmp_path, specs=[SPECS[0], none]))
    assert summary.configs["none"]["rows"] == 0 and summary.published == ["all"]
    card = (Path(summary.output_dir) / "README.md").read_text()
    assert "config_name: none" not in card and "selected no paragraph of this input: `none`" in card
    assert not (Path(summary.output_dir) / "data" / "none").exists()
    with pytest.raises(BiomedError, match="default config 'none' selected no paragraph"):
        run_build(_config(tmp_path / "b", specs=[SPECS[0], none], default_config="none"))


def test_bad_inputs_give_clear_errors(tmp_path):
    with pytest.raises(BiomedError, match="does not exist"):
        run_build(BuildConfig(input_dir=str(tmp_path / "missing"), variants=SPECS))
    (tmp_path / "empty").mkdir()
    with pytest.raises(BiomedError, match="no .parquet shards"):
        run_build(BuildConfig(input_dir=str(tmp_path / "empty"), variants=SPECS))
    scored = write_shards(tmp_path / "scored", [scored_table(ARTICLES_1).drop_columns(["type_probs"])])
    with pytest.raises(BiomedError, match="lacks column.*type_probs"):
        run_build(BuildConfig(input_dir=str(scored), output_dir=str(tmp_path / "o"), variants=SPECS))
    with pytest.raises(ConfigError, match="unknown config 'nope'"):
        build_config(BuildConfig, {"variants": [{"name": "a", "version": "1"}], "only": ["nope"]})
    with pytest.raises(ConfigError, match="unknown config key 'variants\\[0\\].factor'"):
        build_config(BuildConfig, {"variants": [{"name": "a", "version": "1", "factor": 3}]})


def test_release_recipe_declares_the_paper_configs():
    cfg = resolve_config(BuildConfig, default_recipe())
    names = [spec.name for spec in cfg.variants]
    assert names == [
        "default", "BE-Base", "BE-Educational", "BE-Clinical", "BE-ClinicalCase", "BE-French", "BE-All",
        "BE-ModernBERT-Encoder", "BE-Decay-Biomedical", "BE-Decay-Study", "BE-Decay-Review", "BE-Decay-ClinicalCase",
        "clinical_case", "clinical_case_high_quality",
    ]  # fmt: skip
    by_name = {spec.name: spec for spec in cfg.variants}
    assert cfg.default_config == "default" and by_name["default"].layout == "published"
    # every quality threshold is on the classifier's float score (thesis ch.2: "scores below 3" are removed)
    thresholds = [c for spec in cfg.variants for c in spec.keep if c.column.startswith("educational_score")]
    assert {(c.column, c.op) for c in thresholds} == {("educational_score", ">=")}
    assert {c.value for c in by_name["BE-Educational"].keep + by_name["BE-All"].keep} == {3.0}
    encoder = by_name["BE-ModernBERT-Encoder"]
    assert [(r.when[0].value, r.factor, r.level) for r in encoder.upsample] == [
        ("Clinical Case", 100, "paragraph"), ("clinical", 10, "article")
    ]  # fmt: skip
    assert [(c.column, c.value) for c in by_name["default"].keep] == [("article_part", "body")]
    assert encoder.keep[0].value == 3.0
    decays = {name: spec.keep for name, spec in by_name.items() if name.startswith("BE-Decay-")}
    assert {name: keep[0].value for name, keep in decays.items()} == {
        "BE-Decay-Biomedical": "biomedical", "BE-Decay-Study": "Study", "BE-Decay-Review": "Review",
        "BE-Decay-ClinicalCase": "Clinical Case",
    }  # fmt: skip
    assert all(keep[1].value == 4.0 and not by_name[n].upsample for n, keep in decays.items())
    assert {(r.name, r.factor, r.match) for r in by_name["BE-All"].upsample} == {
        ("clinical_articles", 10, "majority"), ("clinical_case_articles", 10, "any"), ("french_articles", 10, "any")
    }  # fmt: skip
    assert by_name["BE-French"].upsample[0].match == "any"  # "articles containing French text"
    assert by_name["BE-All"].prefix
    assert all(spec.kind == "subset" for spec in cfg.variants[12:])
    assert cfg.withhold_text_groups == ["non_commercial", "other"]


def test_cli_builds_the_release_recipe(tmp_path):
    from typer.testing import CliRunner

    from biomed.cli import app

    scored = write_shards(tmp_path / "scored", [scored_table(ARTICLES_1), scored_table(ARTICLES_2)])
    out = tmp_path / "release"
    args = ["data", "build", str(scored), "--out", str(out), "--only", "BE-Base", "--only", "clinical_case"]
    runner = CliRunner()

    dry = runner.invoke(app, [*args, "--dry-run"])
    assert dry.exit_code == 0 and "- BE-Base\n- clinical_case" in dry.output and not out.exists()
    result = runner.invoke(app, [*args, "--set", "card.plots=false"])

    assert result.exit_code == 0, result.output
    assert "BE-Base" in result.output and f'load_dataset("{out}", "clinical_case", split="train")' in result.output
    assert sorted(p.name for p in (out / "data").iterdir()) == ["BE-Base", "clinical_case"]
    bad = runner.invoke(app, [*args, "--only", "BE-Nope"])
    assert bad.exit_code != 0 and "BE-Nope" in str(bad.exception or bad.output)
    assert "--only" in runner.invoke(app, ["data", "build", "--help"]).output


def test_card_reports_the_annotation_llm_and_the_classifier_test_metrics(tmp_path):
    annotations = tmp_path / "annotations.parquet"
    pq.write_table(
        pa.table(
            {
                "model": ["meta-llama/Llama-3.1-70B-Instruct"] * 3,
                "prompt_version": ["annotate_v1"] * 3,
                "status": ["ok", "ok", "failed"],
            }
        ),
        annotations,
    )
    metrics = tmp_path / "metrics.json"
    test = {"type": {"accuracy": 0.91234, "n": 40, "confusion_matrix": [[1]]}, "educational": {"pearson_r": 0.8}}
    metrics.write_text(json.dumps({"classifier_version": "clf-test-v1", "test": test, "split_sizes": {"test": 40}}))
    cfg = _config(tmp_path, specs=SPECS[:1])
    cfg.card.annotations, cfg.card.classifier_metrics = str(annotations), str(metrics)

    card = (Path(run_build(cfg).output_dir) / "README.md").read_text()

    assert "meta-llama/Llama-3.1-70B-Instruct labelled 2 paragraphs (prompt annotate_v1)" in card
    assert "| type.accuracy | 0.9123 |" in card and "| educational.pearson_r | 0.8 |" in card
    assert "split_sizes" not in card and "(version clf-test-v1)" in card
    cfg.card.classifier_metrics = str(tmp_path / "missing.json")
    with pytest.raises(BiomedError, match="missing.json does not exist"):
        run_build(cfg)
    assert (tmp_path / "release" / "README.md").read_text() == card  # the previous release is untouched


def test_encoder_variant_upsamples_clinical_case_paragraphs_not_their_articles():
    # thesis ch.5 l.107: "clinical case paragraphs upsampled 100x and other clinical documents 10x"
    spec = next(s for s in resolve_config(BuildConfig, default_recipe()).variants if s.name == "BE-ModernBERT-Encoder")
    table = R(
        {
            "1": ("commercial", [P("clinical_case", "biomedical", 4), P("study", "biomedical", 4), P("review")]),
            "2": ("commercial", [P("clinical_case", "clinical", 4), P("study", "clinical", 4), P("other", "other")]),
            "3": ("commercial", [P("clinical_case", "clinical", 2.9), P("study", "clinical", 3.0)]),
        }
    )
    plan = spec.plan(table)
    # the case paragraph x100, not its article; a predominantly clinical article's other paragraphs x10; the
    # quality filter drops the low-quality case paragraph (its article still counts as clinical)
    assert plan.copies.tolist() == [100, 1, 1, 100, 10, 10, 0, 10]


@pytest.mark.parametrize(
    "condition, message",
    [
        ({"column": "type", "value": "clinical_case"}, "the release table has no column 'type'; columns: id, "),
        (
            {"column": "document_type", "value": "clinical_case"},
            "'clinical_case' is not a value of document_type; its values: Clinical Case, Other, Review, Study",
        ),
        ({"column": "domain", "op": "in", "value": ["clinical", "Clinical"]}, "'Clinical' is not a value of domain"),
        ({"column": "educational_score", "op": ">=", "value": 6.0}, "no row can pass, educational_score runs from 1"),
        ({"column": "educational_score_int", "op": "<", "value": 1}, "no row can pass"),
        ({"column": "educational_score", "op": ">=", "value": "4"}, "is numeric, compare it with a number"),
    ],
)
def test_a_condition_that_cannot_select_is_refused_when_the_config_resolves(condition, message):
    variants = [{"name": "x", "version": "1", "keep": [condition]}]
    with pytest.raises(ConfigError, match="config 'x': condition .*" + re.escape(message)):
        build_config(BuildConfig, {"variants": variants})
    upsample = [{"name": "x", "version": "1", "upsample": [{"name": "u", "when": [condition], "factor": 2}]}]
    with pytest.raises(ConfigError, match=re.escape(message)):
        build_config(BuildConfig, {"variants": upsample})
