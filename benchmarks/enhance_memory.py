"""Peak memory of ``restorelab-enhance`` on a large photo, measured in a child process.

What is measured: the peak resident memory (``VmHWM`` of the child's own process image; Linux
carries a parent's peak into a child's ``ru_maxrss`` across fork + exec, so that would not do)
and the wall time of the real command line, ``restorelab-enhance IN -o OUT --ckpt CKPT --ext
EXT``, on a ``--size`` x ``--size`` RGB input at ``--scale`` (4096 at x4 by default: a
16384x16384 output), once per bit depth in ``--depths``. The 8-bit input is a PNG, the 16-bit
one a TIFF (tifffile reads it in one array; pypng, our 16-bit PNG reader, is slow at this size).
Everything the command does is in the figure: reading the input, the generator on each tile,
blending, writing the output band by band.

The generator is ``conf/generator/<name>.yaml`` (``--generator``, default ``compact``, the
default generator of ``conf/train.yaml``) with random weights (memory and time do not depend
on their values), saved as a restorelab checkpoint. Tiling is the command's default unless
``--tile`` / ``--tile-overlap`` say otherwise.

Usage::

    python benchmarks/enhance_memory.py                      # 4096 px, x4, 8- and 16-bit PNG
    python benchmarks/enhance_memory.py --ext tiff --depths 16
    python benchmarks/enhance_memory.py --size 256 --generator compact_tiny   # a quick look

Last line of stdout: ``{"generator": ..., "size": ..., "scale": ..., "ext": ...,
"cpu_capability": ..., "runs": [{"depth": 8, "peak_rss_mib": ..., "seconds": ...,
"input_mib": ..., "output_mib": ...}, ...]}``; ``input_mib`` is the decoded input array the
command holds, ``output_mib`` the size of the output's pixels (what holding it would cost).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
import torch
import yaml

from restorelab.config import config_dir
from restorelab.inference import EnhanceSettings
from restorelab.inference.writers import Layout, PngWriter

MIB = 1 << 20
#: rows of the input pattern made at a time (the benchmark's own memory stays small)
_PATTERN_ROWS = 256

CHILD = """
import json, sys, time
from restorelab.commands.enhance import main
start = time.perf_counter()
try:
    main(sys.argv[1:])
except SystemExit as e:
    code = e.code
seconds = time.perf_counter() - start
with open("/proc/self/status") as f:
    peak = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))
print(json.dumps({"rc": code, "peak_rss": peak, "seconds": seconds}))
"""


def build_checkpoint(name: str, scale: int, folder: Path) -> Path:
    """A restorelab checkpoint of ``conf/generator/<name>.yaml`` with random weights."""
    import hydra

    from restorelab.weights import architecture_config

    raw = yaml.safe_load((Path(config_dir()) / "generator" / f"{name}.yaml").read_text())
    config = architecture_config({**raw, "scale": scale})
    torch.manual_seed(0)
    generator = hydra.utils.instantiate(config)
    path = folder / f"{name}_x{scale}.ckpt"
    state = {f"generator.{k}": v for k, v in generator.state_dict().items()}
    meta = {"version": "bench", "scale": scale, "generator": config, "config": {}}
    torch.save({"state_dict": state, "restorelab": meta}, path)
    return path


def pattern_rows(y0: int, y1: int, width: int, depth: int) -> np.ndarray:
    """Rows ``y0 .. y1`` of a photo-like test input: smooth colour waves plus fine detail."""
    yy, xx = np.mgrid[y0:y1, 0:width].astype(np.float32)
    planes = [np.sin(xx / 40), np.cos(yy / 30), np.sin((xx + yy) / 7)]
    top = 255 if depth == 8 else 65535
    image = np.stack([np.rint(top / 2 + (top / 2) * p) for p in planes], axis=2)
    return image.astype(np.uint8 if depth == 8 else np.uint16)


def write_input(folder: Path, size: int, depth: int) -> Path:
    """The input file: an 8-bit PNG written band by band, or a 16-bit TIFF."""
    if depth == 8:
        path = folder / "input8.png"
        with open(path, "wb") as f:
            writer = PngWriter(f, Layout(size, size, 3, np.dtype(np.uint8)))
            for y in range(0, size, _PATTERN_ROWS):
                writer.write(pattern_rows(y, min(size, y + _PATTERN_ROWS), size, 8))
            writer.close()
        return path
    path = folder / "input16.tif"
    image = np.concatenate(
        [
            pattern_rows(y, min(size, y + _PATTERN_ROWS), size, 16)
            for y in range(0, size, _PATTERN_ROWS)
        ]
    )
    tifffile.imwrite(path, image, photometric="rgb")
    return path


def measure(src: Path, ckpt: Path, out: Path, ext: str, flags: list[str]) -> dict[str, Any]:
    """Run the command in a child process; its peak RSS (bytes), wall time and exit code."""
    args = [str(src), "-o", str(out), "--ckpt", str(ckpt), "--ext", ext, "--no-progress"]
    result = subprocess.run(
        [sys.executable, "-c", CHILD, *args, *flags],
        capture_output=True,
        text=True,
        check=False,
    )
    lines = result.stdout.strip().splitlines()
    report = json.loads(lines[-1]) if lines else {"rc": result.returncode}
    if report.get("rc") != 0:
        raise SystemExit(f"enhance_memory: the command failed:\n{result.stderr}")
    return report


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=4096, help="input side in pixels")
    p.add_argument("--scale", type=int, default=4)
    p.add_argument("--generator", default="compact", help="a conf/generator/ name")
    p.add_argument("--ext", default="png", choices=["png", "tiff", "jpg", "webp", "bmp"])
    p.add_argument("--depths", default="8,16", help="comma-separated bit depths: 8, 16")
    p.add_argument("--tile", type=int, default=EnhanceSettings.tile)
    p.add_argument("--tile-overlap", type=int, default=EnhanceSettings.tile_overlap)
    p.add_argument("--tmp", type=Path, default=None, help="folder for the files (default: temp)")
    args = p.parse_args(argv)
    depths = [int(d) for d in args.depths.split(",")]
    if set(depths) - {8, 16}:
        p.error(f"--depths takes 8 and/or 16, got {args.depths}")
    flags = ["--tile", str(args.tile), "--tile-overlap", str(args.tile_overlap)]
    side = args.size * args.scale
    runs = []
    with tempfile.TemporaryDirectory(prefix="enhance_memory_", dir=args.tmp) as tmp:
        folder = Path(tmp)
        ckpt = build_checkpoint(args.generator, args.scale, folder)
        for depth in depths:
            src = write_input(folder, args.size, depth)
            out = folder / f"out{depth}"
            start = time.perf_counter()
            report = measure(src, ckpt, out, args.ext, flags)
            [written] = out.iterdir()
            run = {
                "depth": depth,
                "peak_rss_mib": round(report["peak_rss"] / MIB, 1),
                "seconds": round(report["seconds"], 1),
                "wall_seconds": round(time.perf_counter() - start, 1),
                "input_mib": round(args.size**2 * 3 * depth / 8 / MIB, 1),
                "output_mib": round(side**2 * 3 * depth / 8 / MIB, 1),
                "output_file_mib": round(written.stat().st_size / MIB, 1),
            }
            print(
                f"{args.generator} x{args.scale}, {args.size}^2 -> {side}^2 {depth}-bit "
                f"{args.ext}: peak RSS {run['peak_rss_mib']:.0f} MiB "
                f"(output pixels {run['output_mib']:.0f} MiB), {run['seconds']:.0f} s",
                flush=True,
            )
            runs.append(run)
            written.unlink()
            src.unlink()
    result = {
        "generator": args.generator,
        "size": args.size,
        "scale": args.scale,
        "ext": args.ext,
        "tile": args.tile,
        "tile_overlap": args.tile_overlap,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch_threads": torch.get_num_threads(),
        "runs": runs,
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
