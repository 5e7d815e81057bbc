"""Reading and writing the photos people actually have, losing nothing on the way.

Unlike the training reader (:mod:`restorelab.data.io`, which reduces everything to 8-bit colour),
enhancement keeps what the file holds: 16-bit PNGs stay 16-bit (Pillow 13 decodes 16-bit colour
PNGs to 8 bits, so those are read with pypng; files are written by the row-streaming writers of
:mod:`restorelab.inference.writers`), grayscale stays grayscale, an alpha
channel is kept aside and re-attached, the colour profile and EXIF travel to the output, and a
JPEG's EXIF orientation is applied before the network sees the pixels.

Files are written to a temporary name in the output folder and renamed into place, so an
interrupted run never leaves a half-written image, and an input is never overwritten unless the
caller says so.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import png  # pypng: 16-bit colour PNG, which Pillow cannot decode without losing bits
from PIL import Image, ImageOps, UnidentifiedImageError

from restorelab.atomic import atomic_write
from restorelab.errors import DataError, WriteError
from restorelab.image_files import check_file, decoding, refuse_animated
from restorelab.inference.writers import (
    PNG_ZLIB_LEVEL,
    TIFF_ZLIB_LEVEL,
    Layout,
    WriteOptions,
    finishing,
    open_writer,
)

#: Pillow's format name for each output extension we write.
FORMATS: dict[str, str] = {
    "png": "PNG",
    "jpg": "JPEG",
    "jpeg": "JPEG",
    "webp": "WEBP",
    "tif": "TIFF",
    "tiff": "TIFF",
    "bmp": "BMP",
}
#: Extensions picked up when a folder is given as input.
INPUT_EXTENSIONS: tuple[str, ...] = (*(f".{e}" for e in FORMATS), ".ppm", ".pgm")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass
class Photo:
    """An image ready for the network, plus everything needed to write it back faithfully.

    Attributes:
        pixels: (H, W) grayscale or (H, W, 3) colour, uint8 or uint16, orientation applied.
        alpha: (H, W) alpha channel of the same dtype, or None.
        icc_profile: the embedded colour profile (bytes), or None.
        exif: EXIF bytes with the orientation tag removed (it has been applied), or None.
        format: the Pillow format name of the source ("PNG", "JPEG", ...), or None.
    """

    pixels: np.ndarray
    alpha: np.ndarray | None = None
    icc_profile: bytes | None = None
    exif: bytes | None = None
    format: str | None = None

    @property
    def gray(self) -> bool:
        return self.pixels.ndim == 2

    @property
    def max_value(self) -> int:
        return 65535 if self.pixels.dtype == np.uint16 else 255


def _png_header(path: Path) -> tuple[int, int, int, int] | None:
    """(width, height, bit depth, colour type) of a PNG file, or None if it is not a PNG."""
    with open(path, "rb") as f:
        head = f.read(33)
    if len(head) < 33 or not head.startswith(_PNG_SIGNATURE) or head[12:16] != b"IHDR":
        return None
    width, height, depth, colour = struct.unpack(">IIBB", head[16:26])
    return width, height, depth, colour


def _check_pixels(path: Path, width: int, height: int, max_pixels: int) -> None:
    """The decompression-bomb guard: refuse, by name, an image above ``max_pixels``."""
    if max_pixels > 0 and width * height > max_pixels:
        raise DataError(
            f"{path}: {width}x{height} = {width * height} pixels is above the limit of "
            f"{max_pixels} pixels (decompression-bomb guard); raise it with --max-pixels N "
            "(or max_pixels=N in Python, 0 for no limit) if you trust this file"
        )


def _png_chunks(path: Path) -> Iterator[tuple[bytes, bytes]]:
    """(type, data) of every PNG chunk except IDAT, whose data is skipped unread."""
    with open(path, "rb") as f:
        f.seek(len(_PNG_SIGNATURE))
        while True:
            head = f.read(8)
            if len(head) < 8:
                return
            length, kind = struct.unpack(">I4s", head)
            if kind == b"IDAT":
                f.seek(length + 4, os.SEEK_CUR)
                continue
            data = f.read(length)
            f.seek(4, os.SEEK_CUR)
            yield kind, data
            if kind == b"IEND":
                return


def _read_png16(path: Path) -> Photo:
    """Decode a 16-bit PNG with pypng, keeping all 16 bits, the alpha and the profile."""
    try:
        width, height, rows, info = png.Reader(filename=str(path)).asDirect()
        planes = int(info["planes"])
        data = np.vstack([np.asarray(row, dtype=np.uint16) for row in rows])
    except (png.Error, ValueError, OSError, zlib.error) as e:
        raise DataError(f"corrupt or truncated image {path}: {e}") from e
    data = data.reshape(height, width, planes)
    icc = exif = None
    for kind, chunk in _png_chunks(path):
        if kind == b"iCCP":
            name_end = chunk.index(b"\x00")
            icc = zlib.decompress(chunk[name_end + 2 :])
        elif kind == b"eXIf":
            exif = chunk
    alpha = data[:, :, -1].copy() if info.get("alpha") else None
    colour = data[:, :, :3] if planes >= 3 else data[:, :, 0]
    return Photo(np.ascontiguousarray(colour), alpha, icc, exif, "PNG")


def _split_pil(img: Image.Image) -> tuple[np.ndarray, np.ndarray | None, bool]:
    """Pixels and alpha of a decoded Pillow image; the bool says the profile still applies."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return np.asarray(img).astype(np.uint16), None, True
    if mode == "I":
        return np.clip(np.asarray(img), 0, 65535).astype(np.uint16), None, True
    if mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        arr = arr * 255.0 if arr.max() <= 1.0 else arr
        return np.clip(np.rint(arr), 0, 255).astype(np.uint8), None, True
    if mode == "P":
        has_alpha = "transparency" in img.info
        img = img.convert("RGBA" if has_alpha else "RGB")
        mode = img.mode
    if mode in ("1", "L"):
        return np.asarray(img.convert("L")), None, True
    if mode in ("LA", "La"):
        arr = np.asarray(img.convert("LA"))
        return arr[:, :, 0].copy(), arr[:, :, 1].copy(), True
    if mode in ("RGBA", "RGBa", "PA"):
        arr = np.asarray(img.convert("RGBA"))
        return arr[:, :, :3].copy(), arr[:, :, 3].copy(), True
    # CMYK, YCbCr, LAB, HSV: converted to RGB, so a profile describing them no longer fits
    return np.asarray(img.convert("RGB")), None, mode == "RGB"


def _is_16bit_colour_tiff(path: Path) -> bool:
    """True for a TIFF with 16-bit colour samples, which Pillow would reduce to 8 bits."""
    with open(path, "rb") as f:
        if f.read(4) not in (b"II*\x00", b"MM\x00*"):
            return False
    try:
        with Image.open(path) as img:
            bits = img.tag_v2.get(258)  # type: ignore[attr-defined]
            return img.mode in ("RGB", "RGBA") and isinstance(bits, tuple) and 16 in bits
    except (OSError, SyntaxError, ValueError, UnidentifiedImageError):
        return False  # the regular reader reports the problem


def _read_tiff16(path: Path, max_pixels: int) -> Photo:
    """Decode a 16-bit colour TIFF with tifffile (Pillow 13 keeps only 8 bits of it)."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages.first
            _check_pixels(path, int(page.imagewidth), int(page.imagelength), max_pixels)
            data = page.asarray()
            icc_tag = page.tags.get(34675)  # InterColorProfile
            icc = bytes(icc_tag.value) if icc_tag is not None else None
    except (tifffile.TiffFileError, ValueError, OSError) as e:
        raise DataError(f"corrupt or truncated image {path}: {e}") from e
    if data.dtype != np.uint16 or data.ndim != 3 or data.shape[2] not in (3, 4):
        raise DataError(f"{path}: unsupported TIFF layout {data.shape} {data.dtype}")
    alpha = data[:, :, 3].copy() if data.shape[2] == 4 else None
    return Photo(np.ascontiguousarray(data[:, :, :3]), alpha, icc, None, "TIFF")


def read_photo(path: str | Path, max_pixels: int | None = None) -> Photo:
    """Read an image file for enhancement.

    Args:
        path: the image file (PNG, JPEG, WebP, TIFF, BMP, PPM/PGM).
        max_pixels: refuse images with more pixels than this, checked from the header before
            any pixel is decoded; 0: no limit; None: Pillow's decompression-bomb limit
            (``PIL.Image.MAX_IMAGE_PIXELS``), so a plain call is guarded too.

    Raises:
        DataError: naming the file: missing, empty, a link loop or broken link, unreadable,
            not an image, animated, truncated or corrupt, or above ``max_pixels``.
    """
    path = Path(path)
    check_file(path)
    limit = int(Image.MAX_IMAGE_PIXELS or 0) if max_pixels is None else max_pixels
    with decoding(path):
        header = _png_header(path)
        if header is not None and header[2] == 16:
            _check_pixels(path, header[0], header[1], limit)
            return _read_png16(path)
        if _is_16bit_colour_tiff(path):
            return _read_tiff16(path, limit)
        return _read_pillow(path, limit)


def _read_pillow(path: Path, max_pixels: int) -> Photo:
    """Decode with Pillow: 8-bit files, 16-bit gray, palettes, CMYK; EXIF orientation applied."""
    saved_limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # our own guard below names the file and the flag
    try:
        with Image.open(path) as img:
            _check_pixels(path, img.width, img.height, max_pixels)
            refuse_animated(img, path)
            fmt = img.format
            img.load()
            icc = img.info.get("icc_profile")
            oriented = ImageOps.exif_transpose(img)
            exif = oriented.info.get("exif") or None
            if exif is None and len(oriented.getexif()):
                exif = oriented.getexif().tobytes()
            pixels, alpha, keep_icc = _split_pil(oriented)
    finally:
        Image.MAX_IMAGE_PIXELS = saved_limit
    return Photo(
        np.ascontiguousarray(pixels),
        alpha,
        icc if keep_icc and icc else None,
        exif if isinstance(exif, bytes) else None,
        fmt,
    )


def photo_layout(photo: Photo) -> Layout:
    """The file layout of ``photo``: its size, planes (colour or gray, + alpha) and dtype."""
    height, width = photo.pixels.shape[:2]
    planes = (1 if photo.gray else 3) + (photo.alpha is not None)
    return Layout(height, width, planes, photo.pixels.dtype)


def merge_alpha(pixels: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """(H, W, planes) of colour or gray ``pixels`` with ``alpha`` (if any) as the last plane."""
    colour = pixels[:, :, None] if pixels.ndim == 2 else pixels
    return colour if alpha is None else np.concatenate([colour, alpha[:, :, None]], axis=2)


def output_format(path: Path) -> str:
    """Pillow's format name for the extension of ``path``; refuses one we do not write."""
    ext = path.suffix.lower().lstrip(".")
    if ext not in FORMATS:
        raise DataError(f"{path}: cannot write .{ext} files (known: {', '.join(FORMATS)})")
    return FORMATS[ext]


def write_error(path: Path, error: BaseException) -> BaseException:
    """A failed write of ``path`` as the one-line DataError users see; other errors as they
    are (KeyboardInterrupt, bugs)."""
    if isinstance(error, WriteError):  # already "cannot write PATH: reason"
        return DataError(str(error))
    if isinstance(error, DataError):
        return DataError(f"{path}: {error}")
    if isinstance(error, (OSError, ValueError)):
        return DataError(f"cannot write {path}: {error}")
    return error


def write_photo(
    photo: Photo,
    path: str | Path,
    quality: int = 95,
    overwrite: bool = False,
    png_compression: int = PNG_ZLIB_LEVEL,
    tiff_compression: int = TIFF_ZLIB_LEVEL,
) -> Path:
    """Write ``photo`` to ``path`` atomically: a temporary file in the same folder, renamed.

    For an image already in memory; :meth:`~restorelab.inference.enhancer.Enhancer.
    enhance_to_files` writes an enhanced image band by band instead, through the same
    writers (:mod:`restorelab.inference.writers`), so the files are the same.

    Args:
        photo: pixels (+ alpha, profile, EXIF) to write.
        path: destination; its extension picks the format.
        quality: JPEG/WebP quality (1-100).
        overwrite: replace an existing file at ``path``.
        png_compression: zlib level of PNG output, 0 (none, fastest) to 9 (smallest).
        tiff_compression: zlib level of TIFF output, 0 (uncompressed) to 9.

    Raises:
        DataError: unknown extension, existing file without ``overwrite``, or content the
            format cannot hold (16 bits outside PNG and TIFF, alpha in JPEG).
    """
    path = Path(path)
    fmt = output_format(path)
    if path.exists() and not overwrite:
        raise DataError(f"{path} exists: not overwriting it (pass --overwrite to replace it)")
    options = WriteOptions(quality, png_compression, tiff_compression)
    layout = photo_layout(photo)

    def encode(f: IO[bytes]) -> None:
        writer = open_writer(f, fmt, layout, options, photo.icc_profile, photo.exif)
        with finishing(writer):
            writer.write(merge_alpha(photo.pixels, photo.alpha))

    try:
        atomic_write(path, encode, suffix=".part")
    except BaseException as e:
        error = write_error(path, e)
        if error is e:
            raise
        raise error from e
    return path
