from biomed.runtime.progress import _count_text, progress_bar


def test_progress_goes_to_stderr_never_stdout(capsys, monkeypatch):
    monkeypatch.setenv("FORCE_COLOR", "1")  # draw as on a terminal
    with progress_bar("building", total=3, unit="tasks") as bar:
        bar.advance()
        bar.update(completed=3)
    with progress_bar("off", enabled=False) as bar:
        bar.advance(5)  # a disabled bar accepts the same calls
    captured = capsys.readouterr()
    assert captured.out == "" and "building" in captured.err


def test_count_text_shows_done_total_and_rate():
    class Task:
        completed, total, speed = 1234, 5000, 10.4

    assert _count_text(Task, "paragraphs") == "1,234/5,000 paragraphs (10 paragraphs/s)"
    Task.total, Task.speed = None, None
    assert _count_text(Task, "tokens") == "1,234 tokens"
