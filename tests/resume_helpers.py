"""Test-only Lightning callback, loaded by training subprocesses through a Hydra override."""

from __future__ import annotations

import os
import signal
from typing import Any

import lightning as L


class KillAtStep(L.Callback):
    """SIGKILL this process at the end of training step ``step``: no cleanup, no last write.

    It runs before the checkpoint callbacks of that batch, so the run loses the steps since
    the last periodic ``last.ckpt``, as a pre-empted or crashed job would.
    """

    def __init__(self, step: int) -> None:
        self.step = int(step)

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, idx: int
    ) -> None:
        if trainer.global_step >= self.step:
            os.kill(os.getpid(), signal.SIGKILL)
