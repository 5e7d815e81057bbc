"""Every use of a private attribute of torch, Lightning or W&B, in one place.

Each function names what it reaches into and falls back to a safe answer when a library
upgrade removes it, so an upgrade breaks (at most) one tested function here, never a training
run somewhere else. ``tests/test_compat.py`` exercises each one against the installed versions.
"""

from __future__ import annotations

import torch


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
    about an option nobody set.
    """
    init = getattr(logger, "_wandb_init", None)
    if isinstance(init, dict) and init.get("anonymous") is None:
        init.pop("anonymous", None)
