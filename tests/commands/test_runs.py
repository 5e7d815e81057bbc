"""``restorelab-runs`` on hand-made run directories: columns, sorting, formats, status, errors."""

from __future__ import annotations

import csv
import io
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from restorelab.commands import runs
from restorelab.runs.info import RunStatus, rerun_argv


def make_run(
    root: Path,
    name: str,
    overrides: list[str],
    vals: list[tuple[int, float, float]] | None = None,
    status: dict | None = None,
) -> Path:
    """A run dir like restorelab-train writes: overrides, CSV log, metrics.json, status."""
    run = root / name
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    if vals:
        (run / "csv").mkdir()
        lines = ["epoch,step,train/loss,val/psnr_y,val/ssim_y"]
        for step, psnr, ssim in vals:
            lines.append(f"0,{step - 1},0.1,,")
            lines.append(f"0,{step},,{psnr},{ssim}")
        (run / "csv" / "metrics.csv").write_text("\n".join(lines) + "\n")
        step, psnr, ssim = vals[-1]
        final = {"val/psnr_y": psnr, "val/ssim_y": ssim, "step": step}
        (run / "metrics.json").write_text(json.dumps(final))
        (run / "checkpoints").mkdir()
        (run / "checkpoints" / "last.ckpt").write_bytes(b"x")
        (run / "checkpoints" / f"best_{step:07d}.ckpt").write_bytes(b"x")
    if status is not None:
        (run / "run_status.json").write_text(json.dumps(status))
    return run


def ok_status(started: str, wall: float) -> dict:
    return {"status": "ok", "started": started, "wall_time_s": wall, "error": None}


@pytest.fixture
def outputs(tmp_path: Path) -> Path:
    root = tmp_path / "outputs"
    make_run(
        root,
        "a",
        ["generator=compact", "seed=1", "hydra.run.dir=x"],
        [(10, 25.0, 0.70), (20, 26.5, 0.72), (30, 26.0, 0.74)],
        ok_status("2026-01-01T10:00:00+00:00", 75.5),
    )
    make_run(
        root,
        "b",
        ["generator=rrdbnet", "seed=1"],
        [(10, 27.25, 0.75)],
        ok_status("2026-01-01T09:00:00+00:00", 12.0),
    )
    make_run(
        root,
        "c",
        ["generator=edsr", "seed=1", "loss=charbonnier"],
        status={
            "status": "failed",
            "started": "2026-01-01T11:00:00+00:00",
            "wall_time_s": 0.5,
            "error": "data.patch_size=30 is not divisible by data.scale=4",
        },
    )
    return root


def rows_json(args: list[str], capsys: pytest.CaptureFixture[str]) -> list[dict]:
    assert runs.run([*args, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_columns_best_final_and_differing_overrides(outputs: Path, capsys) -> None:
    rows = rows_json([str(outputs)], capsys)
    assert [r["run"] for r in rows] == ["b", "a", "c"]  # default: by start time
    a = rows[1]
    assert a["best_psnr_y"] == 26.5 and a["final_psnr_y"] == 26.0  # best from the CSV log
    assert a["best_ssim_y"] == 0.74 and a["final_ssim_y"] == 0.74
    assert a["steps"] == 30 and a["wall_time_s"] == 75.5 and a["status"] == "ok"
    assert a["checkpoint"] == str(outputs / "a" / "checkpoints" / "best_0000030.ckpt")
    # seed=1 is the same everywhere and hydra.* is Hydra's own: neither is shown
    assert [r["overrides"] for r in rows] == [
        "generator=rrdbnet",
        "generator=compact",
        "generator=edsr loss=charbonnier",
    ]
    c = rows[2]
    assert c["status"] == "failed" and "not divisible" in c["error"]
    assert c["best_psnr_y"] is None and c["checkpoint"] == ""


def test_sort_and_reverse_put_missing_values_last(outputs: Path, capsys) -> None:
    rows = rows_json([str(outputs), "--sort", "best_psnr_y", "--reverse"], capsys)
    assert [r["run"] for r in rows] == ["b", "a", "c"]
    rows = rows_json([str(outputs), "--sort", "best_psnr_y"], capsys)
    assert [r["run"] for r in rows] == ["a", "b", "c"]


def test_csv_markdown_and_table_formats(outputs: Path, capsys) -> None:
    assert runs.run([str(outputs), "--format", "csv", "--sort", "run"]) == 0
    parsed = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["run"] for r in parsed] == ["a", "b", "c"]
    assert float(parsed[0]["best_psnr_y"]) == 26.5 and parsed[2]["status"] == "failed"

    assert runs.run([str(outputs), "--format", "markdown", "--sort", "run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("| run | sweep | status | overrides | best_psnr_y")
    assert lines[2].startswith("| a | - | ok | generator=compact | 26.50 | 26.00 | 0.7400 |")
    assert "1m15.5s" in lines[2]
    assert lines[4].endswith("| data.patch_size=30 is not divisible by data.scale=4 |")

    assert runs.run([str(outputs), "--sort", "run"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:4] == ["run", "sweep", "status", "overrides"]
    assert table[3].split()[:3] == ["c", "-", "failed"]


def test_status_filter_and_sweep_column(tmp_path: Path, capsys) -> None:
    root = tmp_path / "out"
    sweep = root / "train" / "multiruns" / "s1"
    make_run(sweep, "0", ["lr=1"], [(5, 20.0, 0.5)], ok_status("2026-01-01T00:00:00+00:00", 1))
    moved = {"status": "failed", "error": "boom", "started": "x", "sweep_dir": "/elsewhere/s1"}
    make_run(sweep, "1", ["lr=2"], status=moved)  # a sweep copied from another machine
    (sweep / "multirun.yaml").write_text("{}\n")
    rows = rows_json([str(root), "--status", "failed"], capsys)
    assert len(rows) == 1 and rows[0]["run"] == "train/multiruns/s1/1"
    assert rows[0]["sweep"] == "train/multiruns/s1" and rows[0]["error"] == "boom"


def test_a_killed_run_is_failed_and_a_live_one_running(tmp_path: Path, capsys) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = socket.gethostname()
    make_run(tmp_path, "killed", [], status={"status": "running", "pid": dead.pid, "host": host})
    RunStatus(tmp_path / "live")  # this process: alive
    rows = {r["run"]: r for r in rows_json([str(tmp_path)], capsys)}
    assert rows["killed"]["status"] == "failed"
    assert f"process {dead.pid} ended" in rows["killed"]["error"]
    assert rows["live"]["status"] == "running"


def test_bad_input_is_one_line(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as info:
        runs.main([str(tmp_path / "missing")])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err == f"restorelab-runs: error: no such directory: {tmp_path / 'missing'}"

    make_run(tmp_path, "r", ["a=1"], [(1, 20.0, 0.5)])
    with pytest.raises(SystemExit) as info:
        runs.main([str(tmp_path), "--sort", "nope"])
    assert info.value.code == 2
    assert "--sort nope: no such column" in capsys.readouterr().err

    assert runs.run([str(tmp_path / "r" / "csv")]) == 0  # a dir without runs: a message
    assert capsys.readouterr().err.startswith("no runs under")


def test_rerun_argv_adds_restorelab_hydra_settings(tmp_path: Path) -> None:
    saved = tmp_path / ".hydra"
    saved.mkdir()
    (saved / "config.yaml").write_text("seed: 1\n")
    argv = ["restorelab-train", "--config-dir", str(saved), "--config-name", "config"]
    assert rerun_argv(argv) == [*argv, "+hydra=default"]
    assert rerun_argv([*argv, "hydra=default"]) == [*argv, "hydra=default"]
    assert rerun_argv(["restorelab-train", "seed=3"]) == ["restorelab-train", "seed=3"]
    (saved / "own.yaml").write_text("defaults:\n  - _self_\nseed: 1\n")
    own = ["restorelab-train", f"--config-dir={saved}", "-cn", "own"]
    assert rerun_argv(own) == own  # a config with its own defaults list is left alone


def gan_run(root: Path, name: str, lpips: list[float]) -> Path:
    """A run whose CSV log holds one ``val/psnr_y`` and ``val/lpips`` per validation."""
    run = root / name
    (run / "csv").mkdir(parents=True)
    lines = ["epoch,step,val/psnr_y,val/lpips"]
    lines += [f"0,{10 * (i + 1)},{24.0 + i},{v}" for i, v in enumerate(lpips)]
    (run / "csv" / "metrics.csv").write_text("\n".join(lines) + "\n")
    final = {"val/psnr_y": 24.0 + len(lpips) - 1, "val/lpips": lpips[-1], "step": 10 * len(lpips)}
    (run / "metrics.json").write_text(json.dumps(final))
    return run


def test_best_follows_each_metrics_direction_and_the_header_says_it(tmp_path, capsys) -> None:
    gan_run(tmp_path, "g", [0.30, 0.18, 0.25])
    args = [str(tmp_path), "--metrics", "val/psnr_y", "val/lpips"]
    (row,) = rows_json(args, capsys)
    assert row["best_psnr_y"] == 26.0 and row["final_psnr_y"] == 26.0
    assert row["best_lpips"] == 0.18 and row["final_lpips"] == 0.25  # lower is better
    assert runs.run([*args, "--format", "markdown"]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert "| best_psnr_y (max) | final_psnr_y | best_lpips (min) | final_lpips |" in header
    assert runs.run(args) == 0
    assert "best_psnr_y (max)" in capsys.readouterr().out.splitlines()[0]


def test_a_metric_of_unknown_direction_is_refused_unless_declared(tmp_path, capsys) -> None:
    run = gan_run(tmp_path, "g", [0.3, 0.2])
    (run / "csv" / "metrics.csv").write_text("epoch,step,val/niqe\n0,10,5.0\n0,20,4.0\n0,30,4.5\n")
    with pytest.raises(SystemExit) as info:
        runs.main([str(tmp_path), "--metrics", "val/niqe"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("restorelab-runs: error: --metrics val/niqe: not known whether higher")
    assert err.endswith("add :max or :min, e.g. val/niqe:min")
    (row,) = rows_json([str(tmp_path), "--metrics", "val/niqe:min"], capsys)
    assert row["best_niqe"] == 4.0
    (row,) = rows_json([str(tmp_path), "--metrics", "val/niqe:max"], capsys)
    assert row["best_niqe"] == 5.0
