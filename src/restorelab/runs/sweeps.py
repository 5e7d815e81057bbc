"""One ``restorelab-train`` job inside a Hydra sweep: status, failure isolation, W&B grouping.

Hydra's sweepers stop a multirun at the first failed job (the basic sweeper re-raises the job's
exception after the batch, the Optuna sweeper once failures pass ``max_failure_rate``, and a
``SystemExit`` from a job ends the whole process at once). A sweep of twenty jobs should not be
lost to one bad learning rate, so :func:`run_job` catches a job's error *inside* the task
function when Hydra runs a multirun: the error is printed with the job's overrides, written to
``<run>/run_status.json`` (``restorelab-runs`` shows it as ``failed``) and the job returns no
metric (Optuna records the trial as failed). :class:`SweepReport`, a Hydra callback, lists the
failed jobs when the sweep ends and :func:`exit_code` makes the command exit non-zero.

A run whose optimized metric comes out non-finite (NaN loss, diverged weights) counts as failed.
Composition errors (an unknown key or group option) are not job failures: Hydra checks every
job's config before the first one starts and stops the sweep with its own message.

The OmegaConf resolvers here feed the W&B logger config: ``${rl.sweep_group:}`` (the sweep
directory's name inside a multirun, so every job of a sweep lands in one W&B group),
``${rl.run_tags:${tags}}`` (config tags plus the job's overrides) and ``${rl.run_notes:}``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from restorelab.runs.info import (
    RUN_STATUS,
    now_iso,
    read_json,
)

log = logging.getLogger(__name__)

#: W&B refuses tags longer than this; longer overrides go to the notes only.
WANDB_TAG_MAX = 64

#: Failed jobs of the multiruns that ended in this process (filled by :class:`SweepReport`).
FAILED_JOBS: list[dict[str, Any]] = []


def hydra_runtime() -> Any | None:
    """Hydra's runtime config of the current job, or ``None`` outside a Hydra app."""
    return HydraConfig.get() if HydraConfig.initialized() else None


def is_multirun() -> bool:
    """True inside a job that Hydra runs as part of a sweep (``-m``)."""
    hc = hydra_runtime()
    return hc is not None and hc.mode == RunMode.MULTIRUN


def job_overrides() -> list[str]:
    """The job's own overrides (command line plus the sweep's choice for this job)."""
    hc = hydra_runtime()
    if hc is None:
        return []
    return [str(o) for o in hc.overrides.task]


def sweep_group() -> str:
    """W&B group of the current job: the sweep directory's name in a multirun, else ``""``."""
    hc = hydra_runtime()
    if hc is None or hc.mode != RunMode.MULTIRUN:
        return ""
    return Path(str(hc.sweep.dir)).name


def run_tags(tags: Any) -> list[str]:
    """The config's tags followed by the job's overrides (those short enough to be W&B tags)."""
    base = [str(t) for t in (tags or [])]
    extra = [o for o in job_overrides() if len(o) <= WANDB_TAG_MAX and o not in base]
    return base + extra


def run_notes() -> str:
    """W&B notes: the job's overrides, the command-line way to rerun it."""
    overrides = job_overrides()
    return "overrides: " + " ".join(overrides) if overrides else ""


def sqlite_url(path: str) -> str:
    """SQLAlchemy URL of a SQLite file, creating its folder (SQLite does not).

    Used for the Optuna study storage: ``${rl.sqlite_url:outputs/optuna/study.db}``.
    """
    file = Path(path).expanduser()
    file.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{file}"


def register_sweep_resolvers() -> None:
    """Register ``rl.sweep_group``, ``rl.run_tags``, ``rl.run_notes``, ``rl.sqlite_url``."""
    for name, fn in (
        ("rl.sweep_group", sweep_group),
        ("rl.run_tags", run_tags),
        ("rl.run_notes", run_notes),
        ("rl.sqlite_url", sqlite_url),
    ):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)


class SweepReport(Callback):
    """Hydra callback: at the end of a multirun, list the jobs that failed.

    It runs in the launching process whatever the launcher (in-process, submitit local or
    SLURM), and reads the jobs' ``run_status.json`` files under the sweep directory, keeping
    those started by this invocation (a resumed Optuna study may reuse a sweep directory).
    """

    def __init__(self) -> None:
        self._started = ""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._started = now_iso()

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        failed = failed_jobs(Path(str(config.hydra.sweep.dir)), since=self._started)
        FAILED_JOBS.extend(failed)
        for job in failed:
            label = " ".join(job.get("overrides") or []) or "no overrides"
            log.error(f"job {job.get('job_num')} ({label}) failed: {job.get('error')}")
        if failed:
            log.error(f"{len(failed)} job(s) of the sweep failed; see run_status.json in each")
        best = best_trial(Path(str(config.hydra.sweep.dir)))
        if best:
            log.info(f"best trial: {best}")


def best_trial(sweep_dir: Path) -> str | None:
    """The Optuna sweeper's best trial as ``value=V overrides: k=v ...``, if it wrote one."""
    data = read_yaml(sweep_dir / "optimization_results.yaml")
    if not data or "best_params" not in data:
        return None
    params = " ".join(f"{k}={v}" for k, v in (data.get("best_params") or {}).items())
    return f"value={data.get('best_value')} overrides: {params}"


def read_yaml(path: Path) -> dict[str, Any] | None:
    """A YAML mapping from ``path``; ``None`` when it is missing or not a mapping."""
    if not path.is_file():
        return None
    data = OmegaConf.to_container(OmegaConf.load(path))
    return {str(k): v for k, v in data.items()} if isinstance(data, dict) else None


def failed_jobs(sweep_dir: Path, since: str = "") -> list[dict[str, Any]]:
    """Status records of the failed jobs under ``sweep_dir`` started at or after ``since``."""
    found = []
    for path in sorted(sweep_dir.rglob(RUN_STATUS)):
        data = read_json(path)
        invoked = str(data.get("invoked") or data.get("started") or "") if data else ""
        if data and data.get("status") == "failed" and invoked >= since:
            found.append({**data, "run_dir": str(path.parent)})
    return found


def exit_code() -> int:
    """Process exit status after Hydra returns: 1 when a sweep job failed, else 0."""
    return 1 if FAILED_JOBS else 0
