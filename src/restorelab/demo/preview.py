"""The images a browser shows: 8-bit, and the input blown up to the output's size.

A before/after slider lays its two images over each other, so the input is resized to the
output's size (bicubic, what a viewer would otherwise do) and both are reduced to 8 bits, which
is what browsers display; the downloadable result keeps the full depth.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from restorelab.inference.image_io import Photo, write_photo

#: zlib level of preview PNGs: they are shown once and thrown away, so speed beats size.
PREVIEW_PNG_LEVEL = 1
#: How the input is blown up for the "before" side of the slider.
BEFORE_RESAMPLING = Image.Resampling.BICUBIC
_UINT16_PER_UINT8 = 257  # 65535 / 255: a 16-bit value v shows as round(v / 257)


def to_8bit(photo: Photo) -> Photo:
    """``photo`` with 8-bit pixels and alpha (16-bit values rounded to the nearest 8-bit one)."""

    def reduce(a: np.ndarray | None) -> np.ndarray | None:
        if a is None or a.dtype == np.uint8:
            return a
        return np.rint(a / _UINT16_PER_UINT8).astype(np.uint8)

    pixels = reduce(photo.pixels)
    assert pixels is not None
    return replace(photo, pixels=pixels, alpha=reduce(photo.alpha), exif=None)


def resized(photo: Photo, height: int, width: int) -> Photo:
    """An 8-bit ``photo`` resized to ``height`` x ``width`` (pixels and alpha alike)."""

    def resize(a: np.ndarray) -> np.ndarray:
        img = Image.fromarray(a).resize((width, height), BEFORE_RESAMPLING)
        return np.asarray(img)

    alpha = None if photo.alpha is None else resize(photo.alpha)
    return replace(photo, pixels=resize(photo.pixels), alpha=alpha)


def write_preview(
    photo: Photo, path: Path, height: int | None = None, width: int | None = None
) -> Path:
    """Write the 8-bit PNG the browser shows of ``photo`` (resized when a size is given)."""
    shown = to_8bit(photo)
    if height is not None and width is not None:
        shown = resized(shown, height, width)
    return write_photo(shown, path, overwrite=True, png_compression=PREVIEW_PNG_LEVEL)
