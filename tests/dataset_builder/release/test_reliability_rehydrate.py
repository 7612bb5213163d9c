"""`biomed data rehydrate` never writes a text it cannot check, and says what it met in the dump.

One test per defect once seen: a changed text filled silently, two versions of an article decided by path order,
a truncated package reported as nothing but articles "not in the dump"."""

from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from dataset_builder.scored_shards import SHARED_PMC, extract_sample, score_extracted

from biomed.config import resolve_config
from biomed.dataset_builder.build.stage import BuildConfig, default_recipe, run_build
from biomed.dataset_builder.extract.stage import embedded_sample_dir
from biomed.dataset_builder.release.rehydrate import REPORT_FILE, RehydrateConfig, run_rehydrate


NON_COMMERCIAL = "mds526.nxml"  # CC BY-NC 3.0, PMID 23149571
PMID = "23149571"


@pytest.fixture(scope="module")
def release(tmp_path_factory, shared_pmc) -> dict[str, Path]:
    """The shared PMC articles extracted, scored and built (BE-Base and the published-layout default)."""
    root = tmp_path_factory.mktemp("reliability")
    scored = score_extracted(extract_sample(root / "extracted"), root / "scored")
    options = {"input_dir": str(scored), "output_dir": str(root / "public"), "card.plots": False}
    options["only"] = ["default", "BE-Base"]
    public = run_build(resolve_config(BuildConfig, default_recipe(), options=options)).output_dir
    return {"public": public, "root": root}


def _dump(tmp_path: Path) -> Path:
    dump = tmp_path / "dump"
    shutil.copytree(SHARED_PMC / "pmc", dump / "pmc")
    shutil.copytree(embedded_sample_dir() / "articles", dump / "sample")
    return dump


def _rows_of(folder: Path, config: str, article_id: str):
    tables = [pq.read_table(p) for p in sorted((folder / "data" / config).glob("*.parquet"))]
    return [t.filter(pc.equal(t["article_id"], article_id)) for t in tables]


def _edit_first_paragraph(xml: str) -> str:
    """The same article with one word of a body paragraph changed: same paragraphs, same paths, another text."""
    body = xml.index("<body>")
    start = xml.index("<p>", body) + 3
    return xml[:start] + "Corrected: " + xml[start:]


def test_a_changed_text_with_the_same_layout_is_reported_not_filled(release, tmp_path):
    dump = _dump(tmp_path)
    article = dump / "pmc" / NON_COMMERCIAL
    article.write_text(_edit_first_paragraph(article.read_text(encoding="utf-8")), encoding="utf-8")

    summary = run_rehydrate(
        RehydrateConfig(dataset=str(release["public"]), pmc_xml=[str(dump)], output_dir=str(tmp_path / "out"))
    )

    # every paragraph is still at its path and index: only the recorded length and hash tell the change
    assert summary.changed_articles == 1 and summary.not_found.get("article_changed", 0) > 0
    for config in ("BE-Base", "default"):
        for rows in _rows_of(tmp_path / "out", config, PMID):
            assert rows["text"].null_count == rows.num_rows, config  # nothing of the changed article written
    report = json.loads((tmp_path / "out" / REPORT_FILE).read_text())
    assert report["changed_article_ids"] == [PMID]
    # the other withheld articles, unchanged, are filled and match the release's record
    assert summary.filled > 0 and set(summary.not_found) == {"article_changed"}


def test_two_versions_of_an_article_are_reported_and_the_release_s_one_is_used(release, tmp_path):
    dump = _dump(tmp_path)
    # a newer version sorted before the original: path order alone would pick it
    newer = dump / "a-newer" / NON_COMMERCIAL
    newer.parent.mkdir()
    newer.write_text(_edit_first_paragraph((dump / "pmc" / NON_COMMERCIAL).read_text(encoding="utf-8")))

    summary = run_rehydrate(
        RehydrateConfig(dataset=str(release["public"]), pmc_xml=[str(dump)], output_dir=str(tmp_path / "out"))
    )

    assert summary.duplicate_articles == 1 and summary.changed_articles == 0 and not summary.not_found
    report = json.loads((tmp_path / "out" / REPORT_FILE).read_text())
    assert list(report["duplicate_versions"]) == [PMID] and len(report["duplicate_versions"][PMID]) == 2
    assert "found twice or more in the dump 1" in summary.render()
    for rows in _rows_of(tmp_path / "out", "BE-Base", PMID):
        assert rows["text"].null_count == 0
        assert not any(text.startswith("Corrected:") for text in rows["text"].to_pylist())


def test_a_truncated_package_is_reported_as_damaged(release, tmp_path):
    packages = tmp_path / "packages"
    packages.mkdir()
    whole = packages / "oa_noncomm.PMC00xxxxxx.baseline.tar.gz"
    with tarfile.open(whole, "w:gz") as tar:
        for path in sorted((SHARED_PMC / "pmc").iterdir()):
            tar.add(path, arcname=f"PMC00x/{path.name}")
    data = whole.read_bytes()
    whole.write_bytes(data[: len(data) // 3])  # a download cut short

    summary = run_rehydrate(
        RehydrateConfig(dataset=str(release["public"]), pmc_xml=[str(packages)], output_dir=str(tmp_path / "out"))
    )

    assert [item["unit"] for item in summary.damaged] == [str(whole)]
    assert "DAMAGED in the dump" in summary.render() and str(whole) in summary.render()
    report = json.loads((tmp_path / "out" / REPORT_FILE).read_text())
    assert report["damaged"] == summary.damaged
    assert summary.filled < summary.rows_missing_text  # the articles after the cut are still missing


def test_a_text_nothing_recorded_can_check_is_never_written(release, tmp_path):
    # only the published layout: no n_chars or text_hash column, and no other config to take them from
    alone = tmp_path / "alone"
    shutil.copytree(release["public"] / "data" / "default", alone / "data" / "default")
    shutil.copy(release["public"] / "README.md", alone / "README.md")

    summary = run_rehydrate(
        RehydrateConfig(dataset=str(alone), pmc_xml=[str(_dump(tmp_path))], output_dir=str(tmp_path / "out"))
    )

    assert summary.text_rule == "kit" and summary.rows_missing_text > 0
    assert summary.filled == 0 and summary.not_found == {"unverifiable": summary.rows_missing_text}
