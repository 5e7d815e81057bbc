"""One image per task over a pool of processes, with a progress bar (prepare and check).

Decoding and encoding images is CPU work that threads cannot share out (PNG and JPEG codecs
hold the GIL for much of it), so the data tools use processes. ``workers=1`` runs in the
calling process, which is also what tests and debuggers want. Each worker runs torch with one
thread: the pool already uses every core, and torch's own threads would only compete.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from restorelab.data.progress import progress_bar

T = TypeVar("T")
R = TypeVar("R")


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask, e.g. a SLURM allocation), at least 1."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


def run_parallel(
    fn: Callable[[T], R], items: Sequence[T], workers: int, description: str
) -> Iterator[R]:
    """Yield ``fn(item)`` for every item (in completion order), advancing a bar per item.

    Args:
        fn: a module-level function (it is sent to the worker processes by name).
        items: its arguments, one task each.
        workers: processes to use; 1 (or a single item) runs everything here.
        description: the bar's label.

    An exception raised by ``fn`` stops the pool and is raised here, as it was raised.
    """
    workers = max(1, min(int(workers), len(items)))
    with progress_bar(description, len(items)) as bar:
        if workers == 1:
            for item in items:
                yield fn(item)
                bar.advance()
            return
        with multiprocessing.Pool(workers, initializer=_one_thread) as pool:
            for result in pool.imap_unordered(fn, items):
                yield result
                bar.advance()
