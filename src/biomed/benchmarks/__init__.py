"""The benchmark task table and its data readers: below both training (decontamination) and evaluation.

``tasks`` (``TASKS``, ``SUITES``: every task's source, protocol and paper), ``loaders`` (``load_task_data``),
the corpus readers ``bioclinical`` and ``doc_codes``, ``bio`` (BIO tags as entities) and the bundled ``fixtures``.
This package imports nothing from ``biomed.train``, ``biomed.eval`` or ``biomed.dataset_builder``.
"""
