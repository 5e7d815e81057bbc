"""``restorelab-train``: compose the config, build every object with Hydra, fit, report.

Thin on purpose: all behaviour lives in the objects the config names (generator, loss,
degradation, data module, trainer, loggers, callbacks); this file only wires them together,
checks that they agree before any training starts, and writes ``metrics.json``.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import hydra
import lightning as L
from hydra.core.hydra_config import HydraConfig
from lightning.pytorch.callbacks import LearningRateMonitor
from lightning.pytorch.utilities import rank_zero_warn
from omegaconf import DictConfig, OmegaConf

from restorelab import compat
from restorelab.archs.pretrained import architecture_config, build_generator
from restorelab.budget import PLAN_ENV, TimeBudget, apply_plan, make_plan, max_time_seconds
from restorelab.callbacks import AtomicCheckpointIO
from restorelab.callbacks.checkpoint_io import atomic_write_text
from restorelab.callbacks.resume_state import ResumeState
from restorelab.checks import check_scales as check_scale_agreement
from restorelab.cli import close_loggers, report_errors
from restorelab.config import config_dir, register_resolvers
from restorelab.distributed import ddp_children_join_run_dir, per_device_batch_size
from restorelab.errors import ConfigError
from restorelab.module import RestorationModule
from restorelab.precision import choose_precision
from restorelab.resume import main_argv as resume_main_argv
from restorelab.resume import prepare_resume
from restorelab.runinfo import is_global_zero, record_run_info, rerun_argv
from restorelab.sweeps import exit_code as sweep_exit_code
from restorelab.sweeps import run_job

register_resolvers()


def output_dir(cfg: DictConfig) -> Path:
    """The run directory: ``paths.output_dir``, or Hydra's when run through the CLI."""
    if cfg.get("paths") and cfg.paths.get("output_dir"):
        return Path(cfg.paths.output_dir)
    return Path(HydraConfig.get().runtime.output_dir)


def check_scales(cfg: DictConfig, generator: Any, degradation: Any) -> None:
    """Fail at start-up, naming the keys, when scales or the patch size cannot work."""
    data_scale = int(cfg.data.scale)
    label = str((cfg.get("generator") or {}).get("_target_", "generator"))
    check_scale_agreement(data_scale, generator, degradation, label)
    patch = int(cfg.data.get("patch_size", data_scale))
    if patch % data_scale != 0:
        raise ConfigError(f"data.patch_size={patch} is not divisible by data.scale={data_scale}")
    if degradation is not None and hasattr(degradation, "check_input_size"):
        degradation.check_input_size(patch, patch)  # e.g. a blur kernel larger than the patch
    window = getattr(generator, "window_size", None)  # window-attention nets (SwinIR)
    if window and (patch // data_scale) % int(window):
        raise ConfigError(
            f"data.patch_size={patch} gives {patch // data_scale} px low-quality patches at "
            f"data.scale={data_scale}, not a multiple of generator.window_size={window}"
        )


def build_module(cfg: DictConfig) -> RestorationModule:
    """Instantiate generator, discriminator, loss, degradation and optimizers into the module."""
    generator = build_generator(cfg.generator)
    disc_cfg = cfg.get("discriminator")
    discriminator = hydra.utils.instantiate(disc_cfg) if disc_cfg else None
    if discriminator is not None and not cfg.generator.get("pretrained"):
        rank_zero_warn(
            "GAN training from a randomly initialised generator: the recipes fine-tune a "
            "PSNR-oriented stage-1 run, set generator.pretrained=RUN/checkpoints/last.ckpt"
        )
    degradation = hydra.utils.instantiate(cfg.degradation) if cfg.get("degradation") else None
    check_scales(cfg, generator, degradation)
    optimizer = cfg.get("optimizer") or {}
    scheduler = cfg.get("scheduler") or {}

    def make(node: Any) -> Any:
        return hydra.utils.instantiate(node) if node else None

    return RestorationModule(
        generator=generator,
        discriminator=discriminator,
        loss=hydra.utils.instantiate(cfg.loss),
        degradation=degradation,
        optimizer_g=make(optimizer.get("generator")),
        scheduler_g=make(scheduler.get("generator")),
        optimizer_d=make(optimizer.get("discriminator")) if discriminator is not None else None,
        scheduler_d=make(scheduler.get("discriminator")) if discriminator is not None else None,
        scale=int(cfg.data.scale),
        generator_config=architecture_config(cfg.generator),
        run_config=OmegaConf.to_container(cfg, resolve=True),  # type: ignore[arg-type]
        **(cfg.get("module") or {}),
    )


def instantiate_dict(node: DictConfig | None) -> list[Any]:
    """Instantiate every ``_target_`` entry of a ``{name: config}`` group (loggers, callbacks)."""
    if not node:
        return []
    return [hydra.utils.instantiate(c) for c in node.values() if c and "_target_" in c]


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


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit the configured experiment; returns the final validation metrics.

    Writes ``<run>/metrics.json`` and ``<run>/checkpoints/last.ckpt``; with ``ckpt_path`` set,
    continues that run (optimizer, scheduler and step count included); with ``resume`` set
    (see :mod:`restorelab.resume`), continues it in its own directory and W&B run.
    """
    started = time.monotonic()  # the time budget (trainer.max_time) counts from here
    if cfg.get("seed") is not None:
        L.seed_everything(int(cfg.seed), workers=True, verbose=False)
    run_dir = output_dir(cfg)
    start_step = prepare_resume(cfg, run_dir)  # resume=RUN: its last.ckpt and W&B id
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
        with ddp_children_join_run_dir(run_dir):  # DDP ranks > 0 reuse this run dir
            trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
        if trainer.interrupted:
            raise KeyboardInterrupt
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


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="train")
def _hydra_main(cfg: DictConfig) -> float | None:
    # run_info.json + run_status.json; in a sweep a failed job does not stop the others
    return run_job("restorelab-train", train, cfg, output_dir(cfg))


def main() -> None:
    """Console entry point of ``restorelab-train``."""
    compat.silence_lightning_pytree_deprecation()
    compat.silence_model_summary_precision_note()
    report_errors("restorelab-train", resume_main_argv)  # resume=RUN: compose RUN's config
    sys.argv = rerun_argv(sys.argv)  # --config-dir RUN/.hydra: keep restorelab's hydra settings
    _hydra_main()
    if sweep_exit_code():  # a job of a sweep failed; the others ran
        sys.exit(sweep_exit_code())


if __name__ == "__main__":
    main()
