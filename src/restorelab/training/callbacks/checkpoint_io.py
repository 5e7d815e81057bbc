"""Checkpoint writes that never leave a half-written file in place.

Lightning's default writer truncates the target file and then writes into it, so a crash (or a
full disk, or a pre-empted SLURM job) during the write leaves a broken ``last.ckpt``. Here the
checkpoint goes to a temporary file in the same directory, is fsynced, and replaces the target
with ``os.replace`` (atomic on POSIX and Windows), so the old file stays intact until the new
one is complete. The mechanics live in :mod:`restorelab.atomic`, shared with every other writer;
``atomic_write_text`` is re-exported here for the callers that import it from this module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from restorelab.atomic import atomic_write, atomic_write_text, file_mode

__all__ = ["AtomicCheckpointIO", "atomic_torch_save", "atomic_write_text", "umask_mode"]


def umask_mode() -> int:
    """The mode ``open()`` gives a new file (kept name; see :func:`restorelab.atomic.file_mode`)."""
    return file_mode()


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` to ``path`` through :func:`restorelab.atomic.atomic_write`.

    The checkpoint gets the mode the user's umask gives (0644 under umask 022), not
    ``mkstemp``'s 0600, so teammates can load each other's ``last.ckpt``.
    """
    atomic_write(path, lambda f: torch.save(obj, f))


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
