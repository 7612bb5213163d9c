import pytest

from biomed.errors import BiomedError
from biomed.runtime.files import atomic_write, find_shards, read_json, write_json


def test_atomic_write_replaces_whole_or_leaves_the_old_file(tmp_path):
    target = tmp_path / "sub" / "out.json"
    write_json(target, {"a": 1})
    with pytest.raises(RuntimeError):
        with atomic_write(target) as handle:
            handle.write('{"a": 2, "cut')
            raise RuntimeError("killed mid-write")
    assert read_json(target) == {"a": 1}
    assert [p.name for p in target.parent.iterdir()] == ["out.json"]  # no temporary file left behind
    with atomic_write(target, "wb") as handle:
        handle.write(b'{"a": 3}')
    assert read_json(target) == {"a": 3}
    target.write_text('{"a": ')
    assert read_json(target) is None  # a file cut short reads as missing


def test_find_shards_prefers_data_and_names_what_to_pass(tmp_path):
    (tmp_path / "data").mkdir()
    for name in ("b.parquet", "a.parquet", ".c.parquet", "x.parquet.123.tmp"):
        (tmp_path / "data" / name).write_bytes(b"")
    (tmp_path / "top.parquet").write_bytes(b"")
    assert [p.name for p in find_shards(tmp_path, hint="h")] == ["a.parquet", "b.parquet"]
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "train.parquet").write_bytes(b"")
    (tmp_path / ".work").mkdir()
    (tmp_path / ".work" / "t.parquet").write_bytes(b"")
    found = [p.relative_to(tmp_path).as_posix() for p in find_shards(tmp_path, hint="h", recursive=True)]
    assert found == ["cfg/train.parquet", "data/a.parquet", "data/b.parquet", "top.parquet"]
    assert find_shards(tmp_path / "top.parquet", hint="h", allow_file=True) == [tmp_path / "top.parquet"]
    with pytest.raises(BiomedError, match="does not exist; pass the extraction"):
        find_shards(tmp_path / "missing", hint="pass the extraction")
    with pytest.raises(BiomedError, match="is not a folder"):
        find_shards(tmp_path / "top.parquet", hint="h")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BiomedError, match="no .parquet shards"):
        find_shards(tmp_path / "empty", hint="h")
