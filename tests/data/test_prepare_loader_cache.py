"""Training data from several folders, decoded once into memory under a cap (issue 14)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from restorelab.data import folder_datamodule, paired_datamodule
from restorelab.data.cache import MB, MemoryCache
from restorelab.data.concat import ConcatSource
from restorelab.data.sources import FolderSource
from restorelab.errors import ConfigError, DataError
from tests.helpers import gradient_image


def folder(path: Path, count: int, side: int = 40, shift: int = 0) -> Path:
    path.mkdir(parents=True)
    for i in range(count):
        image = np.roll(gradient_image(side, side), shift + 5 * i, axis=1)
        Image.fromarray(image).save(path / f"{path.name}_{i}.png")
    return path


def batches(dm, n: int) -> list[torch.Tensor]:  # type: ignore[no-untyped-def]
    loader = dm.train_dataloader()
    out = []
    for i, batch in enumerate(loader):
        if i == n:
            break
        out.append(batch["gt"])
    return out


def test_several_train_dirs_are_one_training_set(tmp_path: Path) -> None:
    a, b = folder(tmp_path / "t91", 2), folder(tmp_path / "bsd", 3, side=48)
    dm = folder_datamodule(
        train_dir=[str(a), str(b)], val_dir=str(a), patch_size=32, batch_size=5, scale=4
    )
    source = dm.train_source
    assert source is not None and len(source) == 5
    assert source.names == ["t91_0", "t91_1", "bsd_0", "bsd_1", "bsd_2"]
    assert source.sizes == [(40, 40)] * 2 + [(48, 48)] * 3
    assert source.label(3) == str(b / "bsd_1.png")
    np.testing.assert_array_equal(source[4].gt, np.asarray(Image.open(b / "bsd_2.png")))
    dm.setup("fit")
    (batch,) = batches(dm, 1)
    assert batch.shape == (5, 3, 32, 32) and batch.dtype == torch.uint8


def test_a_bad_folder_in_the_list_is_named_by_its_position(tmp_path: Path) -> None:
    a = folder(tmp_path / "a", 1)
    with pytest.raises(DataError, match=r"data.train_dir\[1\]: folder does not exist: .*nowhere"):
        folder_datamodule(train_dir=[str(a), str(tmp_path / "nowhere")], val_dir=str(a))
    with pytest.raises(ConfigError, match=r"data.train_dir is an empty list"):
        folder_datamodule(train_dir=[], val_dir=str(a))


def test_cached_training_images_are_decoded_once_in_setup(tmp_path: Path) -> None:
    a = folder(tmp_path / "a", 3)
    val = folder(tmp_path / "val", 1)
    kwargs = {"val_dir": str(val), "patch_size": 32, "batch_size": 3, "scale": 4, "seed": 1}
    cached = folder_datamodule(train_dir=str(a), cache_train_mb=64, **kwargs)
    plain = folder_datamodule(train_dir=str(a), cache_train_mb=0, **kwargs)
    cached.setup("fit")
    plain.setup("fit")
    assert isinstance(cached.train_source, MemoryCache) and cached.train_source.cached == 3
    assert cached.train_source.held_bytes == 3 * 40 * 40 * 3
    expected = batches(plain, 2)
    for path in a.iterdir():  # from now on only memory can serve the patches
        path.unlink()
    got = batches(cached, 2)
    assert all(torch.equal(x, y) for x, y in zip(got, expected, strict=True))
    with pytest.raises(DataError, match=r"image file not found: .*a_\d\.png"):
        batches(plain, 1)


def test_the_cap_keeps_the_first_images_that_fit(tmp_path: Path) -> None:
    a = folder(tmp_path / "a", 3)  # 4800 bytes each decoded
    source = MemoryCache(FolderSource(a), cap_mb=10_000 / MB)
    source.preload()
    assert (source.cached, source.held_bytes) == (2, 9600)
    assert source[2].gt.shape == (40, 40, 3)  # read from disk, as without a cache
    none = MemoryCache(FolderSource(a), cap_mb=0)
    none.preload()
    assert none.cached == 0
    with pytest.raises(ConfigError, match=r"data\.cache_train_mb must be >= 0, got -1"):
        MemoryCache(FolderSource(a), cap_mb=-1)


def test_paired_training_pairs_are_cached_too(tmp_path: Path) -> None:
    gt = folder(tmp_path / "gt", 2, side=32)
    lq = tmp_path / "lq"
    lq.mkdir()
    for p in gt.iterdir():
        Image.open(p).resize((8, 8)).save(lq / p.name)
    dm = paired_datamodule(
        train_lq_dir=str(lq), train_gt_dir=str(gt), val_lq_dir=str(lq), val_gt_dir=str(gt),
        patch_size=16, batch_size=2, scale=4, cache_train_mb=1,
    )  # fmt: skip
    dm.setup("fit")
    assert isinstance(dm.train_source, MemoryCache)
    assert (dm.train_source.cached, dm.train_source.held_bytes) == (2, 2 * (32 * 32 + 8 * 8) * 3)


def test_concat_of_nothing_is_refused() -> None:
    with pytest.raises(DataError, match="no sources to concatenate"):
        ConcatSource([])
