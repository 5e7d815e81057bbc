"""PSNR and SSIM on the Y channel, the convention of super-resolution tables.

Published numbers (and BasicSR's ``calculate_psnr`` / ``calculate_ssim`` with
``test_y_channel=True``) are computed on images rounded to 8 bits, converted to the Y channel
of ITU-R BT.601 studio-range YCbCr, with ``crop_border`` pixels removed from every border; SSIM
uses an 11x11 Gaussian window (sigma 1.5) without padding. Scores computed any other way (RGB,
full-range Y, no rounding, padded SSIM) are not comparable with the literature.

A grayscale image (one channel) is scored on that channel as it is: converting it to RGB and
then to studio-range Y compresses its contrast and inflates PSNR by over a dB.

All functions take float images in ``[0, 1]`` of shape ``(B, C, H, W)`` with ``C`` 3 (RGB) or
1 (grayscale) and return one value per image; the torchmetrics classes average over images and
are DDP-correct through summed states.
"""

from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F
from torchmetrics import Metric

from restorelab.metric_direction import higher_is_better

__all__ = ["PSNRY", "SSIMY", "psnr_y", "quantize_8bit", "rgb_to_y", "ssim_y"]

# BT.601 studio-range luma coefficients for R, G, B in [0, 1], giving Y in [16, 235].
_Y_WEIGHTS = (65.481, 128.553, 24.966)
_Y_OFFSET = 16.0

_SSIM_WINDOW = 11
_SSIM_SIGMA = 1.5
_SSIM_C1 = (0.01 * 255.0) ** 2
_SSIM_C2 = (0.03 * 255.0) ** 2


def quantize_8bit(x: torch.Tensor) -> torch.Tensor:
    """Round images in ``[0, 1]`` to 8-bit levels, as saving them to PNG would.

    Scores in the literature are computed on stored 8-bit images, so the network output is
    clamped and rounded (half to even) before scoring.

    Args:
        x: float images in ``[0, 1]`` (values outside are clamped), any shape.

    Returns:
        float64 tensor of the same shape with integer values in ``[0, 255]``.

    Example:
        >>> quantize_8bit(torch.tensor([0.0, 0.5, 1.2]))
        tensor([  0., 128., 255.], dtype=torch.float64)
    """
    return torch.round(x.detach().to(torch.float64).clamp(0.0, 1.0) * 255.0)


def rgb_to_y(x: torch.Tensor) -> torch.Tensor:
    """Y channel of ITU-R BT.601 studio-range YCbCr, on the 0..255 scale.

    ``Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255`` for ``R, G, B`` in ``[0, 255]``
    (equivalently ``16 + 65.481 r + 128.553 g + 24.966 b`` for ``r, g, b`` in ``[0, 1]``),
    so ``Y`` lies in ``[16, 235]``. The result is not rounded, as in MATLAB's ``rgb2ycbcr`` on
    doubles and BasicSR's ``to_y_channel``.

    Args:
        x: RGB images on the 0..255 scale (e.g. from :func:`quantize_8bit`), shape
            ``(*, 3, H, W)``.

    Returns:
        Y on the 0..255 scale, shape ``(*, 1, H, W)``, dtype of ``x``.

    Example:
        >>> rgb_to_y(torch.full((1, 3, 2, 2), 255.0)).flatten()
        tensor([235., 235., 235., 235.])
    """
    if x.dim() < 3 or x.shape[-3] != 3:
        raise ValueError(f"rgb_to_y: expected shape (*, 3, H, W), got {tuple(x.shape)}.")
    r, g, b = x.unbind(dim=-3)
    y = (_Y_WEIGHTS[0] * r + _Y_WEIGHTS[1] * g + _Y_WEIGHTS[2] * b) / 255.0 + _Y_OFFSET
    return y.unsqueeze(-3)


def _check_pair(sr: torch.Tensor, gt: torch.Tensor, crop_border: int) -> None:
    if sr.shape != gt.shape:
        raise ValueError(
            "sr and gt must have the same shape, "
            f"got sr {tuple(sr.shape)} and gt {tuple(gt.shape)}."
        )
    if sr.dim() != 4 or sr.shape[1] not in (1, 3):
        raise ValueError(
            "expected images of shape (B, C, H, W) with C 3 (RGB) or 1 (gray), "
            f"got {tuple(sr.shape)}."
        )
    if crop_border < 0:
        raise ValueError(f"crop_border must be non-negative, got {crop_border}.")
    if 2 * crop_border >= min(sr.shape[-2], sr.shape[-1]):
        raise ValueError(
            f"crop_border {crop_border} leaves nothing of images of size {tuple(sr.shape[-2:])}."
        )


def _to_scored_channel(x: torch.Tensor, crop_border: int) -> torch.Tensor:
    """8-bit rounding, then Y (RGB) or the channel itself (gray), then the border crop.

    Returns float64 values on the 0..255 scale, shape ``(B, 1, H', W')``.
    """
    x = quantize_8bit(x)
    if x.shape[1] == 3:
        x = rgb_to_y(x)
    if crop_border > 0:
        x = x[..., crop_border:-crop_border, crop_border:-crop_border]
    return x


def psnr_y(sr: torch.Tensor, gt: torch.Tensor, crop_border: int) -> torch.Tensor:
    """Per-image PSNR on Y (RGB input) or on the single channel (grayscale input), in dB.

    Args:
        sr: restored images in ``[0, 1]``, shape ``(B, C, H, W)``, ``C`` 3 or 1.
        gt: ground-truth images, same shape.
        crop_border: pixels removed from every border before scoring (the scale factor, by
            convention).

    Returns:
        float64 tensor of shape ``(B,)``. An image identical to its ground truth (after 8-bit
        rounding) has zero error and scores ``+inf``.

    Raises:
        ValueError: if the shapes differ or are not ``(B, 3 or 1, H, W)``, or the crop is too
            large.

    Example:
        >>> gt = torch.full((1, 1, 8, 8), 100 / 255)
        >>> psnr_y(gt + 10 / 255, gt, crop_border=0)
        tensor([28.1308], dtype=torch.float64)
    """
    _check_pair(sr, gt, crop_border)
    a = _to_scored_channel(sr, crop_border)
    b = _to_scored_channel(gt, crop_border)
    mse = (a - b).pow(2).flatten(1).mean(dim=1)
    return 10.0 * torch.log10(255.0**2 / mse)


@lru_cache(maxsize=8)
def _gaussian_window(device: torch.device) -> torch.Tensor:
    """The normalized 11x11 Gaussian SSIM window (sigma 1.5), float64, shape (1, 1, 11, 11)."""
    coords = torch.arange(_SSIM_WINDOW, dtype=torch.float64) - (_SSIM_WINDOW - 1) / 2
    g = torch.exp(-(coords**2) / (2 * _SSIM_SIGMA**2))
    g = g / g.sum()
    return torch.outer(g, g).to(device).view(1, 1, _SSIM_WINDOW, _SSIM_WINDOW)


def ssim_y(sr: torch.Tensor, gt: torch.Tensor, crop_border: int) -> torch.Tensor:
    """Per-image SSIM on Y (RGB input) or on the single channel (grayscale input).

    Follows the original SSIM definition as the literature computes it: 11x11 Gaussian window
    with sigma 1.5 applied without padding (only fully covered positions are kept),
    ``C1 = (0.01 * 255)^2``, ``C2 = (0.03 * 255)^2``, in float64, averaged over the SSIM map.

    Args:
        sr: restored images in ``[0, 1]``, shape ``(B, C, H, W)``, ``C`` 3 or 1.
        gt: ground-truth images, same shape.
        crop_border: pixels removed from every border before scoring.

    Returns:
        float64 tensor of shape ``(B,)``, 1 for identical images.

    Raises:
        ValueError: if the shapes differ or are not ``(B, 3 or 1, H, W)``, or fewer than 11x11
            pixels remain after the crop.

    Example:
        >>> gt = torch.rand(2, 3, 32, 32)
        >>> ssim_y(gt, gt, crop_border=4)
        tensor([1., 1.], dtype=torch.float64)
    """
    _check_pair(sr, gt, crop_border)
    a = _to_scored_channel(sr, crop_border)
    b = _to_scored_channel(gt, crop_border)
    if min(a.shape[-2], a.shape[-1]) < _SSIM_WINDOW:
        raise ValueError(
            f"ssim_y needs at least {_SSIM_WINDOW}x{_SSIM_WINDOW} pixels after the crop, "
            f"got {tuple(a.shape[-2:])}."
        )
    window = _gaussian_window(a.device)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, window)

    mu_a, mu_b = blur(a), blur(b)
    mu_a2, mu_b2, mu_ab = mu_a * mu_a, mu_b * mu_b, mu_a * mu_b
    var_a = blur(a * a) - mu_a2
    var_b = blur(b * b) - mu_b2
    cov = blur(a * b) - mu_ab
    ssim_map = ((2 * mu_ab + _SSIM_C1) * (2 * cov + _SSIM_C2)) / (
        (mu_a2 + mu_b2 + _SSIM_C1) * (var_a + var_b + _SSIM_C2)
    )
    return ssim_map.flatten(1).mean(dim=1)


class _MeanOverImages(Metric):
    """Average of a per-image score, with summed states so DDP reduction is exact."""

    is_differentiable = False
    full_state_update = False

    total: torch.Tensor
    count: torch.Tensor

    def __init__(self, crop_border: int) -> None:
        super().__init__()
        if crop_border < 0:
            raise ValueError(f"crop_border must be non-negative, got {crop_border}.")
        self.crop_border = crop_border
        self.add_state(
            "total", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum"
        )
        self.add_state("count", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def _per_image(self, sr: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def update(self, sr: torch.Tensor, gt: torch.Tensor) -> None:
        """Score a batch of ``(B, C, H, W)`` images in ``[0, 1]`` and accumulate it."""
        values = self._per_image(sr, gt)
        self.total += values.sum()
        self.count += values.numel()

    def compute(self) -> torch.Tensor:
        """Mean over all images seen so far (on all processes)."""
        return self.total / self.count


class PSNRY(_MeanOverImages):
    """Mean PSNR on Y over images, the super-resolution convention (see :func:`psnr_y`).

    For per-image reports, call :func:`psnr_y` directly on each batch.

    Args:
        crop_border: pixels removed from every border (the scale factor, by convention).

    Example:
        >>> metric = PSNRY(crop_border=0)
        >>> gt = torch.full((2, 3, 8, 8), 100 / 255)
        >>> metric.update(gt + 10 / 255, gt)
        >>> round(metric.compute().item(), 2)
        29.45
    """

    higher_is_better = higher_is_better("psnr")

    def _per_image(self, sr: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        return psnr_y(sr, gt, self.crop_border)


class SSIMY(_MeanOverImages):
    """Mean SSIM on Y over images, the super-resolution convention (see :func:`ssim_y`).

    For per-image reports, call :func:`ssim_y` directly on each batch.

    Args:
        crop_border: pixels removed from every border (the scale factor, by convention).

    Example:
        >>> metric = SSIMY(crop_border=4)
        >>> gt = torch.rand(2, 3, 32, 32)
        >>> metric.update(gt, gt)
        >>> metric.compute().item()
        1.0
    """

    higher_is_better = higher_is_better("ssim")

    def _per_image(self, sr: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        return ssim_y(sr, gt, self.crop_border)
