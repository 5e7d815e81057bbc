"""What the start-up scan of a data folder costs, against decoding every image once.

    python benchmarks/scan_speed.py [--images 50] [--width 2040] [--height 1356] [--rounds 3]

Writes ``--images`` PNG and as many JPEG (quality 95) copies of a smooth photograph-sized image
(scikit-image's astronaut, resized to ``--width`` x ``--height``, DIV2K's typical size) into a
temporary folder, then times, per format, the best of ``--rounds``:

- ``scan``: :func:`restorelab.data.scan.scan_folder`, what ``data=folder`` / ``data=paired``
  run at start-up (header, animation check, the walk to the end of each file);
- ``decode``: :func:`restorelab.data.io.read_image` of every file (what one epoch decodes).

Files come from the page cache in both (each is written just before), so the figures are the
CPU cost, not the disk's. Last line of stdout is JSON::

    {"images": N, "width": W, "height": H, "cpu_capability": ...,
     "ms_per_image": {"png": {"scan": ..., "decode": ...}, "jpeg": {...}}}
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from restorelab.data.io import read_image
from restorelab.data.scan import scan_folder

FORMATS = {"png": ("PNG", {}), "jpeg": ("JPEG", {"quality": 95})}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=50, help="files per format")
    p.add_argument("--width", type=int, default=2040)
    p.add_argument("--height", type=int, default=1356)
    p.add_argument("--rounds", type=int, default=3, help="timed rounds; the best counts")
    return p.parse_args(argv)


def _best_ms(fn: Callable[[], object], rounds: int, count: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return 1000 * best / count


def main(argv: Sequence[str] | None = None) -> dict[str, object]:
    args = parse_args(argv)
    import skimage.data

    photo = Image.fromarray(skimage.data.astronaut()).resize((args.width, args.height))
    pixels = np.asarray(photo)
    result: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (fmt, options) in FORMATS.items():
            folder = Path(tmp) / name
            folder.mkdir()
            for i in range(args.images):
                Image.fromarray(np.roll(pixels, i, axis=1)).save(
                    folder / f"{i:04d}.{name}", format=fmt, **options
                )
            files = sorted(folder.iterdir())
            scan = _best_ms(lambda f=folder: scan_folder(f, "bench"), args.rounds, len(files))
            decode = _best_ms(lambda fs=files: [read_image(p) for p in fs], args.rounds, len(files))
            result[name] = {"scan": round(scan, 2), "decode": round(decode, 2)}
            print(f"{name}: scan {scan:.2f} ms/image, decode {decode:.2f} ms/image")
    out = {
        "images": args.images,
        "width": args.width,
        "height": args.height,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "ms_per_image": result,
    }
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
