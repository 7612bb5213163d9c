"""Stage: an LLM labels a reproducible sample of paragraphs (``stage.run_annotate``)."""
