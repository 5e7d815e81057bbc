"""BasicSR's Real-ESRGAN degradation statistics on fixed ground-truth patches, for the test.

Run once with the peer venv's Python (BasicSR 1.4.2 and Real-ESRGAN 0.3.0; see
``../shared/peer/SETUP.md``); the output is committed and read by
``tests/degradations/test_degradation_vs_basicsr.py``::

    /tmp/peer/venv/bin/python benchmarks/degradation_peer_stats.py \\
        --out tests/fixtures/realesrgan_peer_stats.json

What it does: draws ``--batches`` batches of ``--batch`` crops (``--size`` px, listed in the
output by photo, top and left) of the embedded photographs, degrades each batch with the genuine
``RealESRGANModel.feed_data`` driven by the shared peer harness (``basicsr_degradation_speed.py``:
its ``RealESRGANDataset`` kernel sampler and CPU stand-in model, with ``USMSharp`` and without the
training-pair pool, which only reorders pairs), and records
:func:`restorelab.degradations.stats.lq_statistics` of every ``(gt, lq)`` pair. It repeats the
run with a second seed on the same patches: the spread between BasicSR and itself is what the
test's tolerances are measured against.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from degradation_throughput import PEER_DIR

from restorelab.data.sources import EmbeddedSource
from restorelab.degradations.stats import STATISTICS, lq_statistics, summarize

#: The photographs the patches come from (the embedded training split).
PHOTOS = ["astronaut", "chelsea", "rocket", "motorcycle_left", "hubble_deep_field", "retina"]
SCALE = 4


def draw_patches(batches: int, batch: int, size: int, seed: int) -> list[list[list[Any]]]:
    """Per batch, ``[photo, top, left]`` of each crop (a fixed list the test rebuilds)."""
    source = EmbeddedSource(PHOTOS)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(batches):
        crops = []
        for _ in range(batch):
            index = int(rng.integers(len(PHOTOS)))
            h, w = source[index].gt.shape[:2]
            top, left = int(rng.integers(h - size + 1)), int(rng.integers(w - size + 1))
            crops.append([PHOTOS[index], top, left])
        out.append(crops)
    return out


def patch_tensor(crops: Sequence[Sequence[Any]], size: int, source: EmbeddedSource) -> torch.Tensor:
    """The crops as a float batch in [0, 1]."""
    images = {name: source[i].gt for i, name in enumerate(source.names)}
    tiles = [
        torch.from_numpy(images[name][top : top + size, left : left + size].copy())
        for name, top, left in crops
    ]
    return torch.stack(tiles).permute(0, 3, 1, 2).float().div(255.0).contiguous()


def basicsr_statistics(
    patches: list[list[list[Any]]], size: int, seed: int
) -> dict[str, list[float]]:
    """lq_statistics of BasicSR's degradation of every patch, seeded with ``seed``."""
    sys.path.insert(0, str(PEER_DIR))
    try:
        import basicsr_degradation_speed as peer
    except ImportError as err:
        raise SystemExit(
            f"degradation_peer_stats: cannot import BasicSR or the peer harness from {PEER_DIR} "
            f"({err}); run with the peer venv's python (../shared/peer/setup.sh)"
        ) from err

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    batch = len(patches[0])
    opt = dict(peer.MODEL_OPT, gt_size=size, queue_size=batch)
    degrader = peer.make_degrader(opt, batch, with_usm=True, with_pool=False)
    source = EmbeddedSource(PHOTOS)
    values: dict[str, list[float]] = {name: [] for name in STATISTICS}
    for crops in patches:
        gt = patch_tensor(crops, size, source)
        kernels = [peer.sample_kernels() for _ in crops]
        degrader.feed_data(
            {
                "gt": gt,
                "kernel1": torch.stack([k[0] for k in kernels]),
                "kernel2": torch.stack([k[1] for k in kernels]),
                "sinc_kernel": torch.stack([k[2] for k in kernels]),
            }
        )
        for name, value in lq_statistics(gt, degrader.lq, SCALE).items():
            values[name].extend(round(float(v), 4) for v in value)
    return values


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=96)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--seeds", type=int, nargs=2, default=[0, 1])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    torch.set_num_threads(args.threads)
    patches = draw_patches(args.batches, args.batch, args.size, seed=args.seeds[0])
    runs = [basicsr_statistics(patches, args.size, seed) for seed in args.seeds]
    import basicsr

    result = {
        "command": "/tmp/peer/venv/bin/python benchmarks/degradation_peer_stats.py "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "what": "lq_statistics of BasicSR's RealESRGANModel.feed_data (USM, no pool) per patch",
        "basicsr": basicsr.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "scale": SCALE,
        "size": args.size,
        "seeds": args.seeds,
        "patches": patches,
        "values": runs[0],
        "values_other_seed": runs[1],
        "summary": {name: summarize(torch.tensor(runs[0][name])) for name in STATISTICS},
        "summary_other_seed": {name: summarize(torch.tensor(runs[1][name])) for name in STATISTICS},
    }
    text = json.dumps(result, indent=1)
    if args.out is not None:
        args.out.write_text(text + "\n")
    print(json.dumps({k: result[k] for k in ("summary", "summary_other_seed")}))
    return result


if __name__ == "__main__":
    main()
