"""Frequency-domain content loss."""

from __future__ import annotations

import torch
from torch import Tensor

from restorelab.losses.base import LossTerm


class FFTLoss(LossTerm):
    """L1 distance between the 2-D real FFTs of ``sr`` and ``gt`` (Cho et al. 2021, MIMO-UNet).

    Pixel losses under-weight the high frequencies where fine texture lives; comparing the
    spectra (real and imaginary parts, orthonormal scaling so the value does not grow with the
    image size) penalises lost detail directly.

    Args:
        weight: term weight (MIMO-UNet: 0.1 next to L1).

    Example:
        >>> sr, gt = torch.zeros(1, 1, 4, 4), torch.ones(1, 1, 4, 4)
        >>> round(float(FFTLoss()(sr, gt)), 4)  # DC term 4 over 4*3*2 entries
        0.1667
    """

    def forward(self, sr: Tensor, gt: Tensor) -> Tensor:
        spec_sr = torch.view_as_real(torch.fft.rfft2(sr.float(), norm="ortho"))
        spec_gt = torch.view_as_real(torch.fft.rfft2(gt.float(), norm="ortho"))
        return (spec_sr - spec_gt).abs().mean()
