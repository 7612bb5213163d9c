from biomed.runtime.summary import read_summary, write_summary


def test_summary_is_sorted_json_with_a_final_newline(tmp_path):
    path = write_summary(tmp_path, {"b": 2, "a": {"d": 1, "c": [1, 2]}})
    assert path == tmp_path / "summary.json"
    first = path.read_bytes()
    write_summary(tmp_path, {"a": {"c": [1, 2], "d": 1}, "b": 2})
    assert path.read_bytes() == first  # the same counts give the same bytes, whatever their order
    assert first.endswith(b"}\n") and first.index(b'"a"') < first.index(b'"b"')
    assert read_summary(tmp_path) == {"a": {"c": [1, 2], "d": 1}, "b": 2}
    assert read_summary(tmp_path, "other.json") is None
