"""Image files written row band by row band: PNG and TIFF stream, the other formats are held.

:func:`open_writer` gives an :class:`ImageWriter` for a format and an image layout. The caller
hands it the rows top to bottom with ``write`` (any number at a time), then finishes the file
with ``close``, or gives up with ``abort`` (the caller deletes the file).

- PNG (:class:`PngWriter`, our own encoder): rows go through zlib as they come and leave in
  IDAT chunks of about 1 MB. The bytes do not depend on how the rows were split into bands.
  (Pillow cannot write 16-bit colour, and for 8 bits it first copies the whole image into its
  own 4-bytes-per-pixel storage.)
- TIFF (:class:`TiffWriter`): strips of about 256 KB, deflate-compressed here, written by
  tifffile as they come. tifffile takes the strips of an image from an iterator that it pulls
  itself, while enhancement pushes rows as tiles finish, so tifffile runs in a writer thread
  fed through a small bounded queue.
- JPEG, WebP, BMP (:class:`HeldWriter`): Pillow encodes whole images only, so the rows are
  pasted into one Pillow image (4 bytes per pixel for colour, 1 for gray) that is encoded at
  ``close``: these formats hold the whole output.
"""

from __future__ import annotations

import struct
import zlib
from typing import IO, Any

import numpy as np
from PIL import Image

from restorelab.errors import DataError
from restorelab.inference.row_writer import (
    PNG_ZLIB_LEVEL,
    TIFF_ZLIB_LEVEL,
    ImageWriter,
    Layout,
    RowCount,
    WriteOptions,
    finishing,
)
from restorelab.inference.tiff_writer import TiffWriter

__all__ = [
    "PNG_ZLIB_LEVEL",
    "TIFF_ZLIB_LEVEL",
    "HeldWriter",
    "ImageWriter",
    "Layout",
    "PngWriter",
    "TiffWriter",
    "WriteOptions",
    "check_format",
    "finishing",
    "open_writer",
]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: compressed bytes gathered before an IDAT chunk is written
_IDAT_BYTES = 1 << 20


def check_format(fmt: str, layout: Layout) -> None:
    """Refuse, before any work, content that ``fmt`` (a Pillow format name) cannot hold."""
    if layout.depth == 16 and fmt not in ("PNG", "TIFF"):
        raise DataError(
            f"a 16-bit image cannot be written as {fmt} without losing bits: use --ext png or tiff"
        )
    if layout.has_alpha and fmt == "JPEG":
        raise DataError("JPEG cannot keep the alpha channel: use --ext png, webp or tiff")


def open_writer(
    f: IO[bytes],
    fmt: str,
    layout: Layout,
    options: WriteOptions,
    icc_profile: bytes | None = None,
    exif: bytes | None = None,
) -> ImageWriter:
    """A writer of ``layout`` in ``fmt`` (Pillow's format name) to the binary file ``f``."""
    check_format(fmt, layout)
    if fmt == "PNG":
        return PngWriter(f, layout, icc_profile, exif, options.png_compression)
    if fmt == "TIFF":
        return TiffWriter(f, layout, icc_profile, exif, options.tiff_compression)
    return HeldWriter(f, fmt, layout, options.quality, icc_profile, exif)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


class PngWriter:
    """An 8- or 16-bit PNG (gray, gray + alpha, RGB, RGBA), streamed row by row.

    Rows use PNG's "Up" filter (difference to the row above): it compresses photographs well
    and is one vectorized subtraction per row.
    """

    def __init__(
        self,
        f: IO[bytes],
        layout: Layout,
        icc_profile: bytes | None = None,
        exif: bytes | None = None,
        level: int = PNG_ZLIB_LEVEL,
    ) -> None:
        self.f = f
        self.count = RowCount(layout)
        colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[layout.planes]
        header = struct.pack(
            ">IIBBBBB", layout.width, layout.height, layout.depth, colour_type, 0, 0, 0
        )
        f.write(_PNG_SIGNATURE)
        f.write(_chunk(b"IHDR", header))
        if icc_profile:
            f.write(_chunk(b"iCCP", b"icc\x00\x00" + zlib.compress(icc_profile)))
        if exif:
            f.write(_chunk(b"eXIf", exif[6:] if exif.startswith(b"Exif\x00\x00") else exif))
        self.packer = zlib.compressobj(level)
        self.previous: np.ndarray | None = None
        self.pending: list[bytes] = []
        self.size = 0

    def write(self, rows: np.ndarray) -> None:
        planes = self.count.add(rows)
        flat = planes.reshape(len(planes), -1)
        for row in flat:
            # byte rows: 16-bit samples big-endian, as PNG stores them
            data = row.astype(">u2").view(np.uint8) if row.dtype == np.uint16 else row
            if self.previous is None:
                line = b"\x00" + data.tobytes()
            else:
                line = b"\x02" + np.subtract(data, self.previous, dtype=np.uint8).tobytes()
            self.previous = data
            piece = self.packer.compress(line)
            if piece:
                self.pending.append(piece)
                self.size += len(piece)
            if self.size >= _IDAT_BYTES:
                self._flush()

    def _flush(self) -> None:
        self.f.write(_chunk(b"IDAT", b"".join(self.pending)))
        self.pending, self.size = [], 0

    def close(self) -> None:
        self.count.check_complete()
        self.pending.append(self.packer.flush())
        self._flush()
        self.f.write(_chunk(b"IEND", b""))

    def abort(self) -> None:
        """Nothing to stop: everything happens in ``write``."""


class HeldWriter:
    """JPEG, WebP or BMP through Pillow: the rows are gathered into one Pillow image (Pillow
    encodes whole images only) and encoded at ``close``."""

    def __init__(
        self,
        f: IO[bytes],
        fmt: str,
        layout: Layout,
        quality: int,
        icc_profile: bytes | None = None,
        exif: bytes | None = None,
    ) -> None:
        self.f, self.fmt = f, fmt
        self.count = RowCount(layout)
        self.options: dict[str, Any] = {}
        if icc_profile and fmt != "BMP":
            self.options["icc_profile"] = icc_profile
        if exif and fmt in ("JPEG", "WEBP"):
            self.options["exif"] = exif
        if fmt in ("JPEG", "WEBP"):
            self.options["quality"] = quality
        mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[layout.planes]
        self.image: Image.Image | None = Image.new(mode, (layout.width, layout.height))

    def write(self, rows: np.ndarray) -> None:
        top = self.count.done
        planes = self.count.add(rows)
        assert self.image is not None
        band = planes[:, :, 0] if planes.shape[2] == 1 else planes
        self.image.paste(Image.fromarray(np.ascontiguousarray(band)), (0, top))

    def close(self) -> None:
        self.count.check_complete()
        img, self.image = self.image, None
        assert img is not None
        if self.fmt == "WEBP" and img.mode in ("L", "LA"):
            img = img.convert("RGBA" if img.mode == "LA" else "RGB")  # WebP has no gray mode
        if self.fmt == "BMP" and img.mode == "LA":
            img = img.convert("RGBA")
        img.save(self.f, format=self.fmt, **self.options)

    def abort(self) -> None:
        self.image = None
