"""A requeued SLURM job continues its run: latest state, same directory, same W&B run.

The requeue is simulated end to end through the real CLI: SLURM's environment variables make
Lightning pick its ``SLURMEnvironment``; SIGUSR1 makes its handler save ``hpc_ckpt_1.ckpt`` and
call ``scontrol requeue`` (a fake one on ``PATH`` records the call); SIGKILL ends the job as
SLURM would; the second start is the same command line with the same job id, as SLURM reruns
it. The job starts from another run's checkpoint (``ckpt_path=``), where the requeue used to
restart.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
import torch

from restorelab.runs.requeue import latest_state, requeue_overrides, slurm_job_id
from restorelab.weights import load_checkpoint
from tests.helpers import COMMON, fake_scontrol, ok, train_cli

#: A one-task SLURM batch job, as ``sbatch`` (or submitit) starts it.
SLURM = {
    "SLURM_JOB_ID": "4242",
    "SLURM_JOB_NAME": "train",
    "SLURM_NTASKS": "1",
    "SLURM_NTASKS_PER_NODE": "1",
    "SLURM_NNODES": "1",
    "SLURM_PROCID": "0",
    "SLURM_LOCALID": "0",
    "SLURM_NODEID": "0",
    "SLURM_NODELIST": "localhost",
}
#: Every CSV row written when logged, so the logs compare byte for byte.
RUN = [*COMMON, "+logger.csv.flush_logs_every_n_steps=1", "trainer.max_steps=6"]


def generator_and_optimizer(path: Path) -> tuple[dict[str, torch.Tensor], list[torch.Tensor]]:
    ckpt = load_checkpoint(path)
    weights = {k: v for k, v in ckpt["state_dict"].items() if k.startswith("generator.")}
    moments = [
        t
        for s in ckpt["optimizer_states"][0]["state"].values()
        for t in (s["exp_avg"], s["exp_avg_sq"])
    ]
    return weights, moments


@pytest.mark.slow
def test_a_requeued_job_continues_from_its_hpc_checkpoint_in_its_run(tmp_path: Path) -> None:
    start = tmp_path / "start"  # the checkpoint the job fine-tunes from
    ok(
        train_cli(
            [*COMMON, "logger=none", "trainer.max_steps=2", f"hydra.run.dir={start}"], tmp_path
        )
    )
    job = [*RUN, f"ckpt_path={start / 'checkpoints' / 'last.ckpt'}"]
    full = tmp_path / "full"
    ok(train_cli([*job, "logger=csv", f"hydra.run.dir={full}"], tmp_path))

    run = tmp_path / "job"
    calls = fake_scontrol(tmp_path / "bin")
    env = {**SLURM, "PATH": f"{calls.parent}{os.pathsep}{os.environ['PATH']}"}
    command = [
        *job,
        f"hydra.run.dir={run}",
        "+callbacks.requeue._target_=tests.helpers.RequeueAtStep",
        "+callbacks.requeue.step=5",  # SIGUSR1 after step 5, SIGKILL after step 6
    ]
    first = train_cli(command, tmp_path, env=env)
    assert first.returncode == -signal.SIGKILL, first.stderr[-3000:]
    assert calls.read_text() == "requeue 4242\n"  # Lightning asked SLURM to requeue this job
    assert load_checkpoint(run / "hpc_ckpt_1.ckpt")["global_step"] == 5
    assert load_checkpoint(run / "checkpoints" / "last.ckpt")["global_step"] == 4
    first_status = json.loads((run / "run_status.json").read_text())

    second = ok(train_cli(command, tmp_path, env={**env, "SLURM_RESTART_COUNT": "1"}))
    assert (
        f"SLURM job 4242 requeued: continuing {run} with ckpt_path={run / 'hpc_ckpt_1.ckpt'}"
        in (second.stdout)
    )
    assert "resume at step 5" in second.stdout
    # spent once fit ended (under SLURM, validate would have scored its weights, not the last)
    assert not list(run.glob("hpc_ckpt_*.ckpt"))
    # the same run: its run_info.json gains a record, its status keeps its start
    info = json.loads((run / "run_info.json").read_text())
    assert info["slurm_job_id"] == "4242"
    (again,) = info["resumed"]
    assert again["slurm_job_id"] == "4242"
    assert again["requeue"]["ckpt_path"] == str(run / "hpc_ckpt_1.ckpt")
    status = json.loads((run / "run_status.json").read_text())
    assert status["status"] == "ok" and status["started"] == first_status["started"]
    # the same W&B run: a second offline directory with the first one's id
    dirs = sorted((run / "wandb").glob("offline-run-*"))
    ids = {d.name.rsplit("-", 1)[1] for d in dirs}
    assert len(dirs) == 2 and len(ids) == 1
    assert again["requeue"]["logger.wandb.id"] == ids.pop()

    # from its latest state: the run ends as the job uninterrupted, bit for bit
    weights_a, moments_a = generator_and_optimizer(full / "checkpoints" / "last.ckpt")
    weights_b, moments_b = generator_and_optimizer(run / "checkpoints" / "last.ckpt")
    assert weights_a.keys() == weights_b.keys() and weights_a
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)
    assert all(torch.equal(a, b) for a, b in zip(moments_a, moments_b, strict=True))
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics == json.loads((full / "metrics.json").read_text()) and metrics["step"] == 6
    assert (run / "csv" / "metrics.csv").read_bytes() == (full / "csv" / "metrics.csv").read_bytes()


# ------------------------------------------------------------------------ the pieces, fast
def test_the_job_id_survives_a_requeue_and_interactive_shells_are_not_jobs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_JOB_NAME"):
        monkeypatch.delenv(name, raising=False)
    assert slurm_job_id() is None
    monkeypatch.setenv("SLURM_JOB_ID", "99")
    assert slurm_job_id() == "99"
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "90")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "2")
    assert slurm_job_id() == "90_2"  # what Lightning passes to scontrol requeue
    monkeypatch.setenv("SLURM_JOB_NAME", "interactive")
    assert slurm_job_id() is None


def test_the_latest_state_is_the_newest_checkpoint(tmp_path: Path) -> None:
    assert latest_state(tmp_path) is None
    (tmp_path / "checkpoints").mkdir()
    last = tmp_path / "checkpoints" / "last.ckpt"
    hpc = tmp_path / "hpc_ckpt_1.ckpt"
    for path, when in ((last, 2_000), (hpc, 1_000)):
        torch.save({"global_step": when}, path)
        os.utime(path, (when, when))
    assert latest_state(tmp_path) == last  # trained on after the HPC checkpoint it resumed
    os.utime(hpc, (3_000, 3_000))
    assert latest_state(tmp_path) == hpc
    assert requeue_overrides({"logger": None}, tmp_path) == {"ckpt_path": str(hpc)}
