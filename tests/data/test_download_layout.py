"""The named data configs (data=div2k, df2k, t91, sr291, bsd400, train400, sidd, gopro) read
the layout ``restorelab-data download`` produces under ``paths.data_dir``.

The data root is built here the way a user gets it: tiny archives laid out like the official
ones are unpacked by the built-in registry's own rules; T91, Train400 and the SIDD validation
pairs, which the README says to put in place by hand, are put in place by hand.
"""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from PIL import Image

from restorelab.data.extract import extract
from restorelab.data.registry import load_registry
from tests.helpers import gradient_image, ok, train_cli

SIDE = 100  # above the default recipe's 96 px patches


def png(seed: int, side: int = SIDE, gray: bool = False) -> bytes:
    array = np.roll(gradient_image(side, side, 1 if gray else 3), seed, axis=1)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.roll(gradient_image(SIDE, SIDE), seed, axis=0)).save(buffer, format="JPEG")
    return buffer.getvalue()


#: Two images per folder, named as in the official archives.
OFFICIAL = {
    "DIV2K_train_HR.zip": {f"DIV2K_train_HR/000{i}.png": png(i) for i in (1, 2)},
    "DIV2K_valid_HR.zip": {f"DIV2K_valid_HR/080{i}.png": png(10 + i) for i in (1, 2)},
    "Flickr2K.tar": {f"Flickr2K/Flickr2K_HR/00000{i}.png": png(20 + i) for i in (1, 2)},
    "benchmark.tar": {
        **{f"benchmark/Set5/HR/{n}.png": png(30 + i) for i, n in enumerate(("baby", "bird"))},
        "benchmark/B100/HR/3096.png": png(40),
    },
    "BSR_bsds500.tgz": {
        f"BSR/BSDS500/data/images/{split}/{100 * k + i}.jpg": jpeg(k + i)
        for k, split in enumerate(("train", "val", "test"))
        for i in (1, 2)
    },
    "SIDD_Small_sRGB_Only.zip": {
        f"SIDD_Small_sRGB_Only/Data/000{i}_001_S6_00100_00060_3200_L/{kind}_SRGB_010.PNG": png(i)
        for i in (1, 2)
        for kind in ("GT", "NOISY")
    },
    "GOPRO_Large.zip": {
        f"GOPRO_Large/{split}/GOPR0372_07_00/{kind}/00004{i}.png": png(i)
        for split in ("train", "test")
        for kind in ("blur", "sharp", "blur_gamma")
        for i in (7, 8)
    },
}


def write_archive(path: Path, members: dict[str, bytes]) -> None:
    if path.suffix == ".zip":
        with zipfile.ZipFile(path, "w") as z:
            for name, data in members.items():
                z.writestr(name, data)
        return
    with tarfile.open(path, "w:gz" if path.suffix == ".tgz" else "w") as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data")
    archives = {a.file: a for e in load_registry().values() for a in e.archives}
    for file, members in OFFICIAL.items():
        path = root / "downloads" / file
        path.parent.mkdir(parents=True, exist_ok=True)
        write_archive(path, members)
        extract(path, archives[file], root)
    for folder, gray in (("T91", False), ("Train400", True)):  # put in place by hand
        (root / folder).mkdir()
        for i in (1, 2):
            (root / folder / f"t{i}.png").write_bytes(png(50 + i, gray=gray))
    for kind in ("lq", "gt"):  # SIDD's validation pairs, as PNG, by hand
        (root / "SIDD/val" / kind).mkdir(parents=True)
        (root / "SIDD/val" / kind / "v1.png").write_bytes(png(60))
    return root


#: config -> (training images, their folders under the data root, validation images)
EXPECTED = {
    "div2k": (2, {"DIV2K/DIV2K_train_HR"}, 2),
    "df2k": (4, {"DIV2K/DIV2K_train_HR", "Flickr2K/Flickr2K_HR"}, 2),
    "t91": (2, {"T91"}, 2),
    "sr291": (4, {"T91", "BSDS500/train"}, 2),
    "bsd400": (4, {"BSDS500/train", "BSDS500/test"}, 2),
    "train400": (2, {"Train400"}, 2),
    "sidd": (2, {"SIDD/train/gt"}, 1),
    "gopro": (2, {"GoPro/train/gt"}, 2),
}


def _folders(source: object, root: Path) -> set[str]:
    files = getattr(source, "gt_files", None) or [
        Path(source.label(i))  # type: ignore[attr-defined]
        for i in range(len(source))  # type: ignore[arg-type]
    ]
    return {str(Path(f).parent.relative_to(root)) for f in files}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_named_configs_read_the_download_layout(compose_cfg, data_root: Path, name: str) -> None:
    count, folders, val_count = EXPECTED[name]
    scale = 1 if name in ("sidd", "gopro") else 4
    cfg = compose_cfg(f"data={name}", f"paths.data_dir={data_root}", f"data.scale={scale}")
    dm = instantiate(cfg.data)
    train = dm.train_source.source  # behind the memory cache
    assert len(train) == count
    assert _folders(train, data_root) == folders
    assert len(dm.val_source) == val_count
    dm.setup("fit")
    assert dm.train_source.cached == count
    batch = next(iter(dm.train_dataloader()))
    assert batch["gt"].shape[1:] == (3, 96, 96) and batch["gt"].dtype == torch.uint8
    if name in ("sidd", "gopro"):
        assert batch["lq"].shape[1:] == (3, 96, 96)


def test_sidd_and_gopro_pairs_line_up_by_name(data_root: Path) -> None:
    for gt in (data_root / "GoPro/test/gt").iterdir():
        assert (data_root / "GoPro/test/lq" / gt.name).read_bytes() == gt.read_bytes()
    names = sorted(p.name for p in (data_root / "SIDD/train/lq").iterdir())
    assert names == sorted(p.name for p in (data_root / "SIDD/train/gt").iterdir())
    assert names == [
        "0001_001_S6_00100_00060_3200_L_010.png",
        "0002_001_S6_00100_00060_3200_L_010.png",
    ]
    assert not (data_root / "GoPro/train/blur_gamma").exists()


def test_restorelab_train_runs_on_a_named_mix(data_root: Path, tmp_path: Path) -> None:
    done = ok(
        train_cli(
            [
                "data=sr291",
                f"paths.data_dir={data_root}",
                "data.patch_size=32",
                "data.batch_size=2",
                "data.num_workers=0",
                "generator.num_feat=8",
                "generator.num_conv=2",
                "trainer.max_steps=2",
                "trainer.val_check_interval=2",
                "trainer.precision=32-true",
                "trainer.max_time=null",
                "trainer.enable_model_summary=false",
                "logger=csv",
                "callbacks=none",
            ],
            tmp_path / "outputs",
        )
    )
    assert "data: 4 of 4 training images decoded into memory (0 MB; data.cache_train_mb=2048)" in (
        done.stdout
    )
    assert "val/psnr_y" in done.stdout
