"""`biomed data rehydrate`: withheld text put back from real JATS files, folders and bulk packages."""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from dataset_builder.populate_rule import authors_paths, authors_text
from dataset_builder.scored_shards import extract_sample, score_extracted
from typer.testing import CliRunner

from biomed.cli import app
from biomed.config import resolve_config
from biomed.dataset_builder.build.stage import BuildConfig, default_recipe, run_build
from biomed.dataset_builder.extract.stage import embedded_sample_dir
from biomed.dataset_builder.release import rehydrate
from biomed.dataset_builder.release.dump_index import scan_article_ids
from biomed.dataset_builder.release.rehydrate import RehydrateConfig, run_rehydrate
from biomed.errors import BiomedError


NON_COMMERCIAL = "mds526.nxml"  # CC BY-NC 3.0, PMID 23149571


@pytest.fixture(scope="module")
def sample(tmp_path_factory, shared_pmc) -> dict[str, Path]:
    """The real sample extracted and scored, built twice: the public release and the same without withholding."""
    root = tmp_path_factory.mktemp("sample")
    scored = score_extracted(extract_sample(root / "extracted"), root / "scored")
    dump = root / "dump"
    shutil.copytree(embedded_sample_dir() / "articles", dump / "sample")
    shutil.copytree(shared_pmc / "pmc", dump / "pmc")
    out = {"root": root, "dump": dump, "extracted": root / "extracted"}
    for name, withhold in (("public", None), ("full", [])):
        options = {"input_dir": str(scored), "output_dir": str(root / name), "card.plots": False}
        if withhold is not None:
            options["withhold_text_groups"] = withhold
        out[name] = run_build(resolve_config(BuildConfig, default_recipe(), options=options)).output_dir
    return out


def _tables(folder: Path) -> dict[str, pa.Table]:
    return {p.relative_to(folder).as_posix(): pq.read_table(p) for p in sorted((folder / "data").rglob("*.parquet"))}


def test_rehydrated_release_equals_the_build_without_withholding(sample, tmp_path):
    public, full = _tables(sample["public"]), _tables(sample["full"])
    withheld = sum(t["text"].null_count for t in public.values())
    assert withheld > 0

    summary = run_rehydrate(
        RehydrateConfig(dataset=str(sample["public"]), pmc_xml=[str(sample["dump"])], output_dir=str(tmp_path / "out"))
    )

    assert summary.rows_missing_text == withheld and summary.filled == withheld and not summary.not_found
    got = _tables(tmp_path / "out")
    assert got.keys() == full.keys()
    for name, table in full.items():
        # every column, the BE-All text prefix included, and the Parquet metadata (the spec) are back as built
        assert got[name].equals(table), name
        assert got[name].schema.metadata == pq.read_schema(sample["public"] / name).metadata
    assert (tmp_path / "out" / "README.md").read_text() == (sample["public"] / "README.md").read_text()
    assert (tmp_path / "out" / "rehydrate_missing.jsonl").read_text() == ""


def test_bulk_packages_and_the_cached_index(sample, tmp_path):
    packages = tmp_path / "packages"
    packages.mkdir()
    for name in ("sample", "pmc"):
        with tarfile.open(packages / f"oa_{name}.PMC00xxxxxx.baseline.tar.gz", "w:gz") as tar:
            tar.add(sample["dump"] / name, arcname=f"PMC00x/{name}")
    cfg = RehydrateConfig(dataset=str(sample["public"]), pmc_xml=[str(packages)], output_dir=str(tmp_path / "out"))

    first = run_rehydrate(cfg)
    assert first.units_indexed == 2 and first.filled == first.rows_missing_text > 0
    shutil.rmtree(tmp_path / "out" / "data")  # a second run: index and parsed texts come from the cache
    second = run_rehydrate(cfg)
    assert second.units_indexed == 0 and second.filled == first.filled
    for name, table in _tables(sample["full"]).items():
        assert pq.read_table(tmp_path / "out" / name).equals(table), name


def test_published_release_keys_get_a_text_column_and_misses_are_reported(sample, shared_pmc, tmp_path):
    xml = (shared_pmc / "pmc" / NON_COMMERCIAL).read_bytes()
    paths = authors_paths(xml)
    keys = {
        "article_id": ["23149571"] * len(paths) + ["23149571", "11111111"],
        "path": paths + ["sec[99]/p[0]", "sec[0]/p[0]"],
        "domain": ["clinical"] * (len(paths) + 2),
    }
    published = tmp_path / "published" / "data"
    published.mkdir(parents=True)
    pq.write_table(pa.table(keys), published / "noncommercial-00000-of-00001.parquet")

    summary = run_rehydrate(
        RehydrateConfig(
            dataset=str(tmp_path / "published"), pmc_xml=[str(sample["dump"])], output_dir=str(tmp_path / "o")
        )
    )

    out = pq.read_table(tmp_path / "o" / "data" / "noncommercial-00000-of-00001.parquet")
    assert out.column_names == ["article_id", "path", "text", "domain"]
    assert summary.text_rule == "published"
    assert out["text"].to_pylist()[: len(paths)] == [authors_text(xml, path) for path in paths]
    refused = [p for p in paths if authors_text(xml, p) is None]  # a step through list-item, boxed-text...
    assert all("-" in p for p in refused) and len(refused) < len(paths)
    assert out["text"].to_pylist()[len(paths) :] == [None, None]
    assert summary.not_found == {"paragraph_not_found": 1 + len(refused), "article_not_in_dump": 1}
    assert summary.unverified == summary.filled == len(paths) - len(refused)
    missing = (tmp_path / "o" / "rehydrate_missing.jsonl").read_text().splitlines()
    assert len(missing) == 2 + len(refused)
    assert '"path": "sec[99]/p[0]"' in missing[-2] and "11111111" in missing[-1]


def test_published_keys_get_the_authors_text_byte_for_byte_on_every_real_article(shared_pmc, tmp_path):
    rows = []
    for path in sorted(p for p in shared_pmc.rglob("*") if p.suffix in (".xml", ".nxml")):
        data = path.read_bytes()
        ids = scan_article_ids(data)
        article_id = ids.get("pmid") or ids.get("pmcid") or f"doi:{ids['doi']}"
        # every <p> of the article, plus steps the authors' tool refuses or cannot find
        for key in [*authors_paths(data), "sec[0]/list-item[0]/p[0]", "sec[999]/p[0]", "p[0]"]:
            rows.append((article_id, key, authors_text(data, key)))
    assert len({r[0] for r in rows}) == 18 and sum(r[2] is not None for r in rows) > 500
    published = tmp_path / "published" / "data"
    published.mkdir(parents=True)
    keys = {"article_id": [r[0] for r in rows], "path": [r[1] for r in rows]}
    pq.write_table(pa.table(keys), published / "noncommercial-00000-of-00001.parquet")

    summary = run_rehydrate(
        RehydrateConfig(dataset=str(tmp_path / "published"), pmc_xml=[str(shared_pmc)], output_dir=str(tmp_path / "o"))
    )

    got = pq.read_table(tmp_path / "o" / "data" / "noncommercial-00000-of-00001.parquet")["text"].to_pylist()
    expected = [r[2] for r in rows]
    assert [(r[0], r[1]) for r, g, e in zip(rows, got, expected, strict=True) if g != e] == []
    assert [g.encode() for g in got if g is not None] == [e.encode() for e in expected if e is not None]
    assert summary.filled == sum(e is not None for e in expected)


def test_a_changed_article_is_reported_not_guessed(sample, tmp_path):
    dump = Path(shutil.copytree(sample["dump"], tmp_path / "dump"))
    article = dump / "pmc" / NON_COMMERCIAL
    xml = article.read_text(encoding="utf-8")
    assert xml.count("<body>") == 1
    # a newer version with one more paragraph up front: every later paragraph moves down by one
    article.write_text(xml.replace("<body>", "<body><p>Erratum: an added paragraph.</p>"), encoding="utf-8")
    cfg = RehydrateConfig(dataset=str(sample["public"]), pmc_xml=[str(dump)], output_dir=str(tmp_path / "out"))

    summary = run_rehydrate(cfg)

    assert summary.changed_articles > 0 and summary.not_found.get("article_changed", 0) > 0
    report = (tmp_path / "out" / "rehydrate_missing.jsonl").read_text()
    assert '"article_id": "23149571"' in report and '"reason": "article_changed"' in report
    base = pq.read_table(next((tmp_path / "out" / "data" / "BE-Base").glob("*.parquet")))
    rows = base.filter(pc.equal(base["article_id"], "23149571"))
    assert rows["text"].null_count == rows.num_rows  # nothing filled from the changed article

    forced = run_rehydrate(
        RehydrateConfig(**{**cfg.__dict__, "output_dir": str(tmp_path / "forced"), "fill_changed": True})
    )
    assert "article_changed" not in forced.not_found


def test_a_crashed_fill_resumes_without_redoing_finished_files(sample, tmp_path, monkeypatch):
    real = rehydrate._fill_file
    calls: list[str] = []

    def crash_on_third(job):
        calls.append(job.name)
        if len(calls) == 3:
            raise RuntimeError("killed")
        return real(job)

    monkeypatch.setattr(rehydrate, "_fill_file", crash_on_third)
    cfg = RehydrateConfig(
        dataset=str(sample["public"]), pmc_xml=[str(sample["dump"])], output_dir=str(tmp_path / "out")
    )
    with pytest.raises(RuntimeError, match="killed"):
        run_rehydrate(cfg)

    done = {name: (tmp_path / "out" / name).stat().st_mtime_ns for name in calls[:2]}
    monkeypatch.setattr(rehydrate, "_fill_file", real)
    summary = run_rehydrate(cfg)

    assert summary.units_indexed == 0 and not summary.not_found
    assert {name: (tmp_path / "out" / name).stat().st_mtime_ns for name in done} == done  # not rewritten
    for name, table in _tables(sample["full"]).items():
        assert pq.read_table(tmp_path / "out" / name).equals(table), name


def test_scan_article_ids_reads_only_the_article_meta(shared_pmc):
    xml = (shared_pmc / "pmc" / NON_COMMERCIAL).read_bytes()
    assert scan_article_ids(xml) == {"pmcid": "PMC3574550", "pmid": "23149571", "doi": "10.1093/annonc/mds526"}
    fake = b'<article><front><article-meta><article-id pub-id-type="pmc">123</article-id></article-meta></front>'
    fake += b'<sub-article><front-stub><article-id pub-id-type="pmid">999</article-id></front-stub></sub-article>'
    assert scan_article_ids(fake) == {"pmcid": "PMC123"}


def test_bad_inputs_and_the_cli(sample, tmp_path):
    with pytest.raises(BiomedError, match="does not exist"):
        run_rehydrate(RehydrateConfig(dataset=str(tmp_path / "nope"), pmc_xml=[str(sample["dump"])]))
    with pytest.raises(BiomedError, match="--pmc-xml"):
        run_rehydrate(RehydrateConfig(dataset=str(sample["public"])))
    with pytest.raises(BiomedError, match="is the dataset folder itself"):
        run_rehydrate(
            RehydrateConfig(
                dataset=str(sample["public"]), pmc_xml=[str(sample["dump"])], output_dir=str(sample["public"])
            )
        )
    with pytest.raises(BiomedError, match="does not exist"):
        run_rehydrate(
            RehydrateConfig(
                dataset=str(sample["public"]), pmc_xml=[str(tmp_path / "no-dump")], output_dir=str(tmp_path / "x")
            )
        )

    runner = CliRunner()
    only_sample = tmp_path / "only-sample"  # the shared articles are missing: their rows are reported, exit 1
    shutil.copytree(sample["dump"] / "sample", only_sample)
    result = runner.invoke(
        app, ["data", "rehydrate", str(sample["public"]), "--pmc-xml", str(only_sample), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 1, result.output
    assert "left without text: article_not_in_dump" in result.output and "Rehydrated" in result.output
    ok = runner.invoke(
        app, ["data", "rehydrate", str(sample["public"]), "--pmc-xml", str(sample["dump"]), "-o", str(tmp_path / "ok")]
    )
    assert ok.exit_code == 0, ok.output
    assert "--fill-changed" in runner.invoke(app, ["data", "rehydrate", "--help"]).output
