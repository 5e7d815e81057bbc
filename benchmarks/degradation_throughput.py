"""Throughput of ``degradation=realesrgan`` against BasicSR's own pipeline, side by side in one run.

Run it with the peer venv's Python (BasicSR 1.4.2, Real-ESRGAN 0.3.0 and restorelab installed
there; see ``../shared/peer/SETUP.md``)::

    /tmp/peer/venv/bin/python benchmarks/degradation_throughput.py [--batch 16] [--size 256]
        [--rounds 60] [--usm-rounds 4] [--warmup 2] [--threads 2] [overrides ...]

The two sides, on the same batches of ``--size`` px crops of the embedded photographs (x4):

- BasicSR: the peer harness (``basicsr_degradation_speed.py``) drives the genuine
  ``RealESRGANModel.feed_data`` on its CPU stand-in object, with the per-image kernels drawn by
  the harness's ``sample_kernels`` (``RealESRGANDataset``'s code, checked there bit for bit)
  inside the timed region, as a DataLoader worker would draw them.
- restorelab: ``degradation=realesrgan`` composed exactly as ``restorelab-train`` composes it
  (extra arguments are Hydra overrides), called the way training calls it
  (:meth:`~restorelab.degradations.Degradation.pairs` when it has one, which runs the
  training-pair pool).

Two phases, each interleaved round by round (the side that goes first alternates):

- without unsharp masking: BasicSR with ``usm_sharpener`` replaced by identity and the pool off
  (the harness's phase A), restorelab with ``degradation.stages.usm=null`` and
  ``degradation.pool_size=0``; ``--rounds`` rounds.
- with it: the complete ``feed_data`` (``USMSharp`` of the ground truth for the input and again
  for the loss targets, and the pool, ``queue_size`` 180 rounded up to a multiple of the batch)
  against the full ``realesrgan`` pipeline plus one ``usm_sharp`` of the ground truth it returns
  (what ``loss=realesrgan``'s ``sharpen_gt`` does to the targets): the same work on both sides;
  ``--usm-rounds`` rounds (BasicSR's dense 51x51 unsharp mask takes seconds per batch on a CPU).
  Both pools are filled before timing.

Rates are total images over total wall time of the timed rounds (random branches make single
batches vary 10x); CPU time of all threads is reported beside it. ``ms_per_batch`` says where the
time goes on each side (restorelab per stage; BasicSR per function that ``feed_data`` calls,
timed by thin wrappers around the genuine functions). Last line of stdout is JSON::

    {"pipeline": "realesrgan", "restorelab_images_per_s": ..., "basicsr_images_per_s": ...,
     "ratio": ..., "ratio_with_usm": ..., "cpu_capability": ..., ...}

Issue-16 targets: ``ratio >= 1.25`` and ``ratio_with_usm >= 3``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
import types
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from torch import Tensor

from restorelab.config import config_dir, register_resolvers
from restorelab.data.sources import EmbeddedSource
from restorelab.degradations import Degradation
from restorelab.ops.sharpen import usm_sharp

PEER_DIR = Path(
    os.environ.get("RESTORELAB_PEER_DIR", Path(__file__).resolve().parents[2] / "shared" / "peer")
)
SCALE = 4
QUEUE_SIZE = 180  # options/train_realesrgan_x4plus.yml
TARGETS = {"ratio": 1.25, "ratio_with_usm": 3.0}
PHOTOS = ["astronaut", "chelsea", "rocket", "motorcycle_left", "retina", "coffee"]


class Clock:
    """Wall and CPU seconds accumulated per name (the breakdown of each side)."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = defaultdict(float)

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.wall[name] += time.perf_counter() - start

        return timed

    def per_batch_ms(self, batches: int) -> dict[str, float]:
        return {k: round(1000 * v / batches, 1) for k, v in sorted(self.wall.items())}


def pool_size_for(batch: int) -> int:
    """BasicSR asserts the queue divides by the batch: 180 rounded up to a multiple of it."""
    return -(-QUEUE_SIZE // batch) * batch


class BasicSRSide:
    """BasicSR's ``feed_data`` as the peer harness drives it; ``run(gt)`` degrades one batch."""

    def __init__(self, batch: int, size: int, usm: bool, clock: Clock) -> None:
        sys.path.insert(0, str(PEER_DIR))
        try:
            import basicsr_degradation_speed as peer
            import realesrgan.models.realesrgan_model as model
        except ImportError as err:
            raise SystemExit(
                f"degradation_throughput: cannot import BasicSR or the peer harness from "
                f"{PEER_DIR} ({err}); run with the peer venv's python (../shared/peer/setup.sh)"
            ) from err
        self.peer = peer
        self.clock = clock
        _instrument(model, clock)
        opt = dict(peer.MODEL_OPT, gt_size=size, queue_size=pool_size_for(batch))
        self.degrader = peer.make_degrader(opt, batch, with_usm=usm, with_pool=usm)
        self.degrader.jpeger = clock.wrap("jpeg", self.degrader.jpeger)
        self.degrader.usm_sharpener = clock.wrap("usm", self.degrader.usm_sharpener)
        self.degrader._dequeue_and_enqueue = clock.wrap("pool", self.degrader._dequeue_and_enqueue)

    def run(self, gt: Tensor) -> Tensor:
        draw = self.clock.wrap("kernels", lambda: [self.peer.sample_kernels() for _ in gt])
        kernels = draw()
        data = {
            "gt": gt,
            "kernel1": torch.stack([k[0] for k in kernels]),
            "kernel2": torch.stack([k[1] for k in kernels]),
            "sinc_kernel": torch.stack([k[2] for k in kernels]),
        }
        self.degrader.feed_data(data)
        return self.degrader.lq


def _instrument(model: types.ModuleType, clock: Clock) -> None:
    """Time the functions ``RealESRGANModel.feed_data`` calls, into ``clock`` from now on."""
    names = ["filter2D", "random_add_gaussian_noise_pt", "random_add_poisson_noise_pt"]
    originals = model.__dict__.setdefault(
        "_untimed", {**{n: getattr(model, n) for n in names}, "F": model.F}
    )
    for name in names:
        setattr(model, name, clock.wrap(name, originals[name]))
    functional = types.SimpleNamespace(**vars(originals["F"]))
    functional.interpolate = clock.wrap("interpolate", originals["F"].interpolate)
    model.F = functional


class RestorelabSide:
    """``degradation=realesrgan`` as training runs it; ``run(gt)`` degrades one batch."""

    def __init__(self, overrides: Sequence[str], usm: bool, clock: Clock) -> None:
        extra = [] if usm else ["degradation.stages.usm=null", "degradation.pool_size=0"]
        self.degradation = build_ours([*overrides, *extra])
        self.usm = usm
        self.clock = clock
        for name, stage in self.degradation.stages.items():
            stage.forward = clock.wrap(name, stage.forward)  # type: ignore[method-assign]

    def run(self, gt: Tensor) -> Tensor:
        pairs = getattr(self.degradation, "pairs", None)
        if pairs is None:
            gt_out, lq = gt, self.degradation(gt)
        else:
            gt_out, lq = pairs(gt)
        if self.usm:
            self.clock.wrap("usm_of_targets", usm_sharp)(gt_out)
        return lq


def build_ours(overrides: Sequence[str]) -> Degradation:
    """``degradation=realesrgan`` composed from ``conf/train.yaml`` as restorelab-train does."""
    register_resolvers()
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose(config_name="train", overrides=["degradation=realesrgan", *overrides])
    degradation = instantiate(cfg.degradation)
    assert isinstance(degradation, Degradation)
    return degradation


def photo_patches(batch: int, size: int, seed: int) -> Tensor:
    """``batch`` random ``size`` px crops of the embedded photographs, float in [0, 1]."""
    source = EmbeddedSource(PHOTOS)
    rng = np.random.default_rng(seed)
    crops = []
    for i in range(batch):
        img = source[i % len(source)].gt
        top = int(rng.integers(0, img.shape[0] - size + 1))
        left = int(rng.integers(0, img.shape[1] - size + 1))
        crops.append(torch.from_numpy(img[top : top + size, left : left + size].copy()))
    return (torch.stack(crops).permute(0, 3, 1, 2).float() / 255.0).contiguous()


def timed(fn: Callable[[], Tensor]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of all threads) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    assert out.shape[-1] > 0
    return time.perf_counter() - wall, time.process_time() - cpu


def interleave(
    sides: dict[str, Callable[[Tensor], Tensor]],
    batches: Sequence[Tensor],
    warmup: int,
    rounds: int,
    label: str,
) -> dict[str, list[tuple[float, float]]]:
    """``warmup`` untimed then ``rounds`` timed calls of each side, alternating who goes first."""
    names = list(sides)
    times: dict[str, list[tuple[float, float]]] = {n: [] for n in names}
    for r in range(warmup + rounds):
        gt = batches[r % len(batches)]
        order = names if r % 2 == 0 else names[::-1]
        measured = {n: timed(lambda n=n, gt=gt: sides[n](gt)) for n in order}
        if r >= warmup:
            for n in names:
                times[n].append(measured[n])
        note = " (warm-up)" if r < warmup else ""
        line = ", ".join(f"{n} {w * 1000:.0f} ms" for n, (w, _) in measured.items())
        print(f"{label} round {r}{note}: {line}", file=sys.stderr, flush=True)
    return times


def rates(batch: int, times: list[tuple[float, float]]) -> tuple[float, float]:
    """Images per second over wall time and over CPU time."""
    return batch * len(times) / sum(w for w, _ in times), batch * len(times) / sum(
        c for _, c in times
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=60, help="rounds without USM")
    parser.add_argument("--usm-rounds", type=int, default=4, help="rounds with USM")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the harness: 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("overrides", nargs="*", help="restorelab-train overrides")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    batches = [photo_patches(args.batch, args.size, seed=args.seed + i) for i in range(4)]
    result: dict[str, Any] = {"pipeline": "realesrgan"}
    breakdown: dict[str, dict[str, dict[str, float]]] = {}
    for usm in (False, True):
        suffix = "_with_usm" if usm else ""
        clocks = {"restorelab": Clock(), "basicsr": Clock()}
        ours = RestorelabSide(args.overrides, usm, clocks["restorelab"])
        theirs = BasicSRSide(args.batch, args.size, usm, clocks["basicsr"])
        # Fill both pairs pools (BasicSR's comes pre-filled from the harness) before timing.
        fill = pool_size_for(args.batch) // args.batch if usm else 0
        for i in range(fill):
            ours.run(batches[i % len(batches)])
        for clock in clocks.values():
            clock.wall.clear()
        rounds = args.usm_rounds if usm else args.rounds
        times = interleave(
            {"restorelab": ours.run, "basicsr": theirs.run},
            batches,
            args.warmup,
            rounds,
            "with USM" if usm else "without USM",
        )
        # The clocks also ran during warm-up: scale them to per timed batch approximately.
        total = args.warmup + rounds
        breakdown[f"ms_per_batch{suffix}"] = {k: c.per_batch_ms(total) for k, c in clocks.items()}
        (ours_wall, ours_cpu), (base_wall, base_cpu) = (
            rates(args.batch, times["restorelab"]),
            rates(args.batch, times["basicsr"]),
        )
        result[f"restorelab_images_per_s{suffix}"] = round(ours_wall, 2)
        result[f"basicsr_images_per_s{suffix}"] = round(base_wall, 2)
        result[f"ratio{suffix}"] = round(ours_wall / base_wall, 3)
        result[f"cpu_time_ratio{suffix}"] = round(ours_cpu / base_cpu, 3)
    result.update(
        {
            "targets": TARGETS,
            "targets_met": {k: result[k] >= v for k, v in TARGETS.items()},
            "batch": args.batch,
            "size": args.size,
            "scale": SCALE,
            "rounds": args.rounds,
            "usm_rounds": args.usm_rounds,
            "pool_size": pool_size_for(args.batch),
            "threads": torch.get_num_threads(),
            "cpu_capability": str(torch.backends.cpu.get_cpu_capability()),
            "torch": torch.__version__,
            **breakdown,
        }
    )
    print(
        f"realesrgan x{SCALE}, batch {args.batch} of {args.size} px, {args.threads} threads, "
        f"{result['cpu_capability']}: restorelab {result['restorelab_images_per_s']} img/s vs "
        f"BasicSR {result['basicsr_images_per_s']} (x{result['ratio']}); with USM "
        f"{result['restorelab_images_per_s_with_usm']} vs "
        f"{result['basicsr_images_per_s_with_usm']} (x{result['ratio_with_usm']})"
    )
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
