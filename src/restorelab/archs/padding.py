"""Padding inputs to a size a network can divide: one rule for every architecture.

The padding is computed with tensor operations on the input's shape (index arithmetic and a
gather) rather than Python branches, so a traced graph (ONNX, TorchScript) keeps it: a graph
traced at a size that needed no padding still pads an input that does.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _indices(size: int, pad: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """Source positions of ``size + pad`` outputs: replicated (clamped) and reflected.

    Reflection about the last position, ``last - |last - i|``, is a valid index only when
    ``pad < size``; its minimum says whether it is.
    """
    positions = torch.arange(size + pad, device=device)
    last = size - 1
    return positions.clamp(max=last), last - (last - positions).abs()


def pad_to_multiple(x: Tensor, multiple: int) -> Tensor:
    """Pad the bottom and right of ``x`` so height and width are multiples of ``multiple``.

    Networks that downsample (U-Net, NAFNet), unshuffle pixels (RRDBNet at x1/x2) or attend in
    windows (SwinIR) need such sizes; callers crop the output back afterwards. The padding
    reflects (as ``F.pad(mode="reflect")``); a side shorter than its padding cannot be
    reflected, and then both sides are replicated (as ``mode="replicate"``).
    """
    h, w = x.shape[-2:]
    if not torch.jit.is_tracing() and h % multiple == 0 and w % multiple == 0:
        return x  # eager: nothing to pad, no copy (a traced graph always pads, maybe by 0)
    rows_clamped, rows_reflected = _indices(h, (-h) % multiple, x.device)
    cols_clamped, cols_reflected = _indices(w, (-w) % multiple, x.device)
    reflect = (rows_reflected.min() >= 0) & (cols_reflected.min() >= 0)
    rows = torch.where(reflect, rows_reflected, rows_clamped)
    cols = torch.where(reflect, cols_reflected, cols_clamped)
    return x.index_select(-2, rows).index_select(-1, cols)
