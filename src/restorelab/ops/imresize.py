"""MATLAB-compatible bicubic ``imresize`` in PyTorch.

Super-resolution benchmark tables are computed on low-resolution inputs produced by MATLAB's
``imresize(gt, 1/scale, 'bicubic')``. PIL's and ``torch.nn.functional.interpolate``'s bicubic
modes use a different kernel, no antialiasing and different borders, so their numbers are not
comparable with published ones. This module reproduces MATLAB's resampling exactly: the cubic
kernel with ``a = -0.5``, the kernel stretched by ``1 / scale`` when shrinking with antialiasing,
and symmetric (mirror, edge repeated) extension at the borders.

Each spatial dimension is resized by a dense ``(out, in)`` weight matrix in which the border
extension is already folded, so the whole operation is two matrix products: differentiable,
device-agnostic and batched over any leading dimensions.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
from torch import nn

__all__ = ["MatlabResize", "imresize"]

# Support of the cubic kernel (in input pixels, at scale 1).
_KERNEL_WIDTH = 4.0


def _cubic(x: torch.Tensor) -> torch.Tensor:
    """Keys' cubic convolution kernel with ``a = -0.5``, the one MATLAB's 'bicubic' uses."""
    absx = x.abs()
    absx2 = absx * absx
    absx3 = absx2 * absx
    inner = (1.5 * absx3 - 2.5 * absx2 + 1.0) * (absx <= 1).to(x.dtype)
    outer = (-0.5 * absx3 + 2.5 * absx2 - 4.0 * absx + 2.0) * ((absx > 1) & (absx <= 2)).to(x.dtype)
    return inner + outer


@lru_cache(maxsize=64)
def _weight_matrix_f64(
    in_length: int, out_length: int, scale: float, antialiasing: bool
) -> torch.Tensor:
    """Dense ``(out_length, in_length)`` float64 resampling matrix on the CPU.

    Row ``i`` holds the normalized kernel weights of output sample ``i``; taps that fall outside
    ``[0, in_length)`` are mirrored back (MATLAB's symmetric extension, period ``2 * in_length``)
    and their weights added to the pixel they land on.
    """
    shrink_aa = scale < 1 and antialiasing
    kernel_width = _KERNEL_WIDTH / scale if shrink_aa else _KERNEL_WIDTH

    # Output sample centres in input coordinates (1-based, as MATLAB writes them).
    x = torch.arange(1, out_length + 1, dtype=torch.float64)
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)
    left = torch.floor(u - kernel_width / 2)
    taps = math.ceil(kernel_width) + 2
    indices = left[:, None] + torch.arange(taps, dtype=torch.float64)[None, :]
    distance = u[:, None] - indices
    weights = scale * _cubic(distance * scale) if shrink_aa else _cubic(distance)
    weights = weights / weights.sum(dim=1, keepdim=True)

    # Symmetric extension: ... 2 1 | 1 2 ... n | n n-1 ... (0-based below).
    idx0 = indices.long() - 1
    period = 2 * in_length
    folded = torch.remainder(idx0, period)
    folded = torch.where(folded >= in_length, period - 1 - folded, folded)

    matrix = torch.zeros(out_length, in_length, dtype=torch.float64)
    matrix.scatter_add_(1, folded, weights)
    return matrix


_DEVICE_CACHE: dict[tuple[int, int, float, bool, torch.device, torch.dtype], torch.Tensor] = {}
_DEVICE_CACHE_MAX = 64


def _weight_matrix(
    in_length: int,
    out_length: int,
    scale: float,
    antialiasing: bool,
    device: torch.device,
    dtype: torch.dtype,
) -> torch.Tensor:
    """The resampling matrix on ``device`` in ``dtype``, cached so repeated calls are cheap."""
    key = (in_length, out_length, scale, antialiasing, device, dtype)
    matrix = _DEVICE_CACHE.get(key)
    if matrix is None:
        matrix = _weight_matrix_f64(in_length, out_length, scale, antialiasing)
        matrix = matrix.to(device=device, dtype=dtype)
        if len(_DEVICE_CACHE) >= _DEVICE_CACHE_MAX:
            _DEVICE_CACHE.pop(next(iter(_DEVICE_CACHE)))
        _DEVICE_CACHE[key] = matrix
    return matrix


def imresize(
    x: torch.Tensor,
    scale: float | None = None,
    size: tuple[int, int] | None = None,
    antialiasing: bool = True,
) -> torch.Tensor:
    r"""Resize images exactly like MATLAB's ``imresize(x, scale, 'bicubic')``.

    This is the resize that produces the low-resolution inputs of super-resolution benchmarks;
    use it (not PIL or ``F.interpolate``) wherever numbers must match published tables.

    Args:
        x: float images of shape :math:`(*, C, H, W)`, any number of leading dimensions.
            float16/bfloat16 inputs are computed in float32 and cast back.
        scale: factor applied to both height and width; the output size is
            ``ceil(H * scale), ceil(W * scale)`` (as in MATLAB). Give exactly one of ``scale``
            and ``size``.
        size: output ``(height, width)``; the per-dimension scales are then ``out / in``,
            as MATLAB does for an explicit output size.
        antialiasing: when shrinking, stretch the kernel by ``1 / scale`` so it low-passes the
            image (MATLAB's default). Has no effect when enlarging.

    Returns:
        The resized images, same dtype and device as ``x``. Values are not clamped: the cubic
        kernel can overshoot the input range.

    Raises:
        ValueError: if neither or both of ``scale`` and ``size`` are given, if ``scale`` or a
            size is not positive, or if ``x`` has fewer than 2 dimensions.

    Shape:
        - Input: :math:`(*, C, H, W)` (or any :math:`(*, H, W)`)
        - Output: :math:`(*, C, H_{out}, W_{out})`

    Example:
        >>> x = torch.rand(2, 3, 96, 96)
        >>> imresize(x, scale=1 / 4).shape
        torch.Size([2, 3, 24, 24])
        >>> imresize(x, size=(50, 40)).shape
        torch.Size([2, 3, 50, 40])
    """
    if (scale is None) == (size is None):
        raise ValueError("imresize: give exactly one of `scale` and `size`.")
    if x.dim() < 2:
        raise ValueError(f"imresize: expected a tensor of shape (..., H, W), got {tuple(x.shape)}.")
    if not x.is_floating_point():
        raise ValueError(f"imresize: expected a floating point tensor, got {x.dtype}.")

    in_h, in_w = int(x.shape[-2]), int(x.shape[-1])
    if scale is not None:
        if not math.isfinite(scale) or scale <= 0:
            raise ValueError(f"imresize: `scale` must be a positive finite number, got {scale}.")
        out_h, out_w = math.ceil(in_h * scale), math.ceil(in_w * scale)
        scale_h = scale_w = float(scale)
    else:
        assert size is not None
        out_h, out_w = int(size[0]), int(size[1])
        if out_h <= 0 or out_w <= 0:
            raise ValueError(f"imresize: `size` must be positive, got {tuple(size)}.")
        scale_h, scale_w = out_h / in_h, out_w / in_w

    orig_dtype = x.dtype
    work_dtype = orig_dtype if orig_dtype in (torch.float32, torch.float64) else torch.float32
    y = x.to(work_dtype)

    w_h = _weight_matrix(in_h, out_h, scale_h, antialiasing, y.device, work_dtype)
    w_w = _weight_matrix(in_w, out_w, scale_w, antialiasing, y.device, work_dtype)
    # Height first, then width. The two products commute mathematically, so the order only
    # affects rounding (MATLAB and BasicSR also go height first for a single scale).
    # Autocast (bf16-mixed validation) would run these matmuls in bf16 and shift the
    # benchmark-convention result by ~0.003 dB; the resize always runs in its working dtype.
    with torch.autocast(device_type=y.device.type, enabled=False):
        y = torch.matmul(w_h, y)
        y = torch.matmul(y, w_w.transpose(0, 1))
    return y.to(orig_dtype)


class MatlabResize(nn.Module):
    r"""Module wrapper around :func:`imresize` with a fixed scale factor.

    Args:
        scale: factor applied to both height and width (``1 / 4`` to degrade for x4 SR).
        antialiasing: stretch the kernel when shrinking, as MATLAB does by default.

    Shape:
        - Input: :math:`(*, C, H, W)`
        - Output: :math:`(*, C, \lceil H \cdot scale \rceil, \lceil W \cdot scale \rceil)`

    Example:
        >>> down = MatlabResize(scale=1 / 2)
        >>> down(torch.rand(1, 3, 10, 15)).shape
        torch.Size([1, 3, 5, 8])
    """

    def __init__(self, scale: float, antialiasing: bool = True) -> None:
        super().__init__()
        if not math.isfinite(scale) or scale <= 0:
            raise ValueError(
                f"MatlabResize: `scale` must be a positive finite number, got {scale}."
            )
        self.scale = float(scale)
        self.antialiasing = antialiasing

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return imresize(x, scale=self.scale, antialiasing=self.antialiasing)

    def extra_repr(self) -> str:
        return f"scale={self.scale}, antialiasing={self.antialiasing}"
