"""Config -> objects: the generator, the RestorationModule, and the checks that they agree.

Shared by ``restorelab-train`` (:mod:`restorelab.training.fit`), ``restorelab-eval`` and the
budget's speed measurement, so every entry point builds and checks the same way.
"""

from __future__ import annotations

from typing import Any

import hydra
from lightning.pytorch.utilities import rank_zero_warn
from omegaconf import DictConfig, OmegaConf

from restorelab.errors import ConfigError
from restorelab.training.module import RestorationModule
from restorelab.weights import architecture_config, build_generator


def _check_scale_agreement(data_scale: int, generator: Any, degradation: Any, label: str) -> None:
    """Fail before any work, naming the keys, when generator/degradation/data scales disagree.

    Args:
        data_scale: ``data.scale``.
        generator: the built generator (its ``scale`` attribute is compared).
        degradation: the built degradation pipeline, or None (paired data).
        label: where the generator came from (config target or checkpoint path), for the message.
    """
    gen_scale = getattr(generator, "scale", None)
    if gen_scale is not None and int(gen_scale) != data_scale:
        raise ConfigError(
            f"generator.scale={int(gen_scale)} ({label}) disagrees with data.scale="
            f"{data_scale}: set data.scale={int(gen_scale)}, or use a generator for x{data_scale}"
        )
    if degradation is not None and int(degradation.scale) != data_scale:
        raise ConfigError(
            f"the degradation shrinks by {degradation.scale} but data.scale={data_scale}: "
            f"pick a degradation of scale {data_scale} (e.g. degradation=bicubic)"
        )


def check_scales(
    cfg: DictConfig,
    generator: Any,
    degradation: Any,
    label: str | None = None,
    training: bool = True,
) -> None:
    """Fail at start-up, naming the keys, when scales or the patch size cannot work.

    Args:
        cfg: the composed config (``data.scale``, ``data.patch_size``).
        generator: the built generator; its ``scale`` and ``window_size`` are checked.
        degradation: the built degradation, or None (paired data).
        label: where the generator came from, for messages (default: its ``_target_``).
        training: also check the training patch size (evaluation cuts no patches).
    """
    data_scale = int(cfg.data.scale)
    if label is None:
        label = str((cfg.get("generator") or {}).get("_target_", "generator"))
    _check_scale_agreement(data_scale, generator, degradation, label)
    if not training:
        return
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
