"""A SLURM job that was requeued continues its run: latest state, same directory, same W&B run.

How a requeue happens: SLURM sends SIGUSR1 before it stops a job (``conf/launcher/slurm.yaml``);
Lightning's ``SLURMEnvironment`` handler flushes the loggers, saves
``<trainer.default_root_dir>/hpc_ckpt_<n>.ckpt`` (the run directory) and calls ``scontrol
requeue <job id>``. SLURM then starts the same job again, with the same job id: submitit reruns
the pickled Hydra job (the same run directory), ``sbatch`` the same command line.

Lightning resumes from its HPC checkpoint by itself only when ``fit`` gets no ``ckpt_path``; a
job started with ``ckpt_path=`` (fine-tuning) or ``resume=RUN`` restarted from that path, and
``run_info.json`` was rewritten as a fresh run with a new W&B run. Here a requeue is recognised
by its job id (:func:`slurm_job_id`, recorded in every invocation's ``run_info.json`` record) and
:func:`requeue_overrides` points the config at the run's latest state (the newest of its HPC
checkpoints and ``checkpoints/last.ckpt``) and at its W&B run; :func:`restorelab.runs.job.run_job`
applies them, prints them and records them in ``run_info.json``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from restorelab.runs.info import RUN_INFO, read_json

#: Lightning's HPC checkpoints in the run directory (``hpc_ckpt_<n>.ckpt``).
HPC_PATTERN = "hpc_ckpt_*.ckpt"
LAST = Path("checkpoints") / "last.ckpt"
#: Job names under which Lightning does not treat the allocation as a SLURM job.
INTERACTIVE_NAMES = ("bash", "interactive")


def slurm_job_id() -> str | None:
    """The id SLURM keeps when it requeues this job; ``None`` outside a SLURM batch job.

    An array task is ``<SLURM_ARRAY_JOB_ID>_<SLURM_ARRAY_TASK_ID>`` (what ``scontrol requeue``
    is given), anything else ``SLURM_JOB_ID``. Like Lightning, an interactive allocation
    (job name ``bash`` or ``interactive``) is not a SLURM job.
    """
    if os.environ.get("SLURM_JOB_NAME") in INTERACTIVE_NAMES:
        return None
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if array and task:
        return f"{array}_{task}"
    return os.environ.get("SLURM_JOB_ID") or None


def recorded_job_ids(run_dir: Path) -> set[str]:
    """The SLURM job ids of the invocations recorded in ``run_dir/run_info.json``."""
    info = read_json(run_dir / RUN_INFO) or {}
    records = [info, *(r for r in info.get("resumed") or [] if isinstance(r, dict))]
    return {str(r["slurm_job_id"]) for r in records if r.get("slurm_job_id")}


def is_requeue(run_dir: Path) -> bool:
    """True when this process is a SLURM job that already ran in ``run_dir`` (a requeue)."""
    job = slurm_job_id()
    return job is not None and job in recorded_job_ids(run_dir)


def latest_state(run_dir: Path) -> Path | None:
    """The newest checkpoint of ``run_dir``: an HPC checkpoint or ``checkpoints/last.ckpt``.

    Both are written atomically and only by this run, so the newest file is its latest state
    (a job requeued a second time may have written ``last.ckpt`` after the HPC checkpoint it
    continued from).
    """
    found = [p for p in [*run_dir.glob(HPC_PATTERN), run_dir / LAST] if p.is_file()]
    return max(found, key=lambda p: p.stat().st_mtime_ns) if found else None


def requeue_overrides(cfg: Any, run_dir: Path) -> dict[str, Any]:
    """Config keys (dotted) that continue ``run_dir`` from its latest state; ``{}`` if none.

    ``ckpt_path`` is the latest state; with a W&B logger whose ``id`` is not set, ``id`` is the
    run's (from that checkpoint, else ``RUN/wandb/``) and ``resume`` is ``allow``.
    """
    state = latest_state(run_dir)
    if state is None:
        return {}
    out: dict[str, Any] = {"ckpt_path": str(state)}
    logger = cfg.get("logger") or {}
    wandb_cfg = logger.get("wandb") if hasattr(logger, "get") else None
    if wandb_cfg is not None and not wandb_cfg.get("id"):
        from restorelab.runs.resume import wandb_run_id
        from restorelab.weights import load_checkpoint

        run_id = wandb_run_id(run_dir, load_checkpoint(state))
        if run_id:
            out.update({"logger.wandb.id": run_id, "logger.wandb.resume": "allow"})
    return out
