"""Licences of PMC-OA articles: normalised names and the release's licence groups.

Example::

    from biomed.dataset_builder.extract.licenses import license_group, normalise_license

    normalise_license("http://creativecommons.org/licenses/by-nc/3.0")  # 'CC BY-NC 3.0'
    license_group("CC BY-NC 3.0")                                       # 'non_commercial'

Groups: ``commercial`` (CC0, CC BY, CC BY-SA, CC BY-ND, public domain) may be redistributed with text;
``non_commercial`` (any CC BY-NC variant) and ``other`` (copyright statements, publisher licences) have their
text withheld from the public release and re-inserted by users from their own PMC dump.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from lxml import etree


COPYRIGHT = "copyright"
PUBLIC_DOMAIN = "public domain"

_CC_URL = re.compile(r"creativecommons\.org/licen[cs]es/([a-z\-]+)(?:/(\d(?:\.\d)?))?", re.I)
_CC_ZERO_URL = re.compile(r"creativecommons\.org/publicdomain/zero", re.I)
_CC_MARK_URL = re.compile(r"creativecommons\.org/publicdomain/mark", re.I)
_CC_NAME = re.compile(r"\bCC[ -]?(BY(?:[ -](?:NC|SA|ND))*|0|ZERO)\b(?:[ -]?(\d\.\d))?", re.I)
_CC_WORDS = (
    # licence texts without a URL, most specific first
    (re.compile(r"attribution[- ]non-?commercial[- ]no[- ]?deriv", re.I), "CC BY-NC-ND"),
    (re.compile(r"attribution[- ]non-?commercial[- ]share[- ]?alike", re.I), "CC BY-NC-SA"),
    (re.compile(r"attribution[- ]non-?commercial", re.I), "CC BY-NC"),
    (re.compile(r"attribution[- ]share[- ]?alike", re.I), "CC BY-SA"),
    (re.compile(r"attribution[- ]no[- ]?deriv", re.I), "CC BY-ND"),
    (re.compile(r"creative commons attribution", re.I), "CC BY"),
    (re.compile(r"public domain dedication|\bcc0\b", re.I), "CC0"),
    (re.compile(r"public domain|without copyright", re.I), PUBLIC_DOMAIN),
)
# The License column of the PMC OA file lists.
_FILE_LIST_CODES = {"NO-CC CODE": COPYRIGHT, "": None}


def normalise_license(value: str | None) -> str | None:
    """A canonical licence name (``CC BY 4.0``, ``CC BY-NC-ND``, ``CC0``, ``public domain``) or None if unknown."""
    if not value or not value.strip():
        return None
    value = value.strip()
    if value.upper() in _FILE_LIST_CODES:
        return _FILE_LIST_CODES[value.upper()]
    if _CC_ZERO_URL.search(value):
        return "CC0"
    if _CC_MARK_URL.search(value):
        return PUBLIC_DOMAIN
    url = _CC_URL.search(value)
    if url:
        kind = url.group(1).lower().strip("-")
        if kind == "publicdomain":
            return PUBLIC_DOMAIN
        name = "CC " + kind.upper()
        return f"{name} {url.group(2)}" if url.group(2) else name
    name = _CC_NAME.search(value)
    if name:
        kind = name.group(1).upper().replace(" ", "-")
        if kind in ("0", "ZERO"):
            return "CC0"
        return f"CC {kind} {name.group(2)}" if name.group(2) else f"CC {kind}"
    for pattern, canonical in _CC_WORDS:
        if pattern.search(value):
            return canonical
    return None


LICENSE_GROUPS = ("commercial", "non_commercial", "other")
"""Every value of the ``license_group`` column."""


def license_group(license_name: str | None) -> str:
    """``commercial``, ``non_commercial`` or ``other`` for a canonical licence name."""
    if not license_name:
        return "other"
    if license_name == "CC0" or license_name == PUBLIC_DOMAIN:
        return "commercial"
    if license_name.startswith("CC BY"):
        return "non_commercial" if "NC" in license_name.split()[1] else "commercial"
    return "other"


def license_from_permissions(permissions: etree._Element | None) -> str | None:
    """The licence an article states in ``<permissions>``.

    Returns the canonical name; ``copyright`` when the article has no ``<license>`` (a copyright statement
    alone is not an open licence); ``""`` when a ``<license>`` is present but names nothing we recognise,
    so the caller can report it instead of guessing.
    """
    if permissions is None:
        return COPYRIGHT
    licence = permissions.find("license")
    if licence is None:
        return COPYRIGHT
    for candidate in _license_candidates(licence):
        name = normalise_license(candidate)
        if name:
            return name
    return ""


def _license_candidates(licence: etree._Element) -> Iterator[str | None]:
    """Where a ``<license>`` may name its licence, most explicit first (read lazily: the first usually names it)."""
    yield licence.get("{http://www.w3.org/1999/xlink}href")
    for ref in licence.iter("{http://www.niso.org/schemas/ali/1.0/}license_ref"):
        yield ref.text
    for link in licence.iter("ext-link"):
        yield link.get("{http://www.w3.org/1999/xlink}href")
    yield licence.get("license-type")
    yield " ".join("".join(licence.itertext()).split())
