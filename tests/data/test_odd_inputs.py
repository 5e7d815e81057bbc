"""Odd files in training and evaluation data folders (issue 13): one table, reader and scan.

Every odd file either fails with one line naming it (at start-up: the folder scan of
``list_images`` and the size checks of the datasets run before any training step) or is
converted as the README documents. The command-level behaviour (exit code 2, no traceback)
is in ``tests/commands/test_odd_inputs.py``.
"""

from __future__ import annotations

import os
import re
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from restorelab.data import (
    FolderSource,
    ImageDataset,
    PatchDataset,
    list_images,
    read_image,
)
from restorelab.errors import DataError
from tests.helpers import (
    ODD_SIDE,
    gradient_image,
    make_unreadable,
    write_odd_input,
)

#: What each bad file's one-line error says (``{path}`` is the file as given).
REFUSED = {
    "empty": r"image file {path} is empty \(0 bytes\)",
    "bomb": r"image {path} is too large to decode safely.*400000000 pixels",
    "truncated_jpeg": r"corrupt or truncated image {path}: image file is truncated",
    "animated_gif": r"image {path} is animated \(3 frames\)",
    "animated_webp": r"image {path} is animated \(3 frames\)",
    "symlink_loop": r"image {path} is a symbolic link loop",
    "dangling_link": r"image {path} is a broken symbolic link \(to missing\.png\)",
}


def _pattern(template: str, path: Path) -> str:
    return template.format(path=re.escape(str(path)))


def _expected_pixels(kind: str, path: Path) -> np.ndarray:
    """What ``read_image`` must return for the odd-but-valid file ``kind`` (documented)."""
    rgb = gradient_image(ODD_SIDE, ODD_SIDE)
    if kind == "one_pixel":
        return rgb[:1, :1]
    if kind == "palette_alpha":  # palette -> RGB; the transparent entry keeps its colour
        with Image.open(path) as img:
            assert img.mode == "P" and img.info["transparency"] == 0
            return np.asarray(img.convert("RGB"))
    if kind == "gray16_tiff":  # 16 -> 8 bits: round(v / 257), single channel
        gray16 = gradient_image(ODD_SIDE, ODD_SIDE, 1, np.uint16)
        return np.rint(gray16 / 257.0).astype(np.uint8)
    return rgb


@pytest.mark.parametrize("kind", sorted(REFUSED))
def test_read_image_refuses_bad_files_by_name(kind: str, tmp_path: Path) -> None:
    path = write_odd_input(kind, tmp_path)
    with pytest.raises(DataError) as err:
        read_image(path)
    message = str(err.value)
    assert re.search(_pattern(REFUSED[kind], path), message), message
    assert "\n" not in message


@pytest.mark.parametrize(
    "kind", ["one_pixel", "palette_alpha", "gray16_tiff", "unicode_name", "undecodable_name"]
)
def test_read_image_converts_odd_but_valid_files(kind: str, tmp_path: Path) -> None:
    path = write_odd_input(kind, tmp_path)
    out = read_image(path)
    want = _expected_pixels(kind, path)
    assert out.dtype == np.uint8 and out.shape == want.shape
    np.testing.assert_array_equal(out, want)


def test_read_image_turns_cmyk_jpeg_into_rgb(tmp_path: Path) -> None:
    path = write_odd_input("cmyk_jpeg", tmp_path)
    with Image.open(path) as img:
        assert img.mode == "CMYK"
    out = read_image(path)
    assert out.shape == (ODD_SIDE, ODD_SIDE, 3) and out.dtype == np.uint8
    # the colours come back (inverted CMYK would be off by ~128 on average)
    diff = np.abs(out.astype(int) - gradient_image(ODD_SIDE, ODD_SIDE).astype(int))
    assert diff.mean() < 2 and diff.max() < 16, (diff.mean(), diff.max())


def test_read_image_names_an_unreadable_file(tmp_path: Path, monkeypatch) -> None:
    path = write_odd_input("unicode_name", tmp_path)
    make_unreadable(path, monkeypatch)
    with pytest.raises(DataError, match=rf"cannot read image {re.escape(str(path))}: Permission"):
        read_image(path)


# ---------------------------------------------------------------- the start-up folder scan
@pytest.mark.parametrize("kind", sorted(k for k in REFUSED if k != "animated_gif"))
def test_folder_scan_names_the_bad_file_among_good_ones(kind: str, tmp_path: Path) -> None:
    folder = tmp_path / "train"
    write_odd_input("unicode_name", folder)
    bad = write_odd_input(kind, folder)
    with pytest.raises(DataError) as err:
        list_images(folder, "data.train_dir")
    message = str(err.value)
    assert re.match(r"data\.train_dir: " + _pattern(REFUSED[kind], bad), message), message
    assert "\n" not in message


def test_folder_scan_names_an_unreadable_file(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "train"
    write_odd_input("unicode_name", folder)
    bad = write_odd_input("cmyk_jpeg", folder)
    make_unreadable(bad, monkeypatch)
    with pytest.raises(
        DataError, match=rf"^data\.train_dir: cannot read image {re.escape(str(bad))}: Permission"
    ):
        list_images(folder, "data.train_dir")


def test_folder_scan_counts_every_bad_file_in_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "val"
    write_odd_input("unicode_name", folder)
    for kind in ("empty", "symlink_loop", "truncated_jpeg"):
        write_odd_input(kind, folder)
    with pytest.raises(DataError) as err:
        list_images(folder, "data.val_dir")
    message = str(err.value)
    assert message.startswith(f"data.val_dir: image file {folder / 'empty.png'} is empty")
    assert message.endswith("(and 2 more bad files: loop.png, truncated.jpg)"), message


def test_folder_scan_keeps_odd_but_valid_files_with_their_sizes(tmp_path: Path) -> None:
    folder = tmp_path / "train"
    kinds = ["one_pixel", "cmyk_jpeg", "palette_alpha", "gray16_tiff", "unicode_name"]
    paths = sorted(write_odd_input(k, folder) for k in [*kinds, "undecodable_name"])
    assert list_images(folder, "data.train_dir") == paths
    source = FolderSource(folder, "data.train_dir")
    sizes = dict(zip(source.names, source.sizes or [], strict=True))
    assert sizes["one_pixel"] == (1, 1) and sizes["gray16"] == (ODD_SIDE, ODD_SIDE)
    assert sizes[os.fsdecode(b"caf\xe9 raw")] == (ODD_SIDE, ODD_SIDE)


def test_too_small_training_image_fails_when_the_dataset_is_built(tmp_path: Path) -> None:
    folder = tmp_path / "train"
    write_odd_input("unicode_name", folder)
    tiny = write_odd_input("one_pixel", folder)
    source = FolderSource(folder, "data.train_dir")
    with pytest.raises(
        DataError, match=rf"^image {re.escape(str(tiny))} is 1x1, smaller than data\.patch_size=32"
    ):
        PatchDataset(source, patch_size=32, scale=4)


def test_image_smaller_than_the_scale_fails_when_the_dataset_is_built(tmp_path: Path) -> None:
    folder = tmp_path / "val"
    write_odd_input("unicode_name", folder)
    tiny = write_odd_input("one_pixel", folder)
    source = FolderSource(folder, "data.val_dir")
    with pytest.raises(
        DataError, match=rf"^image {re.escape(str(tiny))} is 0x0 after cropping .*too small"
    ):
        ImageDataset(source, scale=4)


def test_names_that_are_not_utf8_get_a_seed_and_load(tmp_path: Path) -> None:
    folder = tmp_path / "val"
    write_odd_input("undecodable_name", folder)
    write_odd_input("unicode_name", folder)
    dataset = ImageDataset(FolderSource(folder, "data.val_dir"), scale=4)
    items = [dataset[i] for i in range(len(dataset))]
    names = [item["name"] for item in items]
    assert names == ["café photo ✓", os.fsdecode(b"caf\xe9 raw")]
    # the seed of a UTF-8 name is unchanged; the other's comes from its bytes on disk
    assert items[0]["seed"] == zlib.crc32("café photo ✓".encode()) & 0x7FFFFFFF
    assert items[1]["seed"] == zlib.crc32(b"caf\xe9 raw") & 0x7FFFFFFF
    assert items[1]["gt"].shape == (3, ODD_SIDE, ODD_SIDE)


@pytest.mark.parametrize(("fmt", "name"), [("TIFF", "pages.tif"), ("MPO", "camera.jpg")])
def test_multi_image_files_are_their_first_image(fmt: str, name: str, tmp_path: Path) -> None:
    """A multi-page TIFF or a multi-picture JPEG (MPO: cameras store a preview beside the
    photo) is not an animation: its first image is the picture, read and scanned as such."""
    first = gradient_image(ODD_SIDE, ODD_SIDE)
    second = Image.fromarray(first[::-1].copy())
    path = tmp_path / name
    Image.fromarray(first).save(
        path, format=fmt, save_all=True, append_images=[second], quality=100
    )
    with Image.open(path) as img:
        assert img.format == fmt and img.n_frames == 2
    out = read_image(path)
    assert out.shape == first.shape
    assert np.abs(out.astype(int) - first.astype(int)).mean() < 2  # the first, not the flipped
    assert list_images(tmp_path, "data.train_dir") == [path]
