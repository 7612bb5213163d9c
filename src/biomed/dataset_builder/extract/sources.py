"""Where PMC-OA articles come from: folders of ``.xml``/``.nxml`` files, bulk packages, the OA file list.

Example::

    from biomed.dataset_builder.extract.sources import iter_article_sources, list_input_units

    for name, data in iter_article_sources(["~/pmc/oa_comm_xml.PMC000xxxxxx.baseline.2024.tar.gz"]):
        ...  # name: the member name in the package; data: the article's XML bytes

Bulk packages (``.tar.gz``, ``.tgz``, ``.tar``) are read as a stream, member after member, and never unpacked
to disk. An input "unit" is one loose article file or one whole package: the pipeline shares units between
its tasks, so the order of units (sorted paths) fixes which task reads what, run after run.
"""

from __future__ import annotations

import csv
import os
import stat
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from biomed.errors import BiomedError


ARTICLE_SUFFIXES = (".xml", ".nxml")
PACKAGE_SUFFIXES = (".tar.gz", ".tgz", ".tar")
FILE_LIST_COLUMNS = ("Accession ID", "PMID", "License")


@dataclass(frozen=True)
class InputUnit:
    """One loose article file, or one bulk package, with the input root its names are relative to."""

    path: str
    root: str

    @property
    def is_package(self) -> bool:
        return self.path.endswith(PACKAGE_SUFFIXES)

    @property
    def name(self) -> str:
        """The file's path relative to its input root (a file given directly is named by its base name)."""
        return os.path.relpath(self.path, self.root) if self.root else os.path.basename(self.path)


class SourceError(Exception):
    """A unit that could not be read (a corrupt package, an unreadable file); ``reason`` is a short code."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def list_input_units(inputs: list[str | Path], skipped: list[dict] | None = None) -> list[InputUnit]:
    """Every article file and package under ``inputs`` (folders are walked), in a stable order.

    Only regular files (or symlinks to one) are units: a dangling symlink, a FIFO or a socket named like an article
    is skipped (reading a FIFO would wait forever), and recorded in ``skipped`` with its reason when given.

    Raises:
        BiomedError: an input path does not exist, or nothing readable was found.
    """
    units: list[InputUnit] = []
    skipped = [] if skipped is None else skipped
    for raw in inputs:
        path = Path(raw).expanduser()
        if not path.exists():
            raise BiomedError(f"input {raw} does not exist; pass folders of .xml/.nxml files or .tar.gz packages")
        if path.is_file():
            if not str(path).endswith(ARTICLE_SUFFIXES + PACKAGE_SUFFIXES):
                raise BiomedError(f"input {raw} is not an .xml/.nxml article nor a .tar.gz/.tgz/.tar package")
            units.append(InputUnit(str(path), ""))
            continue
        root = str(path)
        for folder, subfolders, files in os.walk(root):
            subfolders.sort()
            for name in sorted(files):
                if name.endswith(ARTICLE_SUFFIXES + PACKAGE_SUFFIXES):
                    path = os.path.join(folder, name)
                    problem = _not_a_regular_file(path)
                    if problem:
                        skipped.append({"file": path, "reason": problem[0], "detail": problem[1]})
                    else:
                        units.append(InputUnit(path, root))
    if not units:
        raise BiomedError(
            f"no .xml/.nxml articles nor .tar.gz packages found in {', '.join(map(str, inputs))}; "
            "download PMC-OA bulk packages or point to a folder of article files"
        )
    return sorted(units, key=lambda unit: unit.path)


def _not_a_regular_file(path: str) -> tuple[str, str] | None:
    """``(reason, detail)`` when ``path`` is not a readable regular file (symlinks followed), else ``None``."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "unreadable_file", f"dangling symlink to {os.readlink(path)}" if os.path.islink(path) else "vanished"
    except OSError as err:
        return "unreadable_file", str(err)
    if not stat.S_ISREG(mode):
        return "not_a_file", "not a regular file (a FIFO, socket or device named like an article)"
    return None


def iter_unit(unit: InputUnit) -> Iterator[tuple[str, bytes]]:
    """``(name, xml bytes)`` for each article of one unit.

    Raises:
        SourceError: the file cannot be read, or the package is corrupt (the articles read before the damage
            have been yielded already).
    """
    if not unit.is_package:
        try:
            with open(unit.path, "rb") as handle:
                data = handle.read()
        except OSError as err:
            raise SourceError("unreadable_file", str(err)) from None
        yield unit.name, data
        return
    try:
        with tarfile.open(unit.path, mode="r|*") as package:
            for member in package:
                if member.isfile() and member.name.endswith(ARTICLE_SUFFIXES):
                    handle = package.extractfile(member)
                    if handle is not None:
                        yield member.name, handle.read()
    except (tarfile.TarError, zlib.error, EOFError, OSError) as err:
        raise SourceError("corrupt_package", f"{type(err).__name__}: {err}") from None


def iter_article_sources(inputs: list[str | Path]) -> Iterator[tuple[str, bytes]]:
    """``(name, xml bytes)`` for every article under ``inputs``; damaged packages raise ``SourceError``."""
    for unit in list_input_units(inputs):
        yield from iter_unit(unit)


def read_file_list(path: str | Path) -> dict[str, tuple[str | None, str]]:
    """The PMC OA file list as ``{PMCID: (PMID or None, License)}``.

    Raises:
        BiomedError: the file is missing or lacks one of the ``Accession ID``, ``PMID``, ``License`` columns.
    """
    path = Path(path)
    if not path.is_file():
        raise BiomedError(f"file list {path} does not exist; pass the PMC OA file list CSV (oa_file_list.csv)")
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            return _file_list_entries(path, csv.DictReader(handle))
    except UnicodeDecodeError:
        data = path.read_bytes()  # the error's offset is within one read buffer: find the byte in the whole file
        try:
            data.decode("utf-8")
            where, byte = "", ""
        except UnicodeDecodeError as err:
            line = data[: err.start].count(b"\n") + 1
            where, byte = f":{line}", f" (byte 0x{data[err.start]:02x})"
        raise BiomedError(
            f"{path}{where}: not UTF-8 text{byte}; the PMC OA file list is UTF-8: download it again or convert it "
            "(iconv -t UTF-8)"
        ) from None
    except (csv.Error, OSError) as err:
        raise BiomedError(f"{path}: not a readable CSV file list ({err})") from None


def _file_list_entries(path: Path, reader: csv.DictReader) -> dict[str, tuple[str | None, str]]:
    missing = [column for column in FILE_LIST_COLUMNS if column not in (reader.fieldnames or [])]
    if missing:
        raise BiomedError(
            f"{path}:1: missing column(s) {', '.join(missing)}; a PMC OA file list has "
            f"{', '.join(FILE_LIST_COLUMNS)} among its columns"
        )
    entries = {}
    for row in reader:
        accession = (row["Accession ID"] or "").strip().upper()
        if accession:
            entries[accession] = ((row["PMID"] or "").strip() or None, (row["License"] or "").strip())
    return entries
