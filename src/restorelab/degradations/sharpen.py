"""Unsharp masking (USM) of the ground truth, as Real-ESRGAN applies before degrading it."""

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
from restorelab.ops.filtering import filter_per_sample_separable

__all__ = ["USMSharp", "usm_sharp"]


def _gaussian_taps(kernel_size: int, sigma: float, x: Tensor) -> Tensor:
    half = kernel_size // 2
    offsets = torch.arange(-half, half + 1, device=x.device, dtype=x.dtype)
    taps = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return taps / taps.sum()


def usm_sharp(
    x: Tensor,
    kernel_size: int = 51,
    sigma: float = 8.0,
    weight: float = 0.5,
    threshold: float = 10.0,
) -> Tensor:
    r"""Sharpen images with a thresholded, soft-masked unsharp mask.

    ``sharp = x + weight * (x - blur(x))``, applied only where the residual exceeds ``threshold``
    (0..255 units), with the mask itself blurred so the transition is smooth. The blur is a
    Gaussian, which is separable: two 1-D passes of ``kernel_size`` taps instead of one dense
    ``kernel_size``\ :sup:`2` convolution (BasicSR's ``USMSharp`` uses a dense 51x51 one), with the
    same reflect padding and so the same result up to float rounding.

    Args:
        x: images in :math:`[0, 1]`.
        kernel_size: odd side of the Gaussian (Real-ESRGAN: 51).
        sigma: its standard deviation (OpenCV's default for 51 taps, ``0.3 * (25 - 1) + 0.8 = 8``).
        weight: strength of the sharpening.
        threshold: residual (0..255) below which nothing is sharpened.

    Returns:
        The sharpened images, clamped to :math:`[0, 1]`.

    Shape:
        - x: :math:`(B, C, H, W)`
        - Output: :math:`(B, C, H, W)`

    Example:
        >>> usm_sharp(torch.rand(2, 3, 64, 64)).shape
        torch.Size([2, 3, 64, 64])
    """
    b = x.shape[0]
    taps = _gaussian_taps(kernel_size, sigma, x).expand(b, -1)
    blur = filter_per_sample_separable(x, taps, taps)
    residual = x - blur
    mask = (residual.abs() * 255.0 > threshold).to(x.dtype)
    soft_mask = filter_per_sample_separable(mask, taps, taps)
    sharp = (x + weight * residual).clamp(0.0, 1.0)
    return soft_mask * sharp + (1.0 - soft_mask) * x


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
