"""Medical question answering of decoders with lm-evaluation-harness: the Biomed-Enriched suite, sweeps over
checkpoints, the report and its curves (``biomed eval llm``)."""
