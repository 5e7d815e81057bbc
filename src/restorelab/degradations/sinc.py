"""The circular sinc (ideal low-pass) filter: the ringing stage of Real-ESRGAN's final step."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from restorelab.degradations.base import (
    DegradationError,
    Stage,
    check_choose_per,
    check_kernel_fits,
    check_odd,
    check_prob,
    check_range,
    select_samples,
    selected_mask,
    uniform,
)
from restorelab.degradations.context import record
from restorelab.degradations.kernels import normalize, sinc_kernels
from restorelab.degradations.random_blur import apply_kernels, random_odd_sizes

__all__ = ["SincFilter"]


class SincFilter(Stage):
    r"""Filter each sample with a circular sinc (ideal low-pass) kernel with probability ``prob``.

    Real-ESRGAN's final step (``final_sinc_prob 0.8``, cutoff :math:`[\pi/3, \pi]`, support 7..21
    on a 21 grid) that reproduces the ringing and overshoot of over-sharpened or resampled
    images. Skipped samples (Real-ESRGAN's "pulse" kernel, an identity) are not computed.

    Args:
        kernel_size: odd side of the grid.
        size_range: ``[low, high]`` odd support sizes.
        omega: ``[low, high]`` cutoff in radians per pixel, within :math:`(0, \pi]`.
        prob: probability that a sample is filtered.
        choose_per: ``"sample"`` (Real-ESRGAN: a sinc or a pulse kernel per image) or
            ``"batch"``.

    Shape:
        - Input: :math:`(B, C, H, W)`
        - Output: :math:`(B, C, H, W)`
    """

    def __init__(
        self,
        kernel_size: int = 21,
        size_range: Sequence[int] = (7, 21),
        omega: Sequence[float] = (math.pi / 3, math.pi),
        prob: float = 0.8,
        choose_per: str = "sample",
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        self.kernel_size = check_odd(owner, "kernel_size", kernel_size, minimum=3)
        low, high = check_range(owner, "size_range", size_range, minimum=1)
        if int(low) % 2 == 0 or int(high) % 2 == 0 or high > self.kernel_size:
            raise DegradationError(
                f"{owner}: `size_range` must hold odd integers <= kernel_size="
                f"{self.kernel_size}, got {list(size_range)!r}."
            )
        self.size_range = (int(low), int(high))
        self.omega = check_range(
            owner, "omega", omega, minimum=0.0, maximum=math.pi + 1e-4, strict_minimum=True
        )
        self.prob = check_prob(owner, "prob", prob)
        self.choose_per = check_choose_per(owner, choose_per)

    def check_input_size(self, height: int, width: int) -> tuple[int, int]:
        """Fail at start-up when the kernel cannot fit the images this stage will see."""
        return check_kernel_fits(
            type(self).__name__, self.kernel_size, height, width, "it filters."
        )

    def forward(self, x: Tensor, generator: torch.Generator) -> Tensor:
        batch = x.shape[0]
        size = random_odd_sizes(batch, self.size_range, generator, x.device)
        omega = uniform(batch, self.omega, generator, x.device)
        index = select_samples(batch, self.prob, generator, x.device, self.choose_per)
        chosen = selected_mask(batch, index, x.device)
        record("applied", chosen)
        record("size", size)
        record("omega", omega)
        if not bool(chosen.any()):
            return x
        kernels = normalize(sinc_kernels(omega, size, self.kernel_size)).to(x.dtype)
        return apply_kernels(x, kernels, chosen)

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, size_range={list(self.size_range)}, "
            f"omega={[round(w, 4) for w in self.omega]}, prob={self.prob}, "
            f"choose_per={self.choose_per}"
        )
