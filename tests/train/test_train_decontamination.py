"""No evaluation set in pre-training: refused by identity when a recipe resolves, by n-gram overlap before training."""

import json

import pytest

from biomed.config import ConfigError, resolve_config
from biomed.errors import BiomedError
from biomed.train.config import PretrainConfig
from biomed.train.decontamination import NgramIndex, check_recipe_sources, decontaminate, load_test_texts


def _resolve(sources: str, *extra: str) -> PretrainConfig:
    return resolve_config(PretrainConfig, None, [f"data.sources={sources}", *extra])


def test_a_recipe_naming_an_evaluation_set_is_refused():
    with pytest.raises(ConfigError, match="evaluation set FrenchMedMCQA"):
        _resolve("[{name: fr-qa, hub: qanastek/FrenchMedMCQA}]")
    with pytest.raises(ConfigError, match="evaluation set FrenchMedMCQA"):
        _resolve("[{name: frenchmedmcqa, path: data/fr/qa}]")  # by its name, whatever the folder
    with pytest.raises(ConfigError, match=r"evaluation set EMEA \(cbio/emea\)"):
        _resolve("[{name: leaflets, hub: DrBenchmark/QUAERO}]")
    with pytest.raises(ConfigError, match=r"evaluation set QUAERO EMEA \(fr/quaero-emea\)"):
        _resolve("[{name: leaflets, hub: rntc/tabib-emea}]")
    with pytest.raises(ConfigError, match="evaluation set MediQAl"):
        _resolve("[{name: qa, path: data/fr/MediQAl}]")
    # the paper's own sources are not evaluation sets by name: EMEA leaflets (OPUS) and E3C's unannotated layer
    cfg = _resolve("[{name: emea, path: data/fr/emea}, {name: e3c, path: data/fr/e3c}]")
    assert [s.name for s in cfg.data.sources] == ["emea", "e3c"]
    check_recipe_sources(cfg.data.sources)


def test_ngram_index_finds_test_examples_inside_longer_documents():
    test = [
        "le patient a reçu deux cents milligrammes de morphine par voie intraveineuse avant son transfert en "
        "réanimation",
        "douleur thoracique constrictive irradiant au bras gauche depuis ce matin",  # 10 words: matched whole
        "toux sèche",  # too short to be checked
    ]
    index = NgramIndex({"fr/x": test})
    clean = index.scan(["un texte sans rapport avec l'évaluation, sur la cardiologie et la toux sèche"])
    assert clean == {"fr/x": 0.0}
    leaked = "Compte rendu. " + test[0].upper() + " Fin. Il décrit une " + test[1] + ", sans fièvre."
    assert index.scan([leaked]) == {"fr/x": 2 / 3}
    # twelve words in a row are not enough for a 13-gram: a shared phrase is not a shared example
    assert index.scan([" ".join(test[0].split()[:12])]) == {"fr/x": 0.0}
    assert index.scan(["x", leaked], limit=1) == {"fr/x": 0.0}  # a capped scan reads only the first documents


def test_biomed_train_refuses_a_source_that_overlaps_a_test_split(tmp_path, make_config, sample_texts):
    leaked = tmp_path / "leaked"
    leaked.mkdir()
    test = load_test_texts(["fixtures/ner-bio"], None)["fixtures/ner-bio"]
    rows = [{"text": t} for t in sample_texts[:20]] + [{"text": "Observation : " + t} for t in test]
    (leaked / "part.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    clean = make_config("decontamination.against=[fixtures/ner-bio]")
    shares = decontaminate(clean)  # the sample articles share no example with the fixture's test split
    assert shares == {"sample": {"fixtures/ner-bio": 0.0}}
    cached = list((tmp_path.parent / "pretrain_cache" / "decontamination").glob("*.json"))
    assert len(cached) == 1
    cached[0].write_text('{"sample": {"fixtures/ner-bio": 0.001}}', encoding="utf-8")
    assert decontaminate(clean) == {"sample": {"fixtures/ner-bio": 0.001}}  # a passed check is not run again
    dirty = make_config(
        f"data.sources=[{{name: notes, path: '{leaked}'}}]",
        "decontamination.against=[fixtures/ner-bio]",
    )
    with pytest.raises(
        BiomedError, match=r"source 'notes' contains \d+\.\d % of the test examples of fixtures/ner-bio"
    ):
        decontaminate(dirty)
    assert decontaminate(make_config()) == {}  # nothing to check against: no overlap check
    with pytest.raises(BiomedError, match="neither a suite"):
        decontaminate(make_config("decontamination.against=[nope]"))


@pytest.mark.parametrize(
    "damage",
    [
        '{"sample": {"fixtures/ner-bio": 0.0',  # a write cut short (before the cache was written atomically)
        "",
        '{"other-source": {"fixtures/ner-bio": 0.0}}',
        '{"sample": {"fixtures/ner-bio": "high"}}',
        "[1, 2]",
    ],
)
def test_a_damaged_decontamination_cache_is_checked_again(make_config, tmp_path, damage, caplog):
    from biomed.train import decontamination

    clean = make_config("decontamination.against=[fixtures/ner-bio]", f"data.cache_dir={tmp_path / 'cache'}")
    assert decontaminate(clean) == {"sample": {"fixtures/ner-bio": 0.0}}
    (cached,) = (tmp_path / "cache" / "decontamination").glob("*.json")
    cached.write_text(damage, encoding="utf-8")
    (cached.parent / f"{cached.name}.999.tmp").write_text("{", encoding="utf-8")  # left by a killed writer
    with caplog.at_level("WARNING", logger=decontamination.__name__):
        assert decontaminate(clean) == {"sample": {"fixtures/ner-bio": 0.0}}  # used to raise JSONDecodeError
    assert "unreadable" in caplog.text and "checking again" in caplog.text
    assert json.loads(cached.read_text()) == {"sample": {"fixtures/ner-bio": 0.0}}
    assert [p.name for p in cached.parent.iterdir()] == [cached.name]
