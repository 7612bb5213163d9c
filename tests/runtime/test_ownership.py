import os
import subprocess
import sys
import textwrap

import pytest

from biomed.runtime.ownership import OutputRefused, claim_output, input_fingerprint, read_manifest


def _input(tmp_path):
    folder = tmp_path / "scored" / "data"
    folder.mkdir(parents=True)
    (folder / "a.parquet").write_bytes(b"a")
    return tmp_path / "scored", [folder / "a.parquet"]


def test_manifest_comes_first_and_a_different_run_is_refused_in_one_line(tmp_path, monkeypatch):
    root, files = _input(tmp_path)
    out = tmp_path / "release"
    with claim_output(out, "build", {"seed": 0}, input_fingerprint(root, files)) as folder:
        manifest = read_manifest(folder)
        assert manifest["stage"] == "build" and manifest["settings"] == {"seed": 0}
        assert manifest["inputs"][0]["files"][0][0] == "data/a.parquet" and manifest["kit_version"]
        (folder / "data").mkdir()
        (folder / "data" / "x.parquet").write_bytes(b"x")
    monkeypatch.chdir(tmp_path)  # the same folders by relative paths: the same run, resumed
    with claim_output("release", "build", {"seed": 0}, input_fingerprint("scored", ["scored/data/a.parquet"])):
        pass
    with pytest.raises(OutputRefused) as err:
        with claim_output(out, "build", {"seed": 1}, input_fingerprint(root, files)):
            pass
    message = str(err.value)
    assert "another seed (0 there, 1 now)" in message and "--overwrite" in message and "new --out" in message
    assert "\n" not in message
    with pytest.raises(OutputRefused, match="output of `build`, not of `classify score`"):
        with claim_output(out, "classify score", {"seed": 0}, input_fingerprint(root, files)):
            pass
    files[0].write_bytes(b"changed")
    with pytest.raises(OutputRefused, match=r"another input \(data/a.parquet changed\)"):
        with claim_output(out, "build", {"seed": 0}, input_fingerprint(root, files)):
            pass
    with claim_output(out, "build", {"seed": 1}, input_fingerprint(root, files), overwrite=True) as folder:
        assert sorted(p.name for p in folder.iterdir()) == [".biomed"]  # started afresh
    assert read_manifest(out)["settings"] == {"seed": 1}


def test_out_that_is_an_input_a_file_or_read_only_is_refused_even_with_overwrite(tmp_path, monkeypatch):
    root, files = _input(tmp_path)
    inputs = input_fingerprint(root, files)
    for out, why in ((root, "is the input"), (root / "data", "is inside the input"), (tmp_path, "holds the input")):
        with pytest.raises(OutputRefused, match=why):
            with claim_output(out, "build", {}, inputs, overwrite=True):
                pass
    assert files[0].read_bytes() == b"a"
    with pytest.raises(OutputRefused, match="is a file"):
        with claim_output(files[0], "build", {}, []):
            pass
    locked = tmp_path / "ro"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):  # root ignores permissions: the kernel's answer to anyone else
            monkeypatch.setattr("pathlib.Path.mkdir", _read_only_mkdir)
        with pytest.raises(OutputRefused, match="cannot write to --out .*ro/out: Permission denied"):
            with claim_output(locked / "out", "build", {}, inputs):
                pass
    finally:
        locked.chmod(0o700)


def test_folders_without_manifest_are_adopted_or_refused_by_their_config(tmp_path):
    root, files = _input(tmp_path)
    inputs = input_fingerprint(root, files)
    old = tmp_path / "old"
    old.mkdir()
    (old / "config.yaml").write_text("seed: 0\nvariants: []\nworkers: 1\n")
    with claim_output(old, "build", {"seed": 0}, inputs, config_keys=["seed", "variants", "executor"]):
        pass  # an older kit's build output (a key renamed since): resumed
    other = tmp_path / "other"
    (other / "data").mkdir(parents=True)
    (other / "config.yaml").write_text("inputs: []\nmin_tokens: 64\n")
    with pytest.raises(OutputRefused, match="output of another stage"):
        with claim_output(other, "build", {}, inputs, config_keys=["seed", "variants"]):
            pass
    unrelated = tmp_path / "unrelated"
    (unrelated / "data").mkdir(parents=True)
    with pytest.raises(OutputRefused, match=r"another run's files \(data\) and no manifest"):
        with claim_output(unrelated, "build", {}, inputs):
            pass
    with pytest.raises(OutputRefused, match="not the output of a biomed stage"):
        with claim_output(unrelated, "build", {}, inputs, overwrite=True):
            pass  # --overwrite never deletes a folder no biomed stage wrote
    assert (unrelated / "data").is_dir()


def test_a_second_run_is_refused_naming_the_pid_and_a_dead_holder_is_taken_over(tmp_path):
    out = tmp_path / "out"
    holder = textwrap.dedent(
        f"""
        import sys, time
        from biomed.runtime.ownership import claim_output
        with claim_output({str(out)!r}, "build", {{}}, []):
            print("held", flush=True)
            time.sleep(60)
        """
    )
    process = subprocess.Popen([sys.executable, "-c", holder], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "held"
        with pytest.raises(OutputRefused, match=rf"in use by another run \(pid {process.pid}\)"):
            with claim_output(out, "build", {}, []):
                pass
    finally:
        process.kill()
        process.wait()
    assert (out / ".biomed" / "lock").read_text().strip() == str(process.pid)  # left behind by the kill
    with claim_output(out, "build", {}, []):
        assert (out / ".biomed" / "lock").read_text().strip() == str(os.getpid())
    assert not (out / ".biomed" / "lock").exists()


def _read_only_mkdir(self, *args, **kwargs):
    raise PermissionError(13, "Permission denied", str(self))
