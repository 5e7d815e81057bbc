"""A grid sweep through the real CLI: one run dir and one W&B run per job, failures isolated.

One 4-job multirun (``loss=l1,charbonnier`` x ``data.patch_size=32,30``; patch 30 is not
divisible by the scale, so two jobs fail at start-up) is shared by the tests below; a rerun from
a job's saved ``.hydra/config.yaml`` reproduces its metrics.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from restorelab.commands import runs
from restorelab.runs.wandb_offline import find_run_files, iter_records, read_config
from tests.helpers import run_cli

# Tiny jobs: 2 steps of a 2-conv network on 32 px patches, one validation image.
TINY_JOB = [
    "generator.num_feat=8",
    "generator.num_conv=2",
    "data.batch_size=2",
    "data.val_names=[coffee]",
    "trainer.max_steps=2",
    "trainer.val_check_interval=2",
    "trainer.precision=32-true",
    "trainer.max_time=null",
    "trainer.enable_model_summary=false",
    "trainer.enable_progress_bar=false",
    "trainer.log_every_n_steps=1",
    "callbacks=none",
]
HEX40 = re.compile(r"[0-9a-f]{40}")


def run_record(path: Path) -> Any:
    """The ``run`` record of an offline W&B file (group, job type, tags, notes, id)."""
    records = [r.run for r in iter_records(path) if r.WhichOneof("record_type") == "run"]
    assert records, path
    return records[0]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The shared 4-job sweep: its directory and the finished process."""
    root = tmp_path_factory.mktemp("grid")
    sweep_dir = root / "outputs" / "my_sweep"
    done = run_cli(
        "restorelab-train",
        "-m",
        "loss=l1,charbonnier",
        "data.patch_size=32,30",
        *TINY_JOB,
        "logger=default",
        f"hydra.sweep.dir={sweep_dir}",
        cwd=root,
    )
    return {"root": root, "dir": sweep_dir, "done": done}


def job_overrides(job: Path) -> list[str]:
    return yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text())


def test_each_job_has_its_own_run_dir_and_wandb_run(sweep: dict[str, Any]) -> None:
    done, sweep_dir = sweep["done"], sweep["dir"]
    jobs = sorted(p for p in sweep_dir.iterdir() if p.is_dir())
    assert [j.name for j in jobs] == ["0", "1", "2", "3"], done.stderr[-3000:]
    ok = [j for j in jobs if "data.patch_size=32" in job_overrides(j)]
    assert len(ok) == 2
    ids = set()
    for job in ok:
        files = find_run_files(job / "wandb")
        assert len(files) == 1, files  # exactly one W&B run per job, in its own run dir
        run = run_record(files[0])
        ids.add(run.run_id)
        assert run.run_group == "my_sweep"  # grouped by sweep name
        assert run.job_type == "train"
        loss = next(o for o in job_overrides(job) if o.startswith("loss="))
        assert "sr_x4_default" in run.tags  # the config's tags ...
        assert loss in run.tags  # ... plus the job's overrides
        assert loss in run.notes
        # the W&B config is the resolved Hydra config
        config = read_config(files[0])
        assert list(config["loss"]["terms"]) == [loss.split("=")[1]]
        assert config["generator"]["scale"] == 4  # resolved from ${data.scale}
        assert config["paths"]["output_dir"] == str(job)
    assert len(ids) == 2


def test_failed_jobs_are_reported_and_the_others_finish(sweep: dict[str, Any]) -> None:
    done, sweep_dir = sweep["done"], sweep["dir"]
    assert done.returncode == 1, done.stderr[-3000:]  # non-zero: a job failed
    for job in sorted(p for p in sweep_dir.iterdir() if p.is_dir()):
        status = json.loads((job / "run_status.json").read_text())
        if "data.patch_size=30" in job_overrides(job):
            assert status["status"] == "failed"
            assert status["error"] == "data.patch_size=30 is not divisible by data.scale=4"
            assert not (job / "metrics.json").exists()
            line = f"restorelab-train: error: job {job.name} ("
            assert any(
                ln.startswith(line) and ln.endswith(status["error"])
                for ln in done.stderr.splitlines()
            ), done.stderr[-3000:]
        else:
            assert status["status"] == "ok", status
            metrics = json.loads((job / "metrics.json").read_text())
            assert status["metric"] == pytest.approx(metrics["val/psnr_y"])
            assert metrics["step"] == 2
    # the end-of-sweep summary names both failed jobs
    logged = (done.stdout + done.stderr).splitlines()
    summary = [ln for ln in logged if "job(s) of the sweep failed" in ln]
    assert summary and "2 job(s)" in summary[0]


def test_runs_table_lists_the_sweep_and_marks_failures(
    sweep: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    outputs = sweep["root"] / "outputs"
    assert runs.run([str(outputs), "--format", "json", "--sort", "run"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["run"] for r in rows] == [f"my_sweep/{i}" for i in range(4)]
    assert {r["sweep"] for r in rows} == {"my_sweep"}
    by_status: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_status.setdefault(row["status"], []).append(row)
        # only the swept keys differ between the runs
        assert re.fullmatch(r"loss=\w+ data\.patch_size=3[02]", row["overrides"]), row
    assert len(by_status["ok"]) == 2 and len(by_status["failed"]) == 2
    for row in by_status["ok"]:
        metrics = json.loads((outputs / row["run"] / "metrics.json").read_text())
        assert row["final_psnr_y"] == pytest.approx(metrics["val/psnr_y"])
        assert row["best_psnr_y"] >= row["final_psnr_y"] - 1e-9
        assert row["steps"] == 2
        assert Path(row["checkpoint"]).is_file()
    for row in by_status["failed"]:
        assert "not divisible" in row["error"]
        assert row["final_psnr_y"] is None and row["checkpoint"] == ""

    assert runs.run([str(outputs), "--status", "failed", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and lines[0].startswith("run,sweep,status,overrides,best_psnr_y")


def test_run_dir_holds_what_reproduces_it(sweep: dict[str, Any]) -> None:
    job = sweep["dir"] / "0"
    info = json.loads((job / "run_info.json").read_text())
    assert HEX40.fullmatch(info["git_commit"])  # the tests run in a git checkout
    assert isinstance(info["git_dirty"], bool)
    if info["git_dirty"]:
        assert (job / info["git_diff"]).read_text().startswith("diff --git")
    versions = info["versions"]
    for name in ("torch", "lightning", "kornia", "restorelab"):
        assert versions[name], name
    import torch

    assert versions["torch"] == torch.__version__
    assert info["overrides"] == job_overrides(job)
    assert (job / ".hydra" / "config.yaml").is_file()


def test_rerun_from_the_saved_config_reproduces_the_run(sweep: dict[str, Any]) -> None:
    root, job = sweep["root"], sweep["dir"] / "0"
    done = run_cli(
        "restorelab-train", "--config-dir", str(job / ".hydra"), "--config-name", "config", cwd=root
    )
    assert done.returncode == 0, done.stderr[-3000:]
    match = re.search(r"^Run directory: (.+)$", done.stdout, re.M)
    assert match, done.stdout[-2000:]
    rerun = Path(match.group(1))
    # restorelab's own layout (RESTORELAB_OUTPUTS/train/runs/<time>), not Hydra's stock one
    assert rerun.parent == root / "outputs" / "train" / "runs"
    before = json.loads((job / "metrics.json").read_text())
    after = json.loads((rerun / "metrics.json").read_text())
    assert after["step"] == before["step"]
    for key in ("val/psnr_y", "val/ssim_y"):
        assert after[key] == pytest.approx(before[key], abs=1e-6), key
