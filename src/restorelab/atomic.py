"""The one way restorelab writes a file: all of it or none of it, readable by the team.

Every file a run or a command produces (checkpoints, ``metrics.json``, ``run_info.json``,
enhanced images, exported models) goes through here. The content goes to a temporary file in
the destination's directory (same filesystem, so the rename is atomic), is fsynced, gets the
mode a plain ``open()`` would have given it, and replaces the destination with ``os.replace``
(atomic on POSIX and Windows). A crash, a full disk or a pre-empted SLURM job mid-write
therefore leaves the old file intact and no temporary file behind, never half a file.

Why the mode step: ``tempfile.mkstemp`` creates its files 0600, and a rename keeps the mode, so
without it every ``last.ckpt`` and ``run_info.json`` was private to its owner and teammates on
a shared cluster could not read each other's runs. The final file gets ``0o666 & ~umask``,
what ``open(path, "w")`` gives, so ``umask 002`` (group-writable project dirs) works as usual.

A write that fails with an ``OSError`` (a full disk, a read-only folder) raises
:class:`~restorelab.errors.WriteError` naming the destination, so the commands print one line
(``cannot write RUN/checkpoints/last.ckpt: No space left on device``) and exit with code 2.
:func:`check_writable` lets a command refuse an unwritable output folder before any work.

Plumbing only: nothing from restorelab but ``errors`` is imported here, so any package may use
it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from restorelab.errors import WriteError

#: The mode ``open()`` asks for when it creates a file (before the umask).
CREATE_MODE = 0o666
_PROC_STATUS = "/proc/self/status"
_umask_lock = threading.Lock()


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows.

    ``os.umask`` can only be read by setting it, and the umask is process-wide: another thread
    creating a file between ``os.umask(0)`` and the restoring call would create it world-
    writable. Linux (>= 4.7) reports the umask in ``/proc/self/status`` (``Umask: 0022``), so
    that is read first; elsewhere the set-and-restore runs under a lock (which guards only
    against this module's own callers, the best a portable program can do).
    """
    with (
        contextlib.suppress(OSError, ValueError),
        open(_PROC_STATUS, encoding="ascii", errors="replace") as f,
    ):
        for line in f:
            if line.startswith("Umask:"):
                return int(line.split(":", 1)[1].strip(), 8)
    with _umask_lock:
        mask = os.umask(0o077)  # the most private value while it is briefly changed
        os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode a new file gets from ``open()`` here: ``0o666`` less the current umask."""
    return CREATE_MODE & ~current_umask()


def _fsync_path(path: Path) -> None:
    """Flush ``path``'s content to disk (a file some other library wrote by name)."""
    with open(path, "r+b") as f:  # Windows' fsync needs a handle open for writing
        os.fsync(f.fileno())


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str = ".tmp", fsync: bool = True) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path`` atomically.

    For writers that need a file *name* (``torch.onnx.export``, ``safetensors``, ``tifffile``).
    The temporary file exists (empty) when the block starts. When the block ends normally the
    file is fsynced (``fsync=False`` when the caller already did), given :func:`file_mode` and
    renamed onto ``path``; when it raises, the temporary file is removed and ``path`` is left
    as it was (an ``OSError`` comes out as :class:`~restorelab.errors.WriteError` naming
    ``path``). Missing parent directories are created.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    except OSError as e:
        raise _write_error(e, path) from e
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if fsync:
            _fsync_path(tmp)
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(e, OSError) and not isinstance(e, WriteError):
            raise _write_error(e, path) from e
        raise


def _write_error(error: OSError, path: Path) -> WriteError:
    """``error`` as a :class:`WriteError` naming the destination (not the temporary file)."""
    return WriteError(error.errno, error.strerror or str(error), str(path))


def check_writable(folder: str | Path) -> None:
    """Create ``folder`` (and its parents) if needed and check that a file can be made in it.

    For commands that write many files: an unwritable output folder then fails once, at the
    start, rather than once per file after the work. The probe file is removed again.

    Raises:
        OSError: ``folder`` is a file, or cannot be created, or refuses new files (read-only,
            no permission, full); ``strerror`` says which.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(folder))
    folder.mkdir(parents=True, exist_ok=True)
    fd, probe = tempfile.mkstemp(prefix=".restorelab-write-check.", dir=folder)
    os.close(fd)
    os.unlink(probe)


def atomic_write(
    path: str | Path,
    content: bytes | Callable[[IO[bytes]], Any],
    suffix: str = ".tmp",
) -> Path:
    """Write ``content`` to ``path`` atomically (see the module docstring) and return ``path``.

    Args:
        path: destination; its parent directories are created.
        content: the bytes to write, or a function that writes them to the binary file object
            it is given (e.g. ``lambda f: torch.save(obj, f)``); the file object has a ``name``
            (the temporary path), for encoders that look at it.
        suffix: ending of the temporary file's name (it starts with ``.<name>.``).

    Raises:
        WriteError: the write failed with an ``OSError`` (disk full, read-only folder ...);
            anything else ``content`` raises passes through. The destination is untouched.
    """
    path = Path(path)
    with atomic_path(path, suffix=suffix, fsync=False) as tmp, open(tmp, "wb") as f:
        if callable(content):
            content(f)
        else:
            f.write(content)
        f.flush()
        os.fsync(f.fileno())
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (a convenience name for :func:`atomic_write`)."""
    return atomic_write(path, bytes(data))


def atomic_write_text(path: str | Path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (metrics, run records, reports); UTF-8 by default.

    The text is written as is: no newline translation, so a file reads back identically on
    every platform.
    """
    return atomic_write(path, text.encode(encoding))
