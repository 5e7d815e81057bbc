"""The start-up scan of a data folder: every image file checked before any training step.

A bad file found mid-epoch costs the run so far (and in a DataLoader worker its error comes
wrapped in the worker's traceback), and skipping it would silently train on, or score, fewer
images than the folder holds. So every file with an image extension is checked when the data
module is built, and the first bad one fails the start with one line naming it (and counting
the others). The check reads each file to its end without decoding its pixels where the format
allows it, so it costs little next to training:

- PNG: every chunk's CRC, up to IEND (Pillow's ``verify``): a cut or altered file fails;
- JPEG: a file that ends with the EOI marker is complete; one that does not is decoded at
  1/8 scale (cheap), which fails if it was cut short;
- WebP: libwebp parses the whole container when the file is opened;
- BMP, TIFF, PPM/PGM: decoded.

The size from the header is kept, so the datasets refuse an image smaller than the training
patch, or too small to score, at start-up too. Corruption that only the full decode finds
(altered pixel data with a valid CRC) still fails when the image is read, naming the file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from restorelab.errors import DataError
from restorelab.image_files import check_file, decoding, refuse_animated

#: The extensions of the files a data folder's scan picks up (others are ignored).
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
#: JPEG's end-of-image marker: a complete file ends with it.
_JPEG_EOI = b"\xff\xd9"
#: The JPEG decoder's cheapest scale (1/8: DC coefficients only); truncation still shows.
_JPEG_DRAFT_SCALE = 8
#: Bad files named in the one-line error after the first one.
_NAMES_SHOWN = 5


@dataclass(frozen=True)
class ImageFile:
    """An image file that passed the scan, with its size from the header."""

    path: Path
    width: int
    height: int

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height


def _ends_with_eoi(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(-len(_JPEG_EOI), os.SEEK_END)
        return f.read() == _JPEG_EOI


def _read_to_the_end(img: Image.Image, path: Path) -> None:
    """Walk the file's data to its end (see the module docstring), as cheaply as it allows."""
    if img.format == "PNG":
        img.verify()
    elif img.format in ("JPEG", "MPO"):
        if not _ends_with_eoi(path):
            scale = _JPEG_DRAFT_SCALE
            img.draft(img.mode, (max(1, img.width // scale), max(1, img.height // scale)))
            img.load()
    elif img.format != "WEBP":
        img.load()


def check_image(path: Path) -> ImageFile:
    """Check that ``path`` is a complete still image; return it with its header size.

    Raises:
        DataError: naming the file (see :func:`restorelab.image_files.check_file` and
            :func:`~restorelab.image_files.decoding` for the messages).
    """
    check_file(path)
    with decoding(path), Image.open(path) as img:
        refuse_animated(img, path)
        width, height = img.size
        _read_to_the_end(img, path)
    return ImageFile(path, width, height)


def scan_folder(folder: str | Path, key: str) -> list[ImageFile]:
    """Check every image file directly inside ``folder``; return them sorted by name.

    Files with an image extension are all checked, links that lead nowhere included (a loop
    or a broken link is named, not skipped); sub-folders and other extensions are ignored.

    Args:
        folder: the directory to scan.
        key: the config key that named it, quoted in errors (e.g. ``data.train_dir``).

    Raises:
        DataError: the folder is missing, is not a directory, holds no image files, or holds
            a bad one: ``KEY: <what is wrong with the first> (and N more bad files: ...)``.
    """
    root = Path(folder).expanduser()
    if not root.exists():
        raise DataError(f"{key}: folder does not exist: {root}")
    if not root.is_dir():
        raise DataError(f"{key}: not a folder: {root}")
    candidates = sorted(
        p for p in root.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and not p.is_dir()
    )
    if not candidates:
        exts = ", ".join(e.lstrip(".") for e in IMAGE_EXTENSIONS)
        raise DataError(f"{key}: no image files ({exts}) in folder {root}")
    found: list[ImageFile] = []
    bad: list[tuple[Path, str]] = []
    for path in candidates:
        try:
            found.append(check_image(path))
        except DataError as e:
            bad.append((path, str(e)))
    if bad:
        message = f"{key}: {bad[0][1]}"
        if len(bad) > 1:
            names = [p.name for p, _ in bad[1 : 1 + _NAMES_SHOWN]]
            more = " ..." if len(bad) > 1 + _NAMES_SHOWN else ""
            message += f" (and {len(bad) - 1} more bad files: {', '.join(names)}{more})"
        raise DataError(message)
    return found


def list_images(folder: str | Path, key: str) -> list[Path]:
    """The image files directly inside ``folder``, sorted by name, each checked by
    :func:`scan_folder` (which raises, naming the key and the file, on a bad one)."""
    return [f.path for f in scan_folder(folder, key)]
