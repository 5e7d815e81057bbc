"""read_photo on odd files (issue 13): one line naming the file, or the documented conversion.

The command-level table (batches, exit codes) is in ``tests/commands/test_odd_inputs.py``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from restorelab.errors import DataError
from restorelab.inference import read_photo
from tests.helpers import (
    ODD_SIDE,
    gradient_image,
    make_unreadable,
    write_odd_input,
)

REFUSED = {
    "empty": r"image file {path} is empty \(0 bytes\)",
    "animated_gif": r"image {path} is animated \(3 frames\)",
    "animated_webp": r"image {path} is animated \(3 frames\)",
    "symlink_loop": r"image {path} is a symbolic link loop",
    "dangling_link": r"image {path} is a broken symbolic link \(to missing\.png\)",
    "truncated_jpeg": r"corrupt or truncated image {path}: image file is truncated",
    # a plain call keeps Pillow's decompression-bomb limit (about 89 MP) as its guard
    "bomb": r"{path}: 20000x20000 = 400000000 pixels is above the limit of 89478485 pixels",
}


@pytest.mark.parametrize("kind", sorted(REFUSED))
def test_read_photo_refuses_bad_files_by_name(kind: str, tmp_path: Path) -> None:
    path = write_odd_input(kind, tmp_path)
    with pytest.raises(DataError) as err:
        read_photo(path)
    message = str(err.value)
    assert re.search(REFUSED[kind].format(path=re.escape(str(path))), message), message
    assert "\n" not in message


def test_read_photo_names_an_unreadable_file(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "locked.png"
    Image.fromarray(gradient_image(8, 8)).save(path)
    make_unreadable(path, monkeypatch)
    with pytest.raises(DataError, match=rf"^cannot read image {re.escape(str(path))}: Permission"):
        read_photo(path)


def test_read_photo_conversions(tmp_path: Path) -> None:
    """CMYK -> RGB (profile dropped), palette + transparency -> RGB + alpha, 16-bit gray
    TIFF stays 16-bit gray, a 1x1 image is an image."""
    cmyk = read_photo(write_odd_input("cmyk_jpeg", tmp_path))
    assert cmyk.pixels.shape == (ODD_SIDE, ODD_SIDE, 3) and cmyk.alpha is None
    diff = np.abs(cmyk.pixels.astype(int) - gradient_image(ODD_SIDE, ODD_SIDE).astype(int))
    assert diff.mean() < 2
    palette_path = write_odd_input("palette_alpha", tmp_path)
    palette = read_photo(palette_path)
    with Image.open(palette_path) as img:
        rgba = np.asarray(img.convert("RGBA"))
    np.testing.assert_array_equal(palette.pixels, rgba[:, :, :3])
    assert palette.alpha is not None
    np.testing.assert_array_equal(palette.alpha, rgba[:, :, 3])
    assert set(np.unique(palette.alpha)) == {0, 255}
    gray = read_photo(write_odd_input("gray16_tiff", tmp_path))
    assert gray.pixels.dtype == np.uint16 and gray.gray
    np.testing.assert_array_equal(gray.pixels, gradient_image(ODD_SIDE, ODD_SIDE, 1, np.uint16))
    one = read_photo(write_odd_input("one_pixel", tmp_path))
    assert one.pixels.shape == (1, 1, 3)
