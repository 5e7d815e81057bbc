"""MSRResNet x4 training speed: restorelab's default step against BasicSR's own, in one process.

Run it with the peer venv's Python (BasicSR 1.4.2 and restorelab both installed there; see
``../shared/peer/SETUP.md``)::

    /tmp/peer/venv/bin/python benchmarks/vs_basicsr.py [--steps 8] [--rounds 6] [--warmup 3]
    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 \
        /tmp/peer/venv/bin/python benchmarks/vs_basicsr.py

The two sides:

- restorelab: ``RestorationModule`` with ``generator=msrresnet`` under a real Lightning Trainer,
  built exactly as ``benchmarks/train_throughput.py`` builds it (the ``train`` recipe with
  ``data.batch_size=8 data.patch_size=96``, the peer harness's defaults; no logger, validation
  or checkpointing), at the default precision
  (``trainer.precision: auto``: bf16-mixed on a CPU with native bf16, 32-true elsewhere). Its
  step includes the on-the-fly bicubic degradation of ``gt`` into ``lq``.
- BasicSR: its own ``SRModel`` training step, built and driven by the peer harness
  (``basicsr_train_speed.py``: ``make_opt('msrresnet', 8, 96, 0)``, BasicSR's dataloader and
  prefetcher over an in-memory dataset of ready-made ``lq``/``gt`` pairs, then
  ``update_learning_rate``, ``feed_data``, ``optimize_parameters``), fp32 as BasicSR trains on
  a CPU. Its step does no degradation, so the comparison leans towards BasicSR.

Interleaving: BasicSR's steps run inside a callback of our ``trainer.fit`` (the raw side of
``train_throughput.InterleavedTimer``), ``--steps`` of each per round after ``--warmup``
untimed steps each; ``ratio`` = our median it/s over BasicSR's. The issue-11 target: >= 1.2 on
a CPU without native bf16, >= 1.5 on one with it. Last line: JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_throughput as tt

from restorelab.training.builder import build_module
from restorelab.training.precision import choose_precision

PEER_DIR = Path(
    os.environ.get("RESTORELAB_PEER_DIR", Path(__file__).resolve().parents[2] / "shared" / "peer")
)
TARGETS = {True: 1.5, False: 1.2}  # native bf16 -> target ratio
#: The peer harness's defaults (``--batch 8 --patch 96``), set on our side too.
SHAPE = ["data.batch_size=8", "data.patch_size=96"]


class BasicSRSide:
    """BasicSR's SRModel step as the peer harness drives it; ``run(n)`` returns seconds."""

    def __init__(self, batch: int, patch: int) -> None:
        sys.path.insert(0, str(PEER_DIR))
        try:
            import basicsr_train_speed as peer
            from basicsr.utils import get_root_logger
        except ImportError as err:
            raise SystemExit(
                f"vs_basicsr: cannot import BasicSR or the peer harness from {PEER_DIR} ({err}); "
                "run with the peer venv's python (../shared/peer/setup.sh)"
            ) from err
        get_root_logger(log_level=logging.WARNING)
        peer.register_synthetic_dataset()
        self.runner = peer.BasicSRRunner(peer.make_opt("msrresnet", batch, patch, 0))

    @property
    def generator(self) -> nn.Module:
        return self.runner.model.net_g

    def run(self, steps: int) -> float:
        start = time.perf_counter()
        for _ in range(steps):
            self.runner.step()
        return time.perf_counter() - start


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8, help="iterations per side per round")
    parser.add_argument("--rounds", type=int, default=6, help="interleaved rounds")
    parser.add_argument("--warmup", type=int, default=3, help="untimed iterations per side")
    parser.add_argument("--pool", type=int, default=8, help="batches in our in-memory pool")
    parser.add_argument("overrides", nargs="*", help="extra restorelab-train overrides")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
    iterations = args.warmup + args.steps * args.rounds
    with tempfile.TemporaryDirectory(prefix="vs_basicsr_") as out_dir:
        cfg, _ = tt.compose_config(
            ["generator=msrresnet", *SHAPE, *args.overrides], iterations, out_dir
        )
        choice = choose_precision(
            cfg.trainer.get("precision"), cfg.trainer.get("accelerator", "auto")
        )
        print(choice.line(), flush=True)
        L.seed_everything(int(cfg.seed or 0))
        module = build_module(cfg)
        pool = tt.draw_pool(cfg, args.pool)
        batch, patch = int(cfg.data.batch_size), int(cfg.data.patch_size)
        timer = tt.InterleavedTimer(
            lambda trainer, pl_module: BasicSRSide(batch, patch),  # type: ignore[arg-type,return-value]
            args.steps,
            args.rounds,
            args.warmup,
        )
        trainer: L.Trainer = hydra.utils.instantiate(
            cfg.trainer, callbacks=[timer], logger=False, precision=choice.precision
        )
        trainer.fit(module, train_dataloaders=tt.pool_loader(pool, iterations))
    if len(timer.module_times) != args.rounds:
        raise SystemExit(f"vs_basicsr: only {len(timer.module_times)} of {args.rounds} rounds ran")
    ours = args.steps / statistics.median(timer.module_times)
    theirs = args.steps / statistics.median(timer.raw_times)
    cap = str(torch.backends.cpu.get_cpu_capability())
    native = choice.precision == "bf16-mixed"
    print(
        f"vs BasicSR: MSRResNet x4 batch {batch} patch {patch} threads {torch.get_num_threads()} "
        f"cpu_capability={cap}; {args.warmup} warm-up + {args.rounds} rounds x {args.steps}"
    )
    print(f"{'round':>5} {'restorelab it/s':>16} {'basicsr it/s':>13}")
    for i, (a, b) in enumerate(zip(timer.module_times, timer.raw_times, strict=True), 1):
        print(f"{i:>5} {args.steps / a:>16.3f} {args.steps / b:>13.3f}")
    result = {
        "generator": "msrresnet",
        "precision": str(trainer.precision),
        "cpu_capability": cap,
        "threads": torch.get_num_threads(),
        "restorelab_it_per_s": round(ours, 3),
        "basicsr_it_per_s": round(theirs, 3),
        "ratio": round(ours / theirs, 3),
        "target": TARGETS[native],
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
