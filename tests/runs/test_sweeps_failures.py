"""``run_job``: a diverged run (NaN) fails with one line; the status file records every outcome.

When the status file cannot be written after a failure (disk full), the run's own error is
still what is raised and reported, with a warning that names run_status.json.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from restorelab.errors import ConfigError
from restorelab.runs import info
from restorelab.runs.job import run_job
from restorelab.training.fit import train
from tests.helpers import TINY


def status_of(run: Path) -> dict:
    return json.loads((run / "run_status.json").read_text())


def test_a_nan_loss_fails_the_run_with_one_line(compose_cfg, tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    cfg = compose_cfg(*TINY, "logger=none", "callbacks=none", "loss.terms.l1.weight=nan")
    with pytest.raises(SystemExit) as info:
        run_job("restorelab-train", train, cfg, run)
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    status = status_of(run)
    assert status["status"] == "failed" and "non-finite" in status["error"]
    assert err == f"restorelab-train: error: {status['error']}"
    assert status["ended"] and status["wall_time_s"] > 0
    assert (run / "run_info.json").is_file()
    assert not (run / "metrics.json").exists()


def test_a_nan_metric_fails_the_run(tmp_path: Path, capsys) -> None:
    """A run that ends with a non-finite metric (e.g. NaN batches skipped) is not a success."""
    cfg = OmegaConf.create({"optimized_metric": "val/psnr_y"})
    with pytest.raises(SystemExit) as info:
        run_job("p", lambda c: {"val/psnr_y": math.nan}, cfg, tmp_path)
    assert info.value.code == 2
    message = "val/psnr_y is nan: training diverged (non-finite loss or weights)"
    assert capsys.readouterr().err.strip() == f"p: error: {message}"
    assert status_of(tmp_path)["error"] == message


def test_ok_and_error_outcomes_are_recorded(tmp_path: Path, capsys) -> None:
    cfg = OmegaConf.create({"optimized_metric": "val/psnr_y", "task_name": "train"})

    assert run_job("p", lambda c: {"val/psnr_y": 30.5}, cfg, tmp_path / "ok") == 30.5
    assert status_of(tmp_path / "ok")["status"] == "ok"
    assert status_of(tmp_path / "ok")["metric"] == 30.5
    assert run_job("p", lambda c: {"val/ssim_y": 0.5}, cfg, tmp_path / "none") is None

    def bad(c):
        raise ConfigError("data.scale=3 does not match generator scale 4")

    with pytest.raises(SystemExit):
        run_job("p", bad, cfg, tmp_path / "bad")
    assert capsys.readouterr().err.strip() == (
        "p: error: data.scale=3 does not match generator scale 4"
    )
    assert status_of(tmp_path / "bad")["error"] == "data.scale=3 does not match generator scale 4"

    def crash(c):
        raise RuntimeError("out of memory\nmore detail")

    with pytest.raises(RuntimeError):  # a bug keeps its traceback outside a sweep
        run_job("p", crash, cfg, tmp_path / "crash")
    assert status_of(tmp_path / "crash")["error"] == "RuntimeError: out of memory"

    def interrupted(c):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_job("p", interrupted, cfg, tmp_path / "ctrl_c")
    assert status_of(tmp_path / "ctrl_c")["error"] == "interrupted"


@pytest.mark.parametrize("fail", ["config_error", "crash"])
def test_a_full_disk_for_run_status_keeps_the_runs_own_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, fail: str
) -> None:
    """Writing ``failed`` into run_status.json hits ENOSPC: the run's error is still the one
    raised and reported, with a warning naming run_status.json."""
    real_write = info.atomic_write_text

    def full_disk(path: Path, text: str, *args, **kwargs) -> None:
        if Path(path).name == "run_status.json" and '"failed"' in text:
            raise OSError(28, "No space left on device")
        real_write(path, text, *args, **kwargs)

    monkeypatch.setattr(info, "atomic_write_text", full_disk)
    cfg = OmegaConf.create({"optimized_metric": "val/psnr_y", "task_name": "train"})
    run = tmp_path / "run"
    warning = (
        f"p: warning: could not record the failure in {run / 'run_status.json'}: "
        "No space left on device"
    )

    def bad(c):
        if fail == "crash":
            raise RuntimeError("out of memory")
        raise ConfigError("data.scale=3 does not match generator scale 4")

    if fail == "crash":
        with pytest.raises(RuntimeError, match="out of memory"):  # not the OSError
            run_job("p", bad, cfg, run)
        assert capsys.readouterr().err.strip().splitlines() == [warning]
    else:
        with pytest.raises(SystemExit) as raised:
            run_job("p", bad, cfg, run)
        assert raised.value.code == 2
        assert capsys.readouterr().err.strip().splitlines() == [
            warning,
            "p: error: data.scale=3 does not match generator scale 4",
        ]
    assert status_of(run)["status"] == "running"  # the last state that could be written
