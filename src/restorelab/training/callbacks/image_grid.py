"""Log a validation image grid: bicubic-upsampled input | output | ground truth.

The same crops of the same validation images are shown at every validation, so a drift into
artifacts is visible step by step. Grids are saved as PNG in the run directory and sent to
Weights & Biases when a WandbLogger is active.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.loggers import WandbLogger
from PIL import Image
from torch import Tensor

from restorelab.ops.imresize import imresize


def _center_crop(x: Tensor, size: int) -> Tensor:
    h, w = x.shape[-2:]
    top, left = max(0, (h - size) // 2), max(0, (w - size) // 2)
    return x[..., top : top + size, left : left + size]


def make_grid_row(
    lq: Tensor,
    sr: Tensor,
    gt: Tensor,
    scale: int,
    crop: int,
    stages: Sequence[Tensor] = (),
) -> Tensor:
    """One row ``[bicubic(lq) | *stages | sr | gt]`` of the centre ``crop`` pixels.

    ``stages`` are the intermediate outputs of a multi-stage generator (all but the final one,
    which is ``sr``), shown between the bicubic input and the output. Shape (3, crop, n*crop).
    """
    up = lq if scale == 1 else imresize(lq.float(), scale=scale)
    tiles = [_center_crop(t.float().clamp(0, 1), crop) for t in (up, *stages, sr, gt)]
    h = min(t.shape[-2] for t in tiles)
    w = min(t.shape[-1] for t in tiles)
    return torch.cat([t[..., :h, :w] for t in tiles], dim=-1)


def to_uint8_image(x: Tensor) -> np.ndarray:
    """(3, H, W) float in [0, 1] -> (H, W, 3) uint8."""
    arr = (x.detach().float().clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu()
    return arr.numpy()


class ImageGridLogger(L.Callback):
    """Collect the first ``num_images`` validation images and log them as one grid.

    Args:
        num_images: rows in the grid (one per validation image, from the first batches).
        crop: side of the centre crop shown for each image, in output pixels.
        save_dir: where PNGs go (default: ``<trainer.default_root_dir>/images``).
    """

    def __init__(self, num_images: int = 4, crop: int = 192, save_dir: str | None = None):
        super().__init__()
        self.num_images = num_images
        self.crop = crop
        self.save_dir = save_dir
        self._rows: list[Tensor] = []
        self._caption = "bicubic | output | ground truth"

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._rows = []

    def on_validation_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if trainer.sanity_checking or not isinstance(outputs, dict):
            return
        scale = int(getattr(pl_module, "scale", 1))
        # the network validation scored (the EMA copy when kept), if it has several stages
        net = getattr(pl_module, "inference_generator", getattr(pl_module, "generator", None))
        stages_fn = getattr(net, "stages", None)
        for i in range(outputs["sr"].shape[0]):
            if len(self._rows) >= self.num_images:
                return
            early: list[Tensor] = []
            if callable(stages_fn):  # one column per stage: rerun only the images shown
                with torch.no_grad():
                    outs = stages_fn(outputs["lq"][i : i + 1])
                early = [o[0] for o in outs[:-1]]
            self._caption = " | ".join(
                [
                    "bicubic",
                    *(f"stage {k}" for k in range(1, len(early) + 1)),
                    "output",
                    "ground truth",
                ]
            )
            row = make_grid_row(
                outputs["lq"][i], outputs["sr"][i], outputs["gt"][i], scale, self.crop, early
            )
            self._rows.append(row.cpu())

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not self._rows or not trainer.is_global_zero:
            return
        w = min(r.shape[-1] for r in self._rows)
        grid = torch.cat([r[..., :w] for r in self._rows], dim=-2)
        image = to_uint8_image(grid)
        step = trainer.global_step
        out_dir = Path(self.save_dir or Path(trainer.default_root_dir) / "images")
        out_dir.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(out_dir / f"val_step{step:07d}.png")
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.log_image(
                    key="val/grid",
                    images=[image],
                    step=step,
                    caption=[self._caption],
                )
        self._rows = []
