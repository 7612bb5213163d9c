"""Biomed-Enriched corpus pipeline: extract → annotate → classify → build → push / rehydrate."""
