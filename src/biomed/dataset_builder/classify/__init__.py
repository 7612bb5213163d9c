"""Label propagation for Biomed-Enriched: train a paragraph classifier on LLM annotations, score the whole corpus.

Modules: ``modeling_biomed_classifier`` (the model, loadable by ``AutoModel``), ``data`` (labelled rows, split by
article), ``train`` (``biomed data classify train``), ``metrics`` and ``score`` (``biomed data classify score``).

Example::

    biomed data classify train annotated/annotations.parquet --out classifier \\
        --config recipes/classify/xlm-roberta-base.yaml
    biomed data classify score extracted --classifier classifier --out scored
"""
