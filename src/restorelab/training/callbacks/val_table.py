"""Log a per-image validation table to W&B, so two runs compare image by image.

A mean PSNR hides which images a change helped or hurt. At every validation this callback logs
a ``wandb.Table`` (key ``val/images`` by default) with one row per validation image: its name,
PSNR-Y and SSIM-Y (the same conventions as ``val/psnr_y``: 8-bit, ``scale`` border crop,
grayscale scored on its channel) and a centre crop of the output. In the W&B UI, tables of
several runs logged under the same key are shown side by side and can be joined on ``name``.

Under DDP each rank scores its share of the images (the loader's padding repeats, marked
``counted=False``, are left out); rank 0 gathers the rows and logs them, one per image.
Without a :class:`~lightning.pytorch.loggers.WandbLogger` the callback does nothing.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from lightning.pytorch.loggers import WandbLogger

from restorelab.metrics import psnr_y, ssim_y
from restorelab.training.callbacks.image_grid import _center_crop, to_uint8_image

COLUMNS = ["name", "psnr_y", "ssim_y", "output"]


def _scoring_view(x: torch.Tensor, gray: bool) -> torch.Tensor:
    """Y of RGB is taken by the metric; a grayscale image is scored on one channel."""
    return x.mean(dim=1, keepdim=True) if gray else x


class ValidationTable(L.Callback):
    """One W&B table row per validation image: name, PSNR-Y, SSIM-Y, output crop.

    Args:
        key: the W&B key of the table.
        crop: side of the centre crop of the output stored with each row, in pixels.
    """

    def __init__(self, key: str = "val/images", crop: int = 128) -> None:
        super().__init__()
        if crop < 1:
            raise ValueError(f"callbacks.val_table.crop must be >= 1, got {crop}")
        self.key = key
        self.crop = int(crop)
        self._rows: list[list[Any]] | None = None

    @staticmethod
    def _wandb(trainer: L.Trainer) -> WandbLogger | None:
        return next((lg for lg in trainer.loggers if isinstance(lg, WandbLogger)), None)

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        active = not trainer.sanity_checking and self._wandb(trainer) is not None
        self._rows = [] if active else None

    def on_validation_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if self._rows is None or not isinstance(outputs, dict) or "sr" not in outputs:
            return
        scale = int(getattr(pl_module, "scale", 1))
        sr, gt = outputs["sr"].float(), outputs["gt"].float()
        names = batch.get("name") or [f"{batch_idx}_{i}" for i in range(sr.shape[0])]
        grays = batch.get("gray", [False] * sr.shape[0])
        counted = batch.get("counted", [True] * sr.shape[0])
        for i, name in enumerate(names):
            if not bool(counted[i]):  # a DDP padding repeat of an image another rank scores
                continue
            gray = bool(grays[i])
            s = _scoring_view(sr[i : i + 1], gray)
            g = _scoring_view(gt[i : i + 1], gray)
            crop = to_uint8_image(_center_crop(sr[i], self.crop))
            row = [str(name), float(psnr_y(s, g, scale)[0]), float(ssim_y(s, g, scale)[0]), crop]
            self._rows.append(row)

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        rows, self._rows = self._rows, None
        if rows is None:
            return
        dist = torch.distributed
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            gathered: list[Any] = [None] * dist.get_world_size()
            dist.all_gather_object(gathered, rows)
            rows = [row for part in gathered for row in part]
        logger = self._wandb(trainer)
        if not trainer.is_global_zero or logger is None:
            return
        import wandb

        data = [
            [name, psnr, ssim, wandb.Image(crop)]
            for name, psnr, ssim, crop in sorted(rows, key=lambda r: r[0])
        ]
        logger.log_table(key=self.key, columns=COLUMNS, data=data, step=trainer.global_step)
