"""What both image readers check, so an odd file is one clear error naming it, never a crash.

The training reader (:mod:`restorelab.data.io`) and the enhancement reader
(:mod:`restorelab.inference.image_io`) decode differently but meet the same files: empty ones,
symbolic link loops and broken links, files nobody may read, animations, decompression bombs,
and the endless ways a file can be cut short or corrupted. This module turns each into a
:class:`~restorelab.errors.DataError` whose one line names the file:

- :func:`check_file` before opening: missing, a link loop, a broken link, not a regular file
  (a FIFO would block the reader forever), empty.
- :func:`decoding` around the decode: whatever Pillow, pypng or tifffile raise on a bad file
  (a fuzz test feeds them hundreds of random and corrupted files) becomes one message.
- :func:`refuse_animated`: an animated GIF, WebP or PNG is refused, not silently cut to its
  first frame; a multi-picture JPEG (MPO) or multi-page TIFF is read as its first image.
"""

from __future__ import annotations

import errno
import os
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from restorelab.errors import DataError

#: Formats whose extra frames are an animation (refused); other formats' extra frames are
#: previews or pages (MPO, TIFF), and their first image is the picture.
ANIMATED_FORMATS: tuple[str, ...] = ("GIF", "WEBP", "PNG")

#: What decoders raise on bad bytes. Pillow, pypng and tifffile raise these (and not only
#: ``OSError``) on truncated or corrupted files; MemoryError when a corrupt header claims a
#: size that cannot be allocated.
DECODE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    ZeroDivisionError,
    OverflowError,
    MemoryError,
    struct.error,
    zlib.error,
)


def check_file(path: Path) -> None:
    """Refuse, by name, a path that is not a non-empty regular file, before any decoder runs.

    Raises:
        DataError: missing, a symbolic link loop, a broken symbolic link, a folder or other
            non-regular file, or empty (0 bytes).
    """
    try:
        info = path.stat()
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise DataError(f"image {path} is a symbolic link loop") from e
        if path.is_symlink():
            raise DataError(
                f"image {path} is a broken symbolic link (to {os.readlink(path)})"
            ) from e
        if isinstance(e, FileNotFoundError):
            raise DataError(f"image file not found: {path}") from e
        raise DataError(f"cannot read image {path}: {e.strerror or e}") from e
    if path.is_dir():
        raise DataError(f"image {path} is a folder, not an image file")
    if not path.is_file():
        raise DataError(f"image {path} is not a regular file (a pipe, socket or device)")
    if info.st_size == 0:
        raise DataError(f"image file {path} is empty (0 bytes)")


@contextmanager
def decoding(path: Path) -> Iterator[None]:
    """Turn whatever opening or decoding ``path`` raises into one :class:`DataError` naming it.

    Errors this module's callers raise themselves (already naming the file) pass through.
    """
    try:
        yield
    except DataError:
        raise
    except Image.DecompressionBombError as e:
        raise DataError(f"image {path} is too large to decode safely: {e}") from e
    except UnidentifiedImageError as e:
        raise DataError(f"not a readable image: {path}") from e
    except FileNotFoundError as e:  # removed between the check and the read
        raise DataError(f"image file not found: {path}") from e
    except PermissionError as e:
        raise DataError(f"cannot read image {path}: {e.strerror or e}") from e
    except DECODE_ERRORS as e:
        detail = str(e).strip().splitlines()
        reason = detail[0] if detail else type(e).__name__
        raise DataError(f"corrupt or truncated image {path}: {reason}") from e


def refuse_animated(img: Image.Image, path: Path) -> None:
    """Refuse an animation: restoration models take still images, and keeping one frame of
    an animation without saying so loses the rest of it."""
    if img.format in ANIMATED_FORMATS and getattr(img, "is_animated", False):
        frames = getattr(img, "n_frames", 2)
        raise DataError(
            f"image {path} is animated ({frames} frames): restorelab reads still images; "
            "save the frame(s) you want as separate files"
        )
