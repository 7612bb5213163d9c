"""Versioned prompt templates shipped as package data (``annotate_v1.yaml``, ...); loaded by ``annotation_prompt``."""
