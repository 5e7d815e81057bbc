"""Errors that reach the user as one clear line instead of a traceback.

Entry points catch :class:`RestorelabError` (also when Hydra wraps it in an
``InstantiationException``) and print only its message, so bad input names the file,
key or value at fault without a wall of framework frames.
"""

from __future__ import annotations


class RestorelabError(Exception):
    """Base class of the errors that are the user's to fix (bad config, bad data)."""


class ConfigError(RestorelabError):
    """A config value that cannot work: names the key and the value."""


class DataError(RestorelabError):
    """A data folder or image file that cannot be used: names the path."""


class WriteError(RestorelabError, OSError):
    """A file that could not be written (disk full, read-only folder, quota): names the file.

    Raised by :mod:`restorelab.atomic` for every failed write, so a checkpoint that hits a
    full disk ends the run with ``cannot write RUN/checkpoints/last.ckpt: No space left on
    device`` instead of a traceback. Also an ``OSError`` (``errno``, ``strerror`` and
    ``filename`` as usual), so code that handles ``OSError`` keeps working.
    """

    def __str__(self) -> str:
        return f"cannot write {self.filename}: {self.strerror}"


class NonFiniteLossError(RestorelabError):
    """A NaN or Inf training loss: names the term and the step (no weight was updated)."""


def root_cause(exc: BaseException) -> RestorelabError | None:
    """Return the :class:`RestorelabError` behind ``exc`` (following ``__cause__``), if any.

    Hydra's ``instantiate`` re-raises constructor errors as ``InstantiationException`` with
    the original as cause; this digs the user-facing error back out.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, RestorelabError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


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
