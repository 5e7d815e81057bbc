"""Shared plumbing of the Hydra entry points: one-line errors and closing loggers."""

from __future__ import annotations

import sys
from collections.abc import Callable
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


def close_loggers() -> None:
    """Finish the W&B run even when training failed, so offline files are complete."""
    try:
        import wandb
    except ImportError:  # pragma: no cover - wandb is a dependency
        return
    if wandb.run is not None:
        wandb.finish()
