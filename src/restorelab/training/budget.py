"""Wall-clock budgets that anneal: fit ``trainer.max_steps`` to ``trainer.max_time``.

A budget that merely stops training (Lightning's ``max_time``) leaves the learning-rate
schedule unfinished on a slow machine: a cosine sized for 12,000 steps is still near its peak
when the clock runs out after 2,000. With ``budget.plan`` on and ``trainer.max_time`` set, a
run instead

1. measures its own speed first, on a throw-away copy of the model (``budget.warmup_steps``
   untimed steps, then ``budget.measure_steps`` timed ones, and two validation passes, the
   second timed), leaving every random state as it found it;
2. plans the number of steps that fits what is left of the budget after start-up, the
   measurement, ``budget.val_count`` validations and ``budget.reserve_s`` for the final
   checkpoint, times ``budget.safety`` (machines are noisy), capped by ``trainer.max_steps``;
3. trains that many steps with every schedule sized for them (``${trainer.max_steps}`` resolves
   to the plan) and validates ``budget.val_count`` times, the last at the final step.

The plan is printed in one line, recorded in ``run_info.json`` and written into the run's saved
config (``budget.planned`` of ``RUN/.hydra/config.yaml``); a config that carries a plan for the
same ``trainer.max_steps`` and ``trainer.max_time`` reuses it without measuring, so a rerun from
the saved config, or a resume, repeats the run step for step. Changing either key (``resume=RUN
trainer.max_steps=N``) plans again. :class:`TimeBudget` still stops a run that turns out slower
than measured at the deadline; the final validation and checkpoint follow as usual.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
import time
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import hydra
import lightning as L
from omegaconf import DictConfig, OmegaConf

from restorelab.errors import ConfigError

#: How a planning parent hands its plan to the DDP processes it starts (they must not measure).
PLAN_ENV = "RESTORELAB_BUDGET_PLAN"


def max_time_seconds(value: Any) -> float | None:
    """Seconds of a ``trainer.max_time`` value (``"DD:HH:MM:SS"``, a mapping, or None)."""
    if value in (None, ""):
        return None
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, Mapping):
        return dt.timedelta(**{str(k): float(v) for k, v in value.items()}).total_seconds()
    parts = str(value).split(":")
    if len(parts) != 4 or not all(p.strip().isdigit() for p in parts):
        raise ConfigError(f"trainer.max_time={value!r}: expected DD:HH:MM:SS, e.g. 00:00:09:00")
    days, hours, minutes, seconds = (int(p) for p in parts)
    return float(((days * 24 + hours) * 60 + minutes) * 60 + seconds)


@dataclass(frozen=True)
class BudgetPlan:
    """What a budgeted run decided from its measured speed (all of it is stored)."""

    max_steps: int  # the step the schedule ends at (``trainer.max_steps`` of the run)
    val_check_interval: int
    cap: int  # ``trainer.max_steps`` of the config: the plan never goes beyond it
    max_time: str
    budget_s: float
    start_step: int
    it_per_s: float
    val_s: float
    elapsed_s: float  # start-up and measurement, already spent when planning

    def matches(self, cfg: DictConfig) -> bool:
        """Whether this plan was made for the config's ``max_steps`` and ``max_time``."""
        return self.cap == int(cfg.trainer.max_steps) and self.max_time == str(
            cfg.trainer.get("max_time")
        )

    def line(self, reused: bool) -> str:
        """The one line the run prints about its plan."""
        validations = math.ceil((self.max_steps - self.start_step) / self.val_check_interval)
        how = (
            "reused from the saved config (budget.planned)"
            if reused
            else f"measured {self.it_per_s:.2f} it/s and {self.val_s:.2f} s per validation"
        )
        capped = " (= trainer.max_steps)" if self.max_steps == self.cap else ""
        return (
            f"budget: {self.max_time} -> trainer.max_steps={self.max_steps}{capped}, "
            f"val_check_interval={self.val_check_interval} ({validations} validations); {how}"
        )

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> BudgetPlan:
        fields = cls.__dataclass_fields__
        missing = [k for k in fields if k not in data]
        if missing:
            raise ConfigError(f"budget.planned lacks {missing}: set budget.planned=null to replan")
        return cls(**{k: data[k] for k in fields})  # type: ignore[arg-type]


def plan_steps(
    *,
    budget_s: float,
    elapsed_s: float,
    it_per_s: float,
    val_s: float,
    cap: int,
    start_step: int,
    val_count: int,
    safety: float,
    reserve_s: float,
) -> tuple[int, int]:
    """``(max_steps, val_check_interval)`` that fit the remaining budget.

    ``steps / it_per_s + val_count * val_s <= (budget_s - elapsed_s - reserve_s) * safety``,
    at most ``cap`` in all; validations every ``ceil(steps / val_count)`` steps.
    """
    if val_count < 1:
        raise ConfigError(f"budget.val_count must be >= 1, got {val_count}")
    if not 0.0 < safety <= 1.0:
        raise ConfigError(f"budget.safety must be in (0, 1], got {safety}")
    train_s = (budget_s - elapsed_s - reserve_s) * safety - val_count * val_s
    fit = math.floor(train_s * it_per_s)
    steps = min(cap - start_step, fit)
    if steps < 1:
        raise ConfigError(
            f"trainer.max_time ({budget_s:.0f} s) leaves no time to train: {elapsed_s:.0f} s "
            f"already spent, {val_count} validations of {val_s:.1f} s and {reserve_s:.0f} s "
            f"reserved at {it_per_s:.2f} it/s; raise trainer.max_time or lower budget.val_count"
        )
    return start_step + steps, max(1, math.ceil(steps / val_count))


class _StepClock(L.Callback):
    """Times the training steps after the first ``warmup`` ones."""

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.start: float | None = None
        self.end = 0.0
        self.timed = 0

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        now = time.perf_counter()
        if trainer.global_step == self.warmup:
            self.start = now
        elif self.start is not None:
            self.end = now
            self.timed += 1


@contextmanager
def _quiet_lightning() -> Any:
    """Hide Lightning's per-Trainer banner (GPU available, ...) during the measurement."""
    names = ("lightning.pytorch", "lightning.fabric")
    levels = [logging.getLogger(n).level for n in names]
    for name in names:
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        yield
    finally:
        for name, level in zip(names, levels, strict=True):
            logging.getLogger(name).setLevel(level)


def measure_speed(
    cfg: DictConfig, precision: str, build_module: Callable[[DictConfig], L.LightningModule]
) -> tuple[float, float]:
    """``(training it/s, seconds per validation)`` of the configured run, on one device.

    Trains a throw-away module built from ``cfg`` with the real data pipeline and precision;
    every global random state is put back afterwards, so the real run starts exactly as an
    unmeasured one would.
    """
    from restorelab.training.callbacks.resume_state import capture_global_rng, restore_global_rng

    warmup, steps = int(cfg.budget.warmup_steps), int(cfg.budget.measure_steps)
    if warmup < 1 or steps < 1:
        raise ConfigError("budget.warmup_steps and budget.measure_steps must be >= 1")
    rng = capture_global_rng()
    common = {
        "precision": precision,
        "devices": 1,
        "num_nodes": 1,
        "strategy": "auto",
        "max_time": None,
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "num_sanity_val_steps": 0,
        "default_root_dir": None,
    }
    try:
        with _quiet_lightning():
            module = build_module(cfg)
            datamodule = hydra.utils.instantiate(cfg.data)
            clock = _StepClock(warmup)
            trainer = hydra.utils.instantiate(
                cfg.trainer,
                **common,
                max_steps=warmup + steps,
                limit_val_batches=0,
                callbacks=[clock],
            )
            trainer.fit(module, datamodule=datamodule)
            if clock.start is None or clock.timed == 0:
                raise ConfigError("budget: the training data ran out before the speed was measured")
            it_per_s = clock.timed / (clock.end - clock.start)
            validator = hydra.utils.instantiate(cfg.trainer, **common, callbacks=[])
            validator.validate(module, datamodule=datamodule, verbose=False)  # warm-up
            t0 = time.perf_counter()
            validator.validate(module, datamodule=datamodule, verbose=False)
            val_s = time.perf_counter() - t0
    finally:
        restore_global_rng(rng)
    return it_per_s, val_s


def saved_plan(cfg: DictConfig) -> BudgetPlan | None:
    """The plan handed down by a DDP parent, else the config's ``budget.planned`` if it fits.

    Only a DDP worker (rank > 0) reads the inherited plan: the process that plans keeps the
    variable in its environment, and the next job of an in-process sweep must plan anew.
    """
    from restorelab.runs.info import is_global_zero

    inherited = os.environ.get(PLAN_ENV)
    if inherited and not is_global_zero():
        return BudgetPlan.from_mapping(json.loads(inherited))
    node = (cfg.get("budget") or {}).get("planned")
    if not node:
        return None
    plan = BudgetPlan.from_mapping(OmegaConf.to_container(node))  # type: ignore[arg-type]
    return plan if plan.matches(cfg) else None


def make_plan(
    cfg: DictConfig,
    precision: str,
    build_module: Callable[[DictConfig], L.LightningModule],
    started: float,
    start_step: int,
) -> tuple[BudgetPlan | None, bool]:
    """The run's plan and whether it was reused; ``(None, False)`` when nothing is budgeted.

    Args:
        cfg: the composed run config.
        precision: the resolved trainer precision (the measurement runs in it).
        build_module: builds the LightningModule from a config (``train.build_module``).
        started: ``time.monotonic()`` when the run started: the budget counts from there.
        start_step: the step training resumes from (0 for a fresh run).
    """
    budget = cfg.get("budget") or {}
    seconds = max_time_seconds(cfg.trainer.get("max_time"))
    if seconds is None or not budget.get("plan", False):
        return None, False
    plan = saved_plan(cfg)
    if plan is not None:
        return plan, True
    it_per_s, val_s = measure_speed(cfg, precision, build_module)
    elapsed = time.monotonic() - started
    max_steps, interval = plan_steps(
        budget_s=seconds,
        elapsed_s=elapsed,
        it_per_s=it_per_s,
        val_s=val_s,
        cap=int(cfg.trainer.max_steps),
        start_step=start_step,
        val_count=int(budget["val_count"]),
        safety=float(budget["safety"]),
        reserve_s=float(budget["reserve_s"]),
    )
    plan = BudgetPlan(
        max_steps=max_steps,
        val_check_interval=interval,
        cap=int(cfg.trainer.max_steps),
        max_time=str(cfg.trainer.get("max_time")),
        budget_s=seconds,
        start_step=start_step,
        it_per_s=round(it_per_s, 4),
        val_s=round(val_s, 4),
        elapsed_s=round(elapsed, 3),
    )
    return plan, False


def apply_plan(cfg: DictConfig, plan: BudgetPlan) -> DictConfig:
    """A copy of ``cfg`` that trains to the plan (schedules follow ``trainer.max_steps``)."""
    return OmegaConf.merge(  # type: ignore[return-value]
        cfg,
        {
            "trainer": {"max_steps": plan.max_steps, "val_check_interval": plan.val_check_interval},
            "budget": {"planned": asdict(plan)},
        },
    )


def plan_as_dict(plan: BudgetPlan) -> dict[str, Any]:
    """The plan as plain data (``run_info.json``, the saved config, DDP children)."""
    return asdict(plan)


class TimeBudget(L.Callback):
    """Stop training at a deadline counted from this invocation's start (not a resumed one's).

    Lightning's ``max_time`` counts from its own ``on_train_start`` and restores the time spent
    before a resume from the checkpoint; a resumed run here gets its budget anew. Rank zero's
    clock decides for every DDP process. After the stop, ``restorelab-train`` validates and
    saves ``last.ckpt`` as at a normal end.
    """

    def __init__(self, deadline: float, max_time: str) -> None:
        self.deadline = deadline
        self.max_time = max_time
        self.stopped_at: int | None = None

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        late = time.monotonic() >= self.deadline
        late = bool(trainer.strategy.broadcast(late, src=0))
        if late and not trainer.should_stop:
            trainer.should_stop = True
            self.stopped_at = trainer.global_step
            if trainer.is_global_zero:
                print(
                    f"budget: trainer.max_time={self.max_time} reached at step "
                    f"{trainer.global_step} of {trainer.max_steps}; final validation and "
                    "checkpoint follow"
                )
