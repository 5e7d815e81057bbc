"""Run one training job: its status files around it, its loggers closed, its errors reported.

Every ``restorelab-train`` invocation goes through :func:`run_job`, sweep or not: it refuses a
directory that holds another run (:mod:`restorelab.runs.rundir`), continues a requeued SLURM
job from its latest state (:mod:`restorelab.runs.requeue`), writes ``run_info.json`` and
``run_status.json`` and, inside a Hydra sweep, keeps one failed job from ending the others (see
:mod:`restorelab.runs.sweeps` for why Hydra would stop them).
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from omegaconf import DictConfig, OmegaConf, open_dict

from restorelab.errors import RestorelabError, one_line, root_cause
from restorelab.runs.info import (
    RunStatus,
    collect_run_info,
    is_global_zero,
    record_run_info,
    write_run_info,
)
from restorelab.runs.requeue import is_requeue, requeue_overrides, slurm_job_id
from restorelab.runs.resume import remove_cut_writes
from restorelab.runs.rundir import check_run_dir
from restorelab.runs.sweeps import hydra_runtime, is_multirun, job_overrides

log = logging.getLogger(__name__)


class DivergedError(RestorelabError):
    """Training finished but its optimized metric is NaN or infinite."""


#: How long a finished offline W&B run may take to write its last records.
OFFLINE_FLUSH_TIMEOUT_S = 30.0


def offline_run_file(run: object) -> Path | None:
    """The ``run-<id>.wandb`` file of an offline W&B run; ``None`` for an online one.

    Public settings only (``mode``, ``sync_file``; wandb >= 0.17, checked against 0.31.0): the
    private ``settings._offline`` used before is not needed, and ``runs/`` may not import
    ``training/compat.py``. ``tests/training/test_compat.py`` checks it against a real offline run.
    """
    settings = getattr(run, "settings", None)
    if getattr(settings, "mode", None) not in ("offline", "dryrun"):
        return None
    name = str(getattr(settings, "sync_file", "") or "")
    return Path(name) if name else None


def close_loggers() -> None:
    """Finish the W&B run even when training failed, so offline files are complete."""
    try:
        import wandb
    except ImportError:  # pragma: no cover - wandb is a dependency
        return
    run = wandb.run
    if run is None:
        return
    run_file = offline_run_file(run)
    wandb.finish()
    if run_file is not None:
        # finish() can return before W&B's service has written the last records; wait for
        # them so `wandb sync` and our offline reader see a complete run.
        from restorelab.runs.wandb_offline import wait_until_complete

        with contextlib.suppress(TimeoutError):
            wait_until_complete(run_file, timeout=OFFLINE_FLUSH_TIMEOUT_S)


def describe(exc: BaseException) -> str:
    """One line for the user: the restorelab error's message, else ``Type: message``."""
    cause = root_cause(exc)
    if cause is not None:
        return one_line(cause)
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    message = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {message[0]}" if message else type(exc).__name__


def record_failure(prog: str, status: RunStatus, message: str) -> None:
    """Write ``failed`` into ``run_status.json``, or warn on stderr when that write fails.

    The run's own error is what the user must see: on a full disk the status write fails too,
    and its ``OSError`` raised here would replace that error. The file then keeps its last
    state (``running``); ``restorelab-runs`` reports such a run ``failed`` once its process is
    gone (:func:`restorelab.runs.table.run_status`).
    """
    try:
        status.finish("failed", error=message)
    except OSError as error:
        reason = error.strerror or str(error)
        print(
            f"{prog}: warning: could not record the failure in {status.path}: {reason}",
            file=sys.stderr,
        )


def continue_requeued(cfg: DictConfig, run_dir: Path) -> DictConfig:
    """``cfg`` pointed at the latest state and W&B run of ``run_dir`` (a copy; printed, recorded).

    Besides the time-budget plan, the one change to a composed config: the requeued job's
    command line is the first start's (its ``ckpt_path``, if any, is where that start began).
    """
    changes = requeue_overrides(cfg, run_dir)
    if not changes:
        return cfg  # requeued before its first checkpoint: it starts again
    cfg = copy.deepcopy(cfg)
    with open_dict(cfg):
        for key, value in changes.items():
            OmegaConf.update(cfg, key, value, force_add=True)
    if is_global_zero():
        shown = ", ".join(f"{k}={v}" for k, v in changes.items())
        print(f"SLURM job {slurm_job_id()} requeued: continuing {run_dir} with {shown}")
        record_run_info(run_dir, requeue=changes)
    return cfg


def run_job(
    prog: str,
    fn: Callable[[DictConfig], Mapping[str, float]],
    cfg: DictConfig,
    run_dir: Path,
) -> float | None:
    """Run one training job with ``run_info.json`` and ``run_status.json`` around it.

    Returns the optimized metric (``cfg.optimized_metric``) for Hydra's sweepers. Outside a
    multirun an error behaves as before: a :class:`RestorelabError` prints one line and exits
    with status 2, anything else propagates. Inside a multirun an error fails only this job.
    """
    metric_key = str(cfg.get("optimized_metric") or "val/psnr_y")
    overrides = job_overrides()
    multirun = is_multirun()
    hc = hydra_runtime()
    status: RunStatus | None = None
    try:
        resume = cfg.get("resume")
        check_run_dir(run_dir, "hydra.sweep.dir" if multirun else "hydra.run.dir", resume)
        requeued = is_requeue(run_dir)  # read before this invocation records its job id
        resumed = resume not in (None, "") or requeued  # continues RUN in place
        if is_global_zero():
            if resumed:
                for path in remove_cut_writes(run_dir):
                    print(f"removed {path}: a write the interrupted run did not finish")
            extra = {
                "task_name": cfg.get("task_name"),
                "run_dir": str(run_dir),
                "slurm_job_id": slurm_job_id(),
            }
            write_run_info(run_dir, collect_run_info(overrides, extra), resumed=resumed)
            status = RunStatus(
                run_dir,
                resumed=resumed,
                overrides=overrides,
                sweep_dir=str(hc.sweep.dir) if multirun and hc is not None else None,
                job_num=int(hc.job.num) if multirun and hc is not None else None,
                optimized_metric=metric_key,
            )
        if requeued:
            cfg = continue_requeued(cfg, run_dir)
        metrics = dict(fn(cfg))
        value = metrics.get(metric_key)
        if value is not None and not math.isfinite(float(value)):
            raise DivergedError(
                f"{metric_key} is {value}: training diverged (non-finite loss or weights)"
            )
    except BaseException as exc:
        message = describe(exc)
        if status is not None:
            record_failure(prog, status, message)
        if multirun and isinstance(exc, Exception):
            close_loggers()  # a W&B run left open would swallow the next job's logging
            where = f"job {hc.job.num}" if hc is not None else "job"
            label = " ".join(overrides) or "no overrides"
            print(f"{prog}: error: {where} ({label}) failed: {message}", file=sys.stderr)
            if root_cause(exc) is None:
                log.error("job failed", exc_info=exc)  # the traceback goes to the job's log
            return None
        if isinstance(exc, Exception) and root_cause(exc) is not None:
            print(f"{prog}: error: {message}", file=sys.stderr)
            raise SystemExit(2) from None
        raise
    if status is not None:
        status.finish("ok", metric=None if value is None else float(value))
    return None if value is None else float(value)
