import json

import pytest

from biomed.runtime.files import files_fingerprint
from biomed.runtime.markers import DoneMarkers


def test_a_marker_counts_only_for_the_input_it_was_computed_from(tmp_path, monkeypatch):
    shard = tmp_path / "in" / "a.parquet"
    shard.parent.mkdir()
    shard.write_bytes(b"one")
    markers = DoneMarkers(tmp_path / "done")
    inputs = files_fingerprint([shard])
    assert markers.read("a", inputs) is None
    markers.write("a", {"rows": 3}, inputs)
    assert markers.read("a", inputs) == {"rows": 3}
    monkeypatch.chdir(tmp_path)
    assert markers.read("a", files_fingerprint(["in/a.parquet"])) == {"rows": 3}  # same file, relative path
    shard.write_bytes(b"other content")
    assert markers.read("a", files_fingerprint([shard])) is None  # the input changed: redo
    assert markers.done(["a"], {"a": inputs}) == {"a"}
    markers.path("a").write_text(json.dumps({"rows": 3}))  # an older kit's marker: recorded nothing
    assert markers.read("a", inputs) is None
    markers.path("a").write_text('{"rows": 3, "comp')  # cut short by a kill
    assert markers.read("a", inputs) is None
    markers.clear("a")
    assert not markers.path("a").exists()
    with pytest.raises(ValueError, match="reserved"):
        markers.write("a", {"computed_from": 1}, inputs)


@pytest.mark.parametrize("damage", ["deleted", "truncated", "replaced"])
def test_a_marker_counts_only_while_its_outputs_are_intact(tmp_path, damage):
    # issue 21: an output shard deleted or truncated while its marker stayed was reported done, its rows missing
    run = tmp_path / "run"
    output = run / "data" / "a.parquet"
    output.parent.mkdir(parents=True)
    content = bytes(range(256)) * 1024  # larger than the two hashed edges
    output.write_bytes(content)
    markers = DoneMarkers(run / "done")
    markers.write("a", {"rows": 3}, "in", outputs=[output])
    assert markers.read("a", "in") == {"rows": 3}
    assert "data/a.parquet" in json.loads(markers.path("a").read_text())["outputs"]  # named inside the run folder
    if damage == "deleted":
        output.unlink()
    elif damage == "truncated":
        output.write_bytes(content[:-10])
    else:
        output.write_bytes(content[:-1] + b"x")  # same size, another footer
    assert markers.read("a", "in") is None
    with pytest.raises(FileNotFoundError):
        markers.write("b", {}, "in", outputs=[run / "data" / "missing.parquet"])
