"""Stage: variants and subsets of the scored paragraphs as Hub configs (``stage.run_build``)."""
