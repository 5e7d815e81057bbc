"""Additive white Gaussian noise, in colour or grey, with a per-sample level: sensor noise."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from restorelab.degradations.base import (
    Stage,
    apply_selected,
    check_choose_per,
    check_prob,
    check_range,
    select_samples,
    selected_mask,
    uniform,
)
from restorelab.degradations.context import record

__all__ = ["GaussianNoise", "gaussian_noise"]


def gaussian_noise(
    x: Tensor, sigma: Tensor, gray: Tensor, generator: torch.Generator | None = None
) -> Tensor:
    r"""Add zero-mean Gaussian noise of a per-image level to images in :math:`[0, 1]`.

    ``sigma`` is in 8-bit units (0..255), the unit denoising papers quote (``sigma = 25``). A
    grey sample gets the same noise on every channel (luminance-only noise), a colour sample
    independent noise per channel.

    Args:
        x: images in :math:`[0, 1]`.
        sigma: noise standard deviation of each image in 0..255 units.
        gray: whether each image gets channel-shared noise.
        generator: source of the noise; pass one to keep the global RNG untouched.

    Returns:
        ``x`` plus the noise, not clamped.

    Shape:
        - x: :math:`(B, C, H, W)`
        - sigma: :math:`(B,)`
        - gray: :math:`(B,)`, bool
        - Output: :math:`(B, C, H, W)`

    Example:
        >>> x = torch.full((2, 3, 8, 8), 0.5)
        >>> y = gaussian_noise(x, torch.tensor([5.0, 25.0]), torch.tensor([False, True]))
        >>> y.shape
        torch.Size([2, 3, 8, 8])
    """
    noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    # Grey samples reuse their first channel everywhere: cheaper than drawing a second field.
    shared = noise[:, :1].expand_as(noise)
    noise = torch.where(gray.to(x.device).view(-1, 1, 1, 1), shared, noise)
    level = (sigma.to(device=x.device, dtype=x.dtype) / 255.0).view(-1, 1, 1, 1)
    return x + noise * level


class GaussianNoise(Stage):
    r"""Stage that adds Gaussian noise to each sample with probability ``prob``.

    The level is drawn uniformly from ``sigma`` (0..255 units) per sample, and with probability
    ``gray_prob`` the noise is shared by all channels. Skipped samples are not computed.

    Args:
        sigma: ``[low, high]`` range of the noise standard deviation in 0..255 units.
        gray_prob: probability that a sample gets grey (channel-shared) noise.
        prob: probability that a sample gets noise at all.
        choose_per: ``"sample"`` (a coin per sample) or ``"batch"`` (one for the batch).

    Shape:
        - Input: :math:`(B, C, H, W)`
        - Output: :math:`(B, C, H, W)`

    Example:
        >>> stage = GaussianNoise(sigma=(25, 25), gray_prob=0.0)
        >>> stage(torch.rand(4, 3, 16, 16), torch.Generator().manual_seed(0)).shape
        torch.Size([4, 3, 16, 16])
    """

    def __init__(
        self,
        sigma: Sequence[float] = (1.0, 30.0),
        gray_prob: float = 0.4,
        prob: float = 1.0,
        choose_per: str = "sample",
    ) -> None:
        super().__init__()
        self.sigma = check_range("GaussianNoise", "sigma", sigma, minimum=0.0)
        self.gray_prob = check_prob("GaussianNoise", "gray_prob", gray_prob)
        self.prob = check_prob("GaussianNoise", "prob", prob)
        self.choose_per = check_choose_per("GaussianNoise", choose_per)

    def forward(self, x: Tensor, generator: torch.Generator) -> Tensor:
        batch = x.shape[0]
        sigma = uniform(batch, self.sigma, generator, x.device)
        gray = torch.rand(batch, generator=generator, device=x.device) < self.gray_prob
        index = select_samples(batch, self.prob, generator, x.device, self.choose_per)
        record("applied", selected_mask(batch, index, x.device))
        record("sigma", sigma)
        record("gray", gray)
        return apply_selected(
            x, index, lambda images, s, g: gaussian_noise(images, s, g, generator), sigma, gray
        )

    def extra_repr(self) -> str:
        return (
            f"sigma={list(self.sigma)}, gray_prob={self.gray_prob}, prob={self.prob}, "
            f"choose_per={self.choose_per}"
        )
