"""Stage: PMC-OA JATS articles -> one Parquet row per paragraph (``stage.run_extract``)."""
