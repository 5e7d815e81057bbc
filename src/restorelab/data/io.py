"""Reading images from disk into uint8 arrays, with one clear error per bad file.

Conversions (documented in the README): palette and CMYK images become RGB; RGBA and LA lose
their alpha channel (restoration models see colour only); 16-bit images are scaled to 8 bits
(``round(v / 257)``); grayscale stays single-channel so metrics can score it on its own
channel, as the field's evaluation scripts do.
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
    """Map a 16-bit or 32-bit integer array onto 8 bits (full range to full range)."""
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == bool:
        return arr.astype(np.uint8) * 255
    if arr.dtype in (np.uint16, np.int32, np.int64, np.uint32) or arr.max() > 255:
        return np.clip(np.rint(arr.astype(np.float64) / 257.0), 0, 255).astype(np.uint8)
    return np.clip(arr, 0, 255).astype(np.uint8)


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


def read_image(path: str | Path) -> np.ndarray:
    """Decode an image file into a uint8 array, (H, W) grayscale or (H, W, 3) RGB.

    Raises:
        DataError: naming the file when it is missing, not an image, truncated or corrupt.
    """
    path = Path(path)
    try:
        with Image.open(path) as img:
            img.load()
            arr = pil_to_array(img)
    except FileNotFoundError as e:
        raise DataError(f"image file not found: {path}") from e
    except UnidentifiedImageError as e:
        raise DataError(f"not a readable image: {path}") from e
    except (OSError, SyntaxError, ValueError) as e:
        raise DataError(f"corrupt or truncated image {path}: {e}") from e
    if arr.ndim == 3 and arr.shape[2] == 1:
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
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
            raise DataError(f"{key}: not a readable image: {p} ({e})") from e
    return files
