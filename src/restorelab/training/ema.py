"""Exponential moving average (EMA) of the generator's weights.

Real-ESRGAN and most GAN restoration recipes validate, test and ship an EMA of the generator
(``ema = decay * ema + (1 - decay) * live`` after every generator step, decay 0.999): it
averages out the adversarial game's step-to-step jitter. ``RestorationModule`` keeps the copy
as ``generator_ema`` (so checkpoints hold ``generator_ema.*``); this module holds the copy, the
update and the option check.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from restorelab.errors import ConfigError


def check_ema_decay(ema_decay: float | None) -> float | None:
    """``module.ema_decay`` as a float in [0, 1), or None (no EMA); else a ConfigError."""
    if ema_decay is None:
        return None
    if not 0.0 <= float(ema_decay) < 1.0:
        raise ConfigError(f"module.ema_decay must be in [0, 1) or null, got {ema_decay}")
    return float(ema_decay)


def make_ema(generator: nn.Module) -> nn.Module:
    """A frozen, eval-mode copy of ``generator`` to average into.

    Made after any pretrained weights were loaded (GAN fine-tuning averages from the stage-1
    weights) and before compiling (the copy runs eagerly).
    """
    return copy.deepcopy(generator).requires_grad_(False).eval()


@torch.no_grad()
def ema_update(ema: nn.Module, live: nn.Module, decay: float) -> None:
    """``ema = decay * ema + (1 - decay) * live`` for parameters; buffers are copied.

    Buffers (e.g. batch-norm statistics) are not averaged: the live ones are the current
    estimate, and averaging integer counters would be meaningless.
    """
    weight = 1.0 - decay
    for p_ema, p in zip(ema.parameters(), live.parameters(), strict=True):
        p_ema.lerp_(p.detach(), weight)
    for b_ema, b in zip(ema.buffers(), live.buffers(), strict=True):
        b_ema.copy_(b)
