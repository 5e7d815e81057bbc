"""restorelab-eval end to end: the field's convention against independent reference values."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from restorelab.errors import ConfigError
from restorelab.training.evaluate import evaluate
from restorelab.training.fit import train
from tests.helpers import REFERENCE, REFERENCE_GT, TINY, copy_reference_gt

CONVENTIONS = json.loads((REFERENCE / "conventions.json").read_text())["metrics"]
# per image: the reference pair whose sr is MATLAB bicubic x4 of that ground truth
EXPECTED = {
    "gt_astronaut_96": CONVENTIONS["bicubic_vs_gt_crop4"],
    "gt_camera_96_gray": CONVENTIONS["gray_bicubic_vs_gt_crop4"],
}


@pytest.fixture
def test_dir(tmp_path: Path) -> Path:
    """A folder with a colour and a grayscale ground truth, as benchmark sets mix them."""
    assert set(EXPECTED) == set(REFERENCE_GT)
    return copy_reference_gt(tmp_path / "images")


def check_report(report: dict[str, Any], scale: int) -> None:
    """The report contract of DESIGN.md, and the mean being the mean over images."""
    assert {"psnr_y", "ssim_y", "scale", "images"} <= set(report)
    assert report["scale"] == scale
    images = report["images"]
    assert sorted(im["name"] for im in images) == sorted(EXPECTED)
    for im in images:
        assert set(im) == {"name", "psnr_y", "ssim_y"}
        assert isinstance(im["psnr_y"], float) and isinstance(im["ssim_y"], float)
    assert report["psnr_y"] == pytest.approx(sum(im["psnr_y"] for im in images) / len(images))
    assert report["ssim_y"] == pytest.approx(sum(im["ssim_y"] for im in images) / len(images))


def check_reference_values(report: dict[str, Any]) -> None:
    for im in report["images"]:
        ref = EXPECTED[im["name"]]
        assert im["psnr_y"] == pytest.approx(ref["psnr_y"], abs=1e-3), im["name"]
        assert im["ssim_y"] == pytest.approx(ref["ssim_y"], abs=1e-4), im["name"]


def test_bicubic_baseline_matches_the_reference_values(compose_cfg, test_dir, tmp_path) -> None:
    out = tmp_path / "reports" / "bicubic.json"
    cfg = compose_cfg(
        "generator=bicubic",
        "data=folder",
        f"data.test_dir={test_dir}",
        "data.scale=4",
        "data.num_workers=0",
        f"report={out}",
        config_name="eval",
    )
    report = evaluate(cfg)
    assert json.loads(out.read_text()) == report
    check_report(report, scale=4)
    # astronaut on Y; the grayscale camera on its single channel (not RGB -> Y)
    check_reference_values(report)


def test_cli_contract_from_another_working_directory(test_dir: Path, tmp_path: Path) -> None:
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    env = {**os.environ, "WANDB_MODE": "offline"}
    exe = Path(sys.executable).with_name("restorelab-eval")
    cmd = [
        str(exe) if exe.exists() else "restorelab-eval",
        "generator=bicubic",
        "data=folder",
        f"data.test_dir={test_dir}",
        "data.scale=4",
        "report=OUT.json",  # relative: to the directory the command runs from
    ]
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((cwd / "OUT.json").read_text())
    check_report(report, scale=4)
    check_reference_values(report)
    assert "PSNR-Y 25.92 dB" in done.stdout


def test_nothing_to_evaluate_is_a_config_error(compose_cfg, test_dir) -> None:
    cfg = compose_cfg(f"data.test_dir={test_dir}", config_name="eval")
    with pytest.raises(ConfigError, match="set ckpt_path=CKPT or generator=bicubic"):
        evaluate(cfg)


def test_trained_checkpoint_is_scored_and_scale_mismatch_is_refused(
    compose_cfg, test_dir, tmp_path
) -> None:
    run = tmp_path / "run"
    train(compose_cfg(*TINY, "logger=none", "callbacks=default", run_dir=run))
    ckpt = run / "checkpoints" / "last.ckpt"
    out = tmp_path / "ckpt_report.json"
    report = evaluate(
        compose_cfg(
            f"ckpt_path={ckpt}",
            f"data.test_dir={test_dir}",
            "data.scale=4",
            "data.num_workers=0",
            f"report={out}",
            config_name="eval",
            run_dir=tmp_path / "eval_run",
        )
    )
    check_report(report, scale=4)
    assert json.loads(out.read_text())["scale"] == 4
    assert all(0 < im["psnr_y"] < 60 and 0 < im["ssim_y"] <= 1 for im in report["images"])

    mismatch = compose_cfg(
        f"ckpt_path={ckpt}",
        f"data.test_dir={test_dir}",
        "data.scale=2",
        f"report={tmp_path / 'x2.json'}",
        config_name="eval",
        run_dir=tmp_path / "eval_x2",
    )
    with pytest.raises(ConfigError, match=r"generator\.scale=4 .*data\.scale=2"):
        evaluate(mismatch)
    assert not (tmp_path / "x2.json").exists()
