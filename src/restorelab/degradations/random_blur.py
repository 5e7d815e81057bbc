"""Blur with a kernel drawn per sample from a mix of families: Real-ESRGAN's blur, plus motion
and defocus for deblurring (the final sinc filter is its own stage, in ``sinc.py``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from kornia.filters import get_gaussian_kernel1d
from torch import Tensor

from restorelab.degradations.base import (
    DegradationError,
    Stage,
    check_choices,
    check_choose_per,
    check_kernel_fits,
    check_odd,
    check_prob,
    check_range,
    check_weights,
    select_samples,
    selected_mask,
    uniform,
)
from restorelab.degradations.context import record
from restorelab.degradations.kernels import (
    defocus_kernels,
    gaussian_kernels,
    generalized_gaussian_kernels,
    motion_kernels,
    plateau_kernels,
    sinc_kernels,
)
from restorelab.ops.filtering import (
    filter_per_sample,
    filter_per_sample_separable,
    support_reach,
)

__all__ = ["KERNEL_TYPES", "RandomBlur", "apply_kernels", "random_odd_sizes"]

#: The kernel families :class:`RandomBlur` can draw from (``kernel_list`` entries).
KERNEL_TYPES = (
    "iso",
    "aniso",
    "generalized_iso",
    "generalized_aniso",
    "plateau_iso",
    "plateau_aniso",
    "motion",
    "defocus",
)


def random_odd_sizes(
    batch: int, sizes: tuple[int, int], generator: torch.Generator, device: torch.device
) -> Tensor:
    """Draw ``batch`` odd kernel sizes uniformly from the odd integers in ``[low, high]``."""
    low, high = sizes
    count = (high - low) // 2 + 1
    pick = torch.randint(count, (batch,), generator=generator, device=device)
    return low + 2 * pick


def _beta(
    batch: int,
    bounds: tuple[float, float],
    generator: torch.Generator,
    device: torch.device,
) -> Tensor:
    """Shape parameter as BasicSR draws it: half the time below 1, half the time above 1.

    ``beta`` is uniform in ``[low, 1]`` or ``[1, high]`` with equal odds, so peaky and flat
    kernels are equally common whatever the width of each side of the range.
    """
    low, high = bounds
    below = uniform(batch, (low, min(1.0, high)), generator, device)
    above = uniform(batch, (max(1.0, low), high), generator, device)
    coin = torch.rand(batch, generator=generator, device=device) < 0.5
    return torch.where(coin, below, above)


class RandomBlur(Stage):
    r"""Blur each sample with its own kernel, drawn from a weighted mix of kernel families.

    Per sample: a family from ``kernel_list`` with the weights ``kernel_prob`` (replaced by a
    sinc filter with probability ``sinc_prob``), a support size among the odd values of
    ``size_range``, and the family's parameters from their ranges. Kernels are built on the
    device in one batched expression and applied in one grouped convolution (two 1-D passes when
    every kernel is an isotropic Gaussian); samples whose ``prob`` coin says skip are not
    computed, and the convolution is cut to the largest support actually drawn.

    Defaults are Real-ESRGAN's first-order blur (Wang et al. 2021, ``options/
    train_realesrgan_x4plus.yml``: ``blur_kernel_size 21``, ``kernel_range`` 7..21,
    ``kernel_prob [0.45, 0.25, 0.12, 0.03, 0.12, 0.03]``, ``blur_sigma [0.2, 3]``,
    ``betag_range [0.5, 4]``, ``betap_range [1, 2]``, ``sinc_prob 0.1``).

    Args:
        kernel_size: odd side of the grid every kernel is drawn on (its largest possible support).
        kernel_list: families to draw from, any of :data:`KERNEL_TYPES`.
        kernel_prob: probability of each family (same length; normalised to sum to one).
        size_range: ``[low, high]`` odd support sizes for the Gaussian-type and sinc kernels.
        sigma: ``[low, high]`` standard deviation in pixels (both axes for anisotropic ones).
        rotation: ``[low, high]`` angle in radians of anisotropic kernels.
        betag: ``[low, high]`` shape of generalized Gaussians.
        betap: ``[low, high]`` shape of plateau kernels.
        motion_length: ``[low, high]`` motion path length in pixels (at most ``kernel_size - 1``).
        defocus_radius: ``[low, high]`` disk radius in pixels (at most ``kernel_size // 2``).
        sinc_prob: probability that a sample gets a sinc (ringing) kernel instead.
        sinc_omega: ``[low, high]`` sinc cutoff in radians for supports of at least
            ``sinc_small_size``.
        sinc_omega_small: cutoff range for smaller supports (a narrow sinc needs a high cutoff).
        sinc_small_size: support below which ``sinc_omega_small`` is used.
        prob: probability that a sample is blurred at all.
        choose_per: ``"sample"`` (a coin per sample) or ``"batch"`` (one coin: the whole batch
            or none of it, Real-ESRGAN's ``second_blur_prob``). Kernels are drawn per sample
            either way.

    Shape:
        - Input: :math:`(B, C, H, W)`
        - Output: :math:`(B, C, H, W)`

    Example:
        >>> stage = RandomBlur(kernel_list=["iso", "motion"], kernel_prob=[0.5, 0.5])
        >>> stage(torch.rand(4, 3, 32, 32), torch.Generator().manual_seed(0)).shape
        torch.Size([4, 3, 32, 32])
    """

    def __init__(
        self,
        kernel_size: int = 21,
        kernel_list: Sequence[str] = KERNEL_TYPES[:6],
        kernel_prob: Sequence[float] = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03),
        size_range: Sequence[int] = (7, 21),
        sigma: Sequence[float] = (0.2, 3.0),
        rotation: Sequence[float] = (-math.pi, math.pi),
        betag: Sequence[float] = (0.5, 4.0),
        betap: Sequence[float] = (1.0, 2.0),
        motion_length: Sequence[float] = (3.0, 20.0),
        defocus_radius: Sequence[float] = (1.0, 6.0),
        sinc_prob: float = 0.0,
        sinc_omega: Sequence[float] = (math.pi / 5, math.pi),
        sinc_omega_small: Sequence[float] = (math.pi / 3, math.pi),
        sinc_small_size: int = 13,
        prob: float = 1.0,
        choose_per: str = "sample",
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        self.kernel_size = check_odd(owner, "kernel_size", kernel_size, minimum=3)
        self.kernel_list = check_choices(owner, "kernel_list", kernel_list, KERNEL_TYPES)
        self.kernel_prob = check_weights(owner, "kernel_prob", kernel_prob, len(self.kernel_list))
        low, high = check_range(owner, "size_range", size_range, minimum=1)
        if low != int(low) or high != int(high) or int(low) % 2 == 0 or int(high) % 2 == 0:
            raise DegradationError(
                f"{owner}: `size_range` must hold odd integers, got {list(size_range)!r}."
            )
        if high > self.kernel_size:
            raise DegradationError(
                f"{owner}: `size_range` must not exceed kernel_size={self.kernel_size}, "
                f"got {list(size_range)!r}."
            )
        self.size_range = (int(low), int(high))
        self.sigma = check_range(owner, "sigma", sigma, minimum=0.0, strict_minimum=True)
        self.rotation = check_range(owner, "rotation", rotation)
        self.betag = check_range(owner, "betag", betag, minimum=0.0, strict_minimum=True)
        self.betap = check_range(owner, "betap", betap, minimum=0.0, strict_minimum=True)
        self.motion_length = check_range(
            owner, "motion_length", motion_length, minimum=0.0, maximum=self.kernel_size - 1
        )
        self.defocus_radius = check_range(
            owner, "defocus_radius", defocus_radius, minimum=0.0, maximum=self.kernel_size // 2
        )
        self.sinc_prob = check_prob(owner, "sinc_prob", sinc_prob)
        self.sinc_omega = check_range(
            owner,
            "sinc_omega",
            sinc_omega,
            minimum=0.0,
            maximum=math.pi + 1e-4,
            strict_minimum=True,
        )
        self.sinc_omega_small = check_range(
            owner,
            "sinc_omega_small",
            sinc_omega_small,
            minimum=0.0,
            maximum=math.pi + 1e-4,
            strict_minimum=True,
        )
        self.sinc_small_size = check_odd(owner, "sinc_small_size", sinc_small_size)
        self.prob = check_prob(owner, "prob", prob)
        self.choose_per = check_choose_per(owner, choose_per)

    def check_input_size(self, height: int, width: int) -> tuple[int, int]:
        """Fail at start-up when the kernel cannot fit the images this stage will see."""
        return check_kernel_fits(
            type(self).__name__,
            self.kernel_size,
            height,
            width,
            "it blurs (the patch size after the stages before it).",
        )

    def draw_kernels(
        self, batch: int, generator: torch.Generator, device: torch.device
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Draw one kernel per sample.

        Every parameter is drawn for every sample whatever its family, so the generator always
        advances by the same amount and later stages see the same stream for a given seed.

        Returns:
            ``(kernels, separable, profile)``: the :math:`(B, K, K)` kernels, a :math:`(B,)`
            mask of the isotropic Gaussians, and their 1-D profiles :math:`(B, K)`, whose outer
            product is the kernel.
        """
        k = self.kernel_size
        weights = torch.tensor(self.kernel_prob, device=device)
        kind = torch.multinomial(weights, batch, replacement=True, generator=generator)
        is_sinc = torch.rand(batch, generator=generator, device=device) < self.sinc_prob
        size = random_odd_sizes(batch, self.size_range, generator, device)
        sigma_x = uniform(batch, self.sigma, generator, device)
        sigma_y = uniform(batch, self.sigma, generator, device)
        theta = uniform(batch, self.rotation, generator, device)
        betag = _beta(batch, self.betag, generator, device)
        betap = _beta(batch, self.betap, generator, device)
        length = uniform(batch, self.motion_length, generator, device)
        motion_theta = uniform(batch, (0.0, math.pi), generator, device)
        radius = uniform(batch, self.defocus_radius, generator, device)
        omega_wide = uniform(batch, self.sinc_omega, generator, device)
        omega_small = uniform(batch, self.sinc_omega_small, generator, device)

        names = [self.kernel_list[i] for i in kind.tolist()]
        iso = torch.tensor(["_iso" in n or n == "iso" for n in names], device=device)
        # Isotropic: one width, no rotation (BasicSR's bivariate kernels with sigma_y = sigma_x).
        sigma_y = torch.where(iso, sigma_x, sigma_y)
        theta = torch.where(iso, torch.zeros_like(theta), theta)

        families = {
            "gaussian": lambda: gaussian_kernels(sigma_x, sigma_y, theta, size, k),
            "generalized": lambda: generalized_gaussian_kernels(
                sigma_x, sigma_y, theta, betag, size, k
            ),
            "plateau": lambda: plateau_kernels(sigma_x, sigma_y, theta, betap, size, k),
            "motion": lambda: motion_kernels(length, motion_theta, k),
            "defocus": lambda: defocus_kernels(radius, k),
        }
        family_of = [n.split("_")[0] if n not in ("iso", "aniso") else "gaussian" for n in names]
        kernels = torch.empty(batch, k, k, device=device)
        for family in set(family_of):
            rows = torch.tensor([f == family for f in family_of], device=device)
            kernels = torch.where(rows.view(-1, 1, 1), families[family](), kernels)
        if bool(is_sinc.any()):
            omega = torch.where(size < self.sinc_small_size, omega_small, omega_wide)
            kernels = torch.where(is_sinc.view(-1, 1, 1), sinc_kernels(omega, size, k), kernels)

        record("kind", ["sinc" if s else n for n, s in zip(names, is_sinc.tolist(), strict=True)])
        record("size", size)
        record("sigma_x", sigma_x)
        record("sigma_y", sigma_y)
        separable = iso & torch.tensor([n == "iso" for n in names], device=device) & ~is_sinc
        # Isotropic Gaussians are kornia's: the outer product of its 1-D kernel, cut to the size.
        offsets = torch.arange(-(k // 2), k // 2 + 1, device=device, dtype=sigma_x.dtype)
        inside = offsets.abs().view(1, -1) <= (size // 2).view(-1, 1)
        profile = get_gaussian_kernel1d(k, sigma_x.view(-1, 1), device=device, dtype=sigma_x.dtype)
        profile = profile * inside
        profile = profile / profile.sum(dim=-1, keepdim=True)
        if bool(separable.any()):
            outer = profile.unsqueeze(-1) * profile.unsqueeze(-2)
            kernels = torch.where(separable.view(-1, 1, 1), outer, kernels)
        return kernels, separable, profile

    def forward(self, x: Tensor, generator: torch.Generator) -> Tensor:
        batch = x.shape[0]
        kernels, separable, profile = self.draw_kernels(batch, generator, x.device)
        index = select_samples(batch, self.prob, generator, x.device, self.choose_per)
        chosen = selected_mask(batch, index, x.device)
        record("applied", chosen)
        return apply_kernels(x, kernels.to(x.dtype), chosen, separable, profile.to(x.dtype))

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, kernel_list={self.kernel_list}, "
            f"sinc_prob={self.sinc_prob}, prob={self.prob}, choose_per={self.choose_per}"
        )


def apply_kernels(
    x: Tensor,
    kernels: Tensor,
    chosen: Tensor,
    separable: Tensor | None = None,
    profile: Tensor | None = None,
) -> Tensor:
    """Filter the ``chosen`` samples with their kernels in one grouped convolution.

    Samples not chosen are returned untouched and cost nothing. The convolution is cut to the
    largest support among the chosen kernels (a batch that drew only small kernels convolves
    with small ones). When every chosen sample is ``separable`` (an isotropic Gaussian, the outer
    product of its ``profile``), two 1-D passes replace the 2-D one. A batch that mixes both kinds
    takes the 2-D pass for all: measured on a CPU, splitting it into two convolutions plus the
    copies costs more than the 1-D passes save (grouped 1-D convolutions run far below their
    arithmetic advantage), unlike the 51-tap unsharp mask where they win by 20x.

    Shape:
        - x: :math:`(B, C, H, W)`
        - kernels: :math:`(B, K, K)`; chosen, separable: :math:`(B,)` bool; profile: :math:`(B, K)`
        - Output: :math:`(B, C, H, W)`
    """
    batch = x.shape[0]
    index = chosen.nonzero().squeeze(1)
    if index.numel() == 0:
        return x
    every = index.numel() == batch
    half = kernels.shape[-1] // 2
    r = int(support_reach(kernels.index_select(0, index)).max())
    window = slice(half - r, half + r + 1)
    images = x if every else x.index_select(0, index)
    if separable is not None and profile is not None and bool(separable[index].all()):
        taps = profile.index_select(0, index)[:, window]
        filtered = filter_per_sample_separable(images, taps, taps)
    else:
        filtered = filter_per_sample(images, kernels.index_select(0, index)[:, window, window])
    return filtered if every else x.index_copy(0, index, filtered)
