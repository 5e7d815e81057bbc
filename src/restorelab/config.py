"""Where the Hydra configs live, and the custom OmegaConf resolvers they use.

The configs travel inside the wheel as ``restorelab/conf`` (hatch force-include); in a source
checkout (editable install) they are read from the repository's top-level ``conf/``. Either way
the console scripts find them from any working directory.
"""

from __future__ import annotations

import netrc
import os
from pathlib import Path

from omegaconf import OmegaConf

from restorelab import metric_direction


def config_dir() -> str:
    """Absolute path of the Hydra config directory."""
    packaged = Path(__file__).resolve().parent / "conf"
    if packaged.is_dir():
        return str(packaged)
    checkout = Path(__file__).resolve().parents[2] / "conf"
    if checkout.is_dir():
        return str(checkout)
    raise FileNotFoundError(
        f"restorelab configs not found: looked in {packaged} and {checkout}; reinstall restorelab"
    )


def wandb_offline() -> bool:
    """True when W&B cannot sync: WANDB_MODE=offline/disabled, or no API key anywhere.

    The key is looked for where ``wandb login`` puts it (``~/.netrc``) and in
    ``WANDB_API_KEY``; without one, runs are written offline and can be uploaded later with
    ``wandb sync``.
    """
    mode = os.environ.get("WANDB_MODE", "").lower()
    if mode in ("offline", "disabled", "dryrun"):
        return True
    if mode == "online" or os.environ.get("WANDB_API_KEY"):
        return False
    host = os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai").split("://")[-1]
    host = host.split("/")[0].split(":")[0]
    try:
        return netrc.netrc().authenticators(host) is None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return True


def register_resolvers() -> None:
    """Register ``${rl.wandb_offline:}``, ``${rl.mul:a,b}`` and, for a metric key,
    ``${rl.mode:KEY}`` (max/min) and ``${rl.direction:KEY}`` (maximize/minimize) from
    :mod:`restorelab.metric_direction` (idempotent)."""
    if not OmegaConf.has_resolver("rl.wandb_offline"):
        OmegaConf.register_new_resolver("rl.wandb_offline", wandb_offline)
    if not OmegaConf.has_resolver("rl.mul"):
        OmegaConf.register_new_resolver("rl.mul", lambda a, b: a * b)
    if not OmegaConf.has_resolver("rl.mode"):
        OmegaConf.register_new_resolver("rl.mode", metric_direction.mode)
    if not OmegaConf.has_resolver("rl.direction"):
        OmegaConf.register_new_resolver("rl.direction", metric_direction.direction)
    from restorelab.runs.sweeps import register_sweep_resolvers  # W&B group/tags/notes of sweeps

    register_sweep_resolvers()
