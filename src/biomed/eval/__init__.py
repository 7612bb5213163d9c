"""Multi-seed fine-tuning benchmark for French and English biomedical tasks."""
