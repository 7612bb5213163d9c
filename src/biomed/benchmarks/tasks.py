"""The evaluation task table: one ``TaskSpec`` per task, grouped in suites, with each paper's protocol.

Example::

    from biomed.benchmarks.tasks import SUITES, TASKS

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

from biomed.benchmarks.bioclinical import DEID_TYPES


TaskKind = Literal["ner", "single_label", "multi_label"]

PARQUET_REVISION = "refs/convert/parquet"
"""Branch where the Hub's dataset viewer stores a Parquet export of script-based datasets."""


@dataclass(frozen=True)
class SpanHead:
    """Sizes of the span NER head, as tabib's ``configs/base/ner_span_bert.yaml`` sets them (lines 9-21).

    Attributes:
        lstm_layers: stacked BiLSTM layers, each with a residual gate and layer norm (tabib ``lstm_num_layers: 3``).
        lstm_width: output width of each BiLSTM layer, both directions together (tabib ``lstm_hidden_size: 400``,
            ``hidden_size // 2`` per direction in ``models/bert_span_ner.py``).
        biaffine_size: width of the biaffine start/end projections (tabib ``biaffine_hidden_size: 64``).
        max_width: longest span proposed, in words (tabib ``max_span_length: 40``, in sub-tokens there).
        dropout: dropout of the contextualiser and scorers (tabib ``dropout: 0.4``).
    """

    lstm_layers: int = 3
    lstm_width: int = 400
    biaffine_size: int = 64
    max_width: int = 40
    dropout: float = 0.4


@dataclass(frozen=True)
class Protocol:
    """Fine-tuning hyper-parameters of one paper's protocol (shared by the tasks of a suite).

    Attributes:
        paper: which paper the protocol reproduces.
        head: ``auto`` (the model's own ``AutoModelForSequenceClassification`` / ``AutoModelForTokenClassification``:
            its pooling and head, what tabib and the BioClinical-ModernBERT code fine-tune), ``linear`` (a bare linear
            layer on the first token / first sub-token of each word) or ``span`` (BiLSTM + CRF + biaffine span
            scorer over first sub-tokens, the CLM-detour NER head).
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
        multi_label_fallback: when no label passes the 0.5 threshold, predict the most probable one (tabib).
        max_grad_norm: gradient clipping norm.
        span: sizes of the span head (``head="span"`` only).
        add_prefix_space: a byte-level BPE tokenizer (ModernBERT, RoBERTa) puts a space before every word, the first
            included, as ``AutoTokenizer.from_pretrained(..., add_prefix_space=True)`` did in transformers 4.
    """

    paper: str
    head: Literal["auto", "linear", "span"] = "auto"
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
    multi_label_fallback: bool = False
    max_grad_norm: float = 1.0
    span: SpanHead | None = None
    add_prefix_space: bool = False


@dataclass(frozen=True)
class DataSource:
    """Where a task's data comes from and how to read it.

    Attributes:
        format: ``hub-tokens`` (a Hub dataset with word and tag columns), ``hub-kb`` (BigBio KB schema: passages
            and entity offsets), ``hub-spans`` (documents with character-offset entities, tabib's Hub copies of its
            BRAT corpora: ``text`` and ``entities`` of ``start``/``end``/``label``), ``hub-text`` (text and label
            columns), ``conll`` (BIO files), ``brat`` (standoff
            ``.txt``/``.ann`` folders), ``table`` (local JSONL/JSON/Parquet/CSV/TSV with text and label columns).
        hub_id: Hub dataset id, when the data is public on the Hub.
        config: Hub dataset configuration.
        revision: Hub revision; ``refs/convert/parquet`` for script-only datasets.
        splits: our split name (train/dev/test) -> the dataset's split name; a missing ``dev`` is carved from train.
        columns: our field (tokens/tags/text/labels) -> the dataset's column.
        local_format: format of a local copy given with ``data_paths``/``data_dir``: ``conll``, ``brat``, ``table``,
            a raw English clinical corpus split as BioClinical-ModernBERT does (``physionet-deid``,
            ``cos-snippets``, ``social-history``: see ``biomed.benchmarks.bioclinical``), or a French coded corpus
            built into a document-level multi-label task as tabib builds it (``fracco``, ``frasimed-cantemist``,
            ``frasimed-distemist``: see ``biomed.benchmarks.doc_codes``).
        top_k: the coded corpora's number of most frequent codes kept (tabib's ``top_k``).
        tag_names: names of a ``hub-tokens`` tag column's integer ids when the column carries none (no
            ``ClassLabel``).
        nested: the data keeps nested (and crossing) entities: NER records carry every entity as a word span
            (``spans``), the span head trains on and predicts nested spans, and the task is scored on exact
            (start, end, type) span matches (``biomed.eval.metrics.span_scores``).
        package_path: folder inside ``biomed.benchmarks`` holding bundled data (fixtures).
        access: ``None`` for public data, else where to obtain it (data-use agreement, credentialed access).
        note: how the kit reads it and anything a user must know (Parquet conversion, preprocessing).
    """

    format: Literal[
        "hub-tokens",
        "hub-kb",
        "hub-text",
        "hub-spans",
        "conll",
        "brat",
        "table",
        "fracco",
        "frasimed-cantemist",
        "frasimed-distemist",
    ]
    hub_id: str | None = None
    config: str | None = None
    revision: str | None = None
    splits: dict[str, str] = field(default_factory=lambda: {"train": "train", "dev": "validation", "test": "test"})
    columns: dict[str, str] = field(default_factory=dict)
    local_format: Literal[
        "conll",
        "brat",
        "table",
        "physionet-deid",
        "cos-snippets",
        "social-history",
        "fracco",
        "frasimed-cantemist",
        "frasimed-distemist",
    ] = "table"
    package_path: str | None = None
    access: str | None = None
    note: str = ""
    top_k: int | None = None
    tag_names: tuple[str, ...] = ()
    nested: bool = False


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
        metric: the protocol's headline metric (see ``biomed.eval.metrics.METRIC_LABELS``): the report's column.
        labels: entity types (NER) or class names; empty = read from the training split.
        selection_metric: the dev metric that picks the checkpoint; ``None`` = ``metric``.
        also: other metrics the report shows beside the headline, each named.
    """

    name: str
    title: str
    kind: TaskKind
    source: DataSource
    protocol: Protocol
    max_length: int
    metric: str
    labels: tuple[str, ...] = ()
    selection_metric: str | None = None
    also: tuple[str, ...] = ()

    @property
    def dev_metric(self) -> str:
        """The metric that selects the checkpoint on dev."""
        return self.selection_metric or self.metric

    @property
    def suite(self) -> str:
        return self.name.split("/", 1)[0]

    @property
    def short_name(self) -> str:
        return self.name.split("/", 1)[1]


# --- protocols ----------------------------------------------------------------------------------------------------
# Every value names its source; docs/fidelity.md lists them with the choices made where sources disagree.
# tabib = github.com/Rian-T/tabib (the CLM-detour and CamemBERT-bio evaluation code); BCM =
# github.com/lindvalllab/BioClinical-ModernBERT; ch4/ch5/ch2 = thesis chapters (github.com/Rian-T/thesis).

DETOUR_CLS = Protocol(
    paper="CLM detour (ModernCamemBERT-bio)",
    head="auto",  # AutoModelForSequenceClassification: tabib bert_text_cls.py l.72, bert_multilabel_cls.py l.157
    learning_rate=2e-5,  # tabib configs/base/cls_bert.yaml l.12, multilabel_bert_4096.yaml l.12; ch5 l.117
    batch_size=4,  # same files l.10
    epochs=15,  # same files l.9; no early stopping in either
    warmup=0.1,  # same files l.13
    weight_decay=0.01,  # same files l.14
    seeds=9,  # ch5 l.124 (tabib's configs run 3-5 seeds; the published tables use 9)
    multi_label_loss="weighted_bce",  # tabib bert_multilabel_cls.py l.45-100: pos_weight = negatives / positives
    multi_label_fallback=True,  # tabib tasks/multilabel.py l.89-93: an example with no label gets its top one
)
DETOUR_NER = Protocol(
    paper="CLM detour (ModernCamemBERT-bio)",
    head="span",  # tabib configs/base/ner_span_bert.yaml (model bert_span_ner); ch5 l.117
    learning_rate=5e-5,  # tabib ner_span_bert.yaml l.29 (bert_learning_rate)
    head_learning_rate=1e-3,  # l.28
    batch_size=16,  # l.26
    max_steps=4000,  # l.25
    warmup=0.1,  # l.30
    weight_decay=0.01,  # l.32
    seeds=9,  # ch5 l.124
    eval_steps=500,  # l.35
    max_grad_norm=10.0,  # l.31 (gradient_clip)
    span=SpanHead(),  # l.9-21
)
CAMEMBERT_BIO = Protocol(
    paper="CamemBERT-bio",
    # "a simple linear layer on top" (ch4 l.43): AutoModelForTokenClassification (tabib models/bert_token_ner.py l.97)
    head="auto",
    learning_rate=5e-5,  # ch4 l.43; tabib configs/base/ner_token_bert.yaml l.12
    batch_size=16,  # ch4 l.43; ner_token_bert.yaml l.10
    max_steps=2000,  # ch4 l.43; ner_token_bert.yaml l.9
    warmup=0.224,  # ch4 l.43; ner_token_bert.yaml l.13
    weight_decay=0.01,  # ner_token_bert.yaml l.14 (ch4 is silent)
    seeds=10,  # ch4 l.45
    eval_steps=100,  # ner_token_bert.yaml l.16 (ch4: "best fine-tuned model on the validation set")
)
# BCM's code takes epochs from its command line (main.py l.134, default 3) and has no early stopping; the thesis
# states the protocol twice: ch2 l.309 (10 epochs clinical tasks, 20 biomedical, patience 3) and ch5 l.119 (10
# epochs, 20 for NER, no patience). The kit follows ch2: both chapters' tables share the same baseline rows
# (ch2 l.428-429 and l.466-467 = ch5 l.215 and l.217), so one protocol produced them, and ch2 is the complete one.
BIOCLINICAL_CLINICAL = Protocol(
    paper="BioClinical-ModernBERT",
    head="auto",  # BCM src/tasks/sequence_classification.py l.21, token_classification.py l.22
    learning_rate=5e-5,  # ch5 l.119 (BCM's command-line default is 2e-5, main.py l.132)
    batch_size=16,  # ch5 l.119; BCM main.py l.136
    epochs=10,  # ch2 l.309: clinical tasks
    warmup=0.0,  # BCM TrainingArguments without warm-up (sequence_classification.py l.52-62)
    weight_decay=0.01,  # ch5 l.119; BCM main.py l.133
    seeds=5,  # ch5 l.124; BCM scripts/run_parallel.sh l.16 (42-46)
    early_stopping_patience=3,  # ch2 l.309
    add_prefix_space=True,  # BCM sequence_classification.py l.20, token_classification.py l.21
)
BIOCLINICAL_BIOMEDICAL = dataclasses.replace(BIOCLINICAL_CLINICAL, epochs=20)  # ch2 l.309: biomedical tasks
FIXTURE = Protocol(
    paper="biomed fixtures (smoke test, not a paper protocol)",
    head="linear",  # tiny config-built encoders: the bare head learns the fixtures fastest
    learning_rate=3e-3,  # tiny config-built models learn the fixtures in a dozen epochs only at a high rate
    batch_size=8,
    epochs=12,
    warmup=0.1,
    weight_decay=0.01,
    seeds=2,
    multi_label_loss="weighted_bce",
)
FIXTURE_SPAN = dataclasses.replace(
    FIXTURE,
    head="span",
    head_learning_rate=5e-3,
    # a small head over a tiny encoder: the fixtures are learnt in a dozen epochs only with little dropout
    span=SpanHead(lstm_layers=1, lstm_width=128, biaffine_size=64, max_width=8, dropout=0.1),
)
FIXTURE_AUTO = dataclasses.replace(FIXTURE, head="auto")

# The BCM protocol's metrics: seqeval's default mode, overall (micro) F1 for NER (src/metrics/metrics.py l.54-75),
# weighted F1 for classification, single- and multi-label (l.18, l.38); checkpoints are selected on the same
# (sequence_classification.py l.58, token_classification.py l.86).
_EN_NER = {"metric": "f1_micro_default", "also": ("f1_micro_strict", "f1_macro_strict")}
_EN_CLS = {"metric": "f1_weighted", "also": ("f1_micro", "f1_macro")}
# The CLM-detour table reports macro F1 (ch5 l.168); tabib selects multi-label checkpoints on micro F1
# (multilabel_bert_4096.yaml l.20) and single-label ones on weighted F1 (cls_bert.yaml l.20, bert_text_cls.py l.106),
# and its single-label task computes no macro F1 at all (tasks/classification.py l.71-75): DiaMED's headline is the
# code's weighted F1, macro beside it. NER: tabib's span model is scored by its span evaluator, exact (start, end,
# type) matches with nested entities, micro (evaluation/span_evaluator.py l.39 `exact_f1`): the number its results
# tables show (benchmark_results/1epoch/*.md, e.g. EMEA 49.82 = mean exact_f1 of the .json, seqeval_f1 gives 48.97).
_FR_MULTI = {"metric": "f1_macro", "selection_metric": "f1_micro", "also": ("f1_micro", "f1_weighted")}
_FR_SINGLE = {"metric": "f1_weighted", "also": ("f1_macro", "accuracy")}
_FR_NER = {"metric": "f1_micro_span", "also": ("f1_macro_span",)}
_CBIO_NER = {"metric": "f1_micro_strict", "also": ("f1_macro_strict", "f1_micro_default")}  # ch4 l.45

# --- sources ------------------------------------------------------------------------------------------------------

_SCRIPT_NOTE = (
    "{hub_id} is a loading script (unsupported since datasets 4): the kit reads the Hub's Parquet conversion "
    "(revision refs/convert/parquet). If that branch is missing, convert once with datasets<4 "
    "(load_dataset('{hub_id}', '{config}', trust_remote_code=True) then .to_parquet per split) and pass the folder "
    "with --set data_paths.{task}=DIR."
)


def _quaero(config: str, task: str) -> DataSource:
    """QUAERO as DrBenchmark's script gives it: one tag per word, nested entities flattened (the cbio suite)."""
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


def _tabib_quaero(corpus: str, task: str) -> DataSource:
    """QUAERO as tabib's span tasks read it: its Hub copy of the BRAT corpus, nested entities kept.

    tabib registers ``emea`` / ``medline`` with ``filter_nested=False`` (src/tabib/__init__.py l.57-58) and loads
    ``rntc/tabib-emea`` / ``rntc/tabib-medline`` (data/emea.py l.9, data/medline.py l.9): documents with character
    offsets, splits train/val/test (data/brat.py l.86-97; scripts/upload_datasets_to_hf.py l.62-73).
    """
    hub_id = f"rntc/tabib-{corpus}"
    return DataSource(
        format="hub-spans",
        hub_id=hub_id,
        splits={"train": "train", "dev": "val", "test": "test"},
        columns={"text": "text", "entities": "entities"},
        local_format="brat",
        nested=True,  # filter_nested=False: the span model trains on, predicts and scores nested entities
        note=f"tabib's copy of the QUAERO {corpus.upper()} BRAT corpus ({hub_id}, Parquet: text and character-offset "
        "entities, nested ones kept). Documents are cut at line and sentence ends (never inside an entity); every "
        "entity is kept as a word span, nested ones included, and scored by exact span match: only the span head "
        "predicts nested spans (a one-tag-per-word head is scored on the spans of its tags). A local copy: "
        f"train/dev/test folders of .txt/.ann files (--set data_paths.{task}=DIR).",
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


def _local(fmt: str, access: str, note: str = "", top_k: int | None = None) -> DataSource:
    return DataSource(format=fmt, local_format=fmt, access=access, note=note, top_k=top_k)


# tabib src/tabib/__init__.py l.36-37, l.74, l.76: fracco_icd_doc_top30/_top100 and
# frasimed_{cantemist,distemist}_doc_top100 (data/fracco.py FRACCODocumentICDAdapter, data/frasimed.py
# FRASIMEDDocumentMultilabelAdapter), rebuilt by biomed.benchmarks.doc_codes
_FRACCO_ACCESS = "the FRACCO corpus (Pignat et al. 2024, ch5 l.117), FRACCO.zip as its authors distribute it"
_FRACCO_NOTE = (
    "Read as tabib reads it: FRACCO/ann_txt_files/*.txt and FRACCO/DetectOnco_Final.csv (expression_CIM codes), the "
    "extracted folder or FRACCO.zip; each document's code set cut to the {k} most frequent codes, documents left "
    "without one dropped, random.Random(42) 80/10/10 split of the sorted document names (biomed.benchmarks.doc_codes)."
)
_FRASIMED_ACCESS = (
    "the FRASIMED corpus (French CANTEMIST and DisTEMIST, Zaghir et al. 2024) as its authors distribute it"
)
_FRASIMED_NOTE = (
    "Read as tabib reads it: FRASIMED/{folder}/*.txt and *.ann, the codes of the '#' notes ({codes}); each document's "
    "code set cut to the 100 most frequent codes, documents left without one dropped, random.Random(42) 80/10/10 "
    "split of the sorted document names (biomed.benchmarks.doc_codes)."
)


_QUAERO_TYPES = ("ANAT", "CHEM", "DEVI", "DISO", "GEOG", "LIVB", "OBJC", "PHEN", "PHYS", "PROC")
_CAS_ACCESS = (
    "the CAS corpus (Grabar, Claveau & Dalloux 2018) is distributed by its authors under a data-use agreement "
    "(see the homepage in the bigbio/cas dataset card); ESSAI likewise (bigbio/essai)"
)
_PHYSIONET = "credentialed access on PhysioNet (physionet.org), after the CITI training and the data-use agreement"
_BIONLP = "the University of Washington BioNLP group's corpus page (depts.washington.edu/bionlp/data/corpora)"
_BIOCLINICAL_NOTE = "Preprocessing and splits follow the BioClinical-ModernBERT code (src/dataloader/dataloader.py)."


def _task(
    name: str,
    title: str,
    kind: TaskKind,
    source: DataSource,
    protocol: Protocol,
    max_length: int,
    metric: str | dict,
    labels: tuple[str, ...] = (),
) -> tuple[str, TaskSpec]:
    """One table entry; ``metric`` is a key or ``{"metric", "selection_metric", "also"}``."""
    spec = {"metric": metric} if isinstance(metric, str) else metric
    return name, TaskSpec(name, title, kind, source, protocol, max_length, labels=labels, **spec)


TASKS: dict[str, TaskSpec] = dict(
    [
        # --- French, CLM detour (ModernCamemBERT-bio): 6 classification tasks + 2 NER, 9 seeds ---------------------
        _task(
            "fr/fracco-30",
            "FrACCO-30",
            "multi_label",
            _local("fracco", _FRACCO_ACCESS, _FRACCO_NOTE.format(k=30), top_k=30),  # tabib fracco_icd_doc_top30
            DETOUR_CLS,
            4096,
            _FR_MULTI,
        ),
        _task(
            "fr/fracco-100",
            "FrACCO-100",
            "multi_label",
            _local("fracco", _FRACCO_ACCESS, _FRACCO_NOTE.format(k=100), top_k=100),  # tabib fracco_icd_doc_top100
            DETOUR_CLS,
            4096,
            _FR_MULTI,
        ),
        _task(
            "fr/cantemist",
            "CANTEMIST (fr)",
            "multi_label",
            _local(  # tabib frasimed_cantemist_doc_top100
                "frasimed-cantemist",
                _FRASIMED_ACCESS,
                _FRASIMED_NOTE.format(folder="CANTEMIST-FRASIMED", codes="ICD-O-3.1"),
                top_k=100,
            ),
            DETOUR_CLS,
            4096,
            _FR_MULTI,
        ),
        _task(
            "fr/distemist",
            "DisTEMIST (fr)",
            "multi_label",
            _local(  # tabib frasimed_distemist_doc_top100
                "frasimed-distemist",
                _FRASIMED_ACCESS,
                _FRASIMED_NOTE.format(folder="DISTEMIST-FRASIMED", codes="SNOMED CT"),
                top_k=100,
            ),
            DETOUR_CLS,
            4096,
            _FR_MULTI,
        ),
        _task(
            "fr/meddialog",
            "MedDialog-FR",
            "multi_label",  # ch5 l.117 and tab:eval-tasks l.136; tabib data/meddialog.py (22 UMLS CUI labels)
            DataSource(
                format="hub-text",
                hub_id="rntc/tabib-meddialog-fr",  # tabib data/meddialog.py l.21, l.100
                # tabib reads data/{train,val,test}-00000-of-00001.parquet (data/meddialog.py l.36-48); `datasets`
                # names a val-* file's split "validation", the default mapping of dev
                columns={"text": "text", "labels": "labels_raw"},
                local_format="table",
                note="MedDialog-FR women subset as tabib reads it: question and answer joined as "
                "'Question: …\\n\\nRéponse: …', labels = UMLS CUIs (tabib src/tabib/data/meddialog.py). The Hub "
                "copy was not checked by the kit's authors; a local folder of train/dev/test tables with text and "
                "labels_raw columns works too.",
            ),
            DETOUR_CLS,
            4096,  # ch5 l.117: multi-label tasks at 4096; tabib configs/base/multilabel_bert_4096.yaml l.24
            _FR_MULTI,
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
            _FR_SINGLE,
        ),
        _task(
            "fr/quaero-emea",
            "QUAERO EMEA",
            "ner",
            _tabib_quaero("emea", "fr/quaero-emea"),
            DETOUR_NER,
            1024,
            _FR_NER,
            _QUAERO_TYPES,
        ),
        _task(
            "fr/quaero-medline",
            "QUAERO MEDLINE",
            "ner",
            _tabib_quaero("medline", "fr/quaero-medline"),
            DETOUR_NER,
            1024,
            _FR_NER,
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
            _CBIO_NER,
        ),
        _task(
            "cbio/cas2",
            "CAS2",
            "ner",
            _local("brat", _CAS_ACCESS, "CamemBERT-bio's CAS2 annotation layer; entity types are read from the data."),
            CAMEMBERT_BIO,
            512,
            _CBIO_NER,
        ),
        _task(
            "cbio/e3c",
            "E3C",
            "ner",
            DataSource(
                format="hub-tokens",
                hub_id="rntc/legacy_e3c",  # tabib data/e3c.py l.36; INFO.md l.49
                # layer 2 (manual) trains and validates, layer 1 tests: tabib data/e3c.py l.38-45; ch4 l.39
                splits={"train": "fr.layer2", "dev": "fr.layer2.validation", "test": "fr.layer1"},
                columns={"tokens": "tokens", "tags": "clinical_entity_tags"},
                tag_names=("O", "B-CLINENTITY", "I-CLINENTITY"),  # tabib data/e3c_token.py l.20: 0=O, 1=B, 2=I
                local_format="conll",
                note="The French E3C clinical-entity annotations as tabib reads them (rntc/legacy_e3c, Parquet): "
                "train fr.layer2, dev fr.layer2.validation, test fr.layer1. The original corpus is also on the "
                "European Language Grid.",
            ),
            CAMEMBERT_BIO,
            512,
            _CBIO_NER,
            ("CLINENTITY",),  # tabib data/e3c_token.py l.17
        ),
        _task(
            "cbio/emea",
            "EMEA",
            "ner",
            _quaero("emea", "cbio/emea"),
            CAMEMBERT_BIO,
            512,
            _CBIO_NER,
            _QUAERO_TYPES,
        ),
        _task(
            "cbio/medline",
            "MEDLINE",
            "ner",
            _quaero("medline", "cbio/medline"),
            CAMEMBERT_BIO,
            512,
            _CBIO_NER,
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
                "BLUE benchmark's ChemProt (github.com/ncbi-nlp/BLUE_Benchmark, release 0.1 bert_data.zip): the "
                "ChemProt folder's train/dev/test.tsv with sentence and label columns, as BioClinical-ModernBERT "
                "reads "
                "them (README l.64, dataloader.py l.110-147). " + _BIOCLINICAL_NOTE,
            ),
            BIOCLINICAL_CLINICAL,
            512,
            _EN_CLS,
            ("CPR:3", "CPR:4", "CPR:5", "CPR:6", "CPR:9", "false"),
        ),
        _task(
            "en/phenotype",
            "Phenotype",
            "multi_label",
            _local(
                "table",
                _PHYSIONET + " (phenotype-annotations-mimic 1.20.03 and MIMIC-III 1.4 NOTEEVENTS.csv)",
                "Notes joined to ACTdb102003.csv on ROW_ID; rows with NONE=1 and a phenotype are dropped, NONE "
                "rows have no label; 80/20 then 12.5 % of the rest as dev, seed 42 (dataloader.py l.41-87). Give "
                "the three splits as tables with text and labels columns. " + _BIOCLINICAL_NOTE,
            ),
            BIOCLINICAL_CLINICAL,
            8192,
            _EN_CLS,
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
                "cos-snippets",
                _BIONLP + ": events-COS-corpus.zip",
                "Unpack the zip into the task folder (its .ann files): Snippet spans are the examples, "
                "Cos/Ref/Loc/Attr/Val the entities; split 70/15/15 with seed 42 as BioClinical-ModernBERT "
                "(README l.66, dataloader.py l.378-506). Not PhysioNet data. " + _BIOCLINICAL_NOTE,
            ),
            BIOCLINICAL_CLINICAL,
            512,
            _EN_NER,
        ),
        _task(
            "en/social-history",
            "Social History",
            "ner",
            _local(
                "social-history",
                _BIONLP + ": SocialHistoryMTSamples.zip",
                "Unpack the zip into the task folder (.txt/.ann pairs of MTSamples notes): one example per note, "
                "whitespace tokens, split 70/15/15 with seed 42 as BioClinical-ModernBERT (README l.67, "
                "dataloader.py l.509-627). Not MIMIC data. " + _BIOCLINICAL_NOTE,
            ),
            BIOCLINICAL_CLINICAL,
            512,
            _EN_NER,
        ),
        _task(
            "en/deid",
            "DEID",
            "ner",
            _local(
                "physionet-deid",
                _PHYSIONET + " (Deidentified Medical Text 1.0, physionet.org/content/deidentifiedmedicaltext/1.0/)",
                "Not the i2b2/n2c2 2014 corpus: BioClinical-ModernBERT evaluates on PhysioNet's Deidentified Medical "
                "Text (README l.65; the released model's card names it too). Put id.text and id.res in the task "
                "folder; PHI types age/date/location/name/other/phone_nb from the masks, split 70/15/15 with "
                "random_state 42 (dataloader.py l.150-217). " + _BIOCLINICAL_NOTE,
            ),
            BIOCLINICAL_CLINICAL,
            8192,
            _EN_NER,
            DEID_TYPES,
        ),
        _task(
            "en/anatem",
            "AnatEM",
            "ner",
            _bigbio("anat_em", "anat_em_bigbio_kb", "en/anatem"),
            BIOCLINICAL_BIOMEDICAL,
            512,
            _EN_NER,
        ),
        _task(
            "en/bc5cdr",
            "BC5CDR",
            "ner",
            _bigbio("bc5cdr", "bc5cdr_bigbio_kb", "en/bc5cdr"),
            BIOCLINICAL_BIOMEDICAL,
            512,
            _EN_NER,
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
            BIOCLINICAL_BIOMEDICAL,
            512,
            _EN_NER,
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
            BIOCLINICAL_BIOMEDICAL,
            512,
            _EN_NER,
            ("Disease",),
        ),
        _task(
            "en/gad",
            "GAD",
            "single_label",
            _bigbio("gad", "gad_fold0_bigbio_text", "en/gad", "hub-text", {"text": "text", "labels": "labels"}),
            BIOCLINICAL_BIOMEDICAL,
            512,
            _EN_CLS,
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
            BIOCLINICAL_BIOMEDICAL,
            512,
            _EN_CLS,
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
