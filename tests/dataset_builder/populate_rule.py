"""An independent implementation of the authors' re-insertion rule, to check `rehydrate` against.

The rule is that of `biomed_enriched/_extractor.py` in GitHub Rian-T/biomed-enriched (`_XmlParagraphExtractor`):
base = the first `<body>` (`.//body`), or the root when there is none or it has no child element; a path is
`tag[i]` steps (regex `^\\w+\\[\\d+]$`, else no text), `i` counting same-tag children from 0; text =
`" ".join(element.itertext())`, whitespace-normalised, None when that join is empty. This version finds paths
with libxml2's own XPath (`getpath`) and text nodes with XPath `.//text()`, not with the walk `rehydrate` uses.
"""

from __future__ import annotations

import re

from lxml import etree


STEP = re.compile(r"^\w+\[\d+]$")
XPATH_STEP = re.compile(r"^(?P<tag>[^\[]+)(?:\[(?P<n>\d+)])?$")


def _tree(data: bytes):
    return etree.ElementTree(etree.fromstring(data, etree.XMLParser(recover=True, huge_tree=True)))


def _base(tree):
    bodies = tree.xpath("//body")
    body = bodies[0] if bodies and bodies[0] is not tree.getroot() else None
    return body if body is not None and len(body) else tree.getroot()


def authors_paths(data: bytes) -> list[str]:
    """Every `<p>` below the base, as the `tag[i]` path the published release uses (whatever the rule accepts)."""
    tree = _tree(data)
    base = _base(tree)
    base_path = tree.getpath(base)
    paths = []
    for element in base.xpath(".//p"):
        relative = tree.getpath(element)[len(base_path) + 1 :]
        steps = []
        for step in relative.split("/"):
            match = XPATH_STEP.match(step)
            steps.append(f"{match['tag']}[{int(match['n'] or 1) - 1}]")
        paths.append("/".join(steps))
    return paths


def authors_text(data: bytes, path: str) -> str | None:
    """The text the authors' tool inserts for `path`, or None."""
    steps = path.split("/")
    if not path or not all(STEP.match(step) for step in steps):
        return None
    tree = _tree(data)
    element = _base(tree)
    for step in steps:
        tag, index = step[:-1].split("[")
        children = [child for child in element if child.tag == tag]
        if int(index) >= len(children):
            return None
        element = children[int(index)]
    joined = " ".join(str(node) for node in element.xpath(".//text()"))
    return re.sub(r"\s+", " ", joined).strip() if joined else None
