"""Progress output: bars on a terminal, periodic plain lines in a log file (nohup, CI, cluster jobs)."""

from __future__ import annotations

import io

from rich.console import Console

from reflectrl import console


def _run_bar(monkeypatch, terminal: bool) -> str:
    stream = io.StringIO()
    monkeypatch.setattr(console, "err", Console(file=stream, force_terminal=terminal, width=100))
    monkeypatch.setenv("REFLECTRL_PROGRESS_SECONDS", "0")
    with console.progress() as bar:
        job = bar.add_task("eval", total=4, completed=1, rate="")
        for _ in range(3):
            bar.update(job, advance=1, rate="31 tok/s")
    return stream.getvalue()


def test_a_log_file_gets_one_plain_progress_line_per_update(monkeypatch):
    lines = [line for line in _run_bar(monkeypatch, terminal=False).splitlines() if "elapsed" in line]
    assert [line.split(",")[0] for line in lines] == ["eval 2/4 (50%)", "eval 3/4 (75%)", "eval 4/4 (100%)"]
    assert all("31 tok/s" in line for line in lines)  # the ETA follows once rich has a speed estimate


def test_a_terminal_gets_the_bar_and_no_plain_lines(monkeypatch):
    text = _run_bar(monkeypatch, terminal=True)
    assert "4/4" in text and "elapsed" not in text


def test_plain_lines_are_spaced_by_the_interval(monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr(console, "err", Console(file=stream, force_terminal=False, width=100))
    monkeypatch.setenv("REFLECTRL_PROGRESS_SECONDS", "3600")
    with console.progress() as bar:
        job = bar.add_task("mine", total=50, rate="")
        for _ in range(50):
            bar.advance(job)
    assert "elapsed" not in stream.getvalue()  # only rich's closing render: no line before an hour passed
