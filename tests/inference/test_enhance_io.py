"""Image formats through enhancement: bit depth, alpha, EXIF orientation, gray, profiles."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import png
import pytest
from PIL import Image, ImageCms

from restorelab.errors import DataError
from restorelab.inference import Enhancer, EnhanceSettings, read_photo, write_photo
from restorelab.inference.enhancer import upscale_alpha
from restorelab.inference.image_io import Photo
from tests.helpers import TinyStages, gradient_image


@pytest.fixture(scope="module")
def enhancer() -> Enhancer:
    """x2 nearest upsampling then ``0.5 * x + 0.25``: every output value is predictable."""
    return Enhancer(TinyStages(), EnhanceSettings(tile=16, tile_overlap=4))


def _expected(pixels: np.ndarray) -> np.ndarray:
    top = np.iinfo(pixels.dtype).max
    up = pixels.repeat(2, axis=0).repeat(2, axis=1).astype(np.float64) / top
    return np.rint((0.5 * up + 0.25) * top).astype(pixels.dtype)


def _srgb_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def test_16bit_rgb_png_stays_16bit(tmp_path: Path, enhancer: Enhancer) -> None:
    pixels = gradient_image(20, 30, 3, np.uint16)
    src = tmp_path / "deep.png"
    png.from_array(pixels.reshape(20, 90), "RGB;16").save(str(src))
    photo = read_photo(src)
    assert photo.pixels.dtype == np.uint16 and np.array_equal(photo.pixels, pixels)
    out = enhancer.enhance_photo(photo)[-1]
    dest = write_photo(out, tmp_path / "out" / "deep.png")
    width, height, rows, info = png.Reader(filename=str(dest)).asDirect()
    back = np.vstack([np.asarray(r, dtype=np.uint16) for r in rows]).reshape(height, width, 3)
    assert info["bitdepth"] == 16 and (width, height) == (60, 40)
    assert np.array_equal(back, _expected(pixels))
    assert np.any(back % 257 != 0)  # values between the 8-bit levels survive


def test_16bit_gray_png_stays_16bit_gray(tmp_path: Path, enhancer: Enhancer) -> None:
    pixels = gradient_image(16, 18, 1, np.uint16)
    src = tmp_path / "gray16.png"
    Image.fromarray(pixels).save(src)
    photo = read_photo(src)
    assert photo.gray and photo.pixels.dtype == np.uint16
    dest = write_photo(enhancer.enhance_photo(photo)[-1], tmp_path / "o.png")
    with Image.open(dest) as img:
        assert img.mode == "I;16" and img.size == (36, 32)
        assert np.array_equal(np.asarray(img), _expected(pixels))


def test_16bit_colour_tiff_stays_16bit(tmp_path: Path, enhancer: Enhancer) -> None:
    import tifffile

    pixels = gradient_image(12, 10, 3, np.uint16)
    src = tmp_path / "scan.tif"
    tifffile.imwrite(src, pixels, photometric="rgb")
    photo = read_photo(src)
    assert photo.pixels.dtype == np.uint16 and np.array_equal(photo.pixels, pixels)
    dest = write_photo(enhancer.enhance_photo(photo)[-1], tmp_path / "out.tif")
    back = tifffile.imread(dest)
    assert back.dtype == np.uint16 and np.array_equal(back, _expected(pixels))


def test_rgba_alpha_is_upscaled_apart_and_reattached(tmp_path: Path, enhancer: Enhancer) -> None:
    rgb = gradient_image(12, 14, 3)
    alpha = np.tile(np.linspace(0, 255, 14).astype(np.uint8), (12, 1))
    src = tmp_path / "logo.png"
    Image.fromarray(np.dstack([rgb, alpha])).save(src)
    photo = read_photo(src)
    assert photo.alpha is not None and photo.pixels.shape == (12, 14, 3)
    dest = write_photo(enhancer.enhance_photo(photo)[-1], tmp_path / "o.png")
    with Image.open(dest) as img:
        assert img.mode == "RGBA" and img.size == (28, 24)
        arr = np.asarray(img)
    assert np.array_equal(arr[:, :, :3], _expected(rgb))  # colour through the network
    want_alpha = np.asarray(Image.fromarray(alpha).resize((28, 24), Image.Resampling.BICUBIC))
    assert np.array_equal(arr[:, :, 3], want_alpha)  # alpha: bicubic, not the network
    assert np.array_equal(upscale_alpha(alpha, 2), want_alpha)


def test_exif_rotated_jpeg_is_upright(tmp_path: Path, enhancer: Enhancer) -> None:
    """Orientation 6 (rotate 90 CW to view): the output is upright and carries no tag."""
    stored = np.zeros((20, 40, 3), np.uint8)
    stored[:, :20] = 255  # left half white as stored
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "restorelab-test-camera"
    src = tmp_path / "phone.jpg"
    Image.fromarray(stored).save(src, quality=98, exif=exif.tobytes())
    photo = read_photo(src)
    assert photo.pixels.shape == (40, 20, 3)  # rotated: portrait
    assert photo.pixels[:18].mean() > 240 and photo.pixels[22:].mean() < 15  # white on top
    dest = write_photo(enhancer.enhance_photo(photo)[-1], tmp_path / "out.jpg")
    with Image.open(dest) as img:
        assert img.size == (40, 80)
        tags = img.getexif()
        assert tags.get(0x0112, 1) == 1
        assert tags.get(0x010F) == "restorelab-test-camera"  # the rest of EXIF kept


def test_grayscale_stays_grayscale(tmp_path: Path, enhancer: Enhancer) -> None:
    pixels = gradient_image(10, 12, 1)
    src = tmp_path / "scan.png"
    Image.fromarray(pixels).save(src)
    photo = read_photo(src)
    assert photo.gray
    dest = write_photo(enhancer.enhance_photo(photo)[-1], tmp_path / "o.png")
    with Image.open(dest) as img:
        assert img.mode == "L"
        assert np.array_equal(np.asarray(img), _expected(pixels))


def test_colour_profile_is_preserved(tmp_path: Path, enhancer: Enhancer) -> None:
    profile = _srgb_profile()
    src = tmp_path / "tagged.png"
    Image.fromarray(gradient_image(8, 8)).save(src, icc_profile=profile)
    photo = read_photo(src)
    assert photo.icc_profile == profile
    out = enhancer.enhance_photo(photo)[-1]
    for ext in ("png", "jpg", "webp", "tiff"):
        with Image.open(write_photo(out, tmp_path / f"o.{ext}")) as img:
            assert img.info.get("icc_profile") == profile, ext


@pytest.mark.parametrize(("ext", "mode"), [("webp", "RGB"), ("tiff", "RGB"), ("bmp", "RGB")])
def test_other_formats_round_trip(tmp_path: Path, enhancer: Enhancer, ext: str, mode: str) -> None:
    pixels = gradient_image(10, 14)
    src = tmp_path / f"in.{ext}"
    Image.fromarray(pixels).save(src, **({"lossless": True} if ext == "webp" else {}))
    photo = read_photo(src)
    assert np.array_equal(photo.pixels, pixels)
    out = enhancer.enhance_photo(photo)[-1]
    with Image.open(write_photo(out, tmp_path / f"out.{ext}")) as img:
        assert img.mode == mode and img.size == (28, 20)
        if ext != "webp":  # lossy by default
            assert np.array_equal(np.asarray(img), _expected(pixels))


def test_corrupt_and_truncated_files_are_named(tmp_path: Path) -> None:
    junk = tmp_path / "notes.png"
    junk.write_bytes(b"this is not an image")
    with pytest.raises(DataError, match=r"not a readable image: .*notes\.png"):
        read_photo(junk)
    whole = tmp_path / "whole.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), np.uint8)).save(whole)
    cut = tmp_path / "cut.png"
    cut.write_bytes(whole.read_bytes()[:2000])
    with pytest.raises(DataError, match=r"corrupt or truncated image .*cut\.png"):
        read_photo(cut)
    deep = tmp_path / "deep.png"
    png.from_array(gradient_image(16, 16, 3, np.uint16).reshape(16, 48), "RGB;16").save(str(deep))
    cut16 = tmp_path / "cut16.png"
    cut16.write_bytes(deep.read_bytes()[:200])
    with pytest.raises(DataError, match=r"corrupt or truncated image .*cut16\.png"):
        read_photo(cut16)


def test_pixel_limit_names_file_limit_and_flag(tmp_path: Path) -> None:
    src = tmp_path / "huge.png"
    Image.fromarray(np.zeros((30, 40), np.uint8)).save(src)
    with pytest.raises(DataError) as err:
        read_photo(src, max_pixels=1000)
    message = str(err.value)
    assert "huge.png" in message and "40x30 = 1200 pixels" in message
    assert "limit of 1000" in message and "--max-pixels" in message
    assert read_photo(src, max_pixels=1200).pixels.shape == (30, 40)


def test_writes_are_atomic_and_never_clobber(tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    photo = Photo(gradient_image(6, 6, 3, np.uint16))
    with pytest.raises(DataError, match=r"16-bit image cannot be written as JPEG"):
        write_photo(photo, out_dir / "x.jpg")
    assert os.listdir(out_dir) == []  # no partial file, no temporary left behind
    rgba = Photo(gradient_image(6, 6), alpha=np.zeros((6, 6), np.uint8))
    with pytest.raises(DataError, match="JPEG cannot keep the alpha channel"):
        write_photo(rgba, out_dir / "y.jpg")
    first = write_photo(Photo(gradient_image(6, 6)), out_dir / "z.png")
    before = first.read_bytes()
    with pytest.raises(DataError, match=r"z\.png exists: not overwriting it"):
        write_photo(Photo(gradient_image(6, 6) // 2), first)
    assert first.read_bytes() == before
    write_photo(Photo(gradient_image(6, 6) // 2), first, overwrite=True)
    assert first.read_bytes() != before
    assert sorted(os.listdir(out_dir)) == ["z.png"]


def test_interrupted_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A crash mid-encode (here: KeyboardInterrupt from the encoder) leaves no file behind."""
    import restorelab.inference.writers as writers

    def boom(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(writers.PngWriter, "write", boom)
    with pytest.raises(KeyboardInterrupt):
        write_photo(Photo(gradient_image(6, 6)), tmp_path / "a.png")
    assert os.listdir(tmp_path) == []


def test_python_api_takes_pil_and_arrays(enhancer: Enhancer) -> None:
    rgb = gradient_image(9, 11)
    out = enhancer.enhance(Image.fromarray(rgb))
    assert isinstance(out, Image.Image) and out.mode == "RGB" and out.size == (22, 18)
    assert np.array_equal(np.asarray(out), _expected(rgb))
    gray = enhancer.enhance(gradient_image(9, 11, 1))
    assert isinstance(gray, np.ndarray) and gray.shape == (18, 22) and gray.dtype == np.uint8
    rgba = enhancer.enhance(np.dstack([rgb, np.full((9, 11), 200, np.uint8)]))
    assert isinstance(rgba, np.ndarray) and rgba.shape == (18, 22, 4)
    assert np.all(rgba[:, :, 3] == 200)
    flt = enhancer.enhance(rgb.astype(np.float32) / 255)
    assert isinstance(flt, np.ndarray) and flt.dtype == np.float32
    assert np.abs(flt - (0.5 * rgb.repeat(2, 0).repeat(2, 1) / 255 + 0.25)).max() < 1e-6
