"""Which way is better for each logged metric: the one table every reader of a metric consults.

A checkpoint kept by ``val/psnr_y`` wants the maximum, one kept by ``val/lpips`` the minimum;
a sweep maximizes or minimizes its ``optimized_metric``; ``restorelab-runs`` shows each run's
best value. All of them read :func:`higher_is_better` (the configs through the ``rl.mode`` and
``rl.direction`` resolvers), and the metric classes set their torchmetrics ``higher_is_better``
from it, so a new metric is declared here once. Torch-free on purpose: ``restorelab-runs``
imports it and starts in a fraction of a second.
"""

from __future__ import annotations

from restorelab.errors import ConfigError

#: Higher is better? By the metric's name stem: the logged key's last part up to its first
#: ``_`` (``val/psnr_y_bicubic`` -> ``psnr``). Training losses are lower-is-better.
HIGHER_IS_BETTER: dict[str, bool] = {
    "psnr": True,
    "ssim": True,
    "lpips": False,
    "loss": False,
}
#: Keys under these prefixes are loss terms (``train/l1``, ``train/loss_d``): lower is better.
LOSS_PREFIXES = ("train/",)


def metric_stem(key: str) -> str:
    """``val/psnr_y_bicubic`` -> ``psnr``; ``lpips`` -> ``lpips``."""
    return key.rsplit("/", 1)[-1].split("_", 1)[0]


def higher_is_better(key: str) -> bool:
    """Whether a larger value of the logged metric ``key`` is better.

    Raises:
        ConfigError: the metric is not in :data:`HIGHER_IS_BETTER` and is no training loss;
            guessing would pick the worst value for half of the metrics.
    """
    stem = metric_stem(key)
    if stem in HIGHER_IS_BETTER:
        return HIGHER_IS_BETTER[stem]
    if key.startswith(LOSS_PREFIXES):
        return False
    known = ", ".join(f"{s}* ({'higher' if h else 'lower'})" for s, h in HIGHER_IS_BETTER.items())
    raise ConfigError(
        f"{key}: not known whether higher or lower is better (known: {known}, train/*: lower)"
    )


def mode(key: str) -> str:
    """``"max"`` or ``"min"`` for ``key``: Lightning's ``ModelCheckpoint(mode=...)``."""
    return "max" if higher_is_better(key) else "min"


def direction(key: str) -> str:
    """``"maximize"`` or ``"minimize"`` for ``key``: Optuna's study direction."""
    return "maximize" if higher_is_better(key) else "minimize"
