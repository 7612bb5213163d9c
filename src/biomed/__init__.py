"""biomed: a Hugging Face Hub-centric release kit for biomedical NLP."""

__version__ = "0.1.0"
