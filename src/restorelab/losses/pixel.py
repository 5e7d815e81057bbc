"""Pixel-wise content losses."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from restorelab.losses.base import LossTerm


class L1Loss(LossTerm):
    """Mean absolute error: the default for PSNR-oriented super-resolution (EDSR, 2017)."""

    def forward(self, sr: Tensor, gt: Tensor) -> Tensor:
        return F.l1_loss(sr, gt)


class MSELoss(LossTerm):
    """Mean squared error: directly optimizes PSNR, known to over-smooth."""

    def forward(self, sr: Tensor, gt: Tensor) -> Tensor:
        return F.mse_loss(sr, gt)


class CharbonnierLoss(LossTerm):
    """Charbonnier loss ``mean(sqrt((sr - gt)^2 + eps^2))``, a smooth L1 (LapSRN, 2017).

    Args:
        weight: term weight.
        eps: smoothing constant; 1e-3 as in LapSRN / MPRNet.
    """

    def __init__(self, weight: float = 1.0, eps: float = 1e-3) -> None:
        super().__init__(weight)
        if eps <= 0:
            raise ValueError(f"CharbonnierLoss: eps must be > 0, got {eps}")
        self.eps = float(eps)

    def forward(self, sr: Tensor, gt: Tensor) -> Tensor:
        diff = (sr - gt).float()
        return torch.sqrt(diff * diff + self.eps**2).mean()
