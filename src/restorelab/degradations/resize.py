"""MATLAB-compatible bicubic downsampling, the benchmark convention for super-resolution inputs."""

from __future__ import annotations

import torch
from torch import Tensor

from restorelab.degradations.base import DegradationError, Stage
from restorelab.ops.imresize import imresize

__all__ = ["BicubicDown", "bicubic_down"]


def bicubic_down(x: Tensor, scale: int) -> Tensor:
    r"""Shrink images by an integer factor exactly like MATLAB's ``imresize(x, 1/scale)``.

    Published super-resolution tables use this resize to make their low-resolution inputs, so it
    is the degradation that makes results comparable with them. The size must divide exactly: a
    ground truth that is not mod-cropped would silently misalign ``lq`` and ``gt`` pixels.

    Args:
        x: images in :math:`[0, 1]`.
        scale: integer downsampling factor, at least 1 (1 returns ``x`` unchanged).

    Returns:
        The downsampled images; not clamped (the cubic kernel can overshoot slightly).

    Raises:
        ValueError: if ``scale`` is not a positive integer or ``H`` or ``W`` is not divisible by it.

    Shape:
        - Input: :math:`(B, C, H, W)`
        - Output: :math:`(B, C, H / scale, W / scale)`

    Example:
        >>> bicubic_down(torch.rand(2, 3, 32, 48), 4).shape
        torch.Size([2, 3, 8, 12])
    """
    scale = _check_scale(scale)
    height, width = int(x.shape[-2]), int(x.shape[-1])
    if height % scale or width % scale:
        raise DegradationError(
            f"BicubicDown: image size {height}x{width} is not divisible by scale={scale}; "
            "mod-crop the ground truth to a multiple of the scale (does data.scale match the "
            "degradation's scale?)."
        )
    if scale == 1:
        return x
    # An explicit output size gives exactly H / scale (no float ceil) and, since out / in is the
    # correctly rounded 1 / scale, the same kernel as imresize(x, scale=1 / scale).
    return imresize(x, size=(height // scale, width // scale))


def _check_scale(scale: int) -> int:
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise DegradationError(f"BicubicDown: `scale` must be a positive integer, got {scale!r}.")
    return scale


class BicubicDown(Stage):
    r"""Stage that shrinks the batch by ``scale`` with MATLAB-compatible bicubic resampling.

    Deterministic: the generator is accepted for the :class:`Stage` interface and left unused.
    See :func:`bicubic_down`.

    Args:
        scale: integer downsampling factor.

    Shape:
        - Input: :math:`(B, C, H, W)`
        - Output: :math:`(B, C, H / scale, W / scale)`

    Example:
        >>> stage = BicubicDown(4)
        >>> stage(torch.rand(2, 3, 32, 48), torch.Generator()).shape
        torch.Size([2, 3, 8, 12])
    """

    def __init__(self, scale: int) -> None:
        super().__init__()
        self.scale = _check_scale(scale)

    def forward(self, x: Tensor, generator: torch.Generator) -> Tensor:
        return bicubic_down(x, self.scale)

    def extra_repr(self) -> str:
        return f"scale={self.scale}"
