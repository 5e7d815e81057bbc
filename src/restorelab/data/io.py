"""Reading images from disk into uint8 arrays, with one clear error per bad file.

Conversions: palette and CMYK images become RGB; RGBA and LA lose their alpha channel
(restoration models see colour only); grayscale stays single-channel so metrics can score it
on its own channel, as the field's evaluation scripts do. 16-bit grayscale images are scaled
to 8 bits full range to full range, ``round(v / 257)`` (65535 -> 255, 25700 -> 100).

16-bit colour and 16-bit gray+alpha PNGs are reduced to 8 bits by Pillow itself while
decoding (Pillow 13 has no 16-bit RGB mode): it keeps the high byte, ``v >> 8``, which agrees
with ``round(v / 257)`` on 0, 65535 and every ``257 * k``, and is at most one level lower or
higher elsewhere (e.g. 255 -> 0, 65280 -> 255). Pillow also opens a 16-bit gray+alpha PNG as
RGBA; :func:`read_image` gives it back as the single-channel image it is.

Refused by name (:mod:`restorelab.image_files`): empty files, link loops and broken links,
unreadable files, animations (GIF, WebP, PNG), decompression bombs (Pillow's limit,
``PIL.Image.MAX_IMAGE_PIXELS``, refused above twice it) and truncated or corrupt files.
Folders are scanned by :mod:`restorelab.data.scan`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

# the folder scan's names, re-exported for the modules that import them from here
from restorelab.data.scan import IMAGE_EXTENSIONS, list_images  # noqa: F401
from restorelab.image_files import check_file, decoding, refuse_animated


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    """Map 16-bit samples (held in any integer dtype, either byte order) onto 8 bits.

    The dtype, not the values, decides: a dark 16-bit image whose samples all lie below 256
    is still a 16-bit image and must come out nearly black.
    """
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == bool:
        return arr.astype(np.uint8) * 255
    if arr.dtype.kind in "ui":
        return np.clip(np.rint(arr.astype(np.float64) / 257.0), 0, 255).astype(np.uint8)
    return np.clip(np.rint(arr.astype(np.float64)), 0, 255).astype(np.uint8)


def pil_to_array(img: Image.Image) -> np.ndarray:
    """Convert a PIL image to a uint8 array: (H, W) for grayscale, (H, W, 3) for colour."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I", "I;16N"):
        return _to_uint8(np.asarray(img))
    if mode == "1":
        return np.asarray(img.convert("L"), dtype=np.uint8)
    if mode in ("L", "LA", "La"):
        return np.asarray(img.convert("L"), dtype=np.uint8)
    if mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        scale = 255.0 if arr.max() <= 1.0 else 1.0
        return np.clip(np.rint(arr * scale), 0, 255).astype(np.uint8)
    return np.asarray(img.convert("RGB"), dtype=np.uint8)


def _is_gray_png_with_alpha(img: Image.Image) -> bool:
    """True for a 16-bit gray+alpha PNG, which Pillow opens as RGBA (before ``load``)."""
    tile = getattr(img, "tile", None)
    if img.format != "PNG" or not tile:
        return False
    args = tile[0].args
    rawmode = args if isinstance(args, str) else (args[0] if isinstance(args, tuple) else None)
    return isinstance(rawmode, str) and rawmode.startswith("LA")


def read_image(path: str | Path) -> np.ndarray:
    """Decode an image file into a uint8 array, (H, W) grayscale or (H, W, 3) RGB.

    Raises:
        DataError: naming the file when it is missing, empty, a broken link or link loop,
            unreadable, not an image, animated, too large, truncated or corrupt.
    """
    path = Path(path)
    check_file(path)
    with decoding(path), Image.open(path) as img:
        refuse_animated(img, path)
        gray_with_alpha = _is_gray_png_with_alpha(img)
        img.load()
        arr = pil_to_array(img)
    if arr.ndim == 3 and (arr.shape[2] == 1 or gray_with_alpha):
        arr = arr[:, :, 0]
    return np.ascontiguousarray(arr)
