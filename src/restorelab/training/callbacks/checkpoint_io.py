"""Checkpoint writes that never leave a half-written file in place.

Lightning's default writer truncates the target file and then writes into it, so a crash (or a
full disk, or a pre-empted SLURM job) during the write leaves a broken ``last.ckpt``. Here the
checkpoint goes to a temporary file in the same directory, is fsynced, and replaces the target
with ``os.replace`` (atomic on POSIX and Windows), so the old file stays intact until the new
one is complete.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO


def umask_mode() -> int:
    """The mode ``open()`` gives a new file: 0o666 less the process umask.

    ``tempfile.mkstemp`` creates 0600 files; renamed into place they would keep teammates on a
    shared cluster from reading each other's runs, so the written file gets this mode instead.
    """
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` to ``path`` through a temporary file and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp_name, umask_mode())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning CheckpointIO plugin that writes checkpoints atomically (local paths)."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None:
            raise TypeError(
                "AtomicCheckpointIO.save_checkpoint does not take storage_options, "
                f"got {storage_options}"
            )
        if "://" in str(path):  # remote filesystems: fall back to Lightning's writer
            super().save_checkpoint(checkpoint, path)
            return
        atomic_torch_save(checkpoint, path)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write a small text file (metrics, reports) through a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp_name, umask_mode())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
