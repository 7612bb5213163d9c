"""Label propagation for Biomed-Enriched: train a paragraph classifier on LLM annotations, score the whole corpus.

Modules: ``modeling_biomed_classifier`` (the model, loadable by ``AutoModel``), ``data`` (labelled rows, split by
article), ``train`` (``biomed data classify train``), ``metrics``, ``score`` (``biomed data classify score``) and
``tiny`` (config-built encoders for the demo and tests).

Example::

    biomed data classify train --annotations annotated/annotations.parquet --out classifier \\
        --config recipes/classify/xlm-roberta-base.yaml
    biomed data classify score extracted --classifier classifier --out scored
"""
