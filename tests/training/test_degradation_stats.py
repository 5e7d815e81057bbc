"""The degradation-parameter summary a training run logs to W&B now and then."""

from __future__ import annotations

from pathlib import Path

import pytest

from restorelab.errors import ConfigError
from restorelab.runs.wandb_offline import find_run_files, read_history
from restorelab.training.callbacks import DegradationStatsLogger
from restorelab.training.fit import train
from tests.helpers import TINY

NOISE = [
    "+degradation.stages.noise._target_=restorelab.degradations.RandomNoise",
    "+degradation.stages.noise.sigma=[5,15]",
    "+degradation.stages.noise.gaussian_prob=1.0",
    "+degradation.stages.noise.gray_prob=0.0",
]


def test_training_logs_the_degradation_summary_to_wandb(compose_cfg, tmp_path: Path) -> None:
    run = tmp_path / "run"
    cfg = compose_cfg(
        *TINY,
        *NOISE,
        "logger=default",
        "callbacks=default",
        "callbacks.degradation_stats.every_n_steps=1",
        "~callbacks.image_grid",
        run_dir=run,
    )
    train(cfg)
    files = find_run_files(run / "wandb")
    assert len(files) == 1
    logged = [h for h in read_history(files[0]) if "degradation/noise/sigma" in h]
    assert len(logged) == 2  # every step of the 2-step run
    for entry in logged:
        assert 5 <= entry["degradation/noise/sigma"] <= 15
        assert entry["degradation/noise/kind/gaussian"] == 1.0
        assert entry["degradation/noise/applied"] == 1.0
        assert entry["degradation/noise/gray"] == 0.0
    assert logged[0]["degradation/noise/sigma"] != logged[1]["degradation/noise/sigma"]


def test_every_n_steps_must_be_positive() -> None:
    with pytest.raises(ConfigError, match=r"every_n_steps must be an integer >= 1, got 0"):
        DegradationStatsLogger(every_n_steps=0)
