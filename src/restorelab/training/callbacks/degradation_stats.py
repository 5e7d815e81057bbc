"""Log a summary of the degradation parameters training batches were made with, now and then.

A random degradation (``degradation=realesrgan``) is only as good as the distribution it draws;
seeing the drawn kernel kinds and sizes, sigmas, resize scales, noise kinds and levels and JPEG
qualities beside the losses makes a misconfigured range visible in the first minutes of a run.
"""

from __future__ import annotations

from typing import Any

import lightning as L

from restorelab.errors import ConfigError

__all__ = ["DegradationStatsLogger"]


class DegradationStatsLogger(L.Callback):
    """Every ``every_n_steps`` optimizer steps, send the last batch's parameter summary to the
    loggers as ``<prefix><stage>/<parameter>`` (means over the samples a stage degraded,
    fractions of each kernel kind, noise kind, resize mode...; see
    :meth:`restorelab.degradations.Degradation.summary`).

    Only the global-zero process logs (its own rank's batch); runs without a degradation (paired
    data) or whose stages draw nothing log nothing.

    Args:
        every_n_steps: how often, in optimizer steps (at least 1).
        prefix: put in front of every key.
    """

    def __init__(self, every_n_steps: int = 500, prefix: str = "degradation/") -> None:
        if (
            isinstance(every_n_steps, bool)
            or not isinstance(every_n_steps, int)
            or every_n_steps < 1
        ):
            raise ConfigError(
                f"callbacks.degradation_stats.every_n_steps must be an integer >= 1, "
                f"got {every_n_steps!r}"
            )
        self.every_n_steps = every_n_steps
        self.prefix = prefix

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        step = trainer.global_step
        if step % self.every_n_steps or not trainer.is_global_zero or not trainer.loggers:
            return
        degradation = getattr(pl_module, "degradation", None)
        summary = getattr(degradation, "summary", None)
        if summary is None:
            return
        metrics = {f"{self.prefix}{key}": value for key, value in summary().items()}
        if not metrics:
            return
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=step)
