"""Enhancing into files band by band: the same bytes as in memory, TIFF strips, clean failures."""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path

import numpy as np
import png
import pytest
import tifffile
from PIL import Image, ImageCms

from restorelab.errors import DataError
from restorelab.inference import Enhancer, EnhanceSettings, write_photo
from restorelab.inference.alpha import AlphaRows, upscale_alpha
from restorelab.inference.image_io import Photo
from restorelab.inference.writers import Layout, PngWriter, WriteOptions, open_writer
from tests.helpers import TinyStages, gradient_image

#: tiles of 16 input pixels: a 40-row image has 3 row bands
SETTINGS = EnhanceSettings(tile=16, tile_overlap=4)


def _enhancer(scale: int = 2) -> Enhancer:
    """Nearest upsampling then ``0.5 * x + 0.25``, with its first stage as a step."""
    return Enhancer(TinyStages(scale), SETTINGS)


def _noisy(h: int, w: int, channels: int, dtype: type = np.uint8, seed: int = 0) -> np.ndarray:
    top = np.iinfo(dtype).max
    noise = np.random.default_rng(seed).integers(-top // 8, top // 8, (h, w, channels))
    image = gradient_image(h, w, channels, dtype).reshape(h, w, channels) + noise
    out = np.clip(image, 0, top).astype(dtype)
    return out[:, :, 0] if channels == 1 else out


def _profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _exif() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "restorelab-test-camera"  # Make
    exif[0x0110] = "model-7"  # Model
    return exif.tobytes()


def _photo(channels: int, alpha: bool, dtype: type, h: int = 40, w: int = 36) -> Photo:
    pixels = _noisy(h, w, channels, dtype)
    plane = _noisy(h, w, 1, dtype, seed=1) if alpha else None
    return Photo(pixels, plane, _profile(), _exif())


def _in_memory(enhancer: Enhancer, photo: Photo, path: Path, **options: int) -> bytes:
    """The file ``write_photo`` makes from the whole enhanced image (the reference)."""
    write_photo(enhancer.enhance_photo(photo)[-1], path, **options)
    return path.read_bytes()


def _streamed(enhancer: Enhancer, photo: Photo, path: Path, **options: int) -> bytes:
    [written] = enhancer.enhance_to_files(photo, lambda n: [path], WriteOptions(**options))
    assert written == path
    return path.read_bytes()


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize(
    ("channels", "alpha", "dtype"),
    [(3, False, np.uint8), (3, True, np.uint8), (1, True, np.uint16), (3, True, np.uint16)],
)
def test_streamed_png_is_byte_identical_to_the_in_memory_one(
    tmp_path: Path, scale: int, channels: int, alpha: bool, dtype: type
) -> None:
    enhancer = _enhancer(scale)
    photo = _photo(channels, alpha, dtype)
    whole = _in_memory(enhancer, photo, tmp_path / "whole.png")
    assert _streamed(enhancer, photo, tmp_path / "bands.png") == whole
    width, height, _, info = png.Reader(bytes=whole).asDirect()
    assert (width, height) == (36 * scale, 40 * scale)
    assert info["bitdepth"] == 8 * np.dtype(dtype).itemsize and info["alpha"] == alpha


@pytest.mark.parametrize("ext", ["jpg", "webp", "bmp"])
def test_held_formats_are_byte_identical_to_the_in_memory_ones(tmp_path: Path, ext: str) -> None:
    enhancer = _enhancer()
    for channels in (1, 3):
        photo = _photo(channels, False, np.uint8)
        whole = _in_memory(enhancer, photo, tmp_path / f"whole{channels}.{ext}")
        assert _streamed(enhancer, photo, tmp_path / f"bands{channels}.{ext}") == whole


def test_png_bytes_do_not_depend_on_how_rows_are_split(tmp_path: Path) -> None:
    """Random pixels: over 1 MB compressed, so several IDAT chunks; split 1, 7, 500 rows."""
    pixels = np.random.default_rng(2).integers(0, 256, (520, 700, 3), dtype=np.uint8)
    layout = Layout(520, 700, 3, np.dtype(np.uint8))
    files = []
    profile = _profile()  # once: littleCMS stamps each new profile with the current second
    for step in (520, 1, 7, 500):
        f = io.BytesIO()
        writer = PngWriter(f, layout, profile, _exif())
        for y in range(0, 520, step):
            writer.write(pixels[y : y + step])
        writer.close()
        files.append(f.getvalue())
    assert all(data == files[0] for data in files)
    assert files[0].count(b"IDAT") >= 2
    _, _, rows, _ = png.Reader(bytes=files[0]).asDirect()
    back = np.vstack([np.asarray(r, dtype=np.uint8) for r in rows]).reshape(520, 700, 3)
    assert np.array_equal(back, pixels)


@pytest.mark.parametrize("factor", [1, 2, 3, 4, 8])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_alpha_rows_equal_the_whole_upscaled_alpha(factor: int, dtype: type) -> None:
    alpha = _noisy(83, 29, 1, dtype, seed=3)
    whole = upscale_alpha(alpha, factor)
    rows = AlphaRows(alpha, factor)
    assert (rows.whole is None) == (factor in (1, 2, 4, 8))  # banded where that is exact
    for step in (1, 5, 64, 83 * factor):
        bands = [rows.rows(y, min(y + step, 83 * factor)) for y in range(0, 83 * factor, step)]
        assert np.array_equal(np.concatenate(bands), whole), step


@pytest.mark.parametrize(
    ("channels", "alpha", "dtype"),
    [(1, False, np.uint8), (1, True, np.uint16), (3, False, np.uint16), (3, True, np.uint8)],
)
def test_tiff_is_written_in_deflate_strips_keeping_depth_alpha_profile_and_exif_text(
    tmp_path: Path, channels: int, alpha: bool, dtype: type
) -> None:
    enhancer = _enhancer()
    photo = _photo(channels, alpha, dtype, h=400, w=300)  # 600 px wide: several strips
    want = enhancer.enhance_photo(photo)[-1]
    planes = want.pixels if alpha is False else np.dstack([want.pixels, want.alpha])
    for level, compression in ((6, 8), (0, 1)):  # 8: Adobe deflate, 1: none
        path = tmp_path / f"out{level}.tif"
        _streamed(enhancer, photo, path, tiff_compression=level)
        with tifffile.TiffFile(path) as tif:
            page = tif.pages.first
            assert np.array_equal(page.asarray(), planes)
            assert page.compression == compression and len(page.dataoffsets) > 1
            assert page.tags["InterColorProfile"].value == photo.icc_profile
            assert page.tags["Make"].value == "restorelab-test-camera"
            assert page.tags["Model"].value == "model-7"
            assert (page.extrasamples == (2,)) == alpha  # 2: unassociated alpha
    if dtype == np.uint8:  # other readers: Pillow (libtiff) reads the deflate strips too
        with Image.open(tmp_path / "out6.tif") as img:
            assert np.array_equal(np.asarray(img), planes)


def test_every_stage_is_streamed_to_its_own_file(tmp_path: Path) -> None:
    enhancer = _enhancer()
    photo = _photo(3, True, np.uint16)
    wanted = enhancer.enhance_photo(photo, steps=True)
    paths = [tmp_path / "step1.png", tmp_path / "final.tif"]
    asked: list[int] = []

    def destinations(n: int) -> list[Path]:
        asked.append(n)
        return paths

    assert enhancer.enhance_to_files(photo, destinations, steps=True) == paths
    assert asked == [2]
    width, height, rows, _ = png.Reader(filename=str(paths[0])).asDirect()
    step = np.vstack([np.asarray(r, dtype=np.uint16) for r in rows]).reshape(height, width, 4)
    assert np.array_equal(step, np.dstack([wanted[0].pixels, wanted[0].alpha]))
    final = tifffile.imread(paths[1])
    assert np.array_equal(final, np.dstack([wanted[1].pixels, wanted[1].alpha]))


class _Interrupting(TinyStages):
    """Stops (like Ctrl+C) on its ``stop_at``-th tile, after earlier bands were written."""

    def __init__(self, stop_at: int) -> None:
        super().__init__()
        self.stop_at, self.calls = stop_at, 0

    def stages(self, lq):  # type: ignore[no-untyped-def]
        self.calls += 1
        if self.calls == self.stop_at:
            raise KeyboardInterrupt
        return super().stages(lq)


@pytest.mark.parametrize("ext", ["png", "tif", "jpg"])
def test_an_interrupt_mid_image_leaves_no_file_and_no_thread(tmp_path: Path, ext: str) -> None:
    threads = threading.active_count()
    enhancer = Enhancer(_Interrupting(stop_at=8), SETTINGS)  # 3x3 tiles: in the third band
    photo = _photo(3, False, np.uint8)
    paths = [tmp_path / f"step1.{ext}", tmp_path / f"final.{ext}"]
    with pytest.raises(KeyboardInterrupt):
        enhancer.enhance_to_files(photo, lambda n: paths, steps=True)
    assert os.listdir(tmp_path) == []  # no partial file, no temporary left behind
    assert threading.active_count() == threads


@pytest.mark.parametrize("side", [40, 400])  # 40: the one strip fails at close, 400: in a band
def test_a_write_failure_names_the_file_and_removes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, side: int
) -> None:
    import restorelab.inference.tiff_writer as tiff_writer

    def full_disk(self: object, strip: np.ndarray) -> bytes:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tiff_writer.TiffWriter, "_encode", full_disk)
    threads = threading.active_count()
    with pytest.raises(DataError, match=r"cannot write .*out\.tif: .*No space left on device"):
        _streamed(_enhancer(), _photo(3, False, np.uint8, side, side), tmp_path / "out.tif")
    assert os.listdir(tmp_path) == []
    assert threading.active_count() == threads


def test_a_failure_inside_tifffile_reaches_the_caller(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: object, data: object, **options: object) -> None:
        for _ in data:  # type: ignore[attr-defined]
            raise ValueError("tifffile refused the strip")

    monkeypatch.setattr(tifffile.TiffWriter, "write", broken)
    with pytest.raises(DataError, match=r"cannot write .*out\.tif: tifffile refused the strip"):
        _streamed(_enhancer(), _photo(3, False, np.uint8), tmp_path / "out.tif")
    assert os.listdir(tmp_path) == []


def test_what_a_format_cannot_hold_is_refused_before_any_file(tmp_path: Path) -> None:
    enhancer = _enhancer()
    deep = tmp_path / "deep.jpg"
    with pytest.raises(DataError, match=r"deep\.jpg: a 16-bit image cannot be written as JPEG"):
        _streamed(enhancer, _photo(3, False, np.uint16), deep)
    clear = tmp_path / "clear.jpg"
    with pytest.raises(DataError, match=r"clear\.jpg: JPEG cannot keep the alpha channel"):
        _streamed(enhancer, _photo(3, True, np.uint8), clear)
    assert os.listdir(tmp_path) == []


def test_writers_refuse_rows_that_do_not_fit() -> None:
    layout = Layout(4, 5, 3, np.dtype(np.uint8))
    for fmt in ("PNG", "TIFF", "BMP"):
        writer = open_writer(io.BytesIO(), fmt, layout, WriteOptions())
        with pytest.raises(ValueError, match=r"do not fit a 5 px wide 3-plane uint8 image"):
            writer.write(np.zeros((2, 6, 3), np.uint8))
        writer.write(np.zeros((3, 5, 3), np.uint8))
        with pytest.raises(ValueError, match=r"more than the image's 4 rows"):
            writer.write(np.zeros((2, 5, 3), np.uint8))
        with pytest.raises(ValueError, match=r"3 of the image's 4 rows written"):
            writer.close()
