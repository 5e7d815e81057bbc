"""Training throughput of RestorationModule under a real Lightning Trainer vs a bare PyTorch loop.

What is measured: iterations per second of one training iteration (batch to device, uint8 ->
float, degradation of ``gt`` into ``lq``, generator forward, loss, backward, optimizer step,
scheduler step; with a discriminator also its step) on two sides that do the same work:

- module: ``RestorationModule`` built by ``restorelab.training.builder.build_module`` from
  the composed ``train`` config and run by ``lightning.Trainer.fit``, exactly as
  ``restorelab-train`` runs it (same precision plugin, hooks, ``self.log`` calls, optimizer
  wrappers), minus the things that are not part of a training step: no logger, no callbacks
  of the project, no validation, no checkpointing, no progress bar, no model summary.
- raw: a hand-written loop on the same device with its own deep copy of the *initial*
  generator (and discriminator), its own optimizer and scheduler instantiated from
  ``cfg.optimizer`` / ``cfg.scheduler``, its own loss from ``cfg.loss`` and its own degradation
  from ``cfg.degradation`` (same seed), the same precision (``torch.autocast`` with bf16 for
  ``bf16-mixed``, fp16 plus ``GradScaler`` for ``16-mixed``, nothing for ``32-true``; taken
  from the precision the Trainer actually uses, so Lightning's fp16 -> bf16 fallback on a CPU
  is mirrored), the same channels-last setting and the same gradient clipping.

Why: the module should cost no more than the loop a user would write by hand; the overhead of
Lightning and of the module's own bookkeeping (logging, hooks) is ``1 - ratio``.

How the comparison is kept fair:

- Data: a fixed pool of random ``data.patch_size`` crops (uint8, batch ``data.batch_size``) is
  drawn once from the configured datamodule's ``train_dataloader`` and held in memory. Both
  sides read it in the same order through identical ``DataLoader(batch_size=None)`` objects, so
  data loading is equal and negligible, and both degrade the same ground truth.
- Interleaving: one ``trainer.fit`` runs the whole benchmark. A callback's
  ``on_train_batch_end`` runs the raw loop every ``--steps`` module iterations. After
  ``--warmup`` iterations on each side (untimed), every round times ``--steps`` module
  iterations, then ``--steps`` raw iterations, for ``--rounds`` rounds, so machine noise hits
  both sides alike. Module time of a round is the wall time from the end of the previous raw
  round to the batch boundary that closes the round: it covers exactly ``--steps`` complete
  Lightning iterations (fetch, transfer, ``on_after_batch_transfer``, hooks, ``training_step``,
  logging), and none of the raw loop's time. On a GPU both sides synchronize at round
  boundaries only, never inside a round.
- Result: per side, iterations per second from the median round time; ``ratio`` is
  module / raw (>= 0.95 is the target). The summary also shows the ratio of total times.
- Same work: at the end both generators have trained the same iterations on the same batches
  from the same start; the summary prints their largest parameter difference (0 when both sides
  computed the same thing, rounding-level where autocast scopes differ).

Precision: ``trainer.precision`` is resolved the way ``restorelab-train`` resolves it, by
``restorelab.training.precision.choose_precision(trainer.precision, trainer.accelerator)``,
and the result is passed to the Trainer (Lightning itself does not know ``auto``). With the
default ``precision: auto`` that is ``bf16-mixed`` on a CPU with native bf16 (AVX-512 BF16 /
AMX) or an Ampere+ GPU, ``16-mixed`` on older CUDA GPUs and ``32-true`` otherwise (an AVX2-only CPU
emulates bf16 about 12x slower than fp32). An explicit ``trainer.precision=...`` is kept. The
choice is printed as one ``precision: ...`` line before training.

Length: the defaults (``--steps 10 --rounds 10 --warmup 5``: 105 iterations per side, 210 in
all, still interleaved) are sized to be run often: the default generator takes well under five
minutes on an AVX2-only CPU, including start-up. Larger generators or an explicitly requested
emulated ``bf16-mixed`` cost more per iteration; scale ``--steps`` / ``--rounds`` down (or up
for less noise). The old defaults (50 x 20, warm-up 20: 2040 iterations per side) ran past
five minutes on such a CPU.

Stopping: ``main()`` installs its own SIGTERM and SIGINT handlers first. They write one line
(``train_throughput: stopped by SIGTERM ...``) to stderr, remove the benchmark's temporary
directory and end the process at once with ``os._exit(128 + signal)`` (143 for SIGTERM, 130 for
SIGINT); no result is printed. Why a hard exit instead of an exception: Lightning's signal
connector replaces the SIGTERM handler during ``fit`` with one that only sets
``trainer.received_sigterm`` (checked between batches, not inside the raw loop, which runs
inside a callback) and calls the previously installed handler after it, so our handler still
runs, but an exception raised from it would pass through Lightning's ``on_exception`` /
teardown machinery (and SIGINT's ``KeyboardInterrupt`` is turned into a "graceful shutdown").
``os._exit`` from the handler ends the process wherever the main thread is (the handler runs
as soon as the current PyTorch op returns); nothing of the benchmark needs saving. The previous
handlers are restored when ``main()`` returns, so calling it in-process (tests) leaves the
caller's handlers as they were. Once the Trainer starts training, a line ``training started:
...`` is printed (flushed), and ``raw loop started: ...`` when the raw side's warm-up begins,
so a supervisor (or the test) knows how far the run got.

Usage (options first, then ``restorelab-train`` style overrides; with no overrides the default
experiment applies: compact generator, ``trainer.precision=auto``, channels-last)::

    python benchmarks/train_throughput.py
    python benchmarks/train_throughput.py generator=msrresnet trainer.precision=32-true
    python benchmarks/train_throughput.py --steps 5 --rounds 4 --warmup 3 generator=msrresnet

The last line of stdout is JSON: ``{"generator", "precision" (the resolved one),
"requested_precision", "cpu_capability", "module_it_per_s", "raw_it_per_s", "ratio"}``
(``cpu_capability`` is ``torch.backends.cpu.get_cpu_capability()``).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

import hydra
import lightning as L
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from restorelab.config import config_dir, register_resolvers
from restorelab.training.builder import build_module
from restorelab.training.module import RestorationModule
from restorelab.training.precision import choose_precision

Batch = dict[str, Tensor]

# Always applied after the user's overrides: the benchmark's workload and a Trainer that does
# nothing but train (``++`` adds keys the trainer config does not declare).
FIXED_OVERRIDES = (
    "data.batch_size=8",
    "data.patch_size=96",
    "logger=none",
    "callbacks=none",
    "trainer.max_time=null",
    "trainer.max_epochs=1",  # one pass over the pool loader, whatever global_step counts
    "trainer.num_sanity_val_steps=0",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "++trainer.limit_val_batches=0",
    "++trainer.enable_checkpointing=false",
)
SUPPORTED_PRECISIONS = ("32-true", "bf16-mixed", "16-mixed")
#: Signals that stop the benchmark at once (exit code 128 + the signal number).
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
STOP_MESSAGE = "train_throughput: stopped by {name}; exiting with code {code}, no result"
TRAINING_STARTED = "training started"
RAW_STARTED = "raw loop started"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time RestorationModule under a Lightning Trainer against a bare PyTorch "
        "loop, interleaved in one process. Positional arguments are restorelab-train overrides.",
    )
    parser.add_argument("--steps", type=int, default=10, help="iterations per side per round")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds")
    parser.add_argument("--warmup", type=int, default=5, help="untimed iterations per side")
    parser.add_argument("--pool", type=int, default=16, help="batches in the in-memory pool")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. generator=msrresnet")
    args = parser.parse_args(argv)
    for name in ("steps", "rounds", "warmup", "pool"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1")
    fixed_keys = {_override_key(o) for o in FIXED_OVERRIDES}
    clashes = sorted(_override_key(o) for o in args.overrides if _override_key(o) in fixed_keys)
    if clashes:
        parser.error(f"these keys are fixed by the benchmark: {', '.join(clashes)}")
    return args


def _override_key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


class StopOnSignal:
    """SIGTERM/SIGINT handlers that end the process at once (see the module docstring).

    ``install`` keeps the previous handlers and ``restore`` puts them back; ``cleanup`` is a
    directory removed before exiting. Outside the main thread (where Python cannot set
    handlers) it does nothing.
    """

    def __init__(self) -> None:
        self.cleanup: str | None = None
        self.previous: dict[int, Any] = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in STOP_SIGNALS:
            self.previous[signum] = signal.signal(signum, self.handle)

    def restore(self) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        self.previous = {}

    def handle(self, signum: int, frame: FrameType | None) -> None:
        code = 128 + int(signum)
        message = STOP_MESSAGE.format(name=signal.Signals(signum).name, code=code)
        # os.write, not print: the main thread may be inside a write to sys.stderr/stdout
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        with contextlib.suppress(Exception):
            os.write(2, (message + "\n").encode())
        if self.cleanup is not None:
            shutil.rmtree(self.cleanup, ignore_errors=True)
        os._exit(code)


def compose_config(overrides: list[str], total_steps: int, out_dir: str) -> tuple[DictConfig, str]:
    """The ``train`` config with the user's and the fixed overrides; also the generator's name.

    ``trainer.max_steps`` is set to the benchmark's length (counting G and D optimizer steps, as
    Lightning does with a discriminator), so schedules that read it are the same on both sides.
    """
    register_resolvers()
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose(
            config_name="train",
            overrides=[*overrides, *FIXED_OVERRIDES],
            return_hydra_config=True,
        )
    name = str(cfg.hydra.runtime.choices.get("generator") or cfg.generator.get("_target_"))
    with open_dict(cfg):
        del cfg["hydra"]  # its interpolations only resolve inside a Hydra app
        cfg.paths.output_dir = out_dir
        steps_per_iteration = 2 if cfg.get("discriminator") else 1
        cfg.trainer.max_steps = total_steps * steps_per_iteration
    return cfg, name.rsplit(".", 1)[-1]


def draw_pool(cfg: DictConfig, size: int) -> list[Batch]:
    """``size`` training batches (uint8 crops) from the configured datamodule, kept in memory."""
    datamodule = hydra.utils.instantiate(cfg.data)
    pool: list[Batch] = []
    for batch in datamodule.train_dataloader():
        pool.append({k: v.clone() for k, v in batch.items() if isinstance(v, Tensor)})
        if len(pool) == size:
            break
    if not pool:
        raise SystemExit("the training dataloader yielded no batches")
    return pool


class PoolDataset(Dataset[Batch]):
    """Pre-collated batches from the pool, cycled; ``length`` items in one pass.

    Every item is a fresh dict (the module replaces ``gt`` in the batch dict it receives) that
    shares the pool's uint8 tensors, which are never modified.
    """

    def __init__(self, pool: list[Batch], length: int) -> None:
        self.pool = pool
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> Batch:
        return dict(self.pool[index % len(self.pool)])


def pool_loader(pool: list[Batch], length: int) -> DataLoader:
    """The loader both sides read: no collation, no workers, same order."""
    return DataLoader(PoolDataset(pool, length), batch_size=None, shuffle=False, num_workers=0)


def synchronize(device: torch.device) -> None:
    """Wait for queued kernels, so wall-clock times cover the work (no-op on a CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


class RawLoop:
    """The training iteration of RestorationModule written as a plain PyTorch loop.

    Args:
        cfg: the composed config (optimizer, scheduler, loss and degradation come from it).
        generator: the initial generator (already a private copy).
        discriminator: the initial discriminator (a private copy) or None.
        device: where to train.
        precision: the Trainer's precision, one of ``SUPPORTED_PRECISIONS``.
        channels_last: feed the generator channels-last inputs, as the module does.
        grad_clip: max gradient norm per network (None: no clipping).
        loader: the loader over the shared pool.
    """

    def __init__(
        self,
        cfg: DictConfig,
        generator: nn.Module,
        discriminator: nn.Module | None,
        device: torch.device,
        precision: str,
        channels_last: bool,
        grad_clip: float | None,
        loader: DataLoader,
    ) -> None:
        self.device = device
        self.channels_last = channels_last
        self.grad_clip = grad_clip
        self.generator = generator.to(device).train()
        if channels_last:
            self.generator.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.discriminator = None if discriminator is None else discriminator.to(device).train()
        self.loss = hydra.utils.instantiate(cfg.loss).to(device)
        self.degradation = hydra.utils.instantiate(cfg.degradation).to(device)
        params_g = [p for p in self.generator.parameters() if p.requires_grad]
        self.opt_g = hydra.utils.instantiate(cfg.optimizer.generator)(params_g)
        self.opt_d = None
        if self.discriminator is not None:
            self.opt_d = hydra.utils.instantiate(cfg.optimizer.discriminator)(
                list(self.discriminator.parameters())
            )
        scheduler = cfg.get("scheduler") or {}
        self.schedulers: list[Any] = []
        for opt, key in ((self.opt_g, "generator"), (self.opt_d, "discriminator")):
            if opt is not None and scheduler.get(key):
                self.schedulers.append(hydra.utils.instantiate(scheduler.get(key))(opt))
        self.autocast: Callable[[], contextlib.AbstractContextManager[Any]]
        self.scaler: torch.amp.GradScaler | None = None
        if precision == "32-true":
            self.autocast = contextlib.nullcontext
        else:
            dtype = torch.bfloat16 if precision == "bf16-mixed" else torch.float16
            self.autocast = lambda: torch.autocast(device_type=device.type, dtype=dtype)
            if precision == "16-mixed":
                self.scaler = torch.amp.GradScaler(device.type)
        self.loader = loader
        self.batches = self._cycle()

    def _cycle(self) -> Iterator[Batch]:
        while True:
            yield from self.loader

    def _prepare(self, batch: Batch) -> tuple[Tensor, Tensor]:
        """Transfer, uint8 -> float [0, 1], and ``lq`` from the degradation when missing."""
        batch = {k: v.to(self.device) for k, v in batch.items()}
        gt = batch["gt"].float().div_(255.0)
        lq = batch["lq"].float().div_(255.0) if "lq" in batch else self.degradation(gt)
        return gt, lq

    def _update(self, loss: Tensor, opt: torch.optim.Optimizer, net: nn.Module) -> None:
        opt.zero_grad(set_to_none=True)
        if self.scaler is None:
            loss.backward()
            if self.grad_clip:
                nn.utils.clip_grad_norm_(net.parameters(), self.grad_clip)
            opt.step()
            return
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(opt)
        if self.grad_clip:
            nn.utils.clip_grad_norm_(net.parameters(), self.grad_clip)
        self.scaler.step(opt)
        self.scaler.update()

    def step(self) -> None:
        """One iteration: generator step, discriminator step (if any), schedulers."""
        gt, lq = self._prepare(next(self.batches))
        disc = self.discriminator
        with self.autocast():
            if self.channels_last:
                lq = lq.contiguous(memory_format=torch.channels_last)
            sr = self.generator(lq)
            if disc is not None:
                disc.requires_grad_(False)
            loss_g, _ = self.loss.generator(sr, gt, disc)
        self._update(loss_g, self.opt_g, self.generator)
        if disc is not None and self.opt_d is not None:
            disc.requires_grad_(True)
            with self.autocast():
                loss_d, _ = self.loss.discriminator(disc, sr.detach(), gt)
            self._update(loss_d, self.opt_d, disc)
        for sched in self.schedulers:
            sched.step()

    def run(self, steps: int) -> float:
        """Run ``steps`` iterations; returns their wall time in seconds."""
        synchronize(self.device)
        start = time.perf_counter()
        for _ in range(steps):
            self.step()
        synchronize(self.device)
        return time.perf_counter() - start


class InterleavedTimer(L.Callback):
    """Alternates timed rounds: ``steps`` Lightning iterations, then ``steps`` raw iterations.

    The raw loop runs inside ``on_train_batch_end``; module time is measured from the end of
    the previous raw round to the batch boundary that closes the next module round.
    """

    def __init__(
        self,
        make_raw: Callable[[L.Trainer, RestorationModule], RawLoop],
        steps: int,
        rounds: int,
        warmup: int,
    ) -> None:
        self.make_raw = make_raw
        self.steps = steps
        self.rounds = rounds
        self.warmup = warmup
        self.module_times: list[float] = []
        self.raw_times: list[float] = []
        self.raw: RawLoop | None = None
        self.seen = 0
        self.mark = 0.0

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        assert isinstance(pl_module, RestorationModule)
        self.raw = self.make_raw(trainer, pl_module)
        print(
            f"{TRAINING_STARTED}: {self.warmup} warm-up + {self.rounds} rounds x "
            f"{self.steps} iterations per side",
            flush=True,
        )

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        assert self.raw is not None
        self.seen += 1
        timed = self.seen - self.warmup
        if timed < 0 or timed % self.steps or timed > self.steps * self.rounds:
            return
        synchronize(pl_module.device)
        if timed == 0:
            print(f"{RAW_STARTED}: {self.warmup} warm-up iterations", flush=True)
            self.raw.run(self.warmup)  # the raw side's warm-up, untimed
        else:
            self.module_times.append(time.perf_counter() - self.mark)
            self.raw_times.append(self.raw.run(self.steps))
        self.mark = time.perf_counter()


def max_param_diff(a: nn.Module, b: nn.Module) -> float:
    """Largest absolute difference between two networks' parameters (0: identical)."""
    with torch.no_grad():
        return max(
            (
                float((p - q.to(p)).abs().max())
                for p, q in zip(a.parameters(), b.parameters(), strict=True)
            ),
            default=0.0,
        )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    stopper = StopOnSignal()
    stopper.install()  # first: stoppable from here on (Lightning chains this handler)
    try:
        return run(parse_args(argv), stopper)
    finally:
        stopper.restore()


def run(args: argparse.Namespace, stopper: StopOnSignal) -> dict[str, Any]:
    """The benchmark; ``main`` wraps it in the signal handlers."""
    warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=r".*val_dataloader.*")
    iterations = args.warmup + args.steps * args.rounds
    with tempfile.TemporaryDirectory(prefix="train_throughput_") as out_dir:
        stopper.cleanup = out_dir
        cfg, gen_name = compose_config(args.overrides, iterations, out_dir)
        choice = choose_precision(
            cfg.trainer.get("precision"), cfg.trainer.get("accelerator", "auto")
        )
        print(choice.line(), flush=True)
        if cfg.get("seed") is not None:
            L.seed_everything(int(cfg.seed), workers=True)
        module = build_module(cfg)
        # the initial networks, copied before Lightning touches them: both sides start equal
        generator0 = copy.deepcopy(module.generator)
        discriminator0 = copy.deepcopy(module.discriminator)
        pool = draw_pool(cfg, args.pool)

        def make_raw(trainer: L.Trainer, pl_module: RestorationModule) -> RawLoop:
            """The raw side, built once Lightning has placed the module on its device."""
            return RawLoop(
                cfg,
                generator0,
                discriminator0,
                pl_module.device,
                str(trainer.precision),
                bool(pl_module.channels_last),
                pl_module.grad_clip,
                pool_loader(pool, iterations),
            )

        timer = InterleavedTimer(make_raw, args.steps, args.rounds, args.warmup)
        trainer: L.Trainer = hydra.utils.instantiate(
            cfg.trainer, callbacks=[timer], logger=False, precision=choice.precision
        )
        precision = str(trainer.precision)
        if precision not in SUPPORTED_PRECISIONS:
            raise SystemExit(
                f"trainer.precision={precision} is not supported by the raw loop; "
                f"use one of {', '.join(SUPPORTED_PRECISIONS)}"
            )
        trainer.fit(module, train_dataloaders=pool_loader(pool, iterations))
        stopper.cleanup = None  # the directory is removed by the context manager now
    if len(timer.module_times) != args.rounds:
        raise SystemExit(f"only {len(timer.module_times)} of {args.rounds} rounds ran")
    assert timer.raw is not None
    # both sides trained the same iterations on the same data from the same start: their
    # generators should agree (up to floating-point reordering), evidence of equal work
    drift = max_param_diff(module.generator, timer.raw.generator)

    steps = args.steps
    module_rate = steps / statistics.median(timer.module_times)
    raw_rate = steps / statistics.median(timer.raw_times)
    result = {
        "generator": gen_name,
        "precision": precision,
        "requested_precision": choice.requested,
        "cpu_capability": str(torch.backends.cpu.get_cpu_capability()),
        "module_it_per_s": round(module_rate, 3),
        "raw_it_per_s": round(raw_rate, 3),
        "ratio": round(module_rate / raw_rate, 4),
    }
    print(
        f"train throughput: generator={gen_name} precision={precision} "
        f"device={module.device} batch={cfg.data.batch_size} patch={cfg.data.patch_size} "
        f"scale=x{cfg.data.scale} threads={torch.get_num_threads()} "
        f"channels_last={module.channels_last}"
    )
    print(f"{args.rounds} rounds x {steps} iterations per side, {args.warmup} warm-up")
    print(f"{'round':>5} {'module it/s':>12} {'raw it/s':>10} {'ratio':>7}")
    for i, (tm, tr) in enumerate(zip(timer.module_times, timer.raw_times, strict=True), 1):
        print(f"{i:>5} {steps / tm:>12.3f} {steps / tr:>10.3f} {tr / tm:>7.3f}")
    total_ratio = sum(timer.raw_times) / sum(timer.module_times)
    print(
        f"median: module {module_rate:.3f} it/s, raw {raw_rate:.3f} it/s, "
        f"ratio {module_rate / raw_rate:.3f} (ratio of totals {total_ratio:.3f})"
    )
    print(
        f"same-work check: max |generator parameter difference| after training = {drift:.3g} "
        "(0 or rounding-level expected)"
    )
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
