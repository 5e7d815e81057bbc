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
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from restorelab.errors import DataError

IMAGE_EXTENSIONS: tuple[str, ...] = (
    ".png",
    ".jpg",
    ".jpeg",
    ".bmp",
    ".tif",
    ".tiff",
    ".webp",
    ".ppm",
    ".pgm",
)


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
        DataError: naming the file when it is missing, not an image, truncated or corrupt.
    """
    path = Path(path)
    try:
        with Image.open(path) as img:
            gray_with_alpha = _is_gray_png_with_alpha(img)
            img.load()
            arr = pil_to_array(img)
    except FileNotFoundError as e:
        raise DataError(f"image file not found: {path}") from e
    except Image.DecompressionBombError as e:
        raise DataError(f"image {path} is too large to decode safely: {e}") from e
    except UnidentifiedImageError as e:
        raise DataError(f"not a readable image: {path}") from e
    except (OSError, SyntaxError, ValueError) as e:
        raise DataError(f"corrupt or truncated image {path}: {e}") from e
    if arr.ndim == 3 and (arr.shape[2] == 1 or gray_with_alpha):
        arr = arr[:, :, 0]
    return np.ascontiguousarray(arr)


def list_images(folder: str | Path, key: str) -> list[Path]:
    """List the image files directly inside ``folder``, sorted by name.

    Every file's header is opened (cheap: no pixel decoding) so a folder of non-images fails
    here, before training starts, rather than mid-epoch.

    Args:
        folder: the directory to scan.
        key: the config key that named it, quoted in errors (e.g. ``data.train_dir``).

    Raises:
        DataError: the folder is missing, is not a directory, holds no image files, or holds
            a file with an image extension that is not a readable image.
    """
    root = Path(folder).expanduser()
    if not root.exists():
        raise DataError(f"{key}: folder does not exist: {root}")
    if not root.is_dir():
        raise DataError(f"{key}: not a folder: {root}")
    files = sorted(
        p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
    )
    if not files:
        exts = ", ".join(e.lstrip(".") for e in IMAGE_EXTENSIONS)
        raise DataError(f"{key}: no image files ({exts}) in folder {root}")
    for p in files:
        try:
            with Image.open(p) as img:
                img.size  # noqa: B018 - touching the header is the check
        except (
            UnidentifiedImageError,
            Image.DecompressionBombError,
            OSError,
            SyntaxError,
            ValueError,
        ) as e:
            raise DataError(f"{key}: not a readable image: {p} ({e})") from e
    return files
