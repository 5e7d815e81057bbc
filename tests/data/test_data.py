"""Data loading: image decoding conversions, folder scanning, datasets and the data module."""

from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from restorelab.data import (
    FolderSource,
    ImageDataset,
    PairedSource,
    PatchDataset,
    RestorationDataModule,
    Sample,
    Source,
    embedded_datamodule,
    image_seed,
    list_images,
    paired_datamodule,
    read_image,
)
from restorelab.errors import ConfigError, DataError
from tests.helpers import png_chunk

SCALE = 4


# ----------------------------------------------------------------------------- helpers
def write_png16(path: Path, samples: np.ndarray, color_type: int) -> None:
    """Write a 16-bit PNG by hand (Pillow cannot write 16-bit RGB, RGBA or gray+alpha).

    ``samples`` is (H, W, C) uint16; ``color_type`` 0 gray, 2 RGB, 4 gray+alpha, 6 RGBA.
    Every scanline uses filter 0 (None), which is all a decoder needs to read it back.
    """
    h, w = samples.shape[:2]
    raw = b"".join(b"\x00" + samples[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def rint_257(values: np.ndarray) -> np.ndarray:
    """The documented 16 -> 8 bit mapping, full range to full range."""
    return np.rint(values.astype(np.float64) / 257.0).astype(np.uint8)


def block_mean(img: np.ndarray, scale: int) -> np.ndarray:
    """Exact ``scale`` x ``scale`` block mean of an (H, W, C) image, rounded to uint8."""
    h, w, c = img.shape
    blocks = img.astype(np.float64).reshape(h // scale, scale, w // scale, scale, c)
    return np.rint(blocks.mean(axis=(1, 3))).astype(np.uint8)


class ArraySource(Source):
    """In-memory samples, for testing datasets without files."""

    def __init__(self, samples: list[Sample]) -> None:
        self.samples = samples
        self.names = [s.name for s in samples]

    def __getitem__(self, index: int) -> Sample:
        return self.samples[index]


def coordinate_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    """(H, W, 3) uint8: R = row, G = column, B = noise, so a patch reveals its orientation."""
    img = np.empty((h, w, 3), dtype=np.uint8)
    img[:, :, 0] = np.arange(h, dtype=np.uint8)[:, None]
    img[:, :, 1] = np.arange(w, dtype=np.uint8)[None, :]
    img[:, :, 2] = np.random.default_rng(seed).integers(0, 256, (h, w), dtype=np.uint8)
    return img


# --------------------------------------------------------------------------- read_image
def test_grayscale_png_stays_single_channel(tmp_path: Path) -> None:
    gray = np.random.default_rng(0).integers(0, 256, (7, 9), dtype=np.uint8)
    Image.fromarray(gray).save(tmp_path / "g.png")
    out = read_image(tmp_path / "g.png")
    assert out.shape == (7, 9) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, gray)


def test_rgba_png_drops_alpha_without_premultiplying(tmp_path: Path) -> None:
    rgba = np.random.default_rng(1).integers(0, 256, (6, 5, 4), dtype=np.uint8)
    rgba[0, 0, 3] = 0  # a fully transparent pixel keeps its colour
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "a.png")
    out = read_image(tmp_path / "a.png")
    assert out.shape == (6, 5, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, rgba[:, :, :3])


def test_16bit_grayscale_png_is_scaled_by_1_over_257(tmp_path: Path) -> None:
    values = np.array([[0, 65535, 257 * 100, 257], [255, 32896, 128, 65280]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode == "I;16"
    out = read_image(tmp_path / "g16.png")
    assert out.shape == (2, 4) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, [[0, 255, 100, 1], [1, 128, 0, 254]])


def test_dark_big_endian_16bit_image_is_still_scaled(tmp_path: Path) -> None:
    # every sample < 256: the dtype, not the values, says this is 16-bit (nearly black)
    values = np.array([[0, 200, 255]], dtype=">u2")
    Image.frombytes("I;16B", (3, 1), values.tobytes()).save(tmp_path / "dark.tif")
    assert Image.open(tmp_path / "dark.tif").mode == "I;16B"
    np.testing.assert_array_equal(read_image(tmp_path / "dark.tif"), [[0, 1, 1]])


def test_16bit_rgb_png_is_reduced_to_8_bits(tmp_path: Path) -> None:
    # Pillow 13 cannot write 16-bit RGB, and reads it as mode RGB keeping the high byte
    # (v >> 8): exact on 0, 65535 and every 257 * k, within one level of round(v / 257)
    # elsewhere (documented in restorelab/data/io.py).
    rng = np.random.default_rng(2)
    samples = rng.integers(0, 65536, (5, 6, 3), dtype=np.uint16)
    samples[0, :, 0] = [0, 65535, 257 * 100, 257 * 7, 32896, 255]
    write_png16(tmp_path / "rgb16.png", samples, color_type=2)
    out = read_image(tmp_path / "rgb16.png")
    assert out.shape == (5, 6, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[0, :5, 0], [0, 255, 100, 7, 128])
    diff = np.abs(out.astype(int) - rint_257(samples).astype(int))
    assert diff.max() <= 1


def test_16bit_gray_alpha_png_stays_single_channel(tmp_path: Path) -> None:
    # Pillow opens 16-bit gray+alpha as RGBA; it is still a grayscale image
    gray = np.array([[0, 65535, 257 * 100], [257 * 3, 1000, 50000]], dtype=np.uint16)
    alpha = np.full_like(gray, 65535)
    write_png16(tmp_path / "la16.png", np.stack([gray, alpha], axis=2), color_type=4)
    out = read_image(tmp_path / "la16.png")
    assert out.shape == (2, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[0], [0, 255, 100])
    assert np.abs(out.astype(int) - rint_257(gray).astype(int)).max() <= 1


def test_palette_png_becomes_rgb(tmp_path: Path) -> None:
    rgb = np.random.default_rng(3).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    pal = Image.fromarray(rgb).quantize(colors=16)
    pal.save(tmp_path / "p.png")
    assert Image.open(tmp_path / "p.png").mode == "P"
    out = read_image(tmp_path / "p.png")
    assert out.shape == (8, 8, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, np.asarray(pal.convert("RGB")))


def test_truncated_png_names_the_file(tmp_path: Path) -> None:
    good = tmp_path / "good.png"
    Image.fromarray(np.zeros((64, 64, 3), np.uint8) + 77).save(good)
    data = good.read_bytes()
    bad = tmp_path / "cut.png"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=re.escape(str(bad))):
        read_image(bad)


def test_text_file_named_png_names_the_file(tmp_path: Path) -> None:
    fake = tmp_path / "notes.png"
    fake.write_text("not an image\n")
    with pytest.raises(DataError, match=f"not a readable image: {re.escape(str(fake))}"):
        read_image(fake)


def test_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=re.escape(str(tmp_path / "gone.png"))):
        read_image(tmp_path / "gone.png")


# -------------------------------------------------------------------------- list_images
def test_list_images_keeps_images_sorted_and_ignores_other_files(tmp_path: Path) -> None:
    for name in ("b.png", "a.JPG", "c.bmp"):
        Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(
            tmp_path / name, format="JPEG" if name.endswith("JPG") else None
        )
    (tmp_path / "readme.txt").write_text("x")
    (tmp_path / "sub.png").mkdir()
    assert [p.name for p in list_images(tmp_path, "data.val_dir")] == ["a.JPG", "b.png", "c.bmp"]


def test_list_images_missing_folder(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(DataError, match=rf"data\.train_dir: .*{re.escape(str(missing))}"):
        list_images(missing, "data.train_dir")


def test_list_images_file_instead_of_folder(tmp_path: Path) -> None:
    file = tmp_path / "x.png"
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(file)
    with pytest.raises(DataError, match=rf"data\.val_dir: not a folder: {re.escape(str(file))}"):
        list_images(file, "data.val_dir")


def test_list_images_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(
        DataError, match=rf"data\.test_dir: no image files .*{re.escape(str(tmp_path))}"
    ):
        list_images(tmp_path, "data.test_dir")


def test_list_images_folder_without_images(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / ".DS_Store").write_bytes(b"\x00")
    with pytest.raises(
        DataError, match=rf"data\.train_dir: no image files .*{re.escape(str(tmp_path))}"
    ):
        list_images(tmp_path, "data.train_dir")


def test_list_images_rejects_a_non_image_with_an_image_extension(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "a.png")
    (tmp_path / "b.png").write_text("oops")
    with pytest.raises(DataError, match=rf"data\.val_dir: .*{re.escape(str(tmp_path / 'b.png'))}"):
        list_images(tmp_path, "data.val_dir")


# ------------------------------------------------------------------------- PatchDataset
def test_patch_dataset_paired_crops_stay_aligned_under_all_eight_orientations() -> None:
    gt = coordinate_image(64, 80)
    lq = block_mean(gt, SCALE)
    dataset = PatchDataset(ArraySource([Sample("img", gt, lq)]), patch_size=32, scale=SCALE)
    torch.manual_seed(0)
    orientations = set()
    for _ in range(64):
        item = dataset[0]
        assert item["gt"].shape == (3, 32, 32) and item["gt"].dtype == torch.uint8
        assert item["lq"].shape == (3, 8, 8) and item["lq"].dtype == torch.uint8
        gt_patch = item["gt"].permute(1, 2, 0).numpy()
        lq_patch = item["lq"].permute(1, 2, 0).numpy()
        np.testing.assert_array_equal(lq_patch, block_mean(gt_patch, SCALE))
        rows, cols = gt_patch[:, :, 0].astype(int), gt_patch[:, :, 1].astype(int)
        transposed = rows[0, 0] == rows[1, 0]  # the row coordinate runs along the width
        along_rows = rows if not transposed else cols
        along_cols = cols if not transposed else rows
        orientations.add(
            (transposed, along_rows[1, 0] < along_rows[0, 0], along_cols[0, 1] < along_cols[0, 0])
        )
    assert len(orientations) == 8  # flips and transposes all happen, and alignment holds


def test_patch_dataset_without_augmentation_is_a_plain_crop() -> None:
    gt = coordinate_image(40, 48)
    dataset = PatchDataset(ArraySource([Sample("img", gt)]), 16, SCALE, hflip=False, rot90=False)
    torch.manual_seed(3)
    patch = dataset[0]["gt"].permute(1, 2, 0).numpy()
    top, left = int(patch[0, 0, 0]), int(patch[0, 0, 1])
    np.testing.assert_array_equal(patch, gt[top : top + 16, left : left + 16])


def test_patch_dataset_expands_grayscale_to_three_equal_channels() -> None:
    gray = np.random.default_rng(4).integers(0, 256, (40, 40), dtype=np.uint8)
    dataset = PatchDataset(ArraySource([Sample("g", gray)]), patch_size=16, scale=SCALE, repeat=3)
    assert len(dataset) == 3
    torch.manual_seed(0)
    item = dataset[2]
    assert set(item) == {"gt"}
    assert item["gt"].shape == (3, 16, 16) and item["gt"].dtype == torch.uint8
    assert torch.equal(item["gt"][0], item["gt"][1]) and torch.equal(item["gt"][0], item["gt"][2])


def test_patch_dataset_image_smaller_than_patch_names_it() -> None:
    dataset = PatchDataset(
        ArraySource([Sample("tiny_one", np.zeros((20, 30, 3), np.uint8))]), 32, 4
    )
    with pytest.raises(
        DataError, match=r"image tiny_one is 30x20, smaller than data.patch_size=32"
    ):
        dataset[0]


def test_patch_dataset_rejects_lq_that_does_not_fit_the_scale() -> None:
    gt = np.zeros((64, 64, 3), np.uint8)
    dataset = PatchDataset(ArraySource([Sample("odd", gt, np.zeros((20, 16, 3), np.uint8))]), 32, 4)
    with pytest.raises(DataError, match=r"image odd: lq is 16x20 and gt is 64x64"):
        dataset[0]


def test_patch_dataset_follows_torch_seed_so_workers_do_not_share_a_stream() -> None:
    gt = coordinate_image(64, 64)

    def first_crop(dataset: PatchDataset) -> torch.Tensor:
        return dataset[0]["gt"]

    torch.manual_seed(1)
    used = PatchDataset(ArraySource([Sample("a", gt)]), 16, SCALE)
    first_crop(used)  # the main process touched the dataset before "forking"
    torch.manual_seed(2)  # a worker: torch gives it its own seed
    fresh = PatchDataset(ArraySource([Sample("a", gt)]), 16, SCALE)
    from_used = first_crop(used)
    assert torch.equal(from_used, first_crop(fresh))  # same seed, same crops: reproducible


# ------------------------------------------------------------------------- ImageDataset
def test_image_dataset_mod_crops_flags_gray_and_seeds_by_name() -> None:
    rgb = np.random.default_rng(5).integers(0, 256, (50, 47, 3), dtype=np.uint8)
    gray = np.random.default_rng(6).integers(0, 256, (45, 41), dtype=np.uint8)
    source = ArraySource([Sample("astronaut", rgb), Sample("gt_camera_96_gray", gray)])
    dataset = ImageDataset(source, scale=SCALE)
    first, second = dataset[0], dataset[1]
    assert first["gt"].shape == (3, 48, 44) and first["gt"].dtype == torch.uint8
    assert torch.equal(first["gt"], torch.from_numpy(rgb[:48, :44]).permute(2, 0, 1))
    assert first["gray"] is False and second["gray"] is True
    assert second["gt"].shape == (3, 44, 40)
    assert "lq" not in first
    # the seed depends on the name only: the same in every run, process and dataset
    assert first["seed"] == image_seed("astronaut") == 1571665637
    assert second["seed"] == image_seed("gt_camera_96_gray") == 1006330245
    assert ImageDataset(ArraySource([Sample("astronaut", gray)]), 2)[0]["seed"] == first["seed"]


def test_image_dataset_pairs_accept_floor_or_ceil_lq_and_crop_both() -> None:
    gt = coordinate_image(50, 47)
    for lq_shape in ((12, 11), (13, 12)):  # floor (mod-cropped gt) and ceil (MATLAB imresize)
        lq = np.zeros((*lq_shape, 3), np.uint8)
        item = ImageDataset(ArraySource([Sample("p", gt, lq)]), SCALE)[0]
        assert item["gt"].shape == (3, 48, 44)
        assert item["lq"].shape == (3, 12, 11)
    wrong = ImageDataset(ArraySource([Sample("p", gt, np.zeros((20, 20, 3), np.uint8))]), SCALE)
    with pytest.raises(DataError, match=r"image p: lq is 20x20 and gt is 47x50"):
        wrong[0]


def test_image_dataset_too_small_to_score_names_the_image() -> None:
    dataset = ImageDataset(ArraySource([Sample("speck", np.zeros((16, 40, 3), np.uint8))]), SCALE)
    with pytest.raises(DataError, match=r"image speck is 40x16 .*too small to score"):
        dataset[0]


# ---------------------------------------------------------------- sources, data modules
def test_embedded_datamodule_rejects_overlapping_splits() -> None:
    with pytest.raises(ConfigError, match=r"train_names and data.val_names overlap: \['chelsea'\]"):
        embedded_datamodule(["astronaut", "chelsea"], ["chelsea"])


def test_embedded_datamodule_rejects_unknown_names() -> None:
    with pytest.raises(DataError, match=r"unknown embedded image\(s\) \['lena'\]"):
        embedded_datamodule(["lena"], ["chelsea"])


def _save(path: Path, shape: tuple[int, ...] = (8, 8, 3)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros(shape, np.uint8)).save(path)


def test_paired_source_lists_gt_without_lq(tmp_path: Path) -> None:
    for name in ("a", "b", "c"):
        _save(tmp_path / "gt" / f"{name}.png")
    _save(tmp_path / "lq" / "a.png", (2, 2, 3))
    _save(tmp_path / "lq" / "extra.png", (2, 2, 3))  # an lq without gt is fine
    with pytest.raises(DataError, match=r"data\.train_lq_dir: 2 ground-truth .*: b\.png, c\.png"):
        PairedSource(tmp_path / "lq", tmp_path / "gt", "data.train")


def test_paired_source_matches_by_stem_and_loads_both(tmp_path: Path) -> None:
    _save(tmp_path / "gt" / "x.png", (8, 8, 3))
    _save(tmp_path / "lq" / "x.bmp", (2, 2))
    source = PairedSource(tmp_path / "lq", tmp_path / "gt")
    sample = source[0]
    assert source.names == ["x"] and sample.gt.shape == (8, 8, 3)
    assert sample.lq is not None and sample.lq.shape == (2, 2)


def test_paired_source_rejects_ambiguous_names(tmp_path: Path) -> None:
    _save(tmp_path / "gt" / "x.png")
    _save(tmp_path / "lq" / "x.png", (2, 2, 3))
    _save(tmp_path / "lq" / "x.bmp", (2, 2, 3))
    with pytest.raises(DataError, match=r"data\.val_lq_dir: several files share .*\['x'\]"):
        PairedSource(tmp_path / "lq", tmp_path / "gt", "data.val")


def test_paired_datamodule_names_the_missing_folder_key(tmp_path: Path) -> None:
    _save(tmp_path / "gt" / "x.png")
    with pytest.raises(
        DataError, match=rf"data\.train_lq_dir: .*{re.escape(str(tmp_path / 'no'))}"
    ):
        paired_datamodule(train_lq_dir=str(tmp_path / "no"), train_gt_dir=str(tmp_path / "gt"))
    with pytest.raises(ConfigError, match=r"data\.val_lq_dir and data\.val_gt_dir"):
        paired_datamodule(val_gt_dir=str(tmp_path / "gt"))


def test_datamodule_patch_size_must_be_divisible_by_scale() -> None:
    source = ArraySource([Sample("a", np.zeros((8, 8, 3), np.uint8))])
    with pytest.raises(ConfigError, match=r"data\.patch_size=90 is not divisible by data\.scale=4"):
        RestorationDataModule(train=source, val=source, scale=4, patch_size=90)
    # evaluation cuts no patches: any scale goes with the default patch size
    RestorationDataModule(train=None, val=source, scale=5, patch_size=96)


def _png_with_bad_pixel_data(good: bytes) -> bytes:
    """``good`` with its compressed pixel data altered and the CRC fixed: every chunk checks,
    only decoding the pixels finds the damage (what the start-up scan cannot see)."""
    start = good.index(b"IDAT") - 4
    (length,) = struct.unpack(">I", good[start : start + 4])
    data = bytearray(good[start + 8 : start + 8 + length])
    data[2:] = bytes(len(data) - 2)  # zlib header kept, deflate stream zeroed: invalid
    end = start + 12 + length
    return good[:start] + png_chunk(b"IDAT", bytes(data)) + good[end:]


def test_datamodule_decodes_cached_test_images_up_front(tmp_path: Path) -> None:
    _save(tmp_path / "a.png", (16, 16, 3))
    (tmp_path / "b.png").write_bytes(_png_with_bad_pixel_data((tmp_path / "a.png").read_bytes()))
    module = RestorationDataModule(
        train=None, val=FolderSource(tmp_path, "data.test_dir", cache=True)
    )
    with pytest.raises(DataError, match=re.escape(str(tmp_path / "b.png"))):
        module.setup("test")


def test_datamodule_loaders_yield_uint8_batches() -> None:
    source = ArraySource([Sample(f"i{i}", coordinate_image(40, 44, seed=i)) for i in range(3)])
    module = RestorationDataModule(
        train=source, val=source, scale=SCALE, patch_size=16, batch_size=2, repeat=2
    )
    module.setup("fit")
    batch = next(iter(module.train_dataloader()))
    assert batch["gt"].shape == (2, 3, 16, 16) and batch["gt"].dtype == torch.uint8
    assert len(module.train_dataloader()) == 3  # 6 patches, batches of 2
    val = next(iter(module.val_dataloader()))
    assert val["gt"].shape == (1, 3, 40, 44) and val["name"] == ["i0"]
    assert val["gray"].tolist() == [False]
