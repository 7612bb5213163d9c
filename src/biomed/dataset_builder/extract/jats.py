"""JATS (PMC-OA) article XML to metadata and paragraphs, with the paragraph rules of the Biomed-Enriched release.

Example::

    from biomed.dataset_builder.extract.jats import parse_article

    article = parse_article(open("PMC3166277.nxml", "rb").read(), file="PMC3166277.nxml")
    for paragraph in article.paragraphs:
        print(paragraph.path, paragraph.section, paragraph.text[:80])

Paragraph rules (``EXTRACTOR_VERSION`` changes whenever one of them does):

- A paragraph is a ``<p>`` of the main article's ``<body>`` (sub-articles such as decision letters, and the
  ``<back>`` matter: references, acknowledgements, appendices, are not read), or of an ``<abstract>`` /
  ``<trans-abstract>`` in ``<article-meta>``, except graphical, teaser and table-of-contents abstracts.
- ``path`` is the element path from ``<body>`` in the ``tag[i]`` syntax of the published release and of its
  re-insertion tool: ``i`` counts the preceding siblings with the same tag, from 0 (``sec[0]/p[1]``). Abstract
  paragraphs get the path from ``<article-meta>``: ``abstract[0]/p[0]``, ``abstract[0]/sec[1]/p[0]``,
  ``trans-abstract[0]/p[0]``; no body path starts with ``abstract``, so the key space is shared without clashes.
- Lists, boxed text, quotes, statements and definition lists are containers: each ``<p>`` inside them (e.g.
  ``sec[1]/list[0]/list-item[2]/p[0]``) is a paragraph of its own. A ``<p>`` that holds such a container
  keeps only its own text; the container's paragraphs follow it.
- Figures, tables (captions, cells and table footnotes), supplementary material, footnotes, graphics and
  media are dropped, and so are the captions of boxes: captions and cells are not running prose. A table or
  figure inside a ``<p>`` is cut out and the text around it kept.
- Inline markup (italic, bold, sup, sub, links, named content, citations) is flattened without adding or
  removing characters, so words are never glued nor split. ``<break/>`` becomes a space. Superscript
  citations become bracketed (``disease<sup>12</sup>`` → ``disease[12]``); other citations keep their text.
- Inline formulas become their TeX (``<tex-math>``, document wrapper removed) or the text of their MathML
  (``p<0.05``); display formulas become ``[formula]``, code blocks (``<code>``, ``<preformat>``) ``[code]``.
  No MathML or XML ever reaches ``text``, not even as the content of a code listing.
- Whitespace is normalised to single spaces. ``section`` is the chain of section (and box) titles joined by
  `` > ``; abstract paragraphs start with ``Abstract``.
- Paragraphs left empty by these rules are skipped. ``paragraph_index`` numbers the body's paragraphs from 0 in
  document order, as the published ids do (``30343930_p0`` is ``sec[0]/p[0]``, the authors' ``examples/simple.py``),
  then the abstracts' after them; the paragraphs themselves stay in document order (abstracts first). Length
  filtering happens later, in the pipeline, so keys never depend on it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lxml import etree

from biomed.dataset_builder.extract.licenses import license_from_permissions


EXTRACTOR_VERSION = "jats-paragraphs-v2"  # v2: body paragraphs numbered first

MML_MATH = "{http://www.w3.org/1998/Math/MathML}math"

# Subtrees whose text is not running prose; stripping them keeps their tails (the text after them).
DROPPED_TAGS = (
    "table-wrap",
    "table-wrap-group",
    "table",
    "fig",
    "fig-group",
    "supplementary-material",
    "graphic",
    "inline-graphic",
    "media",
    "fn",
    "fn-group",
    "ref-list",
    "object-id",
    "processing-meta",
)
# Elements whose <p> descendants are paragraphs of their own; the walk descends into them.
CONTAINER_TAGS = frozenset(
    {
        "sec",
        "list",
        "list-item",
        "boxed-text",
        "disp-quote",
        "statement",
        "def-list",
        "def-item",
        "def",
        "glossary",
        "speech",
        "verse-group",
        "app",
        "app-group",
        "question",
        "answer",
        "explanation",
    }
)
SKIPPED_ABSTRACT_TYPES = frozenset({"graphical", "teaser", "toc", "web-summary"})

_string_of = etree.XPath("string()", smart_strings=False)
# XPath's normalize-space() collapses only XML's four whitespace characters, in C; str.split() also splits on the
# other characters Python calls whitespace (no-break, thin, ideographic spaces…), so text holding one of those still
# takes the Python pass (about a tenth of non-ASCII paragraphs; searching for them costs a third of that pass)
_normalized_string_of = etree.XPath("normalize-space()", smart_strings=False)
_OTHER_SPACES = re.compile("[\x0b\x0c\x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")
# the prolog before the root element: XML declaration, comments, processing instructions, doctype
_PROLOG = rb"(?:<\?[^>]*\?>\s*|<!--.*?-->\s*|<!DOCTYPE[^>\[]*(?:\[.*?\])?\s*>\s*)*"
_ROOT_ARTICLE = re.compile(_PROLOG + rb"<article[\s>/]", re.S)
_HTML = re.compile(_PROLOG.replace(b"DOCTYPE", b"(?i:DOCTYPE)") + rb"(?i:<html[\s>]|<head[\s>]|<body[\s>])", re.S)
_TEX_DOCUMENT = re.compile(r"\\begin\{document\}(.*?)\\end\{document\}", re.S)


class ArticleError(Exception):
    """An article that cannot be extracted; ``reason`` is a short machine-readable code for the summary."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass
class Paragraph:
    path: str
    paragraph_index: int
    section: str
    text: str


@dataclass
class Article:
    file: str
    pmcid: str | None
    pmid: str | None
    doi: str | None
    article_type: str
    journal: str
    year: int | None
    language: str | None
    license: str | None
    paragraphs: list[Paragraph] = field(default_factory=list)
    has_body: bool = True


_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    huge_tree=True,
    collect_ids=False,
    remove_comments=True,
    remove_pis=True,
    load_dtd=False,
)


def parse_article(data: bytes, file: str = "") -> Article:
    """Parse one JATS article; raise ``ArticleError`` when it cannot be read.

    Args:
        data: the article's XML bytes, as stored in the file or the bulk package.
        file: where the bytes came from (recorded in the output, used in error messages).
    """
    root = _parse_xml(data)
    if root.tag != "article":
        raise ArticleError("not_jats", f"root element is <{root.tag}>, expected <article>")
    front = root.find("front")
    meta = front.find("article-meta") if front is not None else None
    if meta is None:
        raise ArticleError("no_article_meta", "<front>/<article-meta> is missing")

    ids = {el.get("pub-id-type"): (el.text or "").strip() for el in meta.iterfind("article-id")}
    pmcid = ids.get("pmc") or ids.get("pmcid") or None
    if pmcid and not pmcid.upper().startswith("PMC"):
        pmcid = "PMC" + pmcid
    journal_title = front.find("journal-meta/journal-title-group/journal-title")
    if journal_title is None:
        journal_title = front.find("journal-meta/journal-title")

    article = Article(
        file=file,
        pmcid=pmcid.upper() if pmcid else None,
        pmid=ids.get("pmid") or None,
        doi=ids.get("doi") or None,
        article_type=root.get("article-type") or "",
        journal=_normalised_text(journal_title) if journal_title is not None else "",
        year=_publication_year(meta),
        language=root.get("{http://www.w3.org/XML/1998/namespace}lang"),
        license=license_from_permissions(meta.find("permissions")),
    )

    body = root.find("body")
    article.has_body = body is not None
    abstracts: list[Paragraph] = []
    for abstract_tag in ("abstract", "trans-abstract"):
        for i, abstract in enumerate(meta.iterfind(abstract_tag)):
            if abstract.get("abstract-type") in SKIPPED_ABSTRACT_TYPES:
                continue
            _prepare(abstract)
            _walk(abstract, f"{abstract_tag}[{i}]/", ["Abstract"], abstracts)
    body_paragraphs: list[Paragraph] = []
    if body is not None:
        _prepare(body)
        _walk(body, "", [], body_paragraphs)
    # the body is numbered first, as the published ids are; the abstracts, which the published release lacks, after
    for index, paragraph in enumerate(body_paragraphs + abstracts):
        paragraph.paragraph_index = index
    article.paragraphs = abstracts + body_paragraphs
    return article


def _parse_xml(data: bytes) -> etree._Element:
    # The back matter (references, often half the bytes) and sub-articles are never read: parsing stops after
    # the main </body>. Completeness is still checked, since a truncated file must be rejected, not half-read.
    tail = data[-64:].rstrip()
    if not tail.endswith(b"</article>"):
        if not data.strip():
            raise ArticleError("empty_file")
        raise _not_a_whole_article(data)
    body_end = data.find(b"</body>")
    head = data[: body_end + 7] + b"</article>" if body_end != -1 else data
    try:
        return etree.fromstring(head, _PARSER)
    except etree.XMLSyntaxError as head_error:
        error = head_error
    if body_end != -1:
        # maybe the cut itself went wrong (e.g. a "</body>" inside a comment): parse the whole file
        try:
            return etree.fromstring(data, _PARSER)
        except etree.XMLSyntaxError as full_error:
            error = full_error
    message = str(error)
    if "UTF-8" in message or "encoding" in message.lower() or "Char 0x" in message:
        raise ArticleError("bad_encoding", message)
    raise ArticleError("malformed_xml", message)


def _not_a_whole_article(data: bytes) -> ArticleError:
    """Why bytes that do not end with ``</article>`` are skipped: cut short, or never a JATS article at all."""
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if _ROOT_ARTICLE.match(head):
        return ArticleError("truncated_xml", "the file does not end with </article>")
    if _HTML.match(head):
        # e.g. a proxy's or a publisher's error page saved under the article's name
        return ArticleError("not_jats", "an HTML page, not a JATS article")
    if not head.startswith(b"<"):
        return ArticleError("not_xml", "the file does not start with an XML tag (binary data or plain text)")
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as err:
        return ArticleError("malformed_xml", str(err))
    return ArticleError("not_jats", f"root element is <{root.tag}>, expected <article>")


def _publication_year(meta: etree._Element) -> int | None:
    years = []
    for date in meta.iterfind("pub-date"):
        year = date.findtext("year")
        if year and year.strip().isdigit():
            kind = date.get("pub-type") or date.get("date-type") or ""
            years.append((0 if kind in ("epub", "pub", "ppub", "collection") else 1, int(year.strip())))
    return min(years)[1] if years else None


def _prepare(root: etree._Element) -> None:
    """Rewrite formulas, code, superscript citations and breaks in place, then drop non-prose subtrees."""
    # one libxml2 traversal for every element rewritten here
    for element in root.iter("inline-formula", "disp-formula", "code", "preformat", "sup", "break"):
        tag = element.tag
        if tag == "break":
            element.tail = " " + (element.tail or "")
        elif tag == "sup":
            xref = element.find("xref")
            if xref is not None and xref.get("ref-type") == "bibr":
                text = _string_of(element).strip()
                if text and not text.startswith(("[", "(")):
                    element.clear(keep_tail=True)
                    element.text = f"[{text}]"
        else:
            if tag == "inline-formula":
                replacement = _formula_text(element)
            else:
                replacement = " [formula] " if tag == "disp-formula" else " [code] "
            element.clear(keep_tail=True)
            element.text = replacement
    etree.strip_elements(root, *DROPPED_TAGS, with_tail=False)


def _formula_text(formula: etree._Element) -> str:
    tex = formula.find(".//tex-math")
    if tex is not None and tex.text:
        found = _TEX_DOCUMENT.search(tex.text)
        return " ".join((found.group(1) if found else tex.text).split())
    math = formula.find(".//" + MML_MATH)
    source = math if math is not None else formula
    return "".join(_string_of(source).split())


# containers that JATS lets appear inside a <p> (a <p> never holds a <sec> or another <p>)
_NESTABLE_IN_P = tuple(sorted(CONTAINER_TAGS - {"sec", "app", "app-group", "list-item", "def-item", "def"}))


def _walk(element: etree._Element, prefix: str, sections: list[str], out: list[Paragraph]) -> None:
    # one libxml2 traversal finds the few <p> that hold a container, instead of a Python check of every <p>
    with_blocks = {block.getparent() for block in element.iter(*_NESTABLE_IN_P)}
    _walk_children(element, prefix, sections, out, with_blocks)


def _walk_children(
    element: etree._Element, prefix: str, sections: list[str], out: list[Paragraph], with_blocks: set
) -> None:
    counts: dict[str, int] = {}
    section = " > ".join(sections)
    for child in element:
        tag = child.tag
        index = counts.get(tag, 0)
        counts[tag] = index + 1
        if tag == "p":
            path = f"{prefix}p[{index}]"
            has_blocks = child in with_blocks
            text = _normalise(_own_text(child)) if has_blocks else _normalised_text(child)
            if text:
                out.append(Paragraph(path, 0, section, text))
            if has_blocks:
                _walk_children(child, path + "/", sections, out, with_blocks)
        elif tag in CONTAINER_TAGS:
            title = _title_of(child) if tag in ("sec", "boxed-text", "app") else ""
            inner = [*sections, title] if title else sections
            _walk_children(child, f"{prefix}{tag}[{index}]/", inner, out, with_blocks)


def _own_text(p: etree._Element) -> str:
    """Text of a <p> without the containers nested in it (their paragraphs are emitted on their own)."""
    parts = [p.text or ""]
    for child in p:
        if child.tag in CONTAINER_TAGS or child.tag == "p":
            parts.append(" ")
        else:
            parts.append(_string_of(child))
        parts.append(child.tail or "")
    return "".join(parts)


def _title_of(element: etree._Element) -> str:
    title = element.find("title")
    if title is None:
        title = element.find("caption/title")
    return _normalised_text(title) if title is not None else ""


def _normalise(text: str) -> str:
    return " ".join(text.split())


def _normalised_text(element: etree._Element) -> str:
    """``_normalise`` of the element's text: the same string, mostly computed in C."""
    text = _normalized_string_of(element)
    return text if text.isascii() or not _OTHER_SPACES.search(text) else " ".join(text.split())
