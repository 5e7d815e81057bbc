"""Keep the best checkpoint by a metric that may be absent (LPIPS without its weights)."""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_warn


class OptionalMetricCheckpoint(ModelCheckpoint):
    """A ``ModelCheckpoint`` that saves nothing (and warns once) when its metric is not logged.

    GAN runs keep a checkpoint by a perceptual figure next to the one by PSNR; that figure is
    only logged when its weights are present. Lightning's ``ModelCheckpoint`` raises when its
    monitored key is missing; this one skips instead, so the run goes on with the PSNR
    checkpoint alone. Takes every ``ModelCheckpoint`` argument.
    """

    _warned = False

    def _save_topk_checkpoint(self, trainer: L.Trainer, monitor_candidates: dict[str, Any]) -> None:
        if self.monitor is not None and self.monitor not in monitor_candidates:
            if not self._warned:
                rank_zero_warn(
                    f"checkpoint by {self.monitor} skipped: the metric is not logged in this run"
                )
                self._warned = True
            return
        super()._save_topk_checkpoint(trainer, monitor_candidates)
