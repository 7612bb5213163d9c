"""Render model and dataset cards from the Jinja templates shipped in ``biomed/model_cards/templates/``.

Example::

    from huggingface_hub import ModelCardData
    from biomed.model_cards.render import render_model_card

    card = render_model_card("classifier.md.j2", ModelCardData(license="apache-2.0"), metrics={...})
    card.save("checkpoint/README.md")

Cards go through huggingface_hub (``ModelCard`` / ``DatasetCard.from_template``: a YAML header, validation);
other Markdown documents (the evaluation report) through :func:`render_markdown`, the same Jinja templates
without a header.
"""

from __future__ import annotations

from importlib.resources import files

from huggingface_hub import DatasetCard, DatasetCardData, ModelCard, ModelCardData


def template_path(name: str) -> str:
    """Filesystem path of a template shipped with the package."""
    return str(files("biomed.model_cards") / "templates" / name)


def render_markdown(template: str, **context) -> str:
    """Render a shipped Markdown template; an undefined variable is an error, not an empty string."""
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(template_path("")),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # Markdown, not HTML
    )
    return environment.get_template(template).render(**context)


def render_model_card(template: str, card_data: ModelCardData, **context) -> ModelCard:
    """A ``ModelCard`` from a shipped template; ``card_data`` becomes the YAML header (``{{ card_data }}``)."""
    return ModelCard.from_template(card_data, template_path=template_path(template), **context)


def render_dataset_card(template: str, card_data: DatasetCardData, **context) -> DatasetCard:
    """A ``DatasetCard`` from a shipped template; ``card_data`` becomes the YAML header (``{{ card_data }}``)."""
    return DatasetCard.from_template(card_data, template_path=template_path(template), **context)
