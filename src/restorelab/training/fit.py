"""One training run end to end: build every object from the config, fit, validate, report.

Thin on purpose: all behaviour lives in the objects the config names (generator, loss,
degradation, data module, trainer, loggers, callbacks); this file only wires them together,
checks that they agree before any training starts, and writes ``metrics.json``.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

import hydra
import lightning as L
from hydra.core.hydra_config import HydraConfig
from lightning.pytorch.callbacks import LearningRateMonitor
from omegaconf import DictConfig, OmegaConf

from restorelab.atomic import atomic_write_text
from restorelab.config import register_resolvers
from restorelab.data.sharding import per_device_batch_size
from restorelab.runs.ddp import ddp_children_argv_and_run_dir
from restorelab.runs.info import is_global_zero, record_run_info
from restorelab.runs.job import close_loggers
from restorelab.runs.requeue import HPC_PATTERN
from restorelab.runs.resume import prepare_resume
from restorelab.training.budget import PLAN_ENV, TimeBudget, apply_plan, make_plan, max_time_seconds
from restorelab.training.builder import build_module, instantiate_dict
from restorelab.training.callbacks import AtomicCheckpointIO
from restorelab.training.callbacks.resume_state import ResumeState
from restorelab.training.precision import choose_precision

register_resolvers()


def output_dir(cfg: DictConfig) -> Path:
    """The run directory: ``paths.output_dir``, or Hydra's when run through the CLI."""
    if cfg.get("paths") and cfg.paths.get("output_dir"):
        return Path(cfg.paths.output_dir)
    return Path(HydraConfig.get().runtime.output_dir)


def final_metrics(trainer: L.Trainer) -> dict[str, float]:
    """The validation metrics logged last, as plain floats."""
    return {
        k: float(v)
        for k, v in sorted(trainer.callback_metrics.items())
        if k.startswith("val/") and v.numel() == 1
    }


def budgeted(
    cfg: DictConfig, precision: str, started: float, start_step: int, run_dir: Path
) -> DictConfig:
    """The config to train: ``cfg`` itself, or sized to its time budget (see ``budget``).

    A new plan is printed, recorded in ``run_info.json``, written into the saved config of
    this invocation (so a rerun from it repeats the plan) and handed to DDP processes.
    """
    plan, reused = make_plan(cfg, precision, build_module, started, start_step)
    if plan is None:
        return cfg
    planned = apply_plan(cfg, plan)
    data = OmegaConf.to_container(planned.budget.planned)
    if is_global_zero():
        print(plan.line(reused))
        record_run_info(run_dir, budget={**data, "reused": reused})  # type: ignore[dict-item]
        if not reused:
            save_plan(data)
    os.environ[PLAN_ENV] = json.dumps(data)  # DDP processes started by this one reuse it
    return planned


def save_plan(plan: Any) -> None:
    """Write ``budget.planned`` into the config Hydra saved for this invocation."""
    if not HydraConfig.initialized():
        return
    hc = HydraConfig.get()
    if not hc.output_subdir:
        return
    path = Path(hc.runtime.output_dir) / str(hc.output_subdir) / "config.yaml"
    if not path.is_file():
        return
    saved = OmegaConf.load(path)
    OmegaConf.update(saved, "budget.planned", plan, force_add=True)
    atomic_write_text(path, OmegaConf.to_yaml(saved))


def retire_hpc_checkpoints(trainer: L.Trainer, run_dir: Path) -> None:
    """Once ``fit`` ended, replace a requeued job's HPC checkpoints by ``last.ckpt``.

    They hold a state the run has trained past, and under SLURM Lightning's ``validate`` loads
    the newest of them instead of validating the weights just trained (its ``ckpt_path=None``
    means "the HPC checkpoint" whenever one exists). ``last.ckpt`` is written first, so the
    run's latest state is never lost; every process waits until they are gone.
    """
    spent = sorted(Path(str(trainer.default_root_dir)).glob(HPC_PATTERN))
    if not spent:
        return
    trainer.save_checkpoint(run_dir / "checkpoints" / "last.ckpt")
    if trainer.is_global_zero:
        for path in spent:
            path.unlink(missing_ok=True)
    trainer.strategy.barrier("retire_hpc_checkpoints")


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit the configured experiment; returns the final validation metrics.

    Writes ``<run>/metrics.json`` and ``<run>/checkpoints/last.ckpt``; with ``ckpt_path`` set,
    continues that run (optimizer, scheduler and step count included); with ``resume`` set
    (see :mod:`restorelab.runs.resume`), continues it in its own directory and W&B run.
    """
    started = time.monotonic()  # the time budget (trainer.max_time) counts from here
    if cfg.get("seed") is not None:
        L.seed_everything(int(cfg.seed), workers=True, verbose=False)
    run_dir = output_dir(cfg)
    # checks only: resume=RUN's last.ckpt and W&B id are overrides on the command line
    start_step = prepare_resume(cfg, run_dir)
    choice = choose_precision(cfg.trainer.get("precision"), cfg.trainer.get("accelerator", "auto"))
    if is_global_zero():
        print(choice.line())
    record_run_info(run_dir, precision=choice.as_dict())
    cfg = budgeted(cfg, choice.precision, started, start_step, run_dir)
    module = build_module(cfg)
    datamodule = hydra.utils.instantiate(cfg.data)
    loggers = instantiate_dict(cfg.get("logger"))
    callbacks = [*instantiate_dict(cfg.get("callbacks")), ResumeState()]
    if not loggers:  # Lightning refuses a LearningRateMonitor without a logger
        callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    seconds = max_time_seconds(cfg.trainer.get("max_time"))
    if seconds is not None:  # instead of Lightning's max_time: a new budget on each resume
        callbacks.append(TimeBudget(started + seconds, str(cfg.trainer.max_time)))
    trainer: L.Trainer = hydra.utils.instantiate(
        cfg.trainer,
        precision=choice.precision,
        max_time=None,
        callbacks=callbacks,
        logger=loggers or False,
        plugins=[AtomicCheckpointIO()],
    )
    # data.batch_size is the global batch: fail now if the processes cannot share it
    world_size = trainer.num_devices * trainer.num_nodes
    per_device_batch_size(int(cfg.data.get("batch_size", 1)), world_size)
    container = OmegaConf.to_container(cfg, resolve=True)
    for logger in trainer.loggers:
        logger.log_hyperparams(container)  # type: ignore[arg-type]
    try:
        # DDP ranks > 0 reuse this run dir; in a sweep, sys.argv is the job's during fit
        with ddp_children_argv_and_run_dir(run_dir):
            trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
        if trainer.interrupted:
            raise KeyboardInterrupt
        retire_hpc_checkpoints(trainer, run_dir)
        if module.last_val_step != trainer.global_step:
            trainer.validate(module, datamodule=datamodule, verbose=False)
        trainer.save_checkpoint(run_dir / "checkpoints" / "last.ckpt", weights_only=False)
    finally:
        close_loggers()
    metrics = final_metrics(trainer)
    summary = {**metrics, "step": trainer.global_step}
    if trainer.is_global_zero:
        atomic_write_text(run_dir / "metrics.json", json.dumps(summary, indent=2) + "\n")
        print_summary(run_dir, metrics)
    return metrics


def print_summary(run_dir: Path, metrics: dict[str, float]) -> None:
    """Tell the user where the run lives and how it did against bicubic."""
    print(f"Run directory: {run_dir}")
    psnr = metrics.get("val/psnr_y")
    base = metrics.get("val/psnr_y_bicubic")
    if psnr is not None and base is not None and math.isfinite(base):
        print(f"val/psnr_y: {psnr:.2f} dB (bicubic {base:.2f} dB, {psnr - base:+.2f} dB)")
    elif psnr is not None:
        print(f"val/psnr_y: {psnr:.2f} dB")
