"""Gradient-based terms: total variation (a smoothness prior) and the Sobel edge loss."""

from __future__ import annotations

import kornia
from torch import Tensor

from restorelab.losses.base import LossTerm


class TVLoss(LossTerm):
    """Anisotropic total variation of ``sr``: mean ``|dx| + |dy|`` (``gt`` is not used).

    A regulariser against noise and ringing (Rudin et al. 1992; used with a small weight, e.g.
    2e-8 on summed TV in SRGAN-era work). Averaged rather than summed here, so the weight does
    not depend on the patch size.

    Example:
        >>> x = torch.tensor([[[[0.0, 1.0], [1.0, 0.0]]]])  # checkerboard: every step is 1
        >>> float(TVLoss()(x, x))
        2.0
    """

    def forward(self, sr: Tensor, gt: Tensor) -> Tensor:
        x = sr.float()
        dx = (x[..., :, 1:] - x[..., :, :-1]).abs().mean()
        dy = (x[..., 1:, :] - x[..., :-1, :]).abs().mean()
        return dx + dy


class EdgeLoss(LossTerm):
    """L1 distance between the Sobel gradients (x and y) of ``sr`` and ``gt``, via kornia.

    Compares the gradient components rather than their magnitudes, so the loss stays smooth
    where an image is flat (the magnitude's square root has no gradient at zero).

    Args:
        weight: term weight.
        normalized: divide the Sobel kernels by 8 so a unit ramp has unit gradient.
    """

    def __init__(self, weight: float = 1.0, normalized: bool = True) -> None:
        super().__init__(weight)
        self.normalized = bool(normalized)

    def forward(self, sr: Tensor, gt: Tensor) -> Tensor:
        g_sr = kornia.filters.spatial_gradient(sr.float(), mode="sobel", normalized=self.normalized)
        g_gt = kornia.filters.spatial_gradient(gt.float(), mode="sobel", normalized=self.normalized)
        return (g_sr - g_gt).abs().mean()
