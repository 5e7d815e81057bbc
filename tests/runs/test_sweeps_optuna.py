"""``hparams_search=optuna``: trials complete, the best one is reported, the study resumes."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
from omegaconf import OmegaConf

from tests.helpers import TINY_TRIAL, run_cli

SEARCHED = {"loss.terms.fft.weight", "optimizer.generator.lr", "generator.num_feat"}


def test_optuna_trials_best_overrides_and_resume(tmp_path: Path) -> None:
    first = tmp_path / "outputs" / "search1"
    done = run_cli(
        "restorelab-train",
        "hparams_search=optuna",  # the config sets hydra.mode=MULTIRUN: no -m needed
        "hydra.sweeper.n_trials=3",
        *TINY_TRIAL,
        f"hydra.sweep.dir={first}",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]

    # the study lives in a SQLite file next to the runs, not in the sweep dir
    db = tmp_path / "outputs" / "optuna" / "train_optuna.db"
    storage = f"sqlite:///{db}"
    study = optuna.load_study(study_name="train_optuna", storage=storage)
    trials = study.trials
    assert len(trials) == 3
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    for trial in trials:  # each trial is an ordinary run whose metric Optuna recorded
        job = first / str(trial.number)
        metrics = json.loads((job / "metrics.json").read_text())
        assert trial.value == pytest.approx(metrics["val/psnr_y"])
        overrides = OmegaConf.load(job / ".hydra" / "overrides.yaml")
        assert "loss=l1_fft" in overrides
        for name, value in trial.params.items():
            assert f"{name}={value}" in overrides, (name, value, overrides)

    # the best trial's overrides are reported in optimization_results.yaml ...
    results = OmegaConf.to_container(OmegaConf.load(first / "optimization_results.yaml"))
    assert isinstance(results, dict)
    best = max(trials, key=lambda t: t.value)
    assert results["best_value"] == pytest.approx(best.value)
    assert set(results["best_params"]) == SEARCHED
    assert results["best_params"] == best.params
    # ... and printed when the sweep ends
    assert "best trial: value=" in done.stdout + done.stderr

    # the same command again continues the same study
    second = tmp_path / "outputs" / "search2"
    again = run_cli(
        "restorelab-train",
        "-m",
        "hparams_search=optuna",
        "hydra.sweeper.n_trials=1",
        *TINY_TRIAL,
        f"hydra.sweep.dir={second}",
        cwd=tmp_path,
    )
    assert again.returncode == 0, again.stderr[-3000:]
    study = optuna.load_study(study_name="train_optuna", storage=storage)
    assert len(study.trials) == 4
    assert [t.number for t in study.trials] == [0, 1, 2, 3]
    assert "Using an existing study" in again.stdout + again.stderr
