"""Terminal output: one rich console on stderr for messages and progress bars, stdout for results."""

from __future__ import annotations

import os
import time
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

err = Console(stderr=True)
out = Console()


def info(message: str) -> None:
    err.print(f"[bold cyan]reflectrl[/] {message}", highlight=False)


def warn(message: str) -> None:
    err.print(f"[bold yellow]warning[/] {message}", highlight=False)


class _LoggedProgress(Progress):
    """Rich hides its bars when stderr is not a terminal (nohup, CI, a cluster job): there, print one plain line
    per task every ``REFLECTRL_PROGRESS_SECONDS`` (default 60) instead, so a log shows the job is alive."""

    def __init__(self, *columns: Any, every: float, **kwargs: Any):
        super().__init__(*columns, **kwargs)
        self.every = every
        self._last: dict[Any, float] = {}

    def add_task(self, *args: Any, **kwargs: Any) -> Any:
        task_id = super().add_task(*args, **kwargs)
        self._last[task_id] = time.monotonic()
        return task_id

    def update(self, task_id: Any, **kwargs: Any) -> None:
        super().update(task_id, **kwargs)
        self._log(task_id)

    def advance(self, task_id: Any, advance: float = 1) -> None:
        super().advance(task_id, advance)
        self._log(task_id)

    def _log(self, task_id: Any) -> None:
        now = time.monotonic()
        if now - self._last.get(task_id, now) < self.every:
            return
        self._last[task_id] = now
        self.console.print(progress_line(self._tasks[task_id]), highlight=False, markup=False)


def progress_line(task: Any) -> str:
    """``eval 120/500 (24%), 31 tok/s, 0:04:10 elapsed, ETA 0:13:12`` for a rich progress task."""
    done, total = task.completed, task.total
    parts = [f"{task.description} {done:.0f}/{total:.0f}" + (f" ({100 * done / total:.0f}%)" if total else "")]
    if task.fields.get("rate"):
        parts.append(str(task.fields["rate"]))
    parts.append(f"{_clock(task.elapsed or 0)} elapsed")
    if task.time_remaining is not None:
        parts.append(f"ETA {_clock(task.time_remaining)}")
    return ", ".join(parts)


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def progress() -> Progress:
    """A progress bar with counts, throughput (set the ``rate`` field) and time left."""
    return _LoggedProgress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
        every=float("inf") if err.is_terminal else float(os.environ.get("REFLECTRL_PROGRESS_SECONDS", 60)),
    )
