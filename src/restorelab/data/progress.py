"""Progress bars of the data tools (downloads, extraction, sub-image crops, checks), on stderr.

One place builds them so every ``restorelab-data`` subcommand looks the same. On a terminal
the bar redraws itself; elsewhere (a log file, CI) rich draws it once when it finishes, so logs
hold one line per task rather than hundreds.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)


class Bar:
    """One task of a rich ``Progress``: ``advance(n)``, ``update(completed=..., total=...)``."""

    def __init__(self, progress: Progress, description: str, total: float | None) -> None:
        self._progress = progress
        self._task = progress.add_task(description, total=total)

    def advance(self, amount: float = 1) -> None:
        self._progress.advance(self._task, amount)

    def update(self, completed: float | None = None, total: float | None = None) -> None:
        self._progress.update(self._task, completed=completed, total=total)


@contextmanager
def progress_bar(description: str, total: float | None, unit: str = "items") -> Iterator[Bar]:
    """A bar for ``total`` items (``unit="bytes"``: sizes and speed instead of counts)."""
    columns: tuple[ProgressColumn, ...]
    if unit == "bytes":
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
        )
    else:
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
        )
    with Progress(*columns, console=Console(stderr=True)) as progress:
        yield Bar(progress, description, total)
