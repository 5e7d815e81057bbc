"""Learning-rate warm-up in front of any per-iteration schedule."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LinearLR, LRScheduler, SequentialLR

from restorelab.errors import ConfigError


def with_warmup(
    optimizer: Optimizer,
    after: Callable[[Optimizer], LRScheduler],
    warmup_steps: int = 1000,
    start_factor: float = 1e-3,
) -> Any:
    """Ramp the LR linearly from ``start_factor * lr`` to ``lr`` over ``warmup_steps``, then
    hand over to ``after`` (cosine, multistep, ...), which starts counting at the hand-over.

    A warm-up keeps the first Adam steps of a freshly initialised network (or of a new
    discriminator against a pretrained generator) from overshooting.

    Args:
        optimizer: the optimizer of one network.
        after: partial scheduler that follows the warm-up.
        warmup_steps: iterations of the linear ramp (>= 1).
        start_factor: LR multiplier at the first iteration, in (0, 1].

    Returns:
        a ``SequentialLR`` (stepped every iteration, like the others).
    """
    if warmup_steps < 1:
        raise ConfigError(f"scheduler warmup_steps must be >= 1, got {warmup_steps}")
    if not 0.0 < start_factor <= 1.0:
        raise ConfigError(f"scheduler start_factor must be in (0, 1], got {start_factor}")
    ramp = LinearLR(optimizer, start_factor=start_factor, end_factor=1.0, total_iters=warmup_steps)
    return SequentialLR(optimizer, [ramp, after(optimizer)], milestones=[warmup_steps])
