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


def replan_after_resume(
    optimizer: Optimizer,
    scheduler: Any | None,
    fresh_optimizer: Optimizer,
    make_scheduler: Callable[[Optimizer], Any] | None,
    step: int,
) -> list[str]:
    """Make a resumed optimizer and schedule what the current config gives at ``step``.

    Lightning restores the optimizer's hyperparameters and the scheduler's state (a cosine's
    ``T_max`` included) from the checkpoint, so ``resume=RUN trainer.max_steps=N`` would keep
    the old period, climb back up after the old end, and ignore a changed learning rate. Here
    the config's scheduler is rebuilt on ``fresh_optimizer`` (a new optimizer of the same
    parameters, from the config) and stepped ``step`` times, and its state and the config's
    hyperparameters replace the restored ones, so every later step has the learning rate a run
    planned with this config from the start has there. The optimizer's moment estimates are
    kept.

    Returns:
        the hyperparameters that changed, as ``"lr 0.0005 -> 0.0001"`` texts.
    """
    import warnings

    changed: list[str] = []
    pairs = list(zip(optimizer.param_groups, fresh_optimizer.param_groups, strict=True))
    for old, new in pairs:
        before = old.get("initial_lr", old["lr"])
        if before != new["lr"]:
            changed.append(f"lr {before:g} -> {new['lr']:g}")
        for key, value in new.items():
            if key in ("params", "lr", "initial_lr"):
                continue
            if old.get(key) != value:
                changed.append(f"{key} {old.get(key)} -> {value}")
                old[key] = value
    if make_scheduler is not None and scheduler is not None:
        fresh = make_scheduler(fresh_optimizer)
        with warnings.catch_warnings():  # stepping a schedule without optimizer steps
            warnings.simplefilter("ignore", UserWarning)
            for _ in range(step):
                fresh.step()
        scheduler.load_state_dict(fresh.state_dict())
    for old, new in pairs:
        old["lr"] = new["lr"]
        if "initial_lr" in new:
            old["initial_lr"] = new["initial_lr"]
    return sorted(set(changed))
