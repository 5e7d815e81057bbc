"""Isotropic Gaussian blur with a per-sample width: the classical camera/optics blur model."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from kornia.filters import gaussian_blur2d
from torch import Tensor

from restorelab.degradations.base import (
    DegradationError,
    Stage,
    apply_selected,
    check_choose_per,
    check_kernel_fits,
    check_prob,
    check_range,
    select_samples,
    selected_mask,
    uniform,
)
from restorelab.degradations.context import record

__all__ = ["GaussianBlur", "gaussian_blur"]


def gaussian_blur(x: Tensor, sigma: Tensor, kernel_size: int = 21) -> Tensor:
    r"""Blur each image with an isotropic Gaussian of its own standard deviation.

    Borders are reflected, so the blur does not darken the image edges. On images too small for
    ``kernel_size`` (reflect padding needs ``kernel_size // 2 < min(H, W)``) the kernel is
    shrunk to the largest odd size that fits rather than failing.

    Args:
        x: images.
        sigma: standard deviation in pixels of each image's kernel, all positive.
        kernel_size: odd side of the square kernel; about ``6 * sigma + 1`` keeps the whole bell.

    Returns:
        The blurred images, same shape, dtype and device as ``x``.

    Shape:
        - x: :math:`(B, C, H, W)`
        - sigma: :math:`(B,)`
        - Output: :math:`(B, C, H, W)`

    Example:
        >>> x = torch.rand(2, 3, 32, 32)
        >>> gaussian_blur(x, torch.tensor([0.5, 2.0]), kernel_size=13).shape
        torch.Size([2, 3, 32, 32])
    """
    _check_kernel_size(kernel_size)
    fit = 2 * min(int(x.shape[-2]), int(x.shape[-1])) - 1
    size = min(kernel_size, fit)
    sigma_yx = sigma.to(dtype=x.dtype).reshape(-1, 1).expand(-1, 2)
    return gaussian_blur2d(x, (size, size), sigma_yx, border_type="reflect")


def _check_kernel_size(kernel_size: int) -> int:
    if (
        isinstance(kernel_size, bool)
        or not isinstance(kernel_size, int)
        or kernel_size < 1
        or kernel_size % 2 == 0
    ):
        raise DegradationError(
            f"GaussianBlur: `kernel_size` must be a positive odd integer, got {kernel_size!r}."
        )
    return kernel_size


class GaussianBlur(Stage):
    r"""Stage that blurs each sample with probability ``prob`` and a random Gaussian width.

    The width is drawn uniformly from ``sigma`` per sample; samples whose coin flip says skip are
    passed through untouched and not computed at all.

    Args:
        kernel_size: odd side of the square kernel.
        sigma: ``[low, high]`` range of the standard deviation in pixels, ``low > 0``.
        prob: probability that a sample is blurred.
        choose_per: ``"sample"`` (a coin per sample) or ``"batch"`` (one for the batch).

    Shape:
        - Input: :math:`(B, C, H, W)`
        - Output: :math:`(B, C, H, W)`

    Example:
        >>> stage = GaussianBlur(kernel_size=21, sigma=(0.2, 3.0))
        >>> stage(torch.rand(4, 3, 32, 32), torch.Generator().manual_seed(0)).shape
        torch.Size([4, 3, 32, 32])
    """

    def __init__(
        self,
        kernel_size: int = 21,
        sigma: Sequence[float] = (0.2, 3.0),
        prob: float = 1.0,
        choose_per: str = "sample",
    ) -> None:
        super().__init__()
        self.kernel_size = _check_kernel_size(kernel_size)
        self.sigma = check_range("GaussianBlur", "sigma", sigma, minimum=0.0, strict_minimum=True)
        self.prob = check_prob("GaussianBlur", "prob", prob)
        self.choose_per = check_choose_per("GaussianBlur", choose_per)

    def check_input_size(self, height: int, width: int) -> tuple[int, int]:
        """Fail at start-up when the kernel is larger than the images this stage will see."""
        return check_kernel_fits("GaussianBlur", self.kernel_size, height, width, "it blurs.")

    def forward(self, x: Tensor, generator: torch.Generator) -> Tensor:
        batch = x.shape[0]
        sigma = uniform(batch, self.sigma, generator, x.device)
        index = select_samples(batch, self.prob, generator, x.device, self.choose_per)
        record("applied", selected_mask(batch, index, x.device))
        record("sigma", sigma)
        return apply_selected(
            x, index, lambda images, s: gaussian_blur(images, s, self.kernel_size), sigma
        )

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, sigma={list(self.sigma)}, prob={self.prob}, "
            f"choose_per={self.choose_per}"
        )
