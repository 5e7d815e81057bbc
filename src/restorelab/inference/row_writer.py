"""What every image writer shares: the layout of the image, the encoder options, the protocol.

The writers themselves are in :mod:`restorelab.inference.writers` (PNG, and the formats Pillow
holds whole) and :mod:`restorelab.inference.tiff_writer`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

#: zlib level of PNG and TIFF output by default: 6 is zlib's own balance of size and speed.
PNG_ZLIB_LEVEL = 6
TIFF_ZLIB_LEVEL = 6


@dataclass(frozen=True)
class Layout:
    """What a writer writes: ``planes`` samples per pixel (1 gray, 2 gray + alpha, 3 RGB,
    4 RGBA; alpha last), uint8 or uint16."""

    height: int
    width: int
    planes: int
    dtype: np.dtype

    @property
    def has_alpha(self) -> bool:
        return self.planes in (2, 4)

    @property
    def depth(self) -> int:
        return 8 * np.dtype(self.dtype).itemsize


@dataclass(frozen=True)
class WriteOptions:
    """Encoder settings; the CLI flags of the same names set them.

    Attributes:
        quality: JPEG/WebP quality (1-100).
        png_compression: zlib level of PNG output, 0 (none, fastest) to 9 (smallest).
        tiff_compression: zlib (deflate) level of TIFF output, 0 (uncompressed) to 9.
    """

    quality: int = 95
    png_compression: int = PNG_ZLIB_LEVEL
    tiff_compression: int = TIFF_ZLIB_LEVEL


class ImageWriter(Protocol):
    """Writes one image file from its rows, top to bottom."""

    def write(self, rows: np.ndarray) -> None:
        """The next ``len(rows)`` rows, (n, W) or (n, W, planes), the layout's dtype."""

    def close(self) -> None:
        """Finish the file; every row must have been written."""

    def abort(self) -> None:
        """Stop without finishing (the caller removes the file)."""


@contextlib.contextmanager
def finishing(writer: ImageWriter) -> Iterator[ImageWriter]:
    """``close`` the writer when the block ends normally, ``abort`` it when the block raises."""
    try:
        yield writer
    except BaseException:
        writer.abort()
        raise
    writer.close()


class RowCount:
    """Counts the rows a writer is given against the layout's height."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.done = 0

    def add(self, rows: np.ndarray) -> np.ndarray:
        """``rows`` as (n, W, planes), after checking its shape, dtype and count."""
        lay = self.layout
        planes = rows.reshape(rows.shape[0], rows.shape[1], -1) if rows.ndim == 2 else rows
        if planes.shape[1:] != (lay.width, lay.planes) or planes.dtype != lay.dtype:
            raise ValueError(
                f"rows of shape {rows.shape} {rows.dtype} do not fit a {lay.width} px wide "
                f"{lay.planes}-plane {np.dtype(lay.dtype)} image"
            )
        if self.done + len(planes) > lay.height:
            raise ValueError(f"more than the image's {lay.height} rows")
        self.done += len(planes)
        return planes

    def check_complete(self) -> None:
        if self.done != self.layout.height:
            raise ValueError(f"{self.done} of the image's {self.layout.height} rows written")
