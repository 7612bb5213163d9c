"""Render model and dataset cards from the Jinja templates shipped in ``biomed/model_cards/templates/``.

Example::

    from huggingface_hub import ModelCardData
    from biomed.model_cards.render import render_model_card

    card = render_model_card("classifier.md.j2", ModelCardData(license="apache-2.0"), metrics={...})
    card.save("checkpoint/README.md")
"""

from __future__ import annotations

from importlib.resources import files

from huggingface_hub import DatasetCard, DatasetCardData, ModelCard, ModelCardData


def template_path(name: str) -> str:
    """Filesystem path of a template shipped with the package."""
    return str(files("biomed.model_cards") / "templates" / name)


def render_model_card(template: str, card_data: ModelCardData, **context) -> ModelCard:
    """A ``ModelCard`` from a shipped template; ``card_data`` becomes the YAML header (``{{ card_data }}``)."""
    return ModelCard.from_template(card_data, template_path=template_path(template), **context)


def render_dataset_card(template: str, card_data: DatasetCardData, **context) -> DatasetCard:
    """A ``DatasetCard`` from a shipped template; ``card_data`` becomes the YAML header (``{{ card_data }}``)."""
    return DatasetCard.from_template(card_data, template_path=template_path(template), **context)
