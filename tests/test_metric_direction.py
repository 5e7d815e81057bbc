"""One source of truth for "higher is better": metric classes, checkpoint modes, sweeps, runs."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir

from restorelab.config import config_dir
from restorelab.errors import ConfigError
from restorelab.metric_direction import direction, higher_is_better, mode
from restorelab.metrics import PSNRY, SSIMY
from restorelab.metrics.lpips import LPIPS


def test_each_logged_metric_has_its_direction() -> None:
    for key in ("val/psnr_y", "val/psnr_y_bicubic", "test/ssim_y", "val/ssim_y_bicubic"):
        assert higher_is_better(key) and mode(key) == "max" and direction(key) == "maximize"
    for key in ("val/lpips", "train/loss", "train/l1", "train/loss_d", "train/perceptual"):
        assert not higher_is_better(key) and mode(key) == "min" and direction(key) == "minimize"
    with pytest.raises(ConfigError, match=r"^val/niqe: not known whether higher or lower"):
        higher_is_better("val/niqe")


def test_the_metric_classes_read_the_same_table() -> None:
    assert PSNRY.higher_is_better is True and SSIMY.higher_is_better is True
    assert LPIPS.higher_is_better is False


def test_checkpoint_modes_and_the_sweep_direction_follow_the_metric() -> None:
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        gan = compose("train", overrides=["callbacks=gan"])
        by_lpips = compose("train", overrides=["optimized_metric=val/lpips"])
        sweep = compose(
            "train",
            overrides=["hparams_search=optuna", "optimized_metric=val/lpips"],
            return_hydra_config=True,
        )
        default_sweep = compose(
            "train", overrides=["hparams_search=optuna"], return_hydra_config=True
        )
    assert gan.callbacks.model_checkpoint.mode == "max"  # val/psnr_y
    assert gan.callbacks.model_checkpoint_lpips.mode == "min"
    assert by_lpips.callbacks.model_checkpoint.mode == "min"
    assert sweep.hydra.sweeper.direction == "minimize"
    assert default_sweep.hydra.sweeper.direction == "maximize"
