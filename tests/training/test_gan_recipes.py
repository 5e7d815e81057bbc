"""The GAN recipes end to end under debug=fast: two stages, EMA hand-over, LPIPS, loss mixing."""

from __future__ import annotations

import json
from pathlib import Path

import hydra
import pytest
import torch

from restorelab.errors import ConfigError
from restorelab.losses import GANLoss, PerceptualLoss
from restorelab.training.builder import build_module
from restorelab.training.fit import train
from restorelab.weights import load_checkpoint
from tests.helpers import TINY

FAST = ["debug=fast", "data.batch_size=2", "data.val_names=[coffee]"]
RRDB_TINY = ["generator.num_feat=8", "generator.num_block=1", "generator.num_grow_ch=4"]
GAN_TINY = ["discriminator.num_feat=8", "loss.terms.perceptual.weights=random"]


def _stage1_weights(ckpt: Path, prefix: str) -> dict[str, torch.Tensor]:
    state = load_checkpoint(ckpt)["state_dict"]
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


def test_esrgan_two_stage_recipe(compose_cfg, tmp_path: Path) -> None:
    run1 = tmp_path / "stage1"
    cfg1 = compose_cfg(
        "experiment=esrgan_x4_psnr",
        *FAST,
        "data.patch_size=32",
        *RRDB_TINY,
        "module.ema_decay=0.9",
        run_dir=run1,
    )
    assert cfg1.optimizer.generator.lr == 2e-4 and cfg1.loss.terms.l1.weight == 1.0
    train(cfg1)
    ckpt = run1 / "checkpoints" / "last.ckpt"

    overrides = [*FAST, "data.patch_size=32", *RRDB_TINY, *GAN_TINY, f"generator.pretrained={ckpt}"]
    cfg2 = compose_cfg("experiment=esrgan_x4", *overrides, run_dir=tmp_path / "stage2")
    # the paper's weights and learning rates (Wang et al. 2018, sec. 4.1)
    terms = cfg2.loss.terms
    assert (terms.l1.weight, terms.perceptual.weight, terms.adversarial.weight) == (1e-2, 1, 5e-3)
    assert terms.adversarial.relativistic and dict(terms.perceptual.layer_weights) == {
        "conv5_4": 1.0
    }
    assert cfg2.optimizer.generator.lr == cfg2.optimizer.discriminator.lr == 1e-4
    module = build_module(cfg2)  # stage 2 starts from the stage-1 EMA weights
    ema, live = _stage1_weights(ckpt, "generator_ema."), _stage1_weights(ckpt, "generator.")
    assert any(not torch.equal(ema[k], live[k]) for k in ema)
    for k, v in module.generator.state_dict().items():
        assert torch.equal(v, ema[k])
    metrics = train(cfg2)
    assert metrics["val/psnr_y"] > 5


@pytest.mark.slow
def test_realesrgan_stage2_starts_from_the_stage1_ema_weights(compose_cfg, tmp_path) -> None:
    # Real-ESRNet keeps an EMA copy; stage 2 must start from it, not from the live weights
    run1 = tmp_path / "stage1"
    # the second-order degradation's 21-px sinc needs lq >= 21 px: 96 px patches at x4
    common = [*FAST, "data.patch_size=96", *RRDB_TINY]
    train(compose_cfg("experiment=realesrgan_x4_psnr", *common, run_dir=run1))
    ckpt = run1 / "checkpoints" / "last.ckpt"
    ema, live = _stage1_weights(ckpt, "generator_ema."), _stage1_weights(ckpt, "generator.")
    assert ema and any(not torch.equal(ema[k], live[k]) for k in ema)

    cfg2 = compose_cfg(
        "experiment=realesrgan_x4",
        *common,
        *GAN_TINY,
        f"generator.pretrained={ckpt}",
        run_dir=tmp_path / "stage2",
    )
    module = build_module(cfg2)
    for k, v in module.generator.state_dict().items():
        assert torch.equal(v, ema[k])
    assert module.ema_decay == 0.999 and module.loss.sharpen_gt is not None
    assert type(module.discriminator).__name__ == "UNetDiscriminatorSN"
    assert "val/psnr_y" in train(cfg2)


def test_srgan_recipe_runs(compose_cfg) -> None:
    cfg = compose_cfg(
        "experiment=srgan_x4",
        *FAST,
        "data.patch_size=32",
        "generator.num_feat=8",
        "generator.num_block=1",
        *GAN_TINY,
    )
    assert (
        cfg.loss.terms.adversarial.weight == 1e-3 and cfg.loss.terms.perceptual.criterion == "mse"
    )
    assert dict(cfg.loss.terms.perceptual.layer_weights) == {"relu5_4": 1.0}
    assert "val/psnr_y" in train(cfg)


def test_losses_mix_by_config(compose_cfg) -> None:
    cfg = compose_cfg(
        "loss=esrgan",
        "discriminator=patchgan",
        "loss.terms.perceptual.weight=0.5",
        "loss.terms.adversarial.kind=hinge",
        "loss.terms.perceptual.weights=random",
    )
    loss = hydra.utils.instantiate(cfg.loss)
    assert isinstance(loss.terms["perceptual"], PerceptualLoss)
    assert loss.terms["perceptual"].weight == 0.5
    adv = loss.terms["adversarial"]
    assert isinstance(adv, GANLoss) and adv.kind == "hinge" and adv.relativistic


def test_missing_vgg_weights_fail_at_start_up_naming_the_file(compose_cfg, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    cfg = compose_cfg("experiment=esrgan_x4", *FAST, "data.patch_size=32", *RRDB_TINY)
    with pytest.raises(Exception) as info:
        build_module(cfg)
    cause = info.value
    while not isinstance(cause, ConfigError) and cause.__cause__ is not None:
        cause = cause.__cause__
    assert isinstance(cause, ConfigError)
    assert str(tmp_path / "torch" / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth") in str(cause)


def test_gan_run_logs_lpips_and_keeps_the_best_checkpoint_by_it(compose_cfg, tmp_path) -> None:
    run = tmp_path / "run"
    cfg = compose_cfg(
        "experiment=gan_x4",
        *TINY,
        "callbacks=gan",
        "logger=csv",
        "discriminator.num_feat=8",
        "callbacks.perceptual_metric.backbone_weights=random",
        "callbacks.perceptual_metric.crop=64",
        "trainer.precision=bf16-mixed",
        "module.ema_decay=0.5",
        run_dir=run,
    )
    metrics = train(cfg)
    assert metrics["val/lpips"] > 0  # random backbone: a number, not a meaningful one
    assert "val/lpips" in json.loads((run / "metrics.json").read_text())
    ckpts = {p.name.split("_0")[0] for p in (run / "checkpoints").glob("*.ckpt")}
    assert ckpts == {"best", "best_lpips", "last.ckpt"}
    assert list((run / "images").glob("val_step*.png"))  # the fixed-crop validation grid
    header = (run / "csv" / "metrics.csv").read_text().splitlines()[0].split(",")
    # D's real/fake logits and each loss term are logged separately
    for key in ("train/l1", "train/gan", "train/gan_d", "train/gan_d_real", "train/gan_d_fake"):
        assert key in header


def test_gan_run_without_lpips_weights_warns_once_and_goes_on(compose_cfg, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    run = tmp_path / "run"
    cfg = compose_cfg(
        "experiment=gan_x4",
        *TINY,
        "callbacks=gan",
        "logger=none",
        "discriminator.num_feat=8",
        run_dir=run,
    )
    with pytest.warns(UserWarning, match=r"val/lpips skipped: .*vgg16-397923af\.pth"):
        metrics = train(cfg)
    assert "val/lpips" not in metrics and "val/psnr_y" in metrics
    names = sorted(p.name for p in (run / "checkpoints").glob("*.ckpt"))
    assert names[0].startswith("best_0") and names[1] == "last.ckpt" and len(names) == 2
