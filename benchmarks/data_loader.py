"""Does the training loader keep up? Patches/s it delivers vs patches/s the generators consume.

Three measurements in one process, on real photographs (by default the shared BSDS500 train
and test splits and the high-resolution photos next to the checkout, ``../shared/datasets``;
T91 is left out: its 78 px images are smaller than the recipe's 96 px patches):

- loader: the ``data=folder`` training DataLoader exactly as ``restorelab-train`` builds it
  (``instantiate(cfg.data)``, ``setup("fit")``, ``train_dataloader()``: random crops, flips,
  transposes, uint8 batches), iterated alone, for each variant ``memory|disk:WORKERS``:
  ``memory`` decodes the images once into RAM (``data.cache_train_mb`` large enough),
  ``disk`` decodes an image for every patch (``data.cache_train_mb=0``); WORKERS is
  ``data.num_workers``. ``preload_s`` is the time ``setup`` spent decoding into memory.
- consumers: one bare training iteration per generator (uint8 -> float, the configured
  degradation, forward, loss, backward, Adam step; the precision ``restorelab-train`` would
  choose and the recipe's channels-last setting), fed from batches already in memory, for
  each ``--generators`` entry; patches/s = batch size x iterations/s. The fastest one sets the
  bar the loader has to clear.
- fed: the fastest generator's loop fed by each loader variant in turn, in the same process,
  so loading and training share the CPU as in a run; ``fed_ratio`` (first variant fed /
  consumer) is what loading costs.

Usage (options, then ``restorelab-train`` overrides; the default recipe's batch 16 and 96 px
x4 patches apply)::

    python benchmarks/data_loader.py
    python benchmarks/data_loader.py --variants memory:0,disk:2 data.batch_size=8

The last line of stdout is JSON: ``{"cpu_capability", "images", "megapixels", "batch_size",
"patch_size", "loader" {variant: patches/s}, "preload_s", "cache_mb", "consumers"
{generator: patches/s}, "fastest", "fed" {variant: patches/s}, "fed_ratio", "keeps_up"}``
(``keeps_up``: the first variant delivers more patches/s than the fastest consumer takes).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import DictConfig, open_dict

from restorelab.config import config_dir, register_resolvers
from restorelab.data.cache import MB, MemoryCache
from restorelab.training.builder import build_module
from restorelab.training.precision import choose_precision

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
DEFAULT_DIRS = [SHARED / "BSDS500" / "train", SHARED / "BSDS500" / "test", SHARED / "photos_hr"]
#: Memory cap of the ``memory`` variants: more than any folder set this benchmark reads.
MEMORY_CAP_MB = 16384
#: Patches drawn per image per epoch, so epochs are long and rarely restart mid-measure.
REPEAT = 50


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--train-dir", action="append", default=None, help="training folder (repeatable)"
    )
    parser.add_argument("--batches", type=int, default=100, help="timed loader batches")
    parser.add_argument("--steps", type=int, default=20, help="timed training iterations")
    parser.add_argument("--warmup", type=int, default=3, help="untimed batches / iterations")
    parser.add_argument("--generators", default="compact,espcn,fsrcnn", help="consumers")
    parser.add_argument("--variants", default="memory:0,disk:0,disk:2", help="loader variants")
    parser.add_argument("overrides", nargs="*", help="restorelab-train overrides")
    args = parser.parse_args(argv)
    for name in ("batches", "steps"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1")
    args.train_dir = [str(Path(d)) for d in (args.train_dir or DEFAULT_DIRS)]
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    for variant in args.variants:
        kind, _, workers = variant.partition(":")
        if kind not in ("memory", "disk") or not workers.isdigit():
            parser.error(f"--variants: expected memory|disk:WORKERS, got {variant!r}")
    return args


def compose_cfg(args: argparse.Namespace, *extra: str) -> DictConfig:
    register_resolvers()
    dirs = ",".join(args.train_dir)
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose(
            config_name="train",
            overrides=[
                *args.overrides,
                "data=folder",
                f"data.train_dir=[{dirs}]",
                f"data.repeat={REPEAT}",
                *extra,
            ],
        )
    with open_dict(cfg):  # no Hydra run here: nothing is written, but the key must resolve
        cfg.paths.output_dir = tempfile.gettempdir()
    return cfg


def loader_for(args: argparse.Namespace, variant: str) -> tuple[Any, float, float]:
    """(DataLoader, seconds ``setup`` took, MB held in memory) of a ``memory|disk:N`` variant."""
    kind, _, workers = variant.partition(":")
    cap = MEMORY_CAP_MB if kind == "memory" else 0
    cfg = compose_cfg(args, f"data.cache_train_mb={cap}", f"data.num_workers={workers}")
    dm = instantiate(cfg.data)
    start = time.perf_counter()
    dm.setup("fit")
    preload = time.perf_counter() - start
    source = dm.train_source
    held = source.held_bytes / MB if isinstance(source, MemoryCache) else 0.0
    return dm.train_dataloader(), preload, held


def endless(loader: Any) -> Iterator[dict[str, torch.Tensor]]:
    epoch = 0
    while True:
        loader.sampler.set_epoch(epoch)
        yield from loader
        epoch += 1


def patches_per_s(batches: Iterator[dict[str, torch.Tensor]], n: int, warmup: int) -> float:
    for _ in range(warmup):
        next(batches)
    count, start = 0, time.perf_counter()
    for _ in range(n):
        count += next(batches)["gt"].shape[0]
    return count / (time.perf_counter() - start)


def training_step(cfg: DictConfig) -> Callable[[dict[str, torch.Tensor]], None]:
    """One bare training iteration of ``cfg``'s generator, loss and degradation."""
    module = build_module(cfg)
    generator, loss, degradation = module.generator, module.loss, module.degradation
    assert degradation is not None
    precision = choose_precision(cfg.trainer.precision, "cpu").precision
    channels_last = bool(cfg.module.get("channels_last"))
    if channels_last:
        generator.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    optimizer = torch.optim.Adam(generator.parameters(), lr=1e-4)
    autocast: Callable[[], Any] = (
        (lambda: torch.autocast("cpu", dtype=torch.bfloat16))
        if precision.startswith("bf16")
        else contextlib.nullcontext
    )

    def step(batch: dict[str, torch.Tensor]) -> None:
        gt = batch["gt"].float().div_(255.0)
        gt, lq = degradation.pairs(gt, seeds=None)
        if channels_last:
            lq = lq.contiguous(memory_format=torch.channels_last)
        with autocast():
            total, _ = loss.generator(generator(lq), gt, None)
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()

    return step


def consume(
    step: Callable[[dict[str, torch.Tensor]], None],
    batches: Iterator[dict[str, torch.Tensor]],
    steps: int,
    warmup: int,
) -> float:
    """Patches/s of ``step`` over ``batches`` (median of per-iteration times)."""
    for _ in range(warmup):
        step(next(batches))
    times, size = [], 0
    for _ in range(steps):
        batch = next(batches)
        start = time.perf_counter()
        step(batch)
        times.append(time.perf_counter() - start)
        size = batch["gt"].shape[0]
    return size / statistics.median(times)


def fed(
    step: Callable[[dict[str, torch.Tensor]], None],
    batches: Iterator[dict[str, torch.Tensor]],
    steps: int,
    warmup: int,
) -> float:
    """Patches/s of ``step`` with each batch fetched from the loader in the timed loop."""
    for _ in range(warmup):
        step(next(batches))
    count, start = 0, time.perf_counter()
    for _ in range(steps):
        batch = next(batches)
        step(batch)
        count += batch["gt"].shape[0]
    return count / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    capability = str(torch.backends.cpu.get_cpu_capability())
    print(f"cpu capability: {capability}, torch threads: {torch.get_num_threads()}")
    base = compose_cfg(args)
    batch_size, patch_size = int(base.data.batch_size), int(base.data.patch_size)

    loader_rates: dict[str, float] = {}
    preload_s, cache_mb = 0.0, 0.0
    loaders = {}
    for variant in args.variants:
        loader, preload, held = loader_for(args, variant)
        loader_rates[variant] = patches_per_s(endless(loader), args.batches, args.warmup)
        if held:
            preload_s, cache_mb = preload, held
        print(f"loader {variant}: {loader_rates[variant]:.0f} patches/s (setup {preload:.1f} s)")
        loaders[variant] = loader
    source = loaders[args.variants[0]].dataset.source
    images = len(source)
    megapixels = sum(w * h for w, h in source.sizes or ()) / 1e6

    pool_loader, _, _ = loader_for(args, "memory:0")
    pool = [next(iter(pool_loader)) for _ in range(max(4, args.warmup))]

    def cycle() -> Iterator[dict[str, torch.Tensor]]:
        while True:
            yield from pool

    consumers: dict[str, float] = {}
    steps: dict[str, Callable[[dict[str, torch.Tensor]], None]] = {}
    for name in [g.strip() for g in args.generators.split(",") if g.strip()]:
        steps[name] = training_step(compose_cfg(args, f"generator={name}"))
        consumers[name] = consume(steps[name], cycle(), args.steps, args.warmup)
        print(f"consumer {name}: {consumers[name]:.0f} patches/s")
    fastest = max(consumers, key=consumers.__getitem__)
    fed_rates = {}
    for variant, loader in loaders.items():
        fed_rates[variant] = fed(steps[fastest], endless(loader), args.steps, args.warmup)
        print(f"{fastest} fed by loader {variant}: {fed_rates[variant]:.0f} patches/s")
    fed_rate = fed_rates[args.variants[0]]
    result = {
        "cpu_capability": capability,
        "images": images,
        "megapixels": round(megapixels, 1),
        "batch_size": batch_size,
        "patch_size": patch_size,
        "loader": {k: round(v, 1) for k, v in loader_rates.items()},
        "preload_s": round(preload_s, 2),
        "cache_mb": round(cache_mb, 1),
        "consumers": {k: round(v, 1) for k, v in consumers.items()},
        "fastest": fastest,
        "fed": {k: round(v, 1) for k, v in fed_rates.items()},
        "fed_ratio": round(fed_rate / consumers[fastest], 3),
        "keeps_up": loader_rates[args.variants[0]] > consumers[fastest],
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
