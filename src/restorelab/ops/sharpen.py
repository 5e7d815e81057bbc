"""Unsharp masking (USM): the thresholded, soft-masked sharpening Real-ESRGAN applies.

One definition shared by the ``USMSharp`` degradation stage (sharpens ``gt`` before degrading
it) and the ``UnsharpMask`` loss transform (sharpens the content terms' target), so input and
target see the same sharpening. The blur is kornia's Gaussian (its 1-D kernel, applied with its
``filter2d_separable`` through :mod:`restorelab.ops.filtering`); kornia's own ``unsharp_mask``
has no weight, threshold or soft mask, which is what makes Real-ESRGAN's sharpening gentle.
"""

from __future__ import annotations

from kornia.filters import get_gaussian_kernel1d
from torch import Tensor

from restorelab.ops.filtering import filter_per_sample_separable

__all__ = ["usm_sharp"]


def _gaussian_taps(kernel_size: int, sigma: float, x: Tensor) -> Tensor:
    """kornia's normalized 1-D Gaussian of odd length ``kernel_size``, in ``x``'s dtype/device."""
    return get_gaussian_kernel1d(kernel_size, sigma, device=x.device, dtype=x.dtype)[0]


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
