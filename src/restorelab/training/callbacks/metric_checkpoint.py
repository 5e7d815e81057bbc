"""Keep the best checkpoint by a metric that may be absent (LPIPS without its weights)."""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_warn

from restorelab.training import compat


@compat.guard_topk_save
class OptionalMetricCheckpoint(ModelCheckpoint):
    """A ``ModelCheckpoint`` that saves nothing (and warns once) when its metric is not logged.

    GAN runs keep a checkpoint by a perceptual figure next to the one by PSNR; that figure is
    only logged when its weights are present. Lightning's ``ModelCheckpoint`` raises when its
    monitored key is missing; this one skips instead, so the run goes on with the PSNR
    checkpoint alone. Takes every ``ModelCheckpoint`` argument.
    """

    _warned = False

    def skip_topk(self, trainer: L.Trainer, monitor_candidates: dict[str, Any]) -> bool:
        """True (warning once) when the monitored metric is missing from this round's values.

        Called by the hook :func:`restorelab.training.compat.guard_topk_save` installs in front
        of Lightning's top-k save.
        """
        if self.monitor is None or self.monitor in monitor_candidates:
            return False
        if not self._warned:
            rank_zero_warn(
                f"checkpoint by {self.monitor} skipped: the metric is not logged in this run"
            )
            self._warned = True
        return True
