"""Paragraph rules on real PMC-OA / eLife articles and on the embedded sample."""

import re

import pytest
from lxml import etree

from biomed.dataset_builder.extract.jats import ArticleError, parse_article
from biomed.dataset_builder.extract.stage import embedded_sample_dir


# Paragraphs per real article (abstracts included), checked by hand against the XML for the rules of
# jats-paragraphs-v1; `test_counts_match_an_independent_xpath` re-derives them another way.
REAL_COUNTS = {
    "pmc/1471-2180-11-174.nxml": 43,
    "pmc/6605965a.nxml": 15,
    "pmc/ehp-116-1694.nxml": 38,
    "pmc/mds526.nxml": 29,
    "pmc/pntd.0002065.nxml": 29,
    "pmc/pone.0046493.nxml": 35,
    "elife/elife00270.xml": 11,
    "elife/elife02935.xml": 87,
    "elife/elife07586.xml": 4,
    "elife/elife-00666.xml": 142,
}
MARKUP = re.compile(r"<\s*/?\s*[A-Za-z][\w:.-]*[^<>]*>|xmlns|mml:|&[a-z]+;|&#")
DROPPED_ANCESTORS = (
    "fig", "fig-group", "table-wrap", "table-wrap-group", "supplementary-material", "fn", "fn-group", "media",
    "caption",
)  # fmt: skip


def _parse(root, name):
    return parse_article((root / name).read_bytes(), file=name)


def _element_at(root_element, path):
    """Navigate a release path the way the authors' re-insertion tool does: findall(tag)[i] from the base."""
    element = root_element
    for token in path.split("/"):
        tag, index = re.fullmatch(r"([\w-]+)\[(\d+)\]", token).groups()
        element = element.findall(tag)[int(index)]
    return element


@pytest.mark.parametrize("name, expected", sorted(REAL_COUNTS.items()))
def test_paragraph_counts_on_real_articles(shared_pmc, name, expected):
    assert len(_parse(shared_pmc, name).paragraphs) == expected


def test_counts_match_an_independent_xpath(shared_pmc):
    # every non-empty <p> of body/abstracts that is not inside a dropped subtree, counted by libxml2 itself
    condition = " or ".join(f"ancestor::{tag}" for tag in DROPPED_ANCESTORS)
    for name in REAL_COUNTS:
        root = etree.parse(str(shared_pmc / name)).getroot()
        body = root.xpath(f"body//p[not({condition})][normalize-space(string())]")
        abstracts = root.xpath(
            "front/article-meta/*[self::abstract or self::trans-abstract]"
            "[not(@abstract-type='graphical' or @abstract-type='teaser' or @abstract-type='toc')]"
            f"//p[not({condition})][normalize-space(string())]"
        )
        assert len(body) + len(abstracts) == REAL_COUNTS[name], name


def test_exact_texts_of_chosen_paragraphs(shared_pmc):
    pntd = {p.path: p for p in _parse(shared_pmc, "pmc/pntd.0002065.nxml").paragraphs}
    assert pntd["sec[0]/p[0]"].section == "Introduction"
    assert pntd["sec[0]/p[0]"].text == (
        "Rift Valley fever (RVF) is a disease caused by a RNA virus of the family Bunyaviridae, genus Phlebovirus "
        "[1]. The disease is of considerable economic importance due to high abortion rates, high mortality in young "
        "animals, trade restriction and the negative impact on other non-agricultural sectors [2]. The disease is "
        "also a serious public health hazard resulting in mild to moderately severe influenza-like illness that may "
        "be complicated by ocular lesions, encephalitis or a fatal haemorrhagic state in a low percentage of "
        "patients [3]."
    )
    mds = {p.path: p for p in _parse(shared_pmc, "pmc/mds526.nxml").paragraphs}
    assert mds["abstract[0]/sec[0]/p[0]"].section == "Abstract > Background"
    assert mds["abstract[0]/sec[0]/p[0]"].text == (
        "Understanding socio-demographic inequalities in stage at diagnosis can inform priorities for cancer control."
    )
    bmc = {p.path: p for p in _parse(shared_pmc, "pmc/1471-2180-11-174.nxml").paragraphs}
    holin = bmc["sec[2]/sec[0]/p[0]"]
    assert holin.section == "Discussion > Manipulation of holin production rate"
    # <italic>p</italic><sub><italic>R</italic></sub><italic>' </italic>activity: inline markup, nothing glued
    assert holin.text.startswith(
        "In our study, we manipulated the holin production rate by manipulating the λ pR' activity and the lysogen"
    )
    assert "(Figure 3B and 3D)" in holin.text


def test_no_markup_and_normalised_whitespace_everywhere(shared_pmc):
    for path in sorted(shared_pmc.rglob("*.*xml")) + sorted((embedded_sample_dir() / "articles").glob("*.nxml")):
        try:
            article = parse_article(path.read_bytes(), file=path.name)
        except ArticleError:
            continue
        for paragraph in article.paragraphs:
            assert not MARKUP.search(paragraph.text), (path.name, paragraph.path, paragraph.text[:200])
            assert paragraph.text == " ".join(paragraph.text.split())


def test_paths_point_at_the_paragraph_in_the_original_tree(shared_pmc):
    # the key must be usable by the published release's re-insertion tool on an untouched tree
    for name in ("pmc/pone.0046493.nxml", "elife/elife-00666.xml"):
        root = etree.parse(str(shared_pmc / name)).getroot()
        for paragraph in _parse(shared_pmc, name).paragraphs:
            in_abstract = "abstract[" in paragraph.path.split("/")[0]
            base = root.find("front/article-meta") if in_abstract else root.find("body")
            element = _element_at(base, paragraph.path)
            assert element.tag == "p"
            first_words = " ".join("".join(element.itertext()).split()[:3])
            assert " ".join(paragraph.text.split()[:3]) == first_words or element.find(".//inline-formula") is not None


def test_keys_and_texts_are_stable_across_runs(shared_pmc):
    data = (shared_pmc / "elife/elife-kitchen-sink.xml").read_bytes()
    first = [(p.path, p.text) for p in parse_article(data).paragraphs]
    second = [(p.path, p.text) for p in parse_article(data).paragraphs]
    assert first == second
    assert len({path for path, _ in first}) == len(first)


def test_metadata_of_real_articles(shared_pmc):
    article = _parse(shared_pmc, "pmc/1471-2180-11-174.nxml")
    assert (article.pmcid, article.pmid, article.doi) == ("PMC3166277", "21810267", "10.1186/1471-2180-11-174")
    assert (article.article_type, article.journal, article.year) == ("research-article", "BMC Microbiology", 2011)
    assert article.license == "CC BY 2.0"
    assert _parse(shared_pmc, "pmc/mds526.nxml").license == "CC BY-NC 3.0"
    assert _parse(shared_pmc, "pmc/6605965a.nxml").license == "copyright"
    assert _parse(shared_pmc, "pmc/ehp-116-1694.nxml").license == "public domain"
    assert _parse(shared_pmc, "pmc/pntd.0002065.nxml").license == "CC BY"  # licence text without a URL
    assert _parse(shared_pmc, "elife/elife02935.xml").license == "CC0"
    elife = _parse(shared_pmc, "elife/elife00270.xml")
    assert elife.pmcid is None and elife.doi == "10.7554/eLife.00270"


def test_sub_articles_and_back_matter_are_not_read(shared_pmc):
    # elife-00666 has decision letters and author responses after <back>; none of their text is extracted
    data = (shared_pmc / "elife/elife-00666.xml").read_bytes()
    root = etree.fromstring(data)
    sub_texts = {" ".join("".join(p.itertext()).split()) for p in root.iterfind("sub-article//p")}
    back_texts = {" ".join("".join(p.itertext()).split()) for p in root.iterfind("back//p")}
    texts = {p.text for p in parse_article(data).paragraphs}
    assert sub_texts and back_texts
    assert not (texts & (sub_texts | back_texts))


def _sample(name):
    return parse_article((embedded_sample_dir() / "articles" / name).read_bytes(), file=name)


def test_lists_boxes_and_quotes_are_containers():
    review = {p.path: p for p in _sample("Neurodegener_Rev_2020_99000004.nxml").paragraphs}
    assert review["sec[0]/boxed-text[0]/p[0]"].section == "Introduction > Box 1. Key terms"
    assert review["sec[2]/list[0]/list-item[0]/p[0]"].text.startswith("Loss of butyrate")
    assert review["sec[3]/disp-quote[0]/p[0]"].text.startswith("“The question is no longer")
    # a list inside a <p>: the <p> keeps its own text only, each item follows as its own paragraph
    infection = _sample("J_Clin_Infect_Res_2022_99000003.nxml")
    paths = [p.path for p in infection.paragraphs]
    owner = paths.index("sec[0]/p[2]")
    assert paths[owner + 1 : owner + 4] == [f"sec[0]/p[2]/list[0]/list-item[{i}]/p[0]" for i in range(3)]
    owner_text = infection.paragraphs[owner].text
    assert "to estimate the prevalence" not in owner_text
    assert infection.paragraphs[owner + 1].text.startswith("to estimate the prevalence of CPE carriage")


def test_formulas_citations_tables_and_footnotes():
    epidemiology = {p.path: p.text for p in _sample("Comput_Epidemiol_2019_99000010.nxml").paragraphs}
    assert "given by p_c = 1 - 1/R_0, which" in epidemiology["sec[0]/p[0]"]  # inline <tex-math>
    assert "coupling matrix C, [formula] where" in epidemiology["sec[1]/sec[0]/sec[0]/p[0]"]  # display formula
    for name in (p.name for p in (embedded_sample_dir() / "articles").glob("*.nxml")):
        root = etree.parse(str(embedded_sample_dir() / "articles" / name)).getroot()
        dropped = set()
        for tag in ("table-wrap", "fig", "fn", "supplementary-material"):
            for element in root.iter(tag):
                dropped |= {" ".join("".join(p.itertext()).split()) for p in element.iter("p", "td", "th")}
        dropped.discard("")
        for paragraph in _sample(name).paragraphs:
            assert not any(text in paragraph.text for text in dropped if len(text) > 20), (name, paragraph.path)


def test_superscript_citations_are_bracketed_and_breaks_are_spaces():
    texts = " ".join(p.text for p in _sample("Cardiol_Case_J_2021_99000001.nxml").paragraphs)
    raw = (embedded_sample_dir() / "articles" / "Cardiol_Case_J_2021_99000001.nxml").read_text()
    assert '<sup><xref ref-type="bibr"' in raw
    assert re.search(r"\w\[\d+(?:[,–-]\d+)*\]", texts)
    checked = 0
    for name in ("Cas_Clin_Med_Interne_2019_99000002.nxml", "Nephrol_Case_Rep_2017_99000008.nxml"):
        root = etree.parse(str(embedded_sample_dir() / "articles" / name)).getroot()
        for line_break in root.iter("break"):
            before = (line_break.getprevious().tail if line_break.getprevious() is not None else None) or (
                line_break.getparent().text or ""
            )
            after = line_break.tail or ""
            if before.strip() and after.strip():
                joined = before.split()[-1] + " " + after.split()[0]
                assert any(joined in p.text for p in _sample(name).paragraphs), joined
                checked += 1
    assert checked >= 1


def test_abstract_and_translated_abstract_paths():
    horton = _sample("Cas_Clin_Med_Interne_2019_99000002.nxml")
    by_path = {p.path: p for p in horton.paragraphs}
    assert "trans-abstract[0]/p[0]" in by_path
    assert by_path["trans-abstract[0]/p[0]"].section == "Abstract"
    assert horton.paragraphs[0].path.startswith("abstract[0]/")  # abstracts come first in document order


def test_body_paragraphs_are_numbered_first_as_the_published_ids():
    # the published id 30343930_p0 is sec[0]/p[0] (Rian-T/biomed-enriched examples/simple.py): the numbering
    # counts the body's paragraphs from 0, whatever abstracts the article has; the abstracts come after them
    horton = _sample("Cas_Clin_Med_Interne_2019_99000002.nxml")
    body = [p for p in horton.paragraphs if not p.path.split("/")[0].startswith(("abstract[", "trans-abstract["))]
    abstracts = [p for p in horton.paragraphs if p not in body]
    assert abstracts and body
    assert [p.paragraph_index for p in body] == list(range(len(body)))
    assert [p.paragraph_index for p in abstracts] == list(range(len(body), len(horton.paragraphs)))
    assert (body[0].path, body[0].paragraph_index) == ("sec[0]/p[0]", 0)


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"", "empty_file"),
        (b"<article><front><article-meta></article-meta></front><body><p>x</p></body>", "truncated_xml"),
        (b"<article><front><article-meta></front><body></body></article>", "malformed_xml"),
        (b'<?xml version="1.0" encoding="UTF-8"?><article><body><p>caf\xe9</p></body></article>', "bad_encoding"),
        (b"<html><body></body></html>\n</article>", "malformed_xml"),
        (b"<article><body><p>no front</p></body></article>", "no_article_meta"),
    ],
)
def test_bad_xml_is_rejected_with_a_reason(data, reason):
    with pytest.raises(ArticleError) as caught:
        parse_article(data, file="bad.xml")
    assert caught.value.reason == reason
