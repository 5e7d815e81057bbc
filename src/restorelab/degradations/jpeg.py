"""JPEG compression artifacts with a per-sample quality, on the device (no file round trip)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from restorelab.degradations.base import (
    DegradationError,
    Stage,
    apply_selected,
    check_choose_per,
    check_prob,
    check_range,
    select_samples,
    selected_mask,
    uniform,
)
from restorelab.degradations.codec import jpeg_codec
from restorelab.degradations.context import record

__all__ = ["JPEG", "jpeg_compress"]


def jpeg_compress(x: Tensor, quality: Tensor) -> Tensor:
    r"""Encode and decode each image as JPEG at its own quality, batched on the device.

    :func:`~restorelab.degradations.codec.jpeg_codec`: libjpeg's baseline steps (4:2:0 chroma,
    8x8 DCT, the standard tables scaled by quality, exact rounding), so the whole batch stays on
    the GPU instead of going through a CPU encoder. Any image size works: the codec pads to whole
    macroblocks by replicating the bottom row and right column, as JPEG encoders do, and crops
    back. A single-channel image is coded as a greyscale JPEG.

    Args:
        x: RGB or grey images in :math:`[0, 1]`; values outside are clamped first, as saving to
            an 8-bit file would.
        quality: JPEG quality of each image in :math:`[0, 100]` (may be fractional).

    Returns:
        The decoded images, same shape, dtype and device as ``x``.

    Shape:
        - x: :math:`(B, 3, H, W)` or :math:`(B, 1, H, W)`
        - quality: :math:`(B,)`
        - Output: same as ``x``

    Example:
        >>> x = torch.rand(2, 3, 20, 30)
        >>> jpeg_compress(x, torch.tensor([10.0, 90.0])).shape
        torch.Size([2, 3, 20, 30])
    """
    channels = x.shape[-3]
    if channels not in (1, 3):
        raise DegradationError(f"JPEG: expected 1 or 3 channels, got {channels}.")
    return jpeg_codec(x, quality)


class JPEG(Stage):
    r"""Stage that JPEG-compresses each sample with probability ``prob``.

    The quality is drawn uniformly from ``quality`` per sample; lower means stronger blocking and
    ringing. Skipped samples are not computed.

    Args:
        quality: ``[low, high]`` range of the JPEG quality, within :math:`[0, 100]`.
        prob: probability that a sample is compressed.
        choose_per: ``"sample"`` (a coin per sample) or ``"batch"`` (one for the batch).

    Shape:
        - Input: :math:`(B, 3, H, W)` or :math:`(B, 1, H, W)`
        - Output: same as the input

    Example:
        >>> stage = JPEG(quality=(30, 95))
        >>> stage(torch.rand(2, 3, 24, 24), torch.Generator().manual_seed(0)).shape
        torch.Size([2, 3, 24, 24])
    """

    def __init__(
        self,
        quality: Sequence[float] = (30, 95),
        prob: float = 1.0,
        choose_per: str = "sample",
    ) -> None:
        super().__init__()
        self.quality = check_range("JPEG", "quality", quality, minimum=0.0, maximum=100.0)
        self.prob = check_prob("JPEG", "prob", prob)
        self.choose_per = check_choose_per("JPEG", choose_per)

    def forward(self, x: Tensor, generator: torch.Generator) -> Tensor:
        batch = x.shape[0]
        quality = uniform(batch, self.quality, generator, x.device)
        index = select_samples(batch, self.prob, generator, x.device, self.choose_per)
        record("applied", selected_mask(batch, index, x.device))
        record("quality", quality)
        return apply_selected(x, index, jpeg_compress, quality)

    def extra_repr(self) -> str:
        return f"quality={list(self.quality)}, prob={self.prob}, choose_per={self.choose_per}"
