"""Random up/down/keep resizing with a random interpolation, and the resize back to the target.

Real-ESRGAN resizes with ``torch.nn.functional.interpolate`` and an interpolation drawn among
area, bilinear and bicubic, so the network does not learn the fingerprint of one resampler. Here
the resampling is kornia's ``resize``, which can also antialias a shrink (a Gaussian pre-blur
scaled to the factor; ``antialias: true``); Real-ESRGAN does not, so the preset leaves it off.

One exception, measured: Real-ESRGAN's first resize (a factor of the current size, no
``relative_to_scale``) calls ``interpolate`` with ``scale_factor``, which samples the input at
steps of exactly ``1 / factor`` rather than at the ratio of the rounded sizes, so the content
drifts by up to a pixel towards the far edges. kornia's ``resize`` (and ``rescale``) only take an
output size. Resizing by size instead left our ``lq`` 0.2-0.5 dB closer to the ground truth than
BasicSR's on the same patches (``tests/degradations/test_degradation_vs_basicsr.py``), so that
resize, without antialiasing, calls ``interpolate`` with the factor as Real-ESRGAN does.
The benchmark convention (MATLAB bicubic with antialiasing) is :class:`BicubicDown`.
One scale and one interpolation are drawn per batch, as BasicSR does: images of one batch must
keep one size.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from kornia.geometry.transform import resize as kornia_resize
from torch import Tensor

from restorelab.degradations.base import (
    DegradationError,
    Stage,
    check_choices,
    check_range,
    check_weights,
    uniform,
)
from restorelab.degradations.context import gt_size, record

__all__ = ["RESIZE_MODES", "RandomResize", "ResizeTo", "resize"]

#: Interpolations the random resizes draw from (``modes`` entries).
RESIZE_MODES = ("area", "bilinear", "bicubic")


def resize(x: Tensor, size: tuple[int, int], mode: str, antialias: bool = False) -> Tensor:
    """Resize ``x`` to ``size`` with ``mode`` through kornia (antialiasing only if asked)."""
    if (int(x.shape[-2]), int(x.shape[-1])) == size:
        return x
    align_corners = None if mode == "area" else False
    return kornia_resize(
        x, size, interpolation=mode, align_corners=align_corners, antialias=antialias
    )


def _draw_mode(modes: Sequence[str], generator: torch.Generator, device: torch.device) -> str:
    return modes[int(torch.randint(len(modes), (1,), generator=generator, device=device))]


class RandomResize(Stage):
    r"""Resize the batch up, down or not at all, by a random factor and interpolation.

    With probabilities ``updown_prob`` = (up, down, keep) the factor is drawn uniformly from
    ``[1, high]``, ``[low, 1]`` or is 1. With ``relative_to_scale`` unset the factor applies to
    the current size (Real-ESRGAN's first resize); with ``relative_to_scale = s`` it applies to
    ``gt / s`` (its second resize, around the final low-resolution size).

    Defaults: Real-ESRGAN's first resize (``resize_prob [0.2, 0.7, 0.1]``,
    ``resize_range [0.15, 1.5]``).

    Args:
        updown_prob: probabilities of up, down and keep.
        scale_range: ``[low, high]`` with ``0 < low <= 1 <= high``.
        modes: interpolations to draw from, any of :data:`RESIZE_MODES`.
        relative_to_scale: resize around ``gt / relative_to_scale`` instead of the input size.
        antialias: blur before shrinking (kornia's antialiasing); Real-ESRGAN does not.

    Shape:
        - Input: :math:`(B, C, H, W)`
        - Output: :math:`(B, C, H', W')`, one random size for the whole batch
    """

    def __init__(
        self,
        updown_prob: Sequence[float] = (0.2, 0.7, 0.1),
        scale_range: Sequence[float] = (0.15, 1.5),
        modes: Sequence[str] = RESIZE_MODES,
        relative_to_scale: int | None = None,
        antialias: bool = False,
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        self.updown_prob = check_weights(owner, "updown_prob", updown_prob, 3)
        self.scale_range = check_range(
            owner, "scale_range", scale_range, minimum=0.0, strict_minimum=True
        )
        if not self.scale_range[0] <= 1.0 <= self.scale_range[1]:
            raise DegradationError(
                f"{owner}: `scale_range` must contain 1 (low <= 1 <= high), "
                f"got {list(scale_range)!r}."
            )
        self.modes = check_choices(owner, "modes", modes, RESIZE_MODES)
        if relative_to_scale is not None and (
            isinstance(relative_to_scale, bool)
            or not isinstance(relative_to_scale, int)
            or relative_to_scale < 1
        ):
            raise DegradationError(
                f"{owner}: `relative_to_scale` must be a positive integer or null, "
                f"got {relative_to_scale!r}."
            )
        self.relative_to_scale = relative_to_scale
        self.antialias = _check_bool(owner, "antialias", antialias)

    def forward(self, x: Tensor, generator: torch.Generator) -> Tensor:
        device = x.device
        weights = torch.tensor(self.updown_prob, device=device)
        choice = int(torch.multinomial(weights, 1, generator=generator))
        low, high = self.scale_range
        up = float(uniform(1, (1.0, high), generator, device))
        down = float(uniform(1, (low, 1.0), generator, device))
        mode = _draw_mode(self.modes, generator, device)
        factor = (up, down, 1.0)[choice]
        if self.relative_to_scale is None:
            base_h, base_w = float(x.shape[-2]), float(x.shape[-1])
        else:
            gt_h, gt_w = gt_size(x)
            base_h, base_w = gt_h / self.relative_to_scale, gt_w / self.relative_to_scale
        size = (max(1, int(base_h * factor)), max(1, int(base_w * factor)))
        record("direction", ("up", "down", "keep")[choice])
        record("scale", factor)
        record("mode", mode)
        exact = min(int(base_h * factor), int(base_w * factor)) >= 1
        if self.relative_to_scale is None and not self.antialias and factor != 1.0 and exact:
            # Real-ESRGAN's first resize: interpolate with the factor itself (see the module doc)
            return F.interpolate(x, scale_factor=factor, mode=mode)
        return resize(x, size, mode, self.antialias)

    def extra_repr(self) -> str:
        return (
            f"updown_prob={[round(p, 4) for p in self.updown_prob]}, "
            f"scale_range={list(self.scale_range)}, modes={self.modes}, "
            f"relative_to_scale={self.relative_to_scale}, antialias={self.antialias}"
        )


class ResizeTo(Stage):
    r"""Resize the batch to exactly ``gt / scale`` with a random interpolation.

    Real-ESRGAN's final "resize back": whatever size the random resizes left, the output matches
    the ground truth shrunk by the super-resolution factor, so ``lq`` and ``gt`` align.

    Args:
        scale: integer factor between the ground truth and the output.
        modes: interpolations to draw from (one per batch), any of :data:`RESIZE_MODES`.
        antialias: blur before shrinking (kornia's antialiasing); Real-ESRGAN does not.

    Shape:
        - Input: :math:`(B, C, H', W')` (any size)
        - Output: :math:`(B, C, H_{gt} / scale, W_{gt} / scale)`
    """

    def __init__(
        self, scale: int = 4, modes: Sequence[str] = RESIZE_MODES, antialias: bool = False
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
            raise DegradationError(f"{owner}: `scale` must be a positive integer, got {scale!r}.")
        self.scale = scale
        self.modes = check_choices(owner, "modes", modes, RESIZE_MODES)
        self.antialias = _check_bool(owner, "antialias", antialias)

    def check_input_size(self, height: int, width: int) -> tuple[int, int]:
        """The output size for a ``height x width`` ground truth; both must divide by ``scale``."""
        if height % self.scale or width % self.scale:
            raise DegradationError(
                f"{type(self).__name__}: patch size {height}x{width} is not divisible by "
                f"`scale`={self.scale}."
            )
        return height // self.scale, width // self.scale

    def forward(self, x: Tensor, generator: torch.Generator) -> Tensor:
        mode = _draw_mode(self.modes, generator, x.device)
        gt_h, gt_w = gt_size(x)
        if gt_h % self.scale or gt_w % self.scale:
            raise DegradationError(
                f"{type(self).__name__}: image size {gt_h}x{gt_w} is not divisible by "
                f"scale={self.scale}; mod-crop the ground truth to a multiple of the scale."
            )
        record("mode", mode)
        return resize(x, (gt_h // self.scale, gt_w // self.scale), mode, self.antialias)

    def extra_repr(self) -> str:
        return f"scale={self.scale}, modes={self.modes}, antialias={self.antialias}"


def _check_bool(owner: str, name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise DegradationError(f"{owner}: `{name}` must be true or false, got {value!r}.")
    return value
