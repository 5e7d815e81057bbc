"""Padding inputs to a size a network can divide: one rule for every architecture."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def pad_to_multiple(x: Tensor, multiple: int) -> Tensor:
    """Pad the bottom and right of ``x`` so height and width are multiples of ``multiple``.

    Networks that downsample (U-Net, NAFNet), unshuffle pixels (RRDBNet at x1/x2) or attend in
    windows (SwinIR) need such sizes; callers crop the output back afterwards.
    """
    h, w = x.shape[-2:]
    pad_h, pad_w = (-h) % multiple, (-w) % multiple
    if pad_h == 0 and pad_w == 0:
        return x
    # reflect needs the padding to be smaller than the side; tiny inputs fall back to replicate
    mode = "reflect" if pad_h < h and pad_w < w else "replicate"
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
