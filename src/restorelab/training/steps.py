"""The optimizer side of training: GAN option checks, the non-finite guard, optimizer set-up.

:class:`~restorelab.training.module.RestorationModule` uses manual optimization for pixel-only
and GAN training alike (one generator step, then ``d_updates`` discriminator steps). What that
loop needs beyond the Lightning hooks lives here: checking the GAN options together, stopping
(or skipping) on a NaN/Inf loss before any weight moves, stepping D's optimizer without
advancing ``global_step``, and building (and, after a resume, re-planning) one optimizer and
LR schedule per network.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_warn
from torch import Tensor, nn
from torch.optim import Optimizer

from restorelab.errors import ConfigError, NonFiniteLossError
from restorelab.losses import CompositeLoss
from restorelab.training import compat
from restorelab.training.schedulers import replan_after_resume

OptimizerFactory = Callable[[Iterable[nn.Parameter]], Optimizer]
SchedulerFactory = Callable[[Optimizer], Any]
#: ``(network, optimizer factory, scheduler factory, trainable parameters)``
OptimizerSpec = tuple[str, OptimizerFactory | None, SchedulerFactory | None, list[Any]]
NONFINITE_ACTIONS = ("raise", "skip")


def no_closure() -> None:
    """Manual optimization computes gradients before stepping; nothing to re-evaluate."""
    return None


def check_gan_options(
    loss: CompositeLoss,
    discriminator: nn.Module | None,
    optimizer_d: OptimizerFactory | None,
    d_start_step: int,
    d_updates: int,
    nonfinite: str,
) -> None:
    """Fail at construction when loss, discriminator and step options do not fit together."""
    if loss.adversarial and discriminator is None:
        raise ConfigError(
            f"loss has adversarial term(s) {list(loss.adversarial)} but discriminator is "
            "none: choose one, e.g. discriminator=vgg"
        )
    if discriminator is not None and not loss.adversarial:
        raise ConfigError(
            "a discriminator is configured but the loss has no adversarial term: "
            "use e.g. loss=l1_gan, or discriminator=none"
        )
    if discriminator is not None and optimizer_d is None:
        raise ConfigError("a discriminator needs optimizer.discriminator")
    if int(d_start_step) < 0:
        raise ConfigError(f"module.d_start_step must be >= 0, got {d_start_step}")
    if int(d_updates) < 1:
        raise ConfigError(f"module.d_updates must be >= 1, got {d_updates}")
    if nonfinite not in NONFINITE_ACTIONS:
        raise ConfigError(
            f"module.nonfinite={nonfinite!r} unknown; choose from {NONFINITE_ACTIONS}"
        )


def finite_everywhere(total: Tensor) -> tuple[bool, bool]:
    """``(finite here, finite on every process)`` for a loss about to be back-propagated.

    Under DDP every process must take the same branch: one that skipped its backward while the
    others entered the gradient all-reduce would leave them waiting until the process-group
    timeout. So the flag is all-reduced (its minimum, on the loss's device: one small
    collective per check, no barrier) and read back with the local one in one host sync.
    """
    here = torch.isfinite(total.detach()).all().to(torch.int32)
    dist = torch.distributed
    if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        finite = bool(here)
        return finite, finite
    everywhere = here.clone()
    dist.all_reduce(everywhere, op=dist.ReduceOp.MIN)
    flags = torch.stack([here, everywhere]).tolist()
    return bool(flags[0]), bool(flags[1])


def check_finite(
    network: str,
    total: Tensor,
    parts: Mapping[str, Tensor],
    terms: Mapping[str, nn.Module] | nn.ModuleDict,
    nonfinite: str,
    where: str,
) -> bool:
    """Whether ``total`` is finite on every process; else raise, or (``nonfinite=skip``) warn
    and return False: every process decides alike (see :func:`finite_everywhere`).

    The message names each non-finite term with its weight (a term can be finite and its
    weight not) and ``where`` it happened; under DDP it starts with the rank, and the ranks
    whose own loss was finite say the loss was non-finite on another process. Costs one
    device-to-host sync per check (plus the flag's all-reduce under DDP); the alternative,
    finding out at the next validation, loses every step since and leaves NaN weights behind.
    """
    here, everywhere = finite_everywhere(total)
    if everywhere:
        return True
    dist = torch.distributed
    world = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
    rank = f"rank {dist.get_rank()}: " if world > 1 else ""
    if here:
        message = f"{rank}non-finite {network} loss on another process at {where}"
    else:
        bad = {}
        for name, value in parts.items():
            weight = float(getattr(terms[name], "weight", 1.0)) if name in terms else 1.0
            if not bool(torch.isfinite(value * weight).all()):  # the term, or its weight
                bad[name] = f"{name}={float(value.mean())} (weight {weight})"
        terms_text = ", ".join(bad.values()) or f"total={float(total.detach())}"
        message = f"{rank}non-finite {network} loss at {where}: {terms_text}"
    if nonfinite == "skip":
        skipped = "update skipped on every process" if world > 1 else "update skipped"
        # under DDP each rank says what it saw (rank_zero_warn would hide rank 1's NaN)
        warn = warnings.warn if world > 1 else rank_zero_warn
        warn(f"{message}; {skipped} (module.nonfinite=skip)")
        return False
    raise NonFiniteLossError(
        f"{message}; stopped before the update, weights and saved checkpoints are the last "
        "good ones (module.nonfinite=skip skips such batches instead)"
    )


def logs_this_batch(trainer: L.Trainer) -> bool:
    """Whether Lightning hands this batch's on-step values to the loggers.

    It does so every ``trainer.log_every_n_steps`` batches (and when stopping); values
    logged on other batches would be overwritten unseen, and each ``self.log`` costs about
    0.4 ms of bookkeeping, ~4% of a compact-generator step on a CPU
    (benchmarks/train_throughput.py). Uses Lightning's own rule for the decision.
    """
    if getattr(trainer, "fast_dev_run", False):
        return True
    return compat.should_update_logs(trainer)


def step_uncounted(module: L.LightningModule, optimizer: Any) -> None:
    """Step the discriminator's optimizer without advancing ``global_step``.

    Lightning counts every manual ``optimizer.step()`` as a global step, so with two
    networks ``trainer.max_steps``, ``val_check_interval`` and the per-iteration LR
    schedules would disagree by a factor of two. The step still goes through the
    strategy and precision plugin (gradient scaling for fp16, DDP hooks); only the
    progress counter is left alone, so ``global_step`` counts iterations.
    """
    inner = getattr(optimizer, "optimizer", optimizer)
    module.trainer.strategy.optimizer_step(inner, closure=no_closure, model=module)


def discriminator_steps(
    module: L.LightningModule,
    loss: CompositeLoss,
    disc: nn.Module,
    opt_d: Any,
    fake: Tensor,
    gt: Tensor,
    updates: int,
    grad_clip: float | None,
    finite: Callable[[str, Tensor, Mapping[str, Tensor]], bool],
) -> dict[str, Tensor]:
    """``updates`` discriminator steps of ``module`` on one iteration's detached ``fake`` batch.

    Runs after the generator's step: D is made trainable again (G's step froze it), and
    ``fake`` is ``sr.detach()``, so no gradient reaches G. Every update reuses the same
    generated batch (WGAN-GP's 5 critic steps per G step). A non-finite loss stops the
    updates before its backward (``finite(network, total, parts)``, see :func:`check_finite`).
    Returns the last update's ``train/*`` values to log.
    """
    disc.requires_grad_(True)
    logs: dict[str, Tensor] = {}
    for _ in range(updates):
        loss_d, parts_d = loss.discriminator(disc, fake, gt)
        if not finite("discriminator", loss_d, parts_d):
            break
        opt_d.zero_grad(set_to_none=True)
        module.manual_backward(loss_d)
        if grad_clip:
            module.clip_gradients(opt_d, gradient_clip_val=grad_clip)
        step_uncounted(module, opt_d)
        logs["train/loss_d"] = loss_d.detach()
        logs.update({f"train/{k}": v for k, v in parts_d.items()})
    return logs


def optimizer_specs(
    generator: nn.Module,
    optimizer_g: OptimizerFactory | None,
    scheduler_g: SchedulerFactory | None,
    discriminator: nn.Module | None = None,
    optimizer_d: OptimizerFactory | None = None,
    scheduler_d: SchedulerFactory | None = None,
) -> list[OptimizerSpec]:
    """One :data:`OptimizerSpec` per network, G first (frozen generator parameters left out)."""
    if optimizer_g is None:
        raise ConfigError("training needs optimizer.generator")
    params_g = [p for p in generator.parameters() if p.requires_grad]
    if not params_g:
        raise ConfigError(f"generator {type(generator).__name__} has no trainable parameters")
    specs: list[OptimizerSpec] = [("generator", optimizer_g, scheduler_g, params_g)]
    if discriminator is not None:
        params_d = list(discriminator.parameters())
        specs.append(("discriminator", optimizer_d, scheduler_d, params_d))
    return specs


def build_optimizers(specs: Iterable[OptimizerSpec]) -> list[dict[str, Any]]:
    """Lightning's ``configure_optimizers`` entries: each optimizer, its per-step schedule."""
    entries: list[dict[str, Any]] = []
    for name, make_opt, make_sched, params in specs:
        assert make_opt is not None
        opt = make_opt(params)
        entry: dict[str, Any] = {"optimizer": opt}
        if make_sched is not None:
            entry["lr_scheduler"] = {
                "scheduler": make_sched(opt),
                "interval": "step",
                "name": f"lr/{name}",
            }
        entries.append(entry)
    return entries


def replan_optimizers(
    trainer: L.Trainer, optimizers: Any, specs: Iterable[OptimizerSpec], step: int
) -> None:
    """After a resume at ``step``: learning rates and schedules from the config.

    See :func:`restorelab.training.schedulers.replan_after_resume`; prints one line per
    network on rank zero.
    """
    optimizers = optimizers if isinstance(optimizers, list) else [optimizers]
    schedulers = [c.scheduler for c in trainer.lr_scheduler_configs]
    for (name, make_opt, make_sched, params), wrapped in zip(specs, optimizers, strict=True):
        inner: Any = getattr(wrapped, "optimizer", wrapped)
        sched = next((s for s in schedulers if getattr(s, "optimizer", None) is inner), None)
        assert make_opt is not None
        changed = replan_after_resume(inner, sched, make_opt(params), make_sched, step)
        if trainer.is_global_zero:
            applied = f"; optimizer.{name} changed: {', '.join(changed)}" if changed else ""
            print(
                f"resume at step {step}: {name} learning rate "
                f"{inner.param_groups[0]['lr']:.4g}, schedule as planned for "
                f"trainer.max_steps={trainer.max_steps}{applied}"
            )
