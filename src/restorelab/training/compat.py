"""Every use of a private attribute of torch, Lightning or W&B, in one place.

Each function names what it reaches into and falls back to a safe answer when a library
upgrade removes it (or, where no answer is safe, raises a message that names the attribute),
so an upgrade breaks (at most) one tested function here, never a training run somewhere else.
``tests/training/test_compat.py`` exercises each one against the installed versions. Checked against
torch 2.13.0, Lightning 2.6.6 and wandb 0.31.0.

Nothing from restorelab is imported here, and Lightning and W&B only inside the functions that
need them. ``runs/`` and ``data/`` may not import ``training/`` (``tests/test_layout.py``), so
they use public attributes only: W&B's ``settings.mode`` (``runs.job.offline_run_file``) and the
fit loop's ``batch_progress`` (``RestorationDataModule``), both also checked in test_compat.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import torch

_T = TypeVar("_T", bound=type)


def cpu_has_avx512_bf16() -> bool:
    """cpuinfo's AVX-512 BF16 flag (``torch.cpu._is_avx512_bf16_supported``)."""
    probe = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
    return bool(probe()) if callable(probe) else False


def cpu_has_amx() -> bool:
    """cpuinfo's AMX tile flag (``torch.cpu._is_amx_tile_supported``)."""
    probe = getattr(torch.cpu, "_is_amx_tile_supported", None)
    return bool(probe()) if callable(probe) else False


def onednn_bf16_allowed() -> bool:
    """Whether oneDNN runs bf16 kernels here (``torch.ops.mkldnn._is_mkldnn_bf16_supported``).

    False when ``ONEDNN_MAX_CPU_ISA`` caps oneDNN below AVX-512.
    """
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def silence_lightning_pytree_deprecation() -> None:
    """Hide the deprecation Lightning's own ``_pytree`` helper triggers in torch >= 2.10.

    ``lightning/pytorch/utilities/_pytree.py`` still builds ``LeafSpec()``; torch deprecates
    it. Nothing a user can act on, so exactly that message from exactly that module is ignored
    (any other warning, from Lightning or elsewhere, still shows).
    """
    import warnings

    warnings.filterwarnings(
        "ignore",
        message=r".*isinstance\(treespec, LeafSpec\).*is deprecated",
        module=r"lightning\.pytorch\.utilities\._pytree",
    )


def silence_model_summary_precision_note() -> None:
    """Hide Lightning's note that the model summary sizes bf16 weights as fp32.

    ``ModelSummary`` prints parameter counts (right) and a size estimate it computes in fp32
    under bf16-mixed (the weights *are* fp32 under autocast, so the estimate is right too).
    """
    import warnings

    warnings.filterwarnings(
        "ignore",
        message=r"Precision bf16-mixed is not supported by the model summary",
        module=r"lightning\.pytorch\.utilities\.model_summary",
    )


def drop_unset_wandb_anonymous(logger: object) -> None:
    """Stop Lightning's ``WandbLogger`` passing ``anonymous=None`` to ``wandb.init``.

    wandb >= 0.22 warns about the setting whenever it is passed at all, and Lightning always
    passes it (``WandbLogger._wandb_init["anonymous"]``), so every run printed a warning
    about an option nobody set. Checked against Lightning 2.6.6 and wandb 0.31.0.
    """
    init = getattr(logger, "_wandb_init", None)
    if isinstance(init, dict) and init.get("anonymous") is None:
        init.pop("anonymous", None)


def set_find_unused_parameters(strategy: object) -> None:
    """Make a ``DDPStrategy`` wrap the model with ``find_unused_parameters=True``.

    Lightning keeps the ``DistributedDataParallel`` keyword arguments in
    ``DDPStrategy._ddp_kwargs`` (the ``**kwargs`` of its constructor) until it wraps the
    module in ``_setup_model`` (checked against Lightning 2.6.6). Setting the key before the
    wrap (in ``LightningModule.setup``) holds for any trainer config. No fallback is safe: DDP
    without it waits forever for the gradients of the network a GAN step does not use, so a
    Lightning that moved the dict raises here instead of hanging.

    Raises:
        RuntimeError: ``strategy`` has no ``_ddp_kwargs`` dict.
    """
    kwargs = getattr(strategy, "_ddp_kwargs", None)
    if not isinstance(kwargs, dict):
        raise RuntimeError(
            f"{type(strategy).__name__} has no _ddp_kwargs dict (Lightning changed it): cannot "
            "set find_unused_parameters=True; pass strategy=ddp_find_unused_parameters_true"
        )
    kwargs["find_unused_parameters"] = True


def should_update_logs(trainer: object) -> bool:
    """Lightning's own rule for whether this batch's on-step values reach the loggers.

    ``trainer._logger_connector.should_update_logs`` (checked against Lightning 2.6.6): every
    ``log_every_n_steps`` batches, and when the trainer is stopping. Falls back to ``True``
    (log every batch: slower, never loses a value) when the connector or property is gone.
    """
    connector = getattr(trainer, "_logger_connector", None)
    value = getattr(connector, "should_update_logs", None)
    return True if value is None else bool(value)


#: The ``ModelCheckpoint`` method every top-k save goes through (Lightning 2.6.6).
TOPK_HOOK = "_save_topk_checkpoint"


def guard_topk_save(cls: _T) -> _T:
    """Class decorator: a ``ModelCheckpoint`` subclass skips a top-k save when it says so.

    ``ModelCheckpoint._save_topk_checkpoint(trainer, monitor_candidates)`` is where Lightning
    (checked against 2.6.6) decides on, and raises about, a missing monitored metric; the
    decorated class's ``skip_topk(trainer, monitor_candidates) -> bool`` runs first and a
    ``True`` skips the save. Applied at import, so a Lightning that renamed the method fails
    at once instead of silently never calling ``skip_topk``.

    Raises:
        TypeError: ``cls`` is not a ``ModelCheckpoint`` or lacks ``skip_topk``.
        RuntimeError: ``ModelCheckpoint`` has no ``_save_topk_checkpoint``.
    """
    from lightning.pytorch.callbacks import ModelCheckpoint

    if not (issubclass(cls, ModelCheckpoint) and callable(getattr(cls, "skip_topk", None))):
        raise TypeError(f"{cls.__name__}: needs a ModelCheckpoint subclass with skip_topk()")
    original: Callable[..., None] | None = getattr(ModelCheckpoint, TOPK_HOOK, None)
    if not callable(original):
        raise RuntimeError(f"ModelCheckpoint has no {TOPK_HOOK} (Lightning changed it)")
    parent: Callable[..., None] = getattr(cls, TOPK_HOOK)

    def save_topk(self: Any, trainer: Any, monitor_candidates: dict[str, Any]) -> None:
        if self.skip_topk(trainer, monitor_candidates):
            return
        parent(self, trainer, monitor_candidates)

    save_topk.__name__ = save_topk.__qualname__ = TOPK_HOOK
    setattr(cls, TOPK_HOOK, save_topk)
    return cls
