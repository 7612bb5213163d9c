"""The Biomed-Enriched corpus, one subpackage per stage, in pipeline order:

1. ``extract/``  PMC-OA JATS articles -> paragraphs (``biomed data extract``)
2. ``annotate/`` an LLM labels a reproducible sample (``biomed data annotate``)
3. ``classify/`` a small encoder learns the labels and scores every paragraph (``biomed data classify``)
4. ``build/``    variants and subsets as Hub configs, with the dataset card (``biomed data build``)
5. ``release/``  publish (``biomed push-dataset``) and re-insert withheld text (``biomed data rehydrate``)

``labels.py`` is the label vocabulary the stages share; ``sample/`` the embedded sample the demo and tests read.
"""
