"""Log a perceptual figure (LPIPS) at every validation, or skip it with one warning.

PSNR rewards blur, so it cannot tell when GAN fine-tuning starts to collapse or drift into
artifacts; LPIPS (lower is better) follows what people see. Its weights must be on disk (no
download at run time); when they are not, the callback says so once and logs nothing, and
training carries on.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_warn
from torch import Tensor

from restorelab.errors import ConfigError


def _center_crop(x: Tensor, size: int) -> Tensor:
    h, w = x.shape[-2:]
    top, left = max(0, (h - size) // 2), max(0, (w - size) // 2)
    return x[..., top : top + size, left : left + size]


class PerceptualMetricLogger(L.Callback):
    """Compute LPIPS between each validation output and its ground truth; log the mean.

    Args:
        key: the logged name (monitor it with a checkpoint callback, ``mode: min``).
        backbone_weights: VGG16 ImageNet weights: ``"torchvision"`` (the torchvision cache file
            ``vgg16-397923af.pth``), a path, or ``"random"`` (tests only).
        lin_weights: LPIPS lin-layer weights: ``"torchmetrics"`` (shipped in that package) or a
            path.
        crop: score only the centre ``crop`` x ``crop`` pixels of each image (None: the whole
            image); bounds the cost of a VGG16 pass on large validation images on a CPU.
    """

    def __init__(
        self,
        key: str = "val/lpips",
        backbone_weights: str | None = "torchvision",
        lin_weights: str = "torchmetrics",
        crop: int | None = None,
    ) -> None:
        super().__init__()
        if crop is not None and crop < 16:
            raise ConfigError(f"callbacks.perceptual_metric.crop must be >= 16 or null, got {crop}")
        self.crop = crop
        self.key = key
        self.backbone_weights = backbone_weights
        self.lin_weights = lin_weights
        self.net: Any = None
        self.unavailable: str | None = None
        self._total, self._count = 0.0, 0  # this rank's sum of distances and image count

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self.net is not None or self.unavailable is not None:
            return
        from restorelab.metrics.lpips import LPIPS

        try:
            self.net = LPIPS(self.backbone_weights, self.lin_weights)
        except ConfigError as e:
            self.unavailable = str(e)
            rank_zero_warn(f"{self.key} skipped: {e}")

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._total, self._count = 0.0, 0

    def on_validation_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if self.net is None or trainer.sanity_checking or not isinstance(outputs, dict):
            return
        # DDP's padding repeats (counted=False) are scored by the rank that owns the image
        marks = batch.get("counted", [True] * outputs["sr"].shape[0])
        keep = [i for i, counted in enumerate(marks) if bool(counted)]
        if not keep:
            return
        sr, gt = outputs["sr"][keep], outputs["gt"][keep]
        if self.crop is not None:
            sr, gt = _center_crop(sr, self.crop), _center_crop(gt, self.crop)
        self.net.to(sr.device)
        distances = self.net(sr.float().clamp(0, 1), gt.float().clamp(0, 1))
        self._total += float(distances.double().sum())
        self._count += len(keep)

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Log the mean over the images of every rank: a sum and a count, summed across ranks.

        Not Lightning's ``sync_dist`` mean: it averages each rank's image count as an integer
        tensor (3 images on 2 ranks: 1.5 -> 1), which is wrong whenever the counts differ.
        """
        if self.net is None or trainer.sanity_checking:
            return
        sums = torch.tensor(
            [self._total, self._count], dtype=torch.float64, device=pl_module.device
        )
        total, count = trainer.strategy.reduce(sums, reduce_op="sum").tolist()
        if count > 0:
            pl_module.log(self.key, total / count, sync_dist=False)
