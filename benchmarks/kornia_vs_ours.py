"""Where restorelab's degradations keep their own code instead of kornia's: the measurements.

Usage::

    python benchmarks/kornia_vs_ours.py [--batch 16] [--size 256] [--repeats 5] [--threads 1]

Two operations, each timed both ways on the same ``--batch`` x 3 x ``--size``\\ :sup:`2` batch
(CPU seconds of one call, median of ``--repeats``, after one untimed call):

- JPEG: kornia's ``jpeg_codec_differentiable`` against ``restorelab.degradations.codec.jpeg_codec``
  at random qualities 30..95 (Real-ESRGAN's range), plus how close each is to libjpeg: PSNR of
  each codec's 8-bit output against Pillow's JPEG round trip of crops of the embedded photos at
  qualities 10, 30, 50, 75 and 95 (higher is closer to a real JPEG file).
- the unsharp mask's 51-tap Gaussian blur: kornia's ``filter2d_separable`` with one kernel shared
  by the batch (its depthwise path) against the same kornia call with the kernel repeated per
  sample (its grouped path, which ``restorelab.ops.filtering`` uses); same result.

Last line of stdout is JSON: ``{"jpeg_ms": {"kornia": ..., "restorelab": ...},
"jpeg_psnr_vs_libjpeg": {"kornia": {...}, "restorelab": {...}}, "usm_blur_ms": {...}, ...}``.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from kornia.enhance import jpeg_codec_differentiable
from kornia.filters import filter2d_separable, get_gaussian_kernel1d
from PIL import Image
from torch import Tensor

from restorelab.data.sources import EmbeddedSource
from restorelab.degradations.codec import jpeg_codec

QUALITIES = (10, 30, 50, 75, 95)
PHOTOS = ["astronaut", "chelsea", "coffee", "rocket"]


def cpu_ms(fn: Callable[[], Tensor], repeats: int) -> float:
    """Median CPU milliseconds of ``fn`` over ``repeats`` calls, after one untimed call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return round(1000 * statistics.median(times), 1)


def pillow_jpeg(x: Tensor, quality: int) -> Tensor:
    """Pillow's (libjpeg's) JPEG round trip of each image."""
    out = []
    for image in x:
        array = (image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(array).save(buffer, "JPEG", quality=quality)
        decoded = np.asarray(Image.open(buffer)).copy()
        out.append(torch.from_numpy(decoded).permute(2, 0, 1).float() / 255.0)
    return torch.stack(out)


def psnr(a: Tensor, b: Tensor) -> float:
    return round(float(10 * torch.log10(1 / (a - b).pow(2).mean())), 2)


def closeness_to_libjpeg(size: int) -> dict[str, dict[int, float]]:
    """PSNR of each codec's 8-bit output against Pillow's, per quality, on photo crops."""
    source = EmbeddedSource(PHOTOS)
    crops = [torch.from_numpy(source[i].gt[:size, :size].copy()) for i in range(len(source))]
    x = torch.stack(crops).permute(0, 3, 1, 2).float() / 255.0
    codecs = {"kornia": jpeg_codec_differentiable, "restorelab": jpeg_codec}
    result: dict[str, dict[int, float]] = {name: {} for name in codecs}
    for quality in QUALITIES:
        reference = pillow_jpeg(x, quality)
        q = torch.full((x.shape[0],), float(quality))
        for name, codec in codecs.items():
            out = torch.round(codec(x, q).clamp(0, 1) * 255) / 255
            result[name][quality] = psnr(out, reference)
    return result


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(args.batch, 3, args.size, args.size, generator=gen)
    quality = 30 + 65 * torch.rand(args.batch, generator=gen)
    jpeg_ms = {
        "kornia": cpu_ms(lambda: jpeg_codec_differentiable(x, quality), args.repeats),
        "restorelab": cpu_ms(lambda: jpeg_codec(x, quality), args.repeats),
    }
    taps = get_gaussian_kernel1d(51, 8.0)
    per_sample = taps.expand(args.batch, -1)
    shared = filter2d_separable(x, taps, taps, border_type="reflect")
    grouped = filter2d_separable(x, per_sample, per_sample, border_type="reflect")
    usm_ms = {
        "kornia_shared_kernel": cpu_ms(
            lambda: filter2d_separable(x, taps, taps, border_type="reflect"), args.repeats
        ),
        "kornia_kernel_per_sample": cpu_ms(
            lambda: filter2d_separable(x, per_sample, per_sample, border_type="reflect"),
            args.repeats,
        ),
    }
    result = {
        "jpeg_ms": jpeg_ms,
        "jpeg_speedup": round(jpeg_ms["kornia"] / jpeg_ms["restorelab"], 2),
        "jpeg_psnr_vs_libjpeg": closeness_to_libjpeg(min(args.size, 256)),
        "usm_blur_ms": usm_ms,
        "usm_blur_max_abs_diff": float((shared - grouped).abs().max()),
        "batch": args.batch,
        "size": args.size,
        "threads": torch.get_num_threads(),
        "cpu_capability": str(torch.backends.cpu.get_cpu_capability()),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
