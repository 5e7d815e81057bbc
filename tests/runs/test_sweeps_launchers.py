"""``launcher=local`` runs a sweep through submitit; ``launcher=slurm`` asks SLURM for what
Lightning's requeue needs (one task per GPU, SIGUSR1 before the time limit)."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
import submitit
from hydra import compose, initialize_config_dir
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
from lightning.fabric.plugins.environments import SLURMEnvironment
from lightning.pytorch import Trainer
from omegaconf import OmegaConf

from restorelab.config import config_dir
from tests.helpers import run_cli

SLURM = [
    "launcher=slurm",
    "trainer=ddp",
    "trainer.devices=4",
    "trainer.num_nodes=2",
    "hydra.launcher.partition=gpu",
    "hydra.launcher.timeout_min=600",
]


def sbatch_script(overrides: list[str], sweep_dir: Path) -> str:
    """The sbatch file Hydra's submitit launcher would submit for this config.

    The same parameter mapping as ``BaseSubmititLauncher.launch`` (generic keys as they are,
    the others prefixed ``slurm_``), rendered by submitit's own SLURM executor.
    """
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[*overrides, f"hydra.sweep.dir={sweep_dir}"],
            return_hydra_config=True,
        )
    params = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    assert isinstance(params, dict)
    assert params.pop("_target_").endswith("submitit_launcher.SlurmLauncher")
    executor = submitit.AutoExecutor(
        cluster="slurm",
        folder=params.pop("submitit_folder"),
        slurm_max_num_timeout=params.pop("max_num_timeout"),
    )
    generic = set(OmegaConf.structured(BaseQueueConf).keys())
    executor.update_parameters(
        **{k if k in generic else f"slurm_{k}": v for k, v in params.items()}
    )
    return executor._executor._make_submission_file_text("python -m job", "uid")


def test_slurm_launcher_requests_gpus_nodes_time_partition_and_the_requeue_signal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "srun").write_text("#!/bin/sh\nexit 1\n")  # submitit only checks it exists
    (fake / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}:{Path('/usr/bin')}:{Path('/bin')}")
    script = sbatch_script(SLURM, tmp_path / "sweep")
    lines = set(script.splitlines())
    for expected in (
        "#SBATCH --nodes=2",
        "#SBATCH --gpus-per-node=4",
        "#SBATCH --ntasks-per-node=4",  # one task per GPU: Lightning's SLURM layout
        "#SBATCH --partition=gpu",
        "#SBATCH --time=600",
        "#SBATCH --signal=USR1@120",  # not submitit's USR2: Lightning requeues on USR1
    ):
        assert expected in lines, (expected, script)
    assert f"{tmp_path / 'sweep'}/.submitit/" in script

    # under that job, Lightning detects SLURM and requeues on the signal asked for above
    for var, value in {
        "SLURM_NTASKS": "1",
        "SLURM_JOB_NAME": "train",
        "SLURM_JOB_ID": "1",
        "SLURM_PROCID": "0",
        "SLURM_LOCALID": "0",
        "SLURM_NODEID": "0",
        "SLURM_NODELIST": "node1",
    }.items():
        monkeypatch.setenv(var, value)
    trainer = Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False)
    env = trainer._accelerator_connector.cluster_environment
    assert isinstance(env, SLURMEnvironment)
    assert env.auto_requeue and env.requeue_signal == signal.SIGUSR1
    assert submitit.JobEnvironment.USR_SIG == "USR2"  # submitit's handler stays out of the way


def test_local_launcher_and_optuna_configs_compose() -> None:
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose("train", overrides=["launcher=local"], return_hydra_config=True)
        assert cfg.hydra.launcher._target_.endswith("submitit_launcher.LocalLauncher")
        assert cfg.hydra.launcher.timeout_min == 60
        cfg = compose("train", overrides=["hparams_search=optuna"], return_hydra_config=True)
        assert cfg.hydra.sweeper._target_.endswith("OptunaSweeper")
        assert cfg.hydra.sweeper.direction == "maximize"
        assert cfg.optimized_metric == "val/psnr_y"
        assert str(cfg.hydra.mode) == "RunMode.MULTIRUN"


@pytest.mark.slow
def test_local_launcher_runs_a_two_job_sweep(tmp_path: Path) -> None:
    sweep = tmp_path / "outputs" / "local"
    done = run_cli(
        "restorelab-train",
        "-m",
        "launcher=local",
        "generator.num_feat=8,12",
        "generator.num_conv=2",
        "data.batch_size=2",
        "data.patch_size=32",
        "data.val_names=[coffee]",
        "trainer.max_steps=2",
        "trainer.val_check_interval=2",
        "trainer.precision=32-true",
        "trainer.max_time=null",
        "trainer.enable_progress_bar=false",
        "logger=csv",
        "callbacks=none",
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
        timeout=600,
    )
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-3000:])
    pids = set()
    for job, width in (("0", "8"), ("1", "12")):
        status = json.loads((sweep / job / "run_status.json").read_text())
        assert status["status"] == "ok", status
        assert f"generator.num_feat={width}" in status["overrides"]
        pids.add(status["pid"])
        assert json.loads((sweep / job / "metrics.json").read_text())["step"] == 2
    assert len(pids) == 2  # each job ran in its own submitit process
    logs = list((sweep / ".submitit").rglob("*_log.out"))
    assert len(logs) == 2, logs
