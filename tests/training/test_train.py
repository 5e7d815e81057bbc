"""End-to-end training through the real configs: fast_dev_run, logging, checkpoints, resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from restorelab.runs.wandb_offline import find_run_files, read_history
from restorelab.training.fit import train
from restorelab.weights import generator_from_checkpoint, load_checkpoint
from tests.helpers import TINY

GENERATOR_TINY = {
    "compact": ["generator.num_feat=8", "generator.num_conv=2"],
    "msrresnet": ["generator.num_feat=8", "generator.num_block=1"],
    "edsr": ["generator.num_feat=8", "generator.num_block=1"],
    "edsr_full": ["generator.num_feat=8", "generator.num_block=1"],
    "rrdbnet": ["generator.num_feat=8", "generator.num_block=1", "generator.num_grow_ch=4"],
}
FAST = ["debug=fast", "data.batch_size=2", "data.patch_size=32", "data.val_names=[coffee]"]


def test_fast_dev_run_of_the_default(compose_cfg) -> None:
    cfg = compose_cfg(*FAST)
    metrics = train(cfg)
    assert metrics["val/psnr_y"] > 10
    # coffee, MATLAB bicubic x4, PSNR-Y with a 4 px border crop (same as restorelab-eval)
    assert metrics["val/psnr_y_bicubic"] == pytest.approx(27.2921, abs=1e-3)


@pytest.mark.parametrize("name", sorted(GENERATOR_TINY))
def test_fast_dev_run_of_each_generator(compose_cfg, name: str) -> None:
    cfg = compose_cfg(*FAST, f"generator={name}", *GENERATOR_TINY[name])
    metrics = train(cfg)
    assert "val/psnr_y" in metrics


def test_fast_dev_run_of_the_gan_experiment(compose_cfg) -> None:
    cfg = compose_cfg(
        "experiment=gan_x4",
        *FAST,
        "generator.num_feat=8",
        "generator.num_conv=2",
        "discriminator.num_feat=8",
        "trainer.precision=32-true",
    )
    metrics = train(cfg)
    assert "val/psnr_y" in metrics


def test_short_run_writes_everything_and_logs_to_wandb(compose_cfg, tmp_path: Path) -> None:
    run = tmp_path / "run"
    cfg = compose_cfg(*TINY, "logger=default", "callbacks=default", run_dir=run)
    metrics = train(cfg)

    saved = json.loads((run / "metrics.json").read_text())
    assert saved["val/psnr_y"] == pytest.approx(metrics["val/psnr_y"])
    assert saved["step"] == 2
    assert {"val/psnr_y", "val/ssim_y", "val/psnr_y_bicubic"} <= set(saved)
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert list((run / "checkpoints").glob("best_*.ckpt"))
    assert list((run / "images").glob("val_step*.png"))
    assert "val/psnr_y" in (run / "csv" / "metrics.csv").read_text().splitlines()[0]

    # the offline W&B run holds the validation metrics and the image grid
    files = find_run_files(run / "wandb")
    assert len(files) == 1
    history = read_history(files[0])
    logged = [h["val/psnr_y"] for h in history if "val/psnr_y" in h]
    assert logged and logged[-1] == pytest.approx(metrics["val/psnr_y"], abs=1e-4)
    assert any("val/psnr_y_bicubic" in h for h in history)
    grids = [h for h in history if h.get("val/grid/_type") == "images/separated"]
    assert grids and grids[-1]["val/grid/captions"] == ["bicubic | output | ground truth"]
    assert any("train/l1" in h and "train/loss" in h for h in history)
    assert any("lr/generator" in h for h in history)


def test_checkpoint_loads_weights_only_and_rebuilds_the_generator(
    compose_cfg, tmp_path, monkeypatch
) -> None:
    from restorelab.training.callbacks import checkpoint_io

    written: list[str] = []
    real = checkpoint_io.atomic_torch_save

    def spy(obj, path):
        written.append(Path(path).name)
        real(obj, path)

    monkeypatch.setattr(checkpoint_io, "atomic_torch_save", spy)
    run = tmp_path / "run"
    train(compose_cfg(*TINY, "logger=none", "callbacks=default", run_dir=run))
    # every checkpoint of the run went through the atomic writer
    assert "last.ckpt" in written and any(n.startswith("best_") for n in written)
    ckpt = load_checkpoint(run / "checkpoints" / "last.ckpt")
    assert ckpt["restorelab"]["scale"] == 4
    generator, meta = generator_from_checkpoint(run / "checkpoints" / "last.ckpt")
    assert meta["generator"]["num_feat"] == 8
    assert torch.equal(
        generator.state_dict()["body.0.weight"], ckpt["state_dict"]["generator.body.0.weight"]
    )


def test_resume_from_last_ckpt_continues_the_step_count(compose_cfg, tmp_path) -> None:
    run = tmp_path / "run"
    train(compose_cfg(*TINY, "logger=none", "callbacks=default", run_dir=run))
    last = run / "checkpoints" / "last.ckpt"
    assert load_checkpoint(last)["global_step"] == 2
    resumed = tmp_path / "resumed"
    cfg = compose_cfg(
        *TINY,
        "logger=none",
        "callbacks=default",
        "trainer.max_steps=4",
        f"ckpt_path={last}",
        run_dir=resumed,
    )
    train(cfg)
    assert load_checkpoint(resumed / "checkpoints" / "last.ckpt")["global_step"] == 4
    assert json.loads((resumed / "metrics.json").read_text())["step"] == 4
