"""The alpha channel of an enhanced image: bicubic upscaling, whole or a row band at a time.

The network never sees alpha; it is upscaled on its own with Pillow's bicubic filter. When the
output is written band by band (:mod:`restorelab.inference.streaming`), :class:`AlphaRows` gives
the alpha rows of each band without making the whole upscaled plane. The rows are exactly those
of :func:`upscale_alpha` when the factor is a power of two (1, 2, 4, 8): Pillow computes a
region's filter positions from the region's corner (``box``), and with a power-of-two factor
every position is an exact binary fraction, so a band's coefficients equal the whole image's.
With other factors (3, 5, ...) they can differ in the last bit, which can change a rounded
value, so those alphas are upscaled whole (1 byte per output pixel, 2 in 16 bits) and sliced.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

#: Pillow's bicubic support, in source pixels, when upscaling.
_BICUBIC_SUPPORT = 2


def upscale_alpha(alpha: np.ndarray, factor: int) -> np.ndarray:
    """Bicubic upscaling of an alpha channel (uint8, uint16 or float) by ``factor``."""
    h, w = alpha.shape
    if np.issubdtype(alpha.dtype, np.floating):
        img = Image.fromarray(alpha.astype(np.float32), mode="F")
        up = np.asarray(img.resize((w * factor, h * factor), Image.Resampling.BICUBIC))
        return np.clip(up, 0.0, 1.0).astype(alpha.dtype)
    img = Image.fromarray(alpha)
    return np.asarray(img.resize((w * factor, h * factor), Image.Resampling.BICUBIC))


def is_power_of_two(factor: int) -> bool:
    return factor > 0 and factor & (factor - 1) == 0


class AlphaRows:
    """Rows ``y0 .. y1`` of ``upscale_alpha(alpha, factor)`` on demand (uint8 or uint16 alpha).

    Power-of-two factors: each band from the input rows it needs (two separable passes on a
    crop with a margin wider than the filter), so memory is one band. Other factors: the whole
    plane, once (see the module docstring).
    """

    def __init__(self, alpha: np.ndarray, factor: int) -> None:
        self.factor = factor
        self.height, self.width = alpha.shape
        self.whole: np.ndarray | None = None
        self.image: Image.Image | None = None
        if is_power_of_two(factor):
            self.image = Image.fromarray(alpha)
        else:
            self.whole = upscale_alpha(alpha, factor)

    def rows(self, y0: int, y1: int) -> np.ndarray:
        """Output rows ``y0 .. y1`` (all columns) of the upscaled alpha."""
        if self.whole is not None:
            return self.whole[y0:y1]
        assert self.image is not None
        f, bicubic = self.factor, Image.Resampling.BICUBIC
        # the input rows under the band, plus a margin so no filter window is cut short
        r0 = max(0, math.floor(y0 / f) - _BICUBIC_SUPPORT - 1)
        r1 = min(self.height, math.ceil(y1 / f) + _BICUBIC_SUPPORT + 1)
        wide = self.image.crop((0, r0, self.width, r1)).resize((self.width * f, r1 - r0), bicubic)
        box = (0.0, y0 / f - r0, float(self.width * f), y1 / f - r0)
        return np.asarray(wide.resize((self.width * f, y1 - y0), bicubic, box=box))
