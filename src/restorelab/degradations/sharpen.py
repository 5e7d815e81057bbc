"""Unsharp masking (USM) of the ground truth, as Real-ESRGAN applies before degrading it.

The sharpening itself is :func:`restorelab.ops.sharpen.usm_sharp` (shared with the losses'
``UnsharpMask``); this module holds the degradation stage and re-exports the function.
"""

from __future__ import annotations

import torch
from torch import Tensor

from restorelab.degradations.base import (
    DegradationError,
    Stage,
    _as_float,
    check_kernel_fits,
    check_odd,
)
from restorelab.ops.sharpen import usm_sharp

__all__ = ["USMSharp", "usm_sharp"]


class USMSharp(Stage):
    """Stage that sharpens every sample with :func:`usm_sharp` (deterministic).

    Real-ESRGAN degrades the sharpened ground truth (and trains its pixel and perceptual losses
    towards it), which makes its models produce crisper edges. Defaults are BasicSR's
    ``USMSharp(radius=50, sigma=0)``: a 51-tap Gaussian of sigma 8, weight 0.5, threshold 10.

    Args:
        kernel_size: odd side of the Gaussian blur.
        sigma: its standard deviation in pixels.
        weight: strength of the sharpening.
        threshold: residual (0..255) below which nothing is sharpened.
    """

    def __init__(
        self,
        kernel_size: int = 51,
        sigma: float = 8.0,
        weight: float = 0.5,
        threshold: float = 10.0,
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        self.kernel_size = check_odd(owner, "kernel_size", kernel_size, minimum=3)
        self.sigma = _as_float(owner, "sigma", sigma)
        if self.sigma <= 0:
            raise DegradationError(f"{owner}: `sigma` must be > 0, got {sigma!r}.")
        self.weight = _as_float(owner, "weight", weight)
        self.threshold = _as_float(owner, "threshold", threshold)

    def check_input_size(self, height: int, width: int) -> tuple[int, int]:
        """Fail at start-up when the blur cannot fit the images."""
        return check_kernel_fits(
            type(self).__name__, self.kernel_size, height, width, "it sharpens."
        )

    def forward(self, x: Tensor, generator: torch.Generator) -> Tensor:
        return usm_sharp(x, self.kernel_size, self.sigma, self.weight, self.threshold)

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, sigma={self.sigma}, weight={self.weight}, "
            f"threshold={self.threshold}"
        )
