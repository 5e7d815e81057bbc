"""What every console script shares: a user-facing error becomes one line and exit code 2."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

from restorelab.errors import one_line, root_cause

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
