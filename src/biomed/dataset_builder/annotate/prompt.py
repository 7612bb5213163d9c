"""The versioned annotation prompt: chat messages for one paragraph, and the JSON schema its answer must follow.

Example::

    from biomed.dataset_builder.annotate.prompt import load_prompt

    prompt = load_prompt("annotate_v1")
    messages = prompt.messages(section="Case presentation", text="A 54-year-old man presented with ...")
    prompt.version, prompt.json_schema()

Templates live in ``biomed/dataset_builder/annotate/prompts/<name>.yaml`` with a ``version`` string, a ``system``
message, a Jinja2 ``user`` template (``section``, ``text``) and a ``generate_template`` for TGI's raw ``/generate``
route.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from biomed.errors import BiomedError
from biomed.labels import DOMAIN_LABELS, EDU_SCORES, LABEL_FIELDS, TYPE_LABELS


DEFAULT_PROMPT = "annotate_v1"


def answer_json_schema() -> dict[str, Any]:
    """The JSON schema of one answer, built from the label sets so that prompt, server grammar and checks agree."""
    return {
        "type": "object",
        "properties": {
            "type": {"type": "string", "enum": list(TYPE_LABELS)},
            "domain": {"type": "string", "enum": list(DOMAIN_LABELS)},
            "educational_score": {"type": "integer", "minimum": min(EDU_SCORES), "maximum": max(EDU_SCORES)},
        },
        "required": list(LABEL_FIELDS),
        "additionalProperties": False,
    }


@dataclass(frozen=True)
class AnnotationPrompt:
    """One prompt version, ready to render.

    Attributes:
        version: recorded in every annotation row, in the Parquet metadata and in the cache key.
        system: the system message (label definitions and criteria).
        user: Jinja2 template of the user message, with ``section`` and ``text``.
        generate_template: Jinja2 template turning ``system`` and ``user`` into one string for TGI ``/generate``.
        source: where the template was read from (for messages).
    """

    version: str
    system: str
    user: str
    generate_template: str = ""
    source: str = ""
    _templates: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def messages(self, section: str | None, text: str) -> list[dict[str, str]]:
        """The chat messages (system, user) for one paragraph."""
        return [
            {"role": "system", "content": self.system},
            {"role": "user", "content": self._render("user", section=section or "", text=text)},
        ]

    def generate_prompt(self, section: str | None, text: str) -> str:
        """The single string sent to TGI's ``/generate`` route for one paragraph."""
        if not self.generate_template:
            raise BiomedError(f"prompt {self.source} has no generate_template; use client.api=chat with it")
        user = self._render("user", section=section or "", text=text)
        return self._render("generate_template", system=self.system, user=user)

    def json_schema(self) -> dict[str, Any]:
        """The answer schema, sent as ``response_format`` (chat) or ``grammar`` (TGI ``/generate``)."""
        return answer_json_schema()

    def digest(self) -> str:
        """A short hash of the template text, to tell edited prompts apart in logs and metadata."""
        text = "\x00".join((self.version, self.system, self.user, self.generate_template))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    def _render(self, name: str, **context: str) -> str:
        # Compiled once per prompt: rendering runs once per request, up to thousands of times a second.
        template = self._templates.get(name)
        if template is None:
            import jinja2

            env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False, autoescape=False)
            template = self._templates[name] = env.from_string(getattr(self, name))
        return template.render(**context)


def load_prompt(name_or_path: str | Path = DEFAULT_PROMPT) -> AnnotationPrompt:
    """Load a prompt shipped with the package (``"annotate_v1"``) or a YAML file of the same shape.

    Raises:
        BiomedError: the file does not exist, is not valid YAML, or lacks ``version``, ``system`` or ``user``.
    """
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml"):
        if not candidate.is_file():
            raise BiomedError(f"prompt file {candidate} does not exist; pass a YAML file or a shipped prompt name")
        text, source = candidate.read_text(encoding="utf-8"), str(candidate)
    else:
        resource = files("biomed.dataset_builder.annotate.prompts") / f"{name_or_path}.yaml"
        if not resource.is_file():
            shipped = sorted(
                p.name[: -len(".yaml")]
                for p in files("biomed.dataset_builder.annotate.prompts").iterdir()
                if p.name.endswith(".yaml")
            )
            raise BiomedError(
                f"no shipped prompt named {name_or_path!r}; shipped: {', '.join(shipped)} "
                "(or pass a path to a .yaml prompt file)"
            )
        text, source = (
            resource.read_text(encoding="utf-8"),
            f"biomed/dataset_builder/annotate/prompts/{name_or_path}.yaml",
        )
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise BiomedError(f"prompt {source} is not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise BiomedError(f"prompt {source} must be a mapping with version, system and user")
    missing = [key for key in ("version", "system", "user") if not str(data.get(key) or "").strip()]
    if missing:
        raise BiomedError(f"prompt {source} lacks {', '.join(missing)}; every prompt needs version, system and user")
    unknown = sorted(set(data) - {"version", "system", "user", "generate_template"})
    if unknown:
        raise BiomedError(
            f"prompt {source} has unknown key {unknown[0]!r}; valid: version, system, user, generate_template"
        )
    return AnnotationPrompt(
        version=str(data["version"]),
        system=str(data["system"]).strip(),
        user=str(data["user"]).strip(),
        generate_template=str(data.get("generate_template") or ""),
        source=source,
    )
