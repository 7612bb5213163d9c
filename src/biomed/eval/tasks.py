"""The evaluation task table: one ``TaskSpec`` per task, grouped in suites, with each paper's protocol.

Example::

    from biomed.eval.tasks import SUITES, TASKS

    print(SUITES["fr"])                 # the CLM-detour French suite
    spec = TASKS["cbio/emea"]           # QUAERO EMEA under the CamemBERT-bio protocol
    print(spec.protocol.learning_rate, spec.max_length, spec.metric)

A task key is ``<suite>/<task>``: the same corpus under two protocols (QUAERO EMEA in the CLM-detour suite and
in the CamemBERT-bio suite) is two tasks. Hub ids below were checked against the public Hub listings the kit's
authors could read; datasets that exist only as loading scripts (unsupported since ``datasets`` 4) are read from
the Hub's Parquet conversion (``revision="refs/convert/parquet"``) and otherwise from a local copy given with
``data_paths`` / ``data_dir`` (see ``DataSource.note``). Data behind agreements is never downloaded: ``access``
says where to ask for it and the loader's error repeats it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal


TaskKind = Literal["ner", "single_label", "multi_label"]

PARQUET_REVISION = "refs/convert/parquet"
"""Branch where the Hub's dataset viewer stores a Parquet export of script-based datasets."""


@dataclass(frozen=True)
class Protocol:
    """Fine-tuning hyper-parameters of one paper's protocol (shared by the tasks of a suite).

    Attributes:
        paper: which paper the protocol reproduces.
        head: ``linear`` (a linear layer on the first token / first sub-token of each word) or ``span``
            (BiLSTM + CRF + biaffine span scorer over first sub-tokens, the CLM-detour NER head).
        learning_rate: encoder learning rate.
        head_learning_rate: learning rate of the head's parameters; ``None`` = same as the encoder.
        batch_size: examples per optimiser step.
        epochs: training epochs (ignored when ``max_steps`` is set).
        max_steps: training steps; ``None`` = epochs.
        warmup: linear warm-up as a fraction of the total steps.
        weight_decay: AdamW weight decay.
        seeds: runs per task; the report gives their mean and standard deviation.
        eval_steps: evaluate on dev every this many steps; ``None`` = every epoch.
        early_stopping_patience: stop after this many evaluations without dev improvement; ``None`` = never.
        multi_label_loss: ``weighted_bce`` weights each label's positives by negatives/positives in train.
    """

    paper: str
    head: Literal["linear", "span"] = "linear"
    learning_rate: float = 5e-5
    head_learning_rate: float | None = None
    batch_size: int = 16
    epochs: float = 3.0
    max_steps: int | None = None
    warmup: float = 0.1
    weight_decay: float = 0.01
    seeds: int = 5
    eval_steps: int | None = None
    early_stopping_patience: int | None = None
    multi_label_loss: Literal["bce", "weighted_bce"] = "bce"


@dataclass(frozen=True)
class DataSource:
    """Where a task's data comes from and how to read it.

    Attributes:
        format: ``hub-tokens`` (a Hub dataset with word and tag columns), ``hub-kb`` (BigBio KB schema: passages
            and entity offsets), ``hub-text`` (text and label columns), ``conll`` (BIO files), ``brat`` (standoff
            ``.txt``/``.ann`` folders), ``table`` (local JSONL/JSON/Parquet/CSV/TSV with text and label columns).
        hub_id: Hub dataset id, when the data is public on the Hub.
        config: Hub dataset configuration.
        revision: Hub revision; ``refs/convert/parquet`` for script-only datasets.
        splits: our split name (train/dev/test) -> the dataset's split name; a missing ``dev`` is carved from train.
        columns: our field (tokens/tags/text/labels) -> the dataset's column.
        local_format: format of a local copy (``conll``, ``brat``, ``table``) given with ``data_paths``/``data_dir``.
        package_path: folder inside ``biomed.eval`` holding bundled data (fixtures).
        access: ``None`` for public data, else where to obtain it (data-use agreement, credentialed access).
        note: how the kit reads it and anything a user must know (Parquet conversion, preprocessing).
    """

    format: Literal["hub-tokens", "hub-kb", "hub-text", "conll", "brat", "table"]
    hub_id: str | None = None
    config: str | None = None
    revision: str | None = None
    splits: dict[str, str] = field(default_factory=lambda: {"train": "train", "dev": "validation", "test": "test"})
    columns: dict[str, str] = field(default_factory=dict)
    local_format: Literal["conll", "brat", "table"] = "table"
    package_path: str | None = None
    access: str | None = None
    note: str = ""


@dataclass(frozen=True)
class TaskSpec:
    """One evaluation task: data, label set, length, metric and protocol.

    Attributes:
        name: ``<suite>/<task>`` key.
        title: display name in reports and model cards.
        kind: ``ner`` (token classification, BIO), ``single_label`` or ``multi_label`` classification.
        source: where the data comes from.
        protocol: the fine-tuning protocol.
        max_length: maximum sub-tokens per example; what lies beyond is counted and reported as truncated.
        metric: the primary metric key (see ``biomed.eval.metrics.METRIC_LABELS``), used for dev selection.
        labels: entity types (NER) or class names; empty = read from the training split.
    """

    name: str
    title: str
    kind: TaskKind
    source: DataSource
    protocol: Protocol
    max_length: int
    metric: str
    labels: tuple[str, ...] = ()

    @property
    def suite(self) -> str:
        return self.name.split("/", 1)[0]

    @property
    def short_name(self) -> str:
        return self.name.split("/", 1)[1]


# --- protocols ----------------------------------------------------------------------------------------------------

DETOUR_CLS = Protocol(
    paper="CLM detour (ModernCamemBERT-bio)",
    head="linear",
    learning_rate=2e-5,
    batch_size=4,
    epochs=15,
    warmup=0.1,
    weight_decay=0.01,
    seeds=9,
    multi_label_loss="weighted_bce",
)
DETOUR_NER = Protocol(
    paper="CLM detour (ModernCamemBERT-bio)",
    head="span",
    learning_rate=5e-5,
    head_learning_rate=1e-3,
    batch_size=16,
    max_steps=4000,
    warmup=0.1,
    weight_decay=0.01,
    seeds=9,
    eval_steps=500,  # the paper gives 4000 steps, not the eval period: every 1/8 of training is the kit's choice
)
CAMEMBERT_BIO = Protocol(
    paper="CamemBERT-bio",
    head="linear",
    learning_rate=5e-5,
    batch_size=16,
    max_steps=2000,
    warmup=0.224,
    weight_decay=0.0,
    seeds=10,
    eval_steps=200,  # "best dev checkpoint" over 2000 steps; ten evaluations is the kit's choice
)
BIOCLINICAL_CLS = Protocol(
    paper="BioClinical-ModernBERT",
    learning_rate=5e-5,
    batch_size=16,
    epochs=10,
    warmup=0.0,
    weight_decay=0.01,
    seeds=5,
    early_stopping_patience=3,
)
BIOCLINICAL_NER = Protocol(
    paper="BioClinical-ModernBERT",
    learning_rate=5e-5,
    batch_size=16,
    epochs=20,
    warmup=0.0,
    weight_decay=0.01,
    seeds=5,
    early_stopping_patience=3,
)
FIXTURE = Protocol(
    paper="biomed fixtures (smoke test, not a paper protocol)",
    learning_rate=3e-3,  # tiny config-built models learn the fixtures in a dozen epochs only at a high rate
    batch_size=8,
    epochs=12,
    warmup=0.1,
    weight_decay=0.01,
    seeds=2,
    multi_label_loss="weighted_bce",
)
FIXTURE_SPAN = dataclasses.replace(FIXTURE, head="span", head_learning_rate=5e-3)

# --- sources ------------------------------------------------------------------------------------------------------

_SCRIPT_NOTE = (
    "{hub_id} is a loading script (unsupported since datasets 4): the kit reads the Hub's Parquet conversion "
    "(revision refs/convert/parquet). If that branch is missing, convert once with datasets<4 "
    "(load_dataset('{hub_id}', '{config}', trust_remote_code=True) then .to_parquet per split) and pass the folder "
    "with --set data_paths.{task}=DIR."
)


def _quaero(config: str, task: str) -> DataSource:
    return DataSource(
        format="hub-tokens",
        hub_id="DrBenchmark/QUAERO",
        config=config,
        revision=PARQUET_REVISION,
        columns={"tokens": "tokens", "tags": "ner_tags"},
        local_format="conll",
        note=_SCRIPT_NOTE.format(hub_id="DrBenchmark/QUAERO", config=config, task=task)
        + " Nested QUAERO entities are flattened by the DrBenchmark script; IO tags are read as BIO.",
    )


def _bigbio(name: str, config: str, task: str, fmt: str = "hub-kb", columns: dict | None = None) -> DataSource:
    return DataSource(
        format=fmt,
        hub_id=f"bigbio/{name}",
        config=config,
        revision=PARQUET_REVISION,
        columns=columns or {},
        local_format="table" if fmt == "hub-text" else "conll",
        note=_SCRIPT_NOTE.format(hub_id=f"bigbio/{name}", config=config, task=task),
    )


def _local(fmt: str, access: str, note: str = "") -> DataSource:
    return DataSource(format=fmt, local_format=fmt, access=access, note=note)


_QUAERO_TYPES = ("ANAT", "CHEM", "DEVI", "DISO", "GEOG", "LIVB", "OBJC", "PHEN", "PHYS", "PROC")
_CAS_ACCESS = (
    "the CAS corpus (Grabar, Claveau & Dalloux 2018) is distributed by its authors under a data-use agreement "
    "(see the homepage in the bigbio/cas dataset card); ESSAI likewise (bigbio/essai)"
)
_FR_LOCAL_NOTE = (
    "French version used by the CLM-detour paper; no public Hub copy was confirmed when this table was written. "
    "Give a local folder with train/dev/test JSONL or Parquet ({columns})."
)
_PHYSIONET = "credentialed access on PhysioNet (physionet.org), after the CITI training and the data-use agreement"
_N2C2 = "the n2c2 / i2b2 data portal (DBMI, Harvard Medical School) after signing its data-use agreement"
_BIOCLINICAL_NOTE = "Preprocessing and splits follow the BioClinical-ModernBERT repository (lindvalllab)."


def _task(
    name: str,
    title: str,
    kind: TaskKind,
    source: DataSource,
    protocol: Protocol,
    max_length: int,
    metric: str,
    labels: tuple[str, ...] = (),
) -> tuple[str, TaskSpec]:
    return name, TaskSpec(name, title, kind, source, protocol, max_length, metric, labels)


TASKS: dict[str, TaskSpec] = dict(
    [
        # --- French, CLM detour (ModernCamemBERT-bio): 6 classification tasks + 2 NER, 9 seeds ---------------------
        _task(
            "fr/fracco-30",
            "FrACCO-30",
            "multi_label",
            DataSource(
                format="hub-text",
                hub_id="rntc/fracco",
                columns={"text": "text", "labels": "labels"},
                note="Hub id from the ModernCamemBERT-bio model-index; the top-30 code configuration name is not "
                "confirmed: pass --set data_paths.fr/fracco-30=DIR when the default configuration is not it.",
            ),
            DETOUR_CLS,
            4096,
            "f1_macro",
        ),
        _task(
            "fr/fracco-100",
            "FrACCO-100",
            "multi_label",
            DataSource(
                format="hub-text",
                hub_id="rntc/fracco",
                columns={"text": "text", "labels": "labels"},
                note="Hub id from the ModernCamemBERT-bio model-index; the top-100 code configuration name is not "
                "confirmed: pass --set data_paths.fr/fracco-100=DIR when the default configuration is not it.",
            ),
            DETOUR_CLS,
            4096,
            "f1_macro",
        ),
        _task(
            "fr/cantemist",
            "CANTEMIST (fr)",
            "multi_label",
            _local("table", None, _FR_LOCAL_NOTE.format(columns="text, labels = ICD-O codes")),
            DETOUR_CLS,
            4096,
            "f1_macro",
        ),
        _task(
            "fr/distemist",
            "DisTEMIST (fr)",
            "multi_label",
            _local("table", None, _FR_LOCAL_NOTE.format(columns="text, labels = SNOMED CT codes")),
            DETOUR_CLS,
            4096,
            "f1_macro",
        ),
        _task(
            "fr/meddialog",
            "MedDialog-FR",
            "single_label",
            _local("table", None, _FR_LOCAL_NOTE.format(columns="text, label")),
            DETOUR_CLS,
            2048,
            "f1_macro",
        ),
        _task(
            "fr/diamed",
            "DiaMED",
            "single_label",
            DataSource(
                format="hub-text",
                hub_id="DrBenchmark/DiaMED",
                config="default",
                revision=PARQUET_REVISION,
                columns={"text": "clinical_case", "labels": "icd-10"},
                note=_SCRIPT_NOTE.format(hub_id="DrBenchmark/DiaMED", config="default", task="fr/diamed")
                + " The label column name is an assumption from the DrBenchmark script; override with a local copy.",
            ),
            DETOUR_CLS,
            2048,
            "f1_macro",
        ),
        _task(
            "fr/quaero-emea",
            "QUAERO EMEA",
            "ner",
            _quaero("emea", "fr/quaero-emea"),
            DETOUR_NER,
            1024,
            "f1_micro_strict",
            _QUAERO_TYPES,
        ),
        _task(
            "fr/quaero-medline",
            "QUAERO MEDLINE",
            "ner",
            _quaero("medline", "fr/quaero-medline"),
            DETOUR_NER,
            1024,
            "f1_micro_strict",
            _QUAERO_TYPES,
        ),
        # --- French, CamemBERT-bio: 5 NER tasks, linear head, 10 seeds ----------------------------------------------
        _task(
            "cbio/cas1",
            "CAS1",
            "ner",
            _local("brat", _CAS_ACCESS, "CamemBERT-bio's CAS1 annotation layer; entity types are read from the data."),
            CAMEMBERT_BIO,
            512,
            "f1_micro_strict",
        ),
        _task(
            "cbio/cas2",
            "CAS2",
            "ner",
            _local("brat", _CAS_ACCESS, "CamemBERT-bio's CAS2 annotation layer; entity types are read from the data."),
            CAMEMBERT_BIO,
            512,
            "f1_micro_strict",
        ),
        _task(
            "cbio/e3c",
            "E3C",
            "ner",
            DataSource(
                format="hub-tokens",
                hub_id="DrBenchmark/E3C",
                config="French",
                revision=PARQUET_REVISION,
                columns={"tokens": "tokens", "tags": "ner_tags"},
                local_format="conll",
                note=_SCRIPT_NOTE.format(hub_id="DrBenchmark/E3C", config="French", task="cbio/e3c")
                + " The French clinical-entity layer; the original corpus is also on the European Language Grid.",
            ),
            CAMEMBERT_BIO,
            512,
            "f1_micro_strict",
        ),
        _task(
            "cbio/emea",
            "EMEA",
            "ner",
            _quaero("emea", "cbio/emea"),
            CAMEMBERT_BIO,
            512,
            "f1_micro_strict",
            _QUAERO_TYPES,
        ),
        _task(
            "cbio/medline",
            "MEDLINE",
            "ner",
            _quaero("medline", "cbio/medline"),
            CAMEMBERT_BIO,
            512,
            "f1_micro_strict",
            _QUAERO_TYPES,
        ),
        # --- English, BioClinical-ModernBERT protocol: 5 seeds, early stopping ---------------------------------
        _task(
            "en/chemprot",
            "ChemProt",
            "single_label",
            _local(
                "table",
                None,
                "BLURB's entity-masked ChemProt sentences (train/dev/test TSV with sentence and label columns), as in "
                "the BioClinical-ModernBERT repository; bigbio/chemprot holds the raw corpus. " + _BIOCLINICAL_NOTE,
            ),
            BIOCLINICAL_CLS,
            512,
            "f1_macro",
            ("CPR:3", "CPR:4", "CPR:5", "CPR:6", "CPR:9", "false"),
        ),
        _task(
            "en/phenotype",
            "Phenotype",
            "multi_label",
            _local(
                "table",
                _PHYSIONET + " (MIMIC-III notes and the phenotype annotations ACTdb102003.csv)",
                "Notes joined to annotations on ROW_ID; rows flagged NONE have no label. " + _BIOCLINICAL_NOTE,
            ),
            BIOCLINICAL_CLS,
            8192,
            "f1_macro",
            (
                "ADVANCED.CANCER",
                "ADVANCED.HEART.DISEASE",
                "ADVANCED.LUNG.DISEASE",
                "ALCOHOL.ABUSE",
                "CHRONIC.NEUROLOGICAL.DYSTROPHIES",
                "CHRONIC.PAIN.FIBROMYALGIA",
                "DEMENTIA",
                "DEPRESSION",
                "DEVELOPMENTAL.DELAY.RETARDATION",
                "NON.ADHERENCE",
                "OBESITY",
                "OTHER.SUBSTANCE.ABUSE",
                "SCHIZOPHRENIA.AND.OTHER.PSYCHIATRIC.DISORDERS",
                "UNSURE",
            ),
        ),
        _task(
            "en/cos",
            "COS",
            "ner",
            _local(
                "conll",
                _PHYSIONET,
                "Clinical notes; treated as span-level NER as in "
                "the BioClinical-ModernBERT results table. " + _BIOCLINICAL_NOTE,
            ),
            BIOCLINICAL_NER,
            512,
            "f1_macro_strict",
        ),
        _task(
            "en/social-history",
            "Social History",
            "ner",
            _local("conll", _PHYSIONET, "MIMIC social-history entities. " + _BIOCLINICAL_NOTE),
            BIOCLINICAL_NER,
            512,
            "f1_macro_strict",
        ),
        _task(
            "en/deid",
            "DEID",
            "ner",
            _local(
                "brat",
                _N2C2,
                "i2b2/n2c2 2014 de-identification (loader for the "
                "raw XML: bigbio/n2c2_2014_deid); give BRAT or CoNLL exports.",
            ),
            BIOCLINICAL_NER,
            8192,
            "f1_macro_strict",
        ),
        _task(
            "en/anatem",
            "AnatEM",
            "ner",
            _bigbio("anat_em", "anat_em_bigbio_kb", "en/anatem"),
            BIOCLINICAL_NER,
            512,
            "f1_macro_strict",
        ),
        _task(
            "en/bc5cdr",
            "BC5CDR",
            "ner",
            _bigbio("bc5cdr", "bc5cdr_bigbio_kb", "en/bc5cdr"),
            BIOCLINICAL_NER,
            512,
            "f1_macro_strict",
            ("Chemical", "Disease"),
        ),
        _task(
            "en/jnlpba",
            "JNLPBA",
            "ner",
            DataSource(
                format="hub-tokens",
                hub_id="jnlpba/jnlpba",
                splits={"train": "train", "test": "validation"},
                columns={"tokens": "tokens", "tags": "ner_tags"},
                local_format="conll",
                note="Parquet on the Hub (train + validation): validation is the test set, dev is 10% of train.",
            ),
            BIOCLINICAL_NER,
            512,
            "f1_macro_strict",
            ("DNA", "RNA", "cell_line", "cell_type", "protein"),
        ),
        _task(
            "en/ncbi-disease",
            "NCBI-disease",
            "ner",
            DataSource(
                format="hub-tokens",
                hub_id="ncbi/ncbi_disease",
                columns={"tokens": "tokens", "tags": "ner_tags"},
                local_format="conll",
                note="Parquet on the Hub.",
            ),
            BIOCLINICAL_NER,
            512,
            "f1_macro_strict",
            ("Disease",),
        ),
        _task(
            "en/gad",
            "GAD",
            "single_label",
            _bigbio("gad", "gad_fold0_bigbio_text", "en/gad", "hub-text", {"text": "text", "labels": "labels"}),
            BIOCLINICAL_CLS,
            512,
            "f1_macro",
        ),
        _task(
            "en/hoc",
            "HoC",
            "multi_label",
            _bigbio(
                "hallmarks_of_cancer",
                "hallmarks_of_cancer_bigbio_text",
                "en/hoc",
                "hub-text",
                {"text": "text", "labels": "labels"},
            ),
            BIOCLINICAL_CLS,
            512,
            "f1_macro",
        ),
        # --- bundled fixtures (tests, bench, demo) ------------------------------------------------------------------
        _task(
            "fixtures/ner-bio",
            "Fixture NER (BIO)",
            "ner",
            DataSource(format="conll", package_path="fixtures/ner_bio", local_format="conll"),
            FIXTURE,
            64,
            "f1_micro_strict",
        ),
        _task(
            "fixtures/ner-span",
            "Fixture NER (span head)",
            "ner",
            DataSource(format="conll", package_path="fixtures/ner_bio", local_format="conll"),
            FIXTURE_SPAN,
            64,
            "f1_micro_strict",
        ),
        _task(
            "fixtures/ner-brat",
            "Fixture NER (BRAT)",
            "ner",
            DataSource(format="brat", package_path="fixtures/ner_brat", local_format="brat"),
            FIXTURE,
            64,
            "f1_micro_strict",
        ),
        _task(
            "fixtures/cls-single",
            "Fixture single-label",
            "single_label",
            DataSource(format="table", package_path="fixtures/cls_single"),
            FIXTURE,
            64,
            "f1_macro",
        ),
        _task(
            "fixtures/cls-multi",
            "Fixture multi-label",
            "multi_label",
            DataSource(format="table", package_path="fixtures/cls_multi"),
            FIXTURE,
            64,
            "f1_macro",
        ),
    ]
)

SUITES: dict[str, tuple[str, ...]] = {
    "fr": tuple(k for k in TASKS if k.startswith("fr/")),
    "cbio": tuple(k for k in TASKS if k.startswith("cbio/")),
    "en": tuple(k for k in TASKS if k.startswith("en/")),
    "fixtures": tuple(k for k in TASKS if k.startswith("fixtures/")),
    "demo": ("fixtures/ner-bio", "fixtures/cls-single"),
}
"""Suites: ``fr`` (CLM detour, 8 tasks), ``cbio`` (CamemBERT-bio, 5), ``en`` (BioClinical-ModernBERT, 11),
``fixtures`` (bundled smoke tasks), ``demo`` (what ``biomed demo`` runs)."""

SUITE_TITLES: dict[str, str] = {
    "fr": "French biomedical suite (CLM detour)",
    "cbio": "French biomedical NER suite (CamemBERT-bio)",
    "en": "English biomedical and clinical suite (BioClinical-ModernBERT protocol)",
    "fixtures": "Bundled fixtures",
    "demo": "Bundled fixtures",
}


def suite_of(task: str) -> str:
    """The suite a task key belongs to (its prefix)."""
    return task.split("/", 1)[0]
