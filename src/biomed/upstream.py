"""Every use of another library's private API (a name starting with ``_``), each checked by tests/test_upstream.py.

Example::

    from biomed.upstream import attn_implementation

    attn_implementation(model.config)  # "sdpa", "eager", "flash_attention_2", …

Each function names the library version it was written against and why no public API does the job; when a library
changes one of these, a test of tests/test_upstream.py fails with the name of the attribute, not a distant test.

One file cannot route through here: ``dataset_builder/classify/modeling_biomed_classifier.py`` is copied into
every classifier checkpoint as remote code, so it imports only torch and transformers. It overrides
``PreTrainedModel._init_weights`` (transformers' documented hook for custom models), sets the ``_supports_*``
backend flags and reads ``config._attn_implementation``; tests/test_upstream.py checks those too.

This module imports nothing heavy: ``biomed --help`` stays instant.
"""

from __future__ import annotations

from typing import Any


# --- transformers (written against 5.x) ---


def attn_implementation(config: Any) -> str | None:
    """The attention backend a loaded model runs with (``"sdpa"``, ``"eager"``, ``"flash_attention_2"``, …).

    transformers keeps the resolved backend in ``config._attn_implementation`` and has no public getter.
    """
    return config._attn_implementation


def mark_lr_scheduler_created(trainer: Any) -> None:
    """Tell a ``Trainer`` that the learning-rate scheduler it holds was built by ``create_scheduler``.

    ``Trainer`` resets ``lr_scheduler`` to ``None`` between ``train()`` calls only when ``_created_lr_scheduler``
    is set, as its own ``create_scheduler`` does; an override that builds its own scheduler must set it too.
    """
    trainer._created_lr_scheduler = True


def keep_eval_order(trainer_cls: type) -> type:
    """Class decorator: a ``Trainer`` subclass that evaluates and predicts in dataset order.

    With ``group_by_length`` the Trainer may reorder evaluation batches too; predictions are matched to gold by
    position, so evaluation must stay sequential. ``_get_eval_sampler`` is the only hook for that.
    """

    def _get_eval_sampler(self, eval_dataset, *args, **kwargs):
        from torch.utils.data import SequentialSampler

        return SequentialSampler(eval_dataset)

    trainer_cls._get_eval_sampler = _get_eval_sampler
    return trainer_cls


# --- torch (written against 2.x) ---


def compiled_inner_module(model: Any) -> Any | None:
    """The module a ``torch.compile`` wrapper (``OptimizedModule``) holds, or ``None`` for any other object.

    ``OptimizedModule`` keeps the original module in ``_orig_mod``; torch offers no public accessor.
    """
    return getattr(model, "_orig_mod", None)


# --- multiprocess (written against 0.70, the stdlib's multiprocessing API) ---


def pool_worker_number() -> int | None:
    """The identity number of the current ``multiprocessing`` child process, ``None`` in a process that is no child.

    Children are numbered from 1 in the order their parent started them, so the workers of one pool (the runtime's
    ``map_processes``) get distinct, consecutive numbers. The number lives in ``Process._identity``; there is no
    public accessor.
    """
    import multiprocessing

    identity = multiprocessing.current_process()._identity
    return identity[0] if identity else None


# --- datatrove (written against 0.10) ---


def write_rows_to_parquet(writer: Any, rows: list[dict], file_handler: Any, filename: str) -> None:
    """Buffer several rows of one document into a datatrove ``ParquetWriter``'s current file.

    Called from a ``ParquetWriter._write`` override (datatrove's per-document hook, which writes one row per
    document). Uses the writer's internal state as its own ``_write`` does: ``_get_filename_with_file_id`` (file
    rotation at ``max_file_size``), ``_writers`` (one ``pyarrow.parquet.ParquetWriter`` per file), ``_batches``
    (buffered rows) and ``_write_batch``.
    """
    import pyarrow.parquet as pq

    if writer.max_file_size > 0:
        filename = writer._get_filename_with_file_id(filename)
    if filename not in writer._writers:
        writer._writers[filename] = pq.ParquetWriter(
            file_handler,
            schema=writer.schema,
            compression=writer.compression,
            use_content_defined_chunking=writer.use_content_defined_chunking,
            write_page_index=writer.write_page_index,
        )
    batch = writer._batches[filename]
    batch.extend(rows)
    if len(batch) >= writer.batch_size:
        writer._write_batch(filename)
