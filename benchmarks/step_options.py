"""Which step options speed up training on this CPU: each against plain fp32 eager, interleaved.

What is measured: iterations per second of the generator's training step (uint8 -> float,
degradation of ``gt`` into ``lq``, forward, L1/configured loss, backward, optimizer step) for a
set of variants of the same step, all in one process:

- ``fp32``: eager, contiguous tensors, no autocast (the reference every ratio divides by);
- ``fp32_cl``: channels-last memory format (``module.channels_last=true``);
- ``fp32_compile`` / ``fp32_compile_cl``: the generator's forward compiled with
  ``torch.compile`` (``module.compile=true``, inductor backend), contiguous / channels-last;
- ``fp32_1thread``: the eager step with ``torch.set_num_threads(1)`` (the thread-count question
  on a 2-core machine);
- ``bf16`` / ``bf16_cl`` / ``bf16_compile_cl``: bf16 autocast (what ``precision: auto`` picks on a
  CPU with native bf16); included by default only where ``precision: auto`` would choose it,
  because on an AVX2-only CPU one emulated bf16 step costs ~12 fp32 steps.

Each variant has its own deep copy of the same initial generator and its own optimizer (from
``cfg.optimizer.generator``), and all read the same in-memory pool of uint8 crops drawn once
from the configured datamodule. After ``--warmup`` untimed iterations per variant (which also
pays for compilation), every round times ``--steps`` iterations of each variant in turn, the
order rotated each round, so machine noise hits all variants alike. Speeds come from the median
round; ``ratio`` is variant / ``fp32``.

Usage (options first, then ``restorelab-train`` overrides; the default recipe's generator,
batch and patch apply unless overridden)::

    python benchmarks/step_options.py
    python benchmarks/step_options.py --variants fp32,fp32_cl,fp32_compile_cl generator=msrresnet
    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 python benchmarks/step_options.py

The last line of stdout is JSON: ``{"generator", "batch", "patch", "cpu_capability",
"native_bf16", "threads", "it_per_s": {variant: ...}, "ratio": {variant: ...}}``.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import hydra
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict
from torch import Tensor, nn

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from train_throughput import draw_pool

from restorelab.config import config_dir, register_resolvers
from restorelab.training.builder import build_module
from restorelab.training.precision import cpu_native_bf16

Batch = dict[str, Tensor]


@dataclass(frozen=True)
class Variant:
    """One way to run the step: autocast dtype, memory format, compilation, thread count."""

    dtype: torch.dtype | None = None
    channels_last: bool = False
    compile: bool = False
    threads: int | None = None


VARIANTS: dict[str, Variant] = {
    "fp32": Variant(),
    "fp32_cl": Variant(channels_last=True),
    "fp32_compile": Variant(compile=True),
    "fp32_compile_cl": Variant(channels_last=True, compile=True),
    "fp32_1thread": Variant(threads=1),
    "bf16": Variant(dtype=torch.bfloat16),
    "bf16_cl": Variant(dtype=torch.bfloat16, channels_last=True),
    "bf16_compile_cl": Variant(dtype=torch.bfloat16, channels_last=True, compile=True),
}
REFERENCE = "fp32"
FP32_DEFAULT = ("fp32", "fp32_cl", "fp32_compile", "fp32_compile_cl", "fp32_1thread")
BF16_DEFAULT = ("bf16", "bf16_cl", "bf16_compile_cl")


def default_variants() -> list[str]:
    """fp32 variants everywhere; bf16 ones only where ``precision: auto`` would pick bf16."""
    return [*FP32_DEFAULT, *(BF16_DEFAULT if cpu_native_bf16() else ())]


def compose_config(overrides: list[str]) -> tuple[DictConfig, str]:
    """The ``train`` config as ``restorelab-train`` composes it; also the generator's name."""
    register_resolvers()
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides, return_hydra_config=True)
    name = str(cfg.hydra.runtime.choices.get("generator") or cfg.generator.get("_target_"))
    with open_dict(cfg):
        del cfg["hydra"]  # its interpolations only resolve inside a Hydra app
        cfg.paths.output_dir = tempfile.gettempdir()  # nothing is written there
    return cfg, name.rsplit(".", 1)[-1]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--variants", default=None, help="comma-separated; default: see --help")
    parser.add_argument("--steps", type=int, default=5, help="iterations per variant per round")
    parser.add_argument("--rounds", type=int, default=6, help="interleaved rounds")
    parser.add_argument("--warmup", type=int, default=3, help="untimed iterations per variant")
    parser.add_argument("--pool", type=int, default=8, help="batches in the in-memory pool")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. generator=msrresnet")
    args = parser.parse_args(argv)
    names = args.variants.split(",") if args.variants else default_variants()
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    if REFERENCE not in names:
        names.insert(0, REFERENCE)
    args.names = names
    for name in ("steps", "rounds", "warmup", "pool"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1")
    return args


class VariantStep:
    """The generator's training step run one way; ``run(n)`` returns the wall time of n steps."""

    def __init__(
        self, cfg: DictConfig, generator: nn.Module, variant: Variant, pool: list[Batch]
    ) -> None:
        self.variant = variant
        self.generator = copy.deepcopy(generator).train()
        if variant.channels_last:
            self.generator.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        if variant.compile:
            self.generator.compile(backend="inductor")
        self.loss = hydra.utils.instantiate(cfg.loss)
        self.degradation = hydra.utils.instantiate(cfg.degradation)
        self.optimizer = hydra.utils.instantiate(cfg.optimizer.generator)(
            [p for p in self.generator.parameters() if p.requires_grad]
        )
        self.pool = pool
        self.index = 0
        self.autocast: Callable[[], contextlib.AbstractContextManager[Any]] = (
            contextlib.nullcontext
            if variant.dtype is None
            else lambda: torch.autocast("cpu", dtype=variant.dtype)
        )

    def step(self) -> None:
        batch = self.pool[self.index % len(self.pool)]
        self.index += 1
        gt = batch["gt"].float().div_(255.0)
        lq = self.degradation(gt)
        if self.variant.channels_last:
            lq = lq.contiguous(memory_format=torch.channels_last)
        with self.autocast():
            sr = self.generator(lq)
            loss, _ = self.loss.generator(sr, gt, None)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()

    def run(self, steps: int) -> float:
        threads = torch.get_num_threads()
        if self.variant.threads is not None:
            torch.set_num_threads(self.variant.threads)
        try:
            start = time.perf_counter()
            for _ in range(steps):
                self.step()
            return time.perf_counter() - start
        finally:
            torch.set_num_threads(threads)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    # the reference generator: contiguous and eager; each variant converts its own copy
    cfg, gen_name = compose_config(
        [*args.overrides, "module.channels_last=false", "module.compile=false"]
    )
    torch.manual_seed(int(cfg.get("seed") or 0))
    generator = build_module(cfg).generator
    pool = draw_pool(cfg, args.pool)
    steps = {name: VariantStep(cfg, generator, VARIANTS[name], pool) for name in args.names}
    cap = str(torch.backends.cpu.get_cpu_capability())
    threads = torch.get_num_threads()
    print(
        f"step options: generator={gen_name} batch={cfg.data.batch_size} "
        f"patch={cfg.data.patch_size} cpu_capability={cap} native_bf16={cpu_native_bf16()} "
        f"threads={threads}; {args.warmup} warm-up + {args.rounds} rounds x {args.steps}",
        flush=True,
    )
    for name, step in steps.items():
        start = time.perf_counter()
        step.run(args.warmup)
        print(f"  warm-up {name}: {time.perf_counter() - start:.1f} s", flush=True)
    times: dict[str, list[float]] = {name: [] for name in steps}
    order = list(steps)
    for r in range(args.rounds):
        shift = r % len(order)
        for name in order[shift:] + order[:shift]:
            times[name].append(steps[name].run(args.steps))
    rate = {n: args.steps / statistics.median(t) for n, t in times.items()}
    print(f"{'variant':>16} {'it/s':>8} {'ratio':>7}  per-round it/s")
    for name in steps:
        rounds = " ".join(f"{args.steps / t:.2f}" for t in times[name])
        print(f"{name:>16} {rate[name]:>8.3f} {rate[name] / rate[REFERENCE]:>7.3f}  {rounds}")
    result = {
        "generator": gen_name,
        "batch": int(cfg.data.batch_size),
        "patch": int(cfg.data.patch_size),
        "cpu_capability": cap,
        "native_bf16": cpu_native_bf16(),
        "threads": threads,
        "it_per_s": {n: round(v, 3) for n, v in rate.items()},
        "ratio": {n: round(v / rate[REFERENCE], 3) for n, v in rate.items()},
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
