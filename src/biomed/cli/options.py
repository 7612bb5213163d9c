"""Every option and argument of the CLI, declared once, and the config-resolution helpers the commands call.

As the ``hf`` CLI declares its shared options: an ``Annotated`` alias per option, with its flag and help; first
those several commands share (``--config``, ``--set``, ``--dry-run``, ``--out``, ``--overwrite``, ``--workers``,
``--revision``, ``--tag``, ``--private``, ``--force``, ``--yes``), then each command's own, in pipeline order. The
command modules import this one as ``opt`` and read as their signatures: ``out: opt.OutOpt = None``.

A command passes its flags to :func:`resolve` as given (``None`` = not given, paths as ``Path``) keyed by config
field; defaults live in the config dataclasses only, so help texts do not repeat them: ``--dry-run`` prints every
resolved value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="YAML recipe with the stage's config keys (see recipes/).", show_default=False
    ),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set", help="Override one config key, KEY=VALUE (dotted keys for sections); repeatable; wins over --config."
    ),
]
DryRunOpt = Annotated[
    bool,
    typer.Option("--dry-run", help="Print the resolved config (every default included) and exit without running."),
]
WorkersOpt = Annotated[
    int | None,
    typer.Option(
        "--workers", "-w", help="Tasks run in parallel (processes); -1: all tasks at once.", show_default=False
    ),
]
OverwriteOpt = Annotated[
    bool,
    typer.Option(
        "--overwrite",
        help="Start afresh in an --out that holds another run (other settings, input or stage): its content is "
        "deleted. Without it such a folder is refused; the same run is resumed.",
    ),
]
WaitOpt = Annotated[
    bool,
    typer.Option(
        "--wait",
        help="Wait instead of stopping: for an input folder that is a kit run still being written (a run killed "
        "part-way is refused either way: rerun it first), and on a cluster for this run's jobs (those submitted "
        "now, or an earlier submission's still queued). Without it a Slurm run returns once submitted, and a rerun "
        "while its jobs are queued stops (exit 2) without submitting or deleting anything.",
    ),
]

# --- shared by several commands, declared once (as the `hf` CLI declares its shared options) -------------------------
OutOpt = Annotated[
    Path | None,
    typer.Option("--out", "-o", help="Output folder (what it holds: see above).", show_default=False),
]
RevisionOpt = Annotated[
    str | None,
    typer.Option(
        "--revision",
        help="Branch to publish to, created if missing (default: main), e.g. step-2000 for a checkpoint.",
        show_default=False,
    ),
]
TagOpt = Annotated[str | None, typer.Option("--tag", help="Tag the published commit, e.g. v1.0.", show_default=False)]
PrivateOpt = Annotated[
    bool | None,
    typer.Option(
        "--private", help="Create the repository private (a public one is never changed).", show_default=False
    ),
]
ForceOpt = Annotated[
    bool | None,
    typer.Option("--force", help="Move --tag if it exists on another commit (refused otherwise).", show_default=False),
]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Publish without asking for confirmation.")]
RepoIdArg = Annotated[str, typer.Argument(help="Hub repository, namespace/name (created if missing).")]


# --- extract ---------------------------------------------------------------------------------------------------------
ExtractInputsArg = Annotated[
    list[Path] | None,
    typer.Argument(
        help="Folders of .xml/.nxml articles and/or PMC OA bulk packages (.tar.gz, read as a stream). "
        "Default: the embedded sample.",
        show_default=False,
    ),
]
ExtractFileListOpt = Annotated[
    Path | None,
    typer.Option(
        "--file-list",
        help="PMC OA file list CSV (Accession ID, PMID, License columns); its licence wins over the article's.",
        show_default=False,
    ),
]
MinTokensOpt = Annotated[
    int | None,
    typer.Option(
        "--min-tokens",
        help="Drop paragraphs shorter than this many tokens (whitespace words).",
        show_default=False,
    ),
]
ExtractTasksOpt = Annotated[
    int | None,
    typer.Option(
        "--tasks",
        help="Number of tasks, each writing its own shards (a new one every max_shard_bytes); 0 = one per worker.",
        show_default=False,
    ),
]

# --- annotate --------------------------------------------------------------------------------------------------------
AnnotateInputDirArg = Annotated[
    Path | None,
    typer.Argument(help="Output folder of `biomed data extract` (its data/*.parquet).", show_default=False),
]
EndpointOpt = Annotated[
    str | None,
    typer.Option(
        "--endpoint",
        help="LLM server URL: TGI (http://host:8080), vLLM (http://host:8000/v1) or any OpenAI-compatible "
        "base URL. Without it, Hugging Face Inference Providers (needs a token).",
        show_default=False,
    ),
]
LlmModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        help="Model name sent to the server.",
        show_default=False,
    ),
]
ApiOpt = Annotated[
    str | None,
    typer.Option(
        "--api",
        help="chat (OpenAI-compatible chat completions) or generate (TGI's raw /generate route).",
        show_default=False,
    ),
]
SampleSizeOpt = Annotated[
    int | None,
    typer.Option("--n", help="Paragraphs to sample (all if fewer).", show_default=False),
]
AnnotateSeedOpt = Annotated[
    int | None,
    typer.Option("--seed", help="Seed of the sample: same seed, same shards, same sample.", show_default=False),
]
StratifyByOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--stratify-by",
        help="Sample each value of this column separately: license_group, article_type or language; repeatable.",
        show_default=False,
    ),
]
MaxConcurrencyOpt = Annotated[
    int | None,
    typer.Option("--max-concurrency", help="Requests in flight at once.", show_default=False),
]
TimeoutOpt = Annotated[
    float | None,
    typer.Option("--timeout", help="Seconds to wait for one response before retrying.", show_default=False),
]
PromptOpt = Annotated[
    str | None,
    typer.Option("--prompt", help="Shipped prompt name or a YAML prompt file.", show_default=False),
]
GoldOpt = Annotated[
    str | None,
    typer.Option(
        "--gold",
        help="Gold labels JSONL to report agreement with (accuracy, macro F1, kappa, confusion); "
        "'sample' = the embedded sample's labels.",
        show_default=False,
    ),
]
TokenEnvOpt = Annotated[
    str | None,
    typer.Option(
        "--token-env",
        help="Environment variable holding the endpoint's API token (e.g. OPENAI_API_KEY); default: the "
        "Hugging Face token, sent to Hugging Face only. Never sent over plain http to another machine, "
        "never printed or saved.",
        show_default=False,
    ),
]
AnnotateDryRunOpt = Annotated[
    bool,
    typer.Option(
        "--dry-run",
        help="Print the resolved config, the rendered prompt of a few paragraphs and the "
        "token and cost estimate; send nothing.",
    ),
]

# --- build -----------------------------------------------------------------------------------------------------------
BuildInputDirArg = Annotated[
    Path | None,
    typer.Argument(
        help="Scored shards (the output folder of `biomed data classify score`), or a copy of the published "
        "almanach/Biomed-Enriched (its data/commercial-*.parquet, data/noncommercial-*.parquet).",
        show_default=False,
    ),
]
OnlyOpt = Annotated[
    list[str] | None,
    typer.Option("--only", help="Build only this config (a variant or subset name); repeatable.", show_default=False),
]
BuildSeedOpt = Annotated[
    int | None,
    typer.Option("--seed", help="Seed of the fractional upsampling draws.", show_default=False),
]
BuildConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Build recipe: the variants and subsets, thresholds, factors, prefix, card text. "
        "Default: recipes/build/biomed-enriched.yaml (the paper's release).",
        show_default=False,
    ),
]

# --- rehydrate -------------------------------------------------------------------------------------------------------
DatasetArg = Annotated[
    Path | None,
    typer.Argument(
        help="Dataset folder: a release built by this kit, or the published Biomed-Enriched (article_id, path).",
        show_default=False,
    ),
]
PmcXmlOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--pmc-xml",
        help="Your PMC-OA copy: a folder of .xml/.nxml files or of bulk .tar.gz packages; repeatable.",
        show_default=False,
    ),
]
RehydrateFileListOpt = Annotated[
    Path | None,
    typer.Option(
        "--file-list",
        help="PMC OA file list CSV, to find articles whose XML lacks the PMID by their PMCID.",
        show_default=False,
    ),
]
FillChangedOpt = Annotated[
    bool | None,
    typer.Option(
        "--fill-changed",
        help="Also fill the rows of changed articles whose text still matches the release's record (default: "
        "leave every row of a changed article empty and report it).",
        show_default=False,
    ),
]

# --- classify train --------------------------------------------------------------------------------------------------
AnnotationsArg = Annotated[
    Path | None,
    typer.Argument(
        help="annotations.parquet of `biomed data annotate` (status=ok rows are used), or a gold-label .jsonl.",
        show_default=False,
    ),
]
ParagraphsOpt = Annotated[
    Path | None,
    typer.Option(
        "--paragraphs",
        help="Extraction output folder, to look up the text of labelled rows that have none (gold labels).",
        show_default=False,
    ),
]
BackboneOpt = Annotated[
    str | None,
    typer.Option(
        "--backbone",
        help="Encoder to fine-tune: a Hub id or a local folder.",
        show_default=False,
    ),
]
ClassifyTrainMaxLengthOpt = Annotated[
    int | None,
    typer.Option("--max-length", help="Truncate paragraphs to this many tokens.", show_default=False),
]
ClassifierVersionOpt = Annotated[
    str | None,
    typer.Option(
        "--version",
        help="Classifier version recorded in the checkpoint, its card and every scored row "
        "(default: derived from the backbone and a hash of the config and training data).",
        show_default=False,
    ),
]

# --- classify score --------------------------------------------------------------------------------------------------
ClassifyScoreInputsArg = Annotated[
    Path | None,
    typer.Argument(help="Extraction output folder of `biomed data extract` (its data/*.parquet).", show_default=False),
]
ClassifierOpt = Annotated[
    str | None,
    typer.Option(
        "--classifier",
        help="Checkpoint folder of `biomed data classify train` (or its Hub id).",
        show_default=False,
    ),
]
BatchSizeOpt = Annotated[
    int | None,
    typer.Option("--batch-size", help="Most paragraphs per batch.", show_default=False),
]
MaxBatchTokensOpt = Annotated[
    int | None,
    typer.Option(
        "--max-batch-tokens",
        help="Most padded tokens per batch (default: 2048 on CPU, 131072 on GPU).",
        show_default=False,
    ),
]
ClassifyScoreMaxLengthOpt = Annotated[
    int | None,
    typer.Option(
        "--max-length",
        help="Truncate paragraphs to this many tokens (default: the classifier's training length).",
        show_default=False,
    ),
]
DeviceOpt = Annotated[
    str | None,
    typer.Option("--device", help="auto, cpu, cuda or cuda:N.", show_default=False),
]
DtypeOpt = Annotated[
    str | None,
    typer.Option(
        "--dtype",
        help="auto (bfloat16/float16 on GPU; bfloat16 on a CPU with AVX512-BF16/AMX, else float32), float32, "
        "bfloat16 or float16.",
        show_default=False,
    ),
]
ClassifyScoreTasksOpt = Annotated[
    int | None,
    typer.Option(
        "--tasks",
        help="Datatrove tasks, each scoring every N-th shard with one model load; 0 = one per worker.",
        show_default=False,
    ),
]

# --- eval run --------------------------------------------------------------------------------------------------------
ModelArg = Annotated[
    str | None,
    typer.Argument(help="Checkpoint folder or Hub id of the encoder (with a fast tokenizer).", show_default=False),
]
SuiteOpt = Annotated[
    str | None,
    typer.Option(
        "--suite",
        "-s",
        help="Task suite: fr (CLM detour, 8 tasks), cbio (CamemBERT-bio, 5), en (BioClinical-ModernBERT, 11), "
        "fixtures or demo (bundled).",
        show_default=False,
    ),
]
EvalRunTaskOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--task", "-t", help="A task key such as cbio/emea (repeatable; adds to --suite).", show_default=False
    ),
]
SeedsOpt = Annotated[
    int | None,
    typer.Option("--seeds", help="Runs per task (default: the protocol's 9, 10 or 5).", show_default=False),
]
NameOpt = Annotated[
    str | None,
    typer.Option("--name", help="Model name in results and reports (default: folder name).", show_default=False),
]
EvalRunDataDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Folder with one sub-folder per task (e.g. cas1/) for data behind agreements or local copies.",
        show_default=False,
    ),
]
EvalRunMaxLengthOpt = Annotated[
    int | None,
    typer.Option("--max-length", help="Cap every task's maximum length (sub-tokens).", show_default=False),
]
LimitOpt = Annotated[
    int | None,
    typer.Option(
        "--limit",
        help="At most this many examples per split or task (smoke runs only: not the paper's scores).",
        show_default=False,
    ),
]

# --- eval report -----------------------------------------------------------------------------------------------------
RunsArg = Annotated[
    list[Path] | None,
    typer.Argument(help="Output folders of `biomed eval run`, one per model, in display order.", show_default=False),
]
ReferenceOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--reference",
        "-r",
        help="Add the papers' published rows of a suite: fr, cbio, en (repeatable).",
        show_default=False,
    ),
]
BootstrapOpt = Annotated[
    bool | None,
    typer.Option(
        "--bootstrap", help="Paired bootstrap test of the first model against each other one.", show_default=False
    ),
]
EvalReportCardOpt = Annotated[
    Path | None,
    typer.Option(
        "--card",
        help="Also write the first model's results as model-index entries into this model card (README.md; "
        "beside a card.json, there too, so that push-model publishes them).",
        show_default=False,
    ),
]

# --- eval llm --------------------------------------------------------------------------------------------------------
CheckpointsArg = Annotated[
    list[str] | None,
    typer.Argument(
        help="Model folders, `biomed train` run folders (all their checkpoints) or Hub ids (owner/name@revision).",
        show_default=False,
    ),
]
EvalLlmTaskOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--task", "-t", help="A task or group: qa, mmlu, fr, medqa_4options, ... (repeatable).", show_default=False
    ),  # fmt: skip
]
EvalLlmDataDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", help="Local copies, DIR/<task>/<split>.parquet, instead of the Hub.", show_default=False
    ),  # fmt: skip
]
EvalLlmCardOpt = Annotated[
    bool,
    typer.Option("--card", help="Write each `biomed train` checkpoint's scores into its model card (model-index)."),
]
ExportDataOpt = Annotated[
    Path | None,
    typer.Option(
        "--export-data",
        help="Copy the suite's datasets from the Hub into this folder (for --data-dir on a machine without "
        "network) and exit.",
        show_default=False,
    ),
]

# --- train -----------------------------------------------------------------------------------------------------------
SizeOpt = Annotated[
    str | None,
    typer.Option("--size", help="Model size of the paper's recipe: base or large.", show_default=False),
]
LangOpt = Annotated[
    str | None,
    typer.Option(
        "--lang",
        help="Language of the paper's recipe: en (ModernBERT-bio) or fr (ModernCamemBERT-bio).",
        show_default=False,
    ),
]
ObjectiveOpt = Annotated[
    str | None,
    typer.Option(
        "--objective",
        help="Schedule: detour (CLM phase, then MLM decay) or mlm (its MLM twin, same data and compute).",
        show_default=False,
    ),
]
FreezeLayersOpt = Annotated[
    str | None,
    typer.Option(
        "--freeze-layers",
        help="Layers that get no update during the phases in freeze.phases, e.g. 0-7 or 8-14.",
        show_default=False,
    ),
]
VariantOpt = Annotated[
    str | None,
    typer.Option(
        "--variant",
        help="Decoder run of Biomed-Enriched: OLMo2-7B-stage1 on BE-Base, BE-Clinical, BE-ClinicalCase, "
        "BE-Educational, BE-All or BE-French (recipes/pretrain/olmo2-7b-stage1-<variant>.yaml).",
        show_default=False,
    ),
]

# --- push model ------------------------------------------------------------------------------------------------------
CheckpointArg = Annotated[
    Path,
    typer.Argument(
        help="A model folder: OUT/final or OUT/checkpoint-N of `biomed train` (encoder or decoder), or a "
        "classifier (data classify train).",
        show_default=False,
    ),
]

# --- push dataset ----------------------------------------------------------------------------------------------------
FolderArg = Annotated[Path, typer.Argument(help="Dataset folder written by `biomed data build`.", show_default=False)]
MessageOpt = Annotated[
    str | None, typer.Option("--message", "-m", help="Commit message on the branch.", show_default=False)
]
AllowRestrictedTextOpt = Annotated[
    bool | None,
    typer.Option(
        "--allow-restricted-text",
        help="Push text of non_commercial/other articles; only with --private.",
        show_default=False,
    ),
]


def resolve(cls, recipe, set_, options: dict, dry_run: bool, *, exit_on_dry_run: bool = True):
    """The stage's config (defaults < recipe < flags < --set); with --dry-run, printed as YAML.

    Args:
        cls: the stage's config dataclass.
        recipe: the ``--config`` file, or ``None``.
        set_: the ``--set`` strings.
        options: config key (dotted for sections) -> flag value; ``None`` and empty lists (flag not given) are
            ignored, paths become strings.
        dry_run: print the resolved config.
        exit_on_dry_run: end the command after printing (a command that shows more on --dry-run passes False).
    """
    from biomed.config import dump_config, resolve_config

    cfg = resolve_config(cls, recipe, set_ or (), {key: _flag_value(value) for key, value in options.items()})
    if dry_run:
        typer.echo(dump_config(cfg), nl=False)
        if exit_on_dry_run:
            raise typer.Exit()
    return cfg


def run_stage(cls, run, recipe, set_, options: dict, dry_run: bool, **kwargs):
    """What most stage commands do: resolve the config (:func:`resolve`), run the stage, print its summary.

    Args:
        cls: the stage's config dataclass.
        run: the stage's library function, called with the config and ``kwargs`` (e.g. ``overwrite``).
        recipe, set_, options, dry_run: as for :func:`resolve`.

    Returns:
        The stage's summary (whatever ``run`` returns; its ``render()`` is printed).
    """
    summary = run(resolve(cls, recipe, set_, options, dry_run), **kwargs)
    typer.echo(summary.render())
    return summary


def _flag_value(value):
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_flag_value(item) for item in value] or None
    return value
