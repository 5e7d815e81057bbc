"""The `realesrgan` preset end to end: size, determinism, workers, DDP ranks, and the preview."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from restorelab.commands.data import main as data_main
from restorelab.degradations import (
    JPEG,
    Degradation,
    RandomBlur,
    RandomNoise,
    RandomOrder,
    RandomResize,
    ResizeTo,
    SincFilter,
    USMSharp,
)
from tests.helpers import ROOT

PRESETS = ROOT / "conf" / "degradation"


def preset(name: str, seed: int = 0, overrides: tuple[str, ...] = ()) -> Degradation:
    root = OmegaConf.create({"seed": seed, "data": {"scale": 4}})
    root.degradation = OmegaConf.load(PRESETS / f"{name}.yaml")
    merged = OmegaConf.merge(root, OmegaConf.from_dotlist([f"degradation.{o}" for o in overrides]))
    degradation = instantiate(merged.degradation)
    assert isinstance(degradation, Degradation)
    return degradation


def gt_batch(b: int = 4, size: int = 96) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(b, 3, size, size, generator=gen)
    x = torch.nn.functional.avg_pool2d(x, 5, stride=1, padding=2)
    return torch.round(x * 255) / 255


def test_realesrgan_preset_is_the_published_second_order_pipeline() -> None:
    d = preset("realesrgan")
    stages = d.stages
    assert list(stages) == [
        "usm",
        "blur1",
        "resize1",
        "noise1",
        "jpeg1",
        "blur2",
        "resize2",
        "noise2",
        "final",
    ]
    types = [
        USMSharp,
        RandomBlur,
        RandomResize,
        RandomNoise,
        JPEG,
        RandomBlur,
        RandomResize,
        RandomNoise,
        RandomOrder,
    ]
    assert [type(s) for s in stages.values()] == types
    blur1, blur2 = stages["blur1"], stages["blur2"]
    assert isinstance(blur1, RandomBlur) and isinstance(blur2, RandomBlur)
    assert blur1.kernel_prob == pytest.approx([0.45, 0.25, 0.12, 0.03, 0.12, 0.03])
    assert blur1.sigma == (0.2, 3.0) and blur2.sigma == (0.2, 1.5)
    assert blur1.prob == 1.0 and blur2.prob == 0.8 and blur1.sinc_prob == 0.1
    assert stages["resize1"].updown_prob == pytest.approx([0.2, 0.7, 0.1])  # type: ignore[union-attr]
    assert stages["resize2"].scale_range == (0.3, 1.2)  # type: ignore[union-attr]
    assert stages["noise1"].sigma == (1.0, 30.0)  # type: ignore[union-attr]
    assert stages["noise2"].poisson_scale == (0.05, 2.5)  # type: ignore[union-attr]
    final = stages["final"]
    assert isinstance(final, RandomOrder) and list(final.groups) == ["resize_sinc", "jpeg"]
    members = final.groups["resize_sinc"]
    assert isinstance(members["resize"], ResizeTo) and isinstance(members["sinc"], SincFilter)
    assert members["sinc"].prob == 0.8  # type: ignore[union-attr]
    assert d.scale == 4


def test_realesrgan_output_size_range_and_bit_identical_for_a_seed() -> None:
    gt = gt_batch()
    lq = preset("realesrgan", seed=3)(gt)
    assert lq.shape == (4, 3, 24, 24)
    assert lq.min() >= 0 and lq.max() <= 1
    assert torch.equal(torch.round(lq * 255) / 255, lq)
    assert torch.equal(preset("realesrgan", seed=3)(gt), lq)
    assert not torch.equal(preset("realesrgan", seed=4)(gt), lq)
    # Per-image validation seeds: independent of the batch it is in.
    d = preset("realesrgan")
    both = d(gt[:2], seeds=[7, 8])
    assert torch.equal(d(gt[1:2], seeds=[8]), both[1:])
    # Consecutive training batches differ (the stream continues).
    assert not torch.equal(d(gt), d(gt))


def test_realesrgan_without_usm_and_on_non_square_images() -> None:
    d = preset("realesrgan", overrides=("stages.usm=null",))
    assert "usm" not in d.stages
    gt = torch.rand(2, 3, 96, 128)
    assert d(gt).shape == (2, 3, 24, 32)
    assert d.check_input_size(96, 128) == (24, 32)
    # The final 21 px sinc filter must fit the low-resolution image: a 64 px patch is too small.
    with pytest.raises(ValueError, match=r"stages\.final\.groups\.resize_sinc\.sinc: SincF"):
        d.check_input_size(64, 64)


class DegradeInWorker(Dataset[torch.Tensor]):
    """Each item is a fresh training-stream degradation of the same image."""

    def __init__(self) -> None:
        self.degradation = Degradation({"noise": RandomNoise(sigma=(10, 20))}, seed=0)
        self.gt = torch.full((1, 3, 8, 8), 0.5)

    def __len__(self) -> int:
        return 4

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.degradation(self.gt)[0]


def test_dataloader_workers_draw_different_degradations() -> None:
    dataset = DegradeInWorker()
    dataset.degradation(dataset.gt)  # the main process already has a stream to copy
    loader = DataLoader(dataset, batch_size=1, num_workers=2, multiprocessing_context="fork")
    items = [batch[0] for batch in loader]  # worker 0 gets items 0, 2; worker 1 gets 1, 3
    assert not torch.equal(items[0], items[1])
    again = [batch[0] for batch in loader]
    assert all(torch.equal(a, b) for a, b in zip(items, again, strict=True))  # reproducible


def test_module_gives_each_rank_its_own_stream() -> None:
    from restorelab.archs import SRVGGNetCompact
    from restorelab.training.module import RestorationModule

    def lq_for_rank(rank: int) -> torch.Tensor:
        module = RestorationModule(
            generator=SRVGGNetCompact(num_feat=4, num_conv=1, scale=4),
            degradation=preset("realesrgan", seed=42),
        )
        module.trainer = type("T", (), {"global_rank": rank})()  # type: ignore[assignment]
        module.on_fit_start()
        return module.degradation(gt_batch(2, 96))  # type: ignore[misc]

    r0, r0_again, r1 = lq_for_rank(0), lq_for_rank(0), lq_for_rank(1)
    assert torch.equal(r0, r0_again) and not torch.equal(r0, r1)


class RecordLQ(L.Callback):
    """Saves each rank's degradation seed and lq shape (used by the DDP test's child processes)."""

    def __init__(self, out_dir: str) -> None:
        self.out_dir = Path(out_dir)

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        path = self.out_dir / f"rank{trainer.global_rank}_batch{batch_idx}.txt"
        path.write_text(f"{pl_module.degradation.seed} {tuple(batch['lq'].shape)}\n")


@pytest.mark.slow
def test_realesrgan_trains_under_ddp_with_a_stream_per_rank(tmp_path: Path) -> None:
    args = [
        "trainer=ddp_sim",
        "degradation=realesrgan",
        "generator.num_feat=8",
        "generator.num_conv=2",
        "data.batch_size=4",
        "data.patch_size=96",
        "data.repeat=1",
        "data.val_names=[coffee]",
        "trainer.max_steps=2",
        "trainer.val_check_interval=2",
        "trainer.precision=32-true",
        "trainer.max_time=null",
        "trainer.enable_model_summary=false",
        "trainer.enable_progress_bar=false",
        "logger=none",
        "callbacks=none",
        "+callbacks.record._target_=tests.degradations.test_degradation_realesrgan.RecordLQ",
        f"+callbacks.record.out_dir={tmp_path / 'lq'}",
    ]
    env = {**os.environ, "RESTORELAB_OUTPUTS": str(tmp_path / "out"), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "restorelab.commands.train", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = {p.name: p.read_text().split(" ", 1) for p in (tmp_path / "lq").iterdir()}
    assert set(records) == {f"rank{r}_batch{b}.txt" for r in (0, 1) for b in (0, 1)}
    assert records["rank0_batch0.txt"][0] == "42" and records["rank1_batch0.txt"][0] == "1042"
    assert all(shape.strip() == "(2, 3, 24, 24)" for _, shape in records.values())
    assert "val/psnr_y" in proc.stdout


def test_preview_writes_a_grid_of_gt_and_degradations(tmp_path: Path, capsys: Any) -> None:
    out = tmp_path / "grid.png"
    data_main(["preview", "degradation=realesrgan", "n=3", "size=96", "-o", str(out)])
    assert "ground truth + 3 degradations" in capsys.readouterr().out
    grid = np.asarray(Image.open(out))
    assert grid.shape == (96 + 14, 4 * 96 + 3 * 4, 3)
    tiles = [grid[14:, i * 100 : i * 100 + 96] for i in range(4)]
    assert all(not np.array_equal(tiles[0], t) for t in tiles[1:])
    assert not np.array_equal(tiles[1], tiles[2])  # each degradation has its own seed
    # 4x nearest-neighbour enlargement: blocks of 4x4 equal pixels
    assert np.array_equal(tiles[1][::4, ::4].repeat(4, 0).repeat(4, 1), tiles[1])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["degradation=nope"], "degradation/nope"),
        (["n=0"], "n=0 must be >= 1"),
        (["image=missing.png"], "image='missing.png'"),
        (["degradation=realesrgan", "size=32"], "degradation.stages.usm"),
        (["degradation=realesrgan", "size=64"], "degradation.stages.final.groups.resize_sinc"),
    ],
)
def test_preview_bad_input_is_one_line(args: list[str], message: str, capsys: Any) -> None:
    with pytest.raises(SystemExit) as exc:
        data_main(["preview", *args, "-o", os.devnull])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("restorelab-data: error:") and message in err
    assert len(err.splitlines()) == 1
