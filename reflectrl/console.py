"""Terminal output: one rich console on stderr for messages and progress bars, stdout for results."""

from __future__ import annotations

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


def progress() -> Progress:
    """A progress bar with counts, throughput (set the ``rate`` field) and time left."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    )
