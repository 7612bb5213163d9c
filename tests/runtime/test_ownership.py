import errno
import os
import socket
import subprocess
import sys
import textwrap

import pytest

from biomed.runtime.ownership import (
    InputNotFinished,
    OutputRefused,
    claim_output,
    input_fingerprint,
    lock_holder,
    mark_finished,
    read_manifest,
    require_finished,
)


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


def test_a_folder_without_manifest_is_refused_even_with_overwrite_and_kept(tmp_path):
    # issue 21: an unrelated config.yaml made the kit call the folder "the output of another stage", and the
    # advised --overwrite deleted the user's src/ and results.csv; older kits' folders were adopted by their config
    root, files = _input(tmp_path)
    inputs = input_fingerprint(root, files)
    user = tmp_path / "project"
    (user / "src").mkdir(parents=True)
    (user / "src" / "main.py").write_text("print(1)\n")
    (user / "results.csv").write_text("a,b\n")
    (user / "config.yaml").write_text("seed: 0\nvariants: []\n")  # looks like a build config: still not ours
    before = sorted(p.relative_to(user).as_posix() for p in user.rglob("*"))
    for overwrite in (False, True):
        with pytest.raises(OutputRefused, match="no biomed manifest") as err:
            with claim_output(user, "build", {"seed": 0}, inputs, overwrite=overwrite):
                pass
        assert "\n" not in str(err.value) and "not even with --overwrite" in str(err.value)
    after = sorted(p.relative_to(user).as_posix() for p in user.rglob("*"))
    assert after == before and (user / "results.csv").read_text() == "a,b\n"
    empty = tmp_path / "empty"
    empty.mkdir()
    with claim_output(empty, "build", {}, inputs) as folder:  # an empty folder is anyone's
        assert folder == empty


@pytest.mark.parametrize("content", [b'{"stage": "bui', b"\xff\xfe", b"[1, 2]", b'{"no_stage": 1}'])
def test_an_unreadable_manifest_is_refused_in_one_line_and_overwrite_replaces_it(tmp_path, content):
    root, files = _input(tmp_path)
    inputs = input_fingerprint(root, files)
    out = tmp_path / "out"
    with claim_output(out, "build", {}, inputs) as folder:
        (folder / "data").mkdir()
    (out / ".biomed" / "manifest.json").write_bytes(content)
    with pytest.raises(OutputRefused, match=r"unreadable manifest .*--overwrite") as err:
        with claim_output(out, "build", {}, inputs):
            pass
    assert "\n" not in str(err.value) and (out / "data").is_dir()  # refused, nothing deleted
    with pytest.raises(OutputRefused, match="unreadable manifest"):
        read_manifest(out)
    with claim_output(out, "build", {}, inputs, overwrite=True):
        assert not (out / "data").exists()
    assert read_manifest(out)["stage"] == "build"


def test_the_same_input_by_absolute_path_other_cwd_or_symlink_is_the_same_run(tmp_path, monkeypatch):
    root, files = _input(tmp_path)
    link = tmp_path / "link"
    link.symlink_to(root)
    out = tmp_path / "out"
    with claim_output(out, "build", {}, input_fingerprint(root, files)):
        pass
    with claim_output(out, "build", {}, input_fingerprint(link, [link / "data" / "a.parquet"])):
        pass
    monkeypatch.chdir(tmp_path / "scored" / "data")
    with claim_output(out, "build", {}, input_fingerprint("..", ["a.parquet"])):
        pass


def test_config_is_written_after_the_claim_and_the_run_is_marked_running_then_finished(tmp_path):
    root, files = _input(tmp_path)
    out = tmp_path / "out"
    with claim_output(out, "build", {"seed": 0}, input_fingerprint(root, files), config={"seed": 0, "a": [1]}):
        assert (out / "config.yaml").read_text() == "seed: 0\na:\n- 1\n"
        assert read_manifest(out)["state"] == "running"
        mark_finished(out, produced={"rows": 3})
    manifest = read_manifest(out)
    assert manifest["state"] == "finished" and manifest["produced"] == {"rows": 3}
    with claim_output(out, "build", {"seed": 0}, input_fingerprint(root, files)):  # a rerun resumes: running again
        assert read_manifest(out)["state"] == "running"


def test_require_finished_refuses_a_running_or_killed_run_and_reads_plain_folders(tmp_path):
    plain = tmp_path / "plain"
    (plain / "data").mkdir(parents=True)
    assert require_finished(plain) is None  # the user's files, a copy of the published release
    out = tmp_path / "extracted"
    with claim_output(out, "extract", {}, [], units=8, markers="done"):
        (out / "done").mkdir()
        (out / "data").mkdir()
        (out / "data" / "a.parquet").write_bytes(b"a")
        for name in ("a", "b", "c"):
            (out / "done" / f"{name}.json").write_text("{}")
    # the run ended without marking itself finished: killed part-way
    for folder in (out, out / "data", out / "data" / "a.parquet"):
        with pytest.raises(InputNotFinished) as err:
            require_finished(folder, "extract")
        message = str(err.value)
        assert f"{out} is not finished: 3 of 8 tasks done" in message and "rerun `biomed data extract …`" in message
        assert "\n" not in message
    with pytest.raises(InputNotFinished):
        require_finished(out, wait=True)  # nobody is writing it: nothing to wait for
    with claim_output(out, "extract", {}, [], units=8, markers="done"):
        mark_finished(out)
    assert require_finished(out)["state"] == "finished"


def test_wait_waits_for_a_run_being_written(tmp_path):
    out = tmp_path / "scored"
    writer = textwrap.dedent(
        f"""
        import time
        from biomed.runtime.ownership import claim_output, mark_finished
        with claim_output({str(out)!r}, "data classify score", {{}}, []) as out:
            print("held", flush=True)
            time.sleep(1.5)
            mark_finished(out)
        """
    )
    process = subprocess.Popen([sys.executable, "-c", writer], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "held"
        with pytest.raises(InputNotFinished, match=rf"still being written by pid {process.pid}.*--wait"):
            require_finished(out)
        told = []
        assert require_finished(out, wait=True, poll_seconds=0.1, on_wait=told.append)["state"] == "finished"
        assert told and "waiting for" in told[0]
    finally:
        process.kill()
        process.wait()


def test_a_lock_path_that_is_a_folder_is_one_line(tmp_path):
    out = tmp_path / "out"
    (out / ".biomed" / "lock").mkdir(parents=True)
    with pytest.raises(OutputRefused, match=r"lock .* is a folder, not a file; remove it") as err:
        with claim_output(out, "build", {}, []):
            pass
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("code", [errno.ENOSYS, errno.ENOLCK, errno.EOPNOTSUPP])
def test_without_flock_the_lock_is_a_file_created_exclusively_with_host_and_pid(tmp_path, monkeypatch, code):
    # issue 23: Lustre without flock, NFS without lockd
    def no_flock(fd, operation):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr("biomed.runtime.ownership.fcntl.flock", no_flock)
    out = tmp_path / "out"
    owner = out / ".biomed" / "lock.owner"
    with claim_output(out, "build", {}, []):
        assert owner.read_text() == f"{socket.gethostname()} {os.getpid()}\n"
        assert lock_holder(out / ".biomed") == f"pid {os.getpid()}"
        with pytest.raises(OutputRefused, match=rf"in use by another run \(pid {os.getpid()}\)"):
            with claim_output(out, "build", {}, []):
                pass
    assert not owner.exists()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    owner.write_text(f"{socket.gethostname()} {dead.stdout.strip()}\n")  # a killed run's lock on this host: stale
    with claim_output(out, "build", {}, []):
        assert owner.read_text().split()[1] == str(os.getpid())
    owner.write_text("other-node 1234\n")  # another host's: cannot be judged from here
    with pytest.raises(OutputRefused, match=r"pid 1234 on host other-node.*remove .*lock.owner"):
        with claim_output(out, "build", {}, []):
            pass


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
