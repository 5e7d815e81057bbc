"""Enhancement throughput on the CPU: PyTorch eager vs ONNX Runtime, same tiling, one run.

What is measured: output megapixels per second of ``Enhancer.enhance_pixels`` on a
``--size`` x ``--size`` uint8 RGB image (2048 by default, so a 8192x8192 output at x4),
tiled as ``restorelab-enhance`` tiles by default (``--tile 512 --tile-overlap 32``), once with
the PyTorch generator (fp32, eager) and once with the same weights exported to ONNX and run by
ONNX Runtime. Reading and writing files is not included (it is the same for both); the
uint8 -> float conversion, tiling, blending and the integer output buffer are.

The generator is built from ``conf/generator/<name>.yaml`` (``--generator``, default the
default ``compact``) at ``--scale`` with random weights: speed does not depend on the weight
values, so no trained checkpoint is needed. It goes through the real path: saved as a
restorelab checkpoint, loaded with ``Enhancer.from_checkpoint``, exported with
``restorelab.inference.export_model``.

Each backend gets one untimed warm-up on a small image, then ``--repeats`` timed runs (the
best is reported: the machine is shared, the minimum is the least disturbed). Peak resident
memory is this process's ``ru_maxrss`` at the end (both backends, the image and its output).

Usage::

    python benchmarks/enhance_throughput.py
    python benchmarks/enhance_throughput.py --size 1024 --generator msrresnet --repeats 3

Last line of stdout: ``{"eager_mpix_per_s": ..., "onnx_mpix_per_s": ..., "peak_rss_mb": ...}``.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from restorelab.config import config_dir
from restorelab.inference import Enhancer, EnhanceSettings, export_model
from restorelab.inference.models import load_model


def build_checkpoint(name: str, scale: int, folder: Path) -> Path:
    """A restorelab checkpoint of ``conf/generator/<name>.yaml`` with random weights."""
    import hydra

    from restorelab.weights import architecture_config

    raw = yaml.safe_load((Path(config_dir()) / "generator" / f"{name}.yaml").read_text())
    config = architecture_config({**raw, "scale": scale})  # without `pretrained`
    torch.manual_seed(0)
    generator = hydra.utils.instantiate(config)
    path = folder / f"{name}_x{scale}.ckpt"
    torch.save(
        {
            "state_dict": {f"generator.{k}": v for k, v in generator.state_dict().items()},
            "restorelab": {"version": "bench", "scale": scale, "generator": config, "config": {}},
        },
        path,
    )
    return path


def time_backend(enhancer: Enhancer, image: np.ndarray, repeats: int) -> float:
    """Best wall time of ``repeats`` enhancements of ``image`` after a small warm-up."""
    enhancer.enhance_pixels(image[:64, :64])
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        out = enhancer.enhance_pixels(image)[0]
        best = min(best, time.perf_counter() - start)
        del out
    return best


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=2048, help="input side in pixels")
    p.add_argument("--scale", type=int, default=4)
    p.add_argument("--generator", default="compact", help="a conf/generator/ name")
    p.add_argument("--tile", type=int, default=EnhanceSettings.tile)
    p.add_argument("--tile-overlap", type=int, default=EnhanceSettings.tile_overlap)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    settings = EnhanceSettings(tile=args.tile, tile_overlap=args.tile_overlap, max_pixels=0)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (args.size, args.size, 3), dtype=np.uint8)
    out_mpix = (args.size * args.scale) ** 2 / 1e6
    with tempfile.TemporaryDirectory(prefix="enhance_bench_") as tmp:
        ckpt = build_checkpoint(args.generator, args.scale, Path(tmp))
        onnx_file = export_model(ckpt, "onnx", Path(tmp) / "model.onnx")
        eager = Enhancer.from_checkpoint(ckpt, settings=settings)
        onnx = Enhancer(load_model(onnx_file), settings)
        eager_s = time_backend(eager, image, args.repeats)
        onnx_s = time_backend(onnx, image, args.repeats)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if sys.platform == "darwin":  # bytes there, kilobytes on Linux
        peak_mb /= 1024
    print(
        f"{args.generator} x{args.scale}, {args.size}x{args.size} -> "
        f"{args.size * args.scale}x{args.size * args.scale} ({out_mpix:.1f} MP out), "
        f"tile {args.tile} overlap {args.tile_overlap}, torch threads {torch.get_num_threads()}"
    )
    print(f"eager  {eager_s:7.2f} s  {out_mpix / eager_s:6.2f} MP/s")
    print(f"onnx   {onnx_s:7.2f} s  {out_mpix / onnx_s:6.2f} MP/s")
    print(f"peak RSS {peak_mb:.0f} MB")
    result = {
        "eager_mpix_per_s": round(out_mpix / eager_s, 3),
        "onnx_mpix_per_s": round(out_mpix / onnx_s, 3),
        "peak_rss_mb": round(peak_mb, 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
