"""Poisson (shot) noise and Real-ESRGAN's mixed Gaussian-or-Poisson sensor noise stage."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from restorelab.degradations.base import (
    DegradationError,
    Stage,
    check_choose_per,
    check_prob,
    check_range,
    select_samples,
    selected_mask,
    uniform,
)
from restorelab.degradations.context import record
from restorelab.degradations.noise import gaussian_noise

__all__ = ["DISTINCT", "RandomNoise", "distinct_levels", "poisson_noise"]

# ITU-R BT.601 luma weights, as kornia's and OpenCV's rgb_to_grayscale use.
_LUMA = (0.299, 0.587, 0.114)


#: ``levels`` value that sets each image's photon count from its distinct 8-bit values.
DISTINCT = "distinct"


def distinct_levels(x: Tensor) -> Tensor:
    """Per image, ``2 ** ceil(log2(n))`` for its ``n`` distinct 8-bit values: :math:`(B, 1, 1, 1)`.

    BasicSR's photon count for Poisson noise (``generate_poisson_noise_pt``).
    """
    index = torch.round(x.clamp(0.0, 1.0) * 255.0).to(torch.long).flatten(1)
    present = torch.zeros(x.shape[0], 256, dtype=torch.bool, device=x.device)
    present.scatter_(1, index, True)
    distinct = present.sum(dim=1).clamp_min(1).to(x.dtype)
    return torch.exp2(torch.ceil(torch.log2(distinct))).view(-1, 1, 1, 1)


def poisson_noise(
    x: Tensor,
    scale: Tensor,
    gray: Tensor,
    generator: torch.Generator | None = None,
    levels: int | str = 256,
) -> Tensor:
    r"""Add scaled Poisson (photon shot) noise, in colour or grey, to images in :math:`[0, 1]`.

    The image is quantised to 8 bits, photon counts are drawn as
    :math:`\mathrm{Poisson}(x \cdot levels) / levels`, and the difference to the image, times
    ``scale``, is added: the noise variance grows with brightness (:math:`scale^2 x / levels`),
    unlike Gaussian noise. Grey samples draw the noise on the luma and share it across channels.
    ``levels="distinct"`` is BasicSR's choice: per image, the next power of two at or above the
    number of distinct 8-bit values it holds (of its luma for grey noise), so a dark or flat image
    gets stronger noise; counted for the whole batch at once with one scatter, where BasicSR calls
    ``torch.unique`` image by image. An integer uses that photon count for every image.

    Args:
        x: images in :math:`[0, 1]`.
        scale: noise scale of each image, :math:`(B,)`, non-negative.
        gray: whether each image gets grey (channel-shared) noise, :math:`(B,)` bool.
        generator: random generator (None: the global one).
        levels: photon count of a white pixel, or ``"distinct"`` (see above).

    Returns:
        The noisy images, not clamped.

    Shape:
        - x: :math:`(B, C, H, W)`
        - Output: :math:`(B, C, H, W)`

    Example:
        >>> x = torch.full((2, 3, 8, 8), 0.5)
        >>> poisson_noise(x, torch.tensor([1.0, 2.0]), torch.tensor([False, True])).shape
        torch.Size([2, 3, 8, 8])
    """
    quantized = torch.round(x.clamp(0.0, 1.0) * 255.0) / 255.0
    gray = gray.to(x.device)
    noise = torch.empty_like(x)
    # Colour samples draw a field per channel, grey ones one field on their 8-bit luma (as
    # BasicSR takes it: the grey image a camera would store), shared by the channels. Drawing
    # only what is used saves two thirds of the (costly) Poisson draws of the grey samples.
    colour_rows, grey_rows = (~gray).nonzero().squeeze(1), gray.nonzero().squeeze(1)
    if colour_rows.numel():
        noise[colour_rows] = _photon_noise(quantized[colour_rows], levels, generator)
    if grey_rows.numel():
        picked = quantized[grey_rows]
        if x.shape[-3] == 3:
            luma = torch.tensor(_LUMA, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
            picked = torch.round((picked * luma).sum(dim=-3, keepdim=True) * 255.0) / 255.0
        field = _photon_noise(picked[:, :1], levels, generator)
        noise[grey_rows] = field.expand(-1, x.shape[-3], -1, -1)
    return x + noise * scale.to(device=x.device, dtype=x.dtype).view(-1, 1, 1, 1)


def _photon_noise(source: Tensor, levels: int | str, generator: torch.Generator | None) -> Tensor:
    """``Poisson(source * photons) / photons - source`` for images on 8-bit levels."""
    photons: Tensor | int = distinct_levels(source) if levels == DISTINCT else int(levels)
    return torch.poisson(source * photons, generator=generator) / photons - source


class RandomNoise(Stage):
    r"""Add Gaussian noise or Poisson noise (chosen per sample), in colour or grey.

    With probability ``gaussian_prob`` Gaussian noise of level ``sigma`` (0..255 units), otherwise
    Poisson noise of scale ``poisson_scale``; with probability ``gray_prob`` (per sample) the
    noise is shared by all channels. ``choose_per`` says whether the Gaussian-or-Poisson choice
    (and the ``prob`` coin) is drawn once per batch, as Real-ESRGAN does (``degradation=
    realesrgan`` sets it), or per sample, which gives every batch both kinds. Levels are drawn
    per sample either way. Samples whose ``prob`` coin says skip are not computed.

    Defaults: Real-ESRGAN's first-order noise (``gaussian_noise_prob 0.5``, ``noise_range
    [1, 30]``, ``poisson_scale_range [0.05, 3]``, ``gray_noise_prob 0.4``).

    Args:
        gaussian_prob: probability of Gaussian (rather than Poisson) noise.
        sigma: ``[low, high]`` Gaussian standard deviation in 0..255 units.
        poisson_scale: ``[low, high]`` Poisson noise scale.
        gray_prob: probability of grey noise.
        levels: photon count of a white pixel for Poisson noise, or ``"distinct"``: per image
            from its number of distinct 8-bit values, as BasicSR does (``degradation=
            realesrgan``).
        prob: probability that a sample gets noise at all.
        choose_per: ``"sample"`` or ``"batch"``: how the noise kind and ``prob`` are drawn.

    Shape:
        - Input: :math:`(B, C, H, W)`
        - Output: :math:`(B, C, H, W)`
    """

    def __init__(
        self,
        gaussian_prob: float = 0.5,
        sigma: Sequence[float] = (1.0, 30.0),
        poisson_scale: Sequence[float] = (0.05, 3.0),
        gray_prob: float = 0.4,
        levels: int | str = 256,
        prob: float = 1.0,
        choose_per: str = "sample",
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        self.gaussian_prob = check_prob(owner, "gaussian_prob", gaussian_prob)
        self.sigma = check_range(owner, "sigma", sigma, minimum=0.0)
        self.poisson_scale = check_range(owner, "poisson_scale", poisson_scale, minimum=0.0)
        self.gray_prob = check_prob(owner, "gray_prob", gray_prob)
        if levels != DISTINCT and (
            isinstance(levels, bool) or not isinstance(levels, int) or levels < 1
        ):
            raise DegradationError(
                f"{owner}: `levels` must be a positive integer or {DISTINCT!r}, got {levels!r}."
            )
        self.levels = levels
        self.prob = check_prob(owner, "prob", prob)
        self.choose_per = check_choose_per(owner, choose_per)

    def forward(self, x: Tensor, generator: torch.Generator) -> Tensor:
        batch, device = x.shape[0], x.device
        coins = 1 if self.choose_per == "batch" else batch
        is_gaussian = torch.rand(coins, generator=generator, device=device) < self.gaussian_prob
        is_gaussian = is_gaussian.expand(batch)
        sigma = uniform(batch, self.sigma, generator, device)
        scale = uniform(batch, self.poisson_scale, generator, device)
        gray = torch.rand(batch, generator=generator, device=device) < self.gray_prob
        index = select_samples(batch, self.prob, generator, device, self.choose_per)
        chosen = selected_mask(batch, index, device)
        record("applied", chosen)
        record("kind", ["gaussian" if g else "poisson" for g in is_gaussian.tolist()])
        nan = torch.full_like(sigma, float("nan"))
        record("sigma", torch.where(is_gaussian, sigma, nan))  # 0..255, Gaussian samples
        record("poisson_scale", torch.where(is_gaussian, nan, scale))  # Poisson samples
        record("gray", gray)
        gauss_idx = (chosen & is_gaussian).nonzero().squeeze(1)
        poisson_idx = (chosen & ~is_gaussian).nonzero().squeeze(1)
        if not gauss_idx.numel() and not poisson_idx.numel():
            return x
        out = x.clone()  # one copy; each kind writes its own samples in place
        if gauss_idx.numel():
            noisy = gaussian_noise(
                x.index_select(0, gauss_idx), sigma[gauss_idx], gray[gauss_idx], generator
            )
            out.index_copy_(0, gauss_idx, noisy)
        if poisson_idx.numel():
            noisy = poisson_noise(
                x.index_select(0, poisson_idx),
                scale[poisson_idx],
                gray[poisson_idx],
                generator,
                self.levels,
            )
            out.index_copy_(0, poisson_idx, noisy)
        return out

    def extra_repr(self) -> str:
        return (
            f"gaussian_prob={self.gaussian_prob}, sigma={list(self.sigma)}, "
            f"poisson_scale={list(self.poisson_scale)}, gray_prob={self.gray_prob}, "
            f"prob={self.prob}, choose_per={self.choose_per}"
        )
