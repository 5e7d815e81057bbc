"""Shared plumbing of the Hydra entry points: one-line errors and closing loggers."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from restorelab.errors import root_cause

T = TypeVar("T")


def report_errors(prog: str, fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn``; a user-facing :class:`RestorelabError` becomes one line and exit code 2.

    Hydra wraps constructor errors in ``InstantiationException``; the original error is dug
    out so the user sees ``restorelab-train: error: data.train_dir: folder does not exist: X``
    rather than a traceback through Hydra and Lightning.
    """
    try:
        return fn(*args)
    except Exception as exc:
        cause = root_cause(exc)
        if cause is None:
            raise
        print(f"{prog}: error: {one_line(cause)}", file=sys.stderr)
        raise SystemExit(2) from None


def one_line(error: BaseException) -> str:
    """The user-facing message of ``error``, without a DataLoader worker's traceback.

    Errors raised in a DataLoader worker are re-raised in the main process with the worker's
    traceback pasted into the message; its last line holds the original message.
    """
    message = str(error)
    if "Original Traceback" in message:
        last = message.rstrip().splitlines()[-1]  # "restorelab.errors.DataError: <msg>"
        message = last.split(": ", 1)[1] if ": " in last else last
    return message.strip().splitlines()[0] if message.strip() else type(error).__name__


#: How long a finished offline W&B run may take to write its last records.
OFFLINE_FLUSH_TIMEOUT_S = 30.0


def close_loggers() -> None:
    """Finish the W&B run even when training failed, so offline files are complete."""
    try:
        import wandb
    except ImportError:  # pragma: no cover - wandb is a dependency
        return
    run = wandb.run
    if run is None:
        return
    offline = bool(getattr(run.settings, "_offline", False))
    run_file = Path(str(getattr(run.settings, "sync_file", "") or ""))
    wandb.finish()
    if offline and run_file.name:
        # finish() can return before W&B's service has written the last records; wait for
        # them so `wandb sync` and our offline reader see a complete run.
        from restorelab.wandb_offline import wait_until_complete

        with contextlib.suppress(TimeoutError):
            wait_until_complete(run_file, timeout=OFFLINE_FLUSH_TIMEOUT_S)
