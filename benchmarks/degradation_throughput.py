"""Throughput of the ``realesrgan`` degradation against a re-implementation of BasicSR's approach.

Usage::

    python benchmarks/degradation_throughput.py [--batch 16] [--size 256] [--rounds 10]
        [--warmup 2] [--threads N] [overrides ...]

Measures images per second of ``degradation=realesrgan`` (composed exactly as ``restorelab-train``
composes it; extra arguments are Hydra overrides, e.g. ``degradation.stages.noise1.prob=0.5``)
on batches of ``--batch`` random ground-truth ``--size`` px patches at scale 4 on the CPU: without
the unsharp-mask sharpening of the ground truth (``degradation.stages.usm=null``) and with it.

The baseline is **a re-implementation of BasicSR's approach, written here** (BasicSR itself does
not import beside this torch build: it needs torchvision). It follows ``RealESRGANModel.feed_data``
and the helpers it calls, step for step:

- every blur applies a 21x21 kernel to every sample with ``filter2D`` (reflect padding, one
  grouped convolution with ``groups = B * C``), including the "pulse" (identity) kernel that
  stands for a skipped final sinc filter and the second blur's skipped samples;
- ``USMSharp`` blurs with a dense 51x51 Gaussian kernel, twice (image and mask);
- one resize scale and interpolation per batch; Gaussian-or-Poisson noise chosen per batch,
  with both the colour and the grey noise fields computed for the whole batch and Poisson noise
  counting each image's distinct values (``torch.unique``) to set its photon count;
- JPEG: the same kornia codec as restorelab (so the comparison is about everything else);
- the per-sample kernels are drawn with NumPy one sample at a time, as BasicSR's dataset does in
  its DataLoader workers. That happens before the timed region here (workers run in parallel),
  which favours the baseline: restorelab's timing includes drawing its kernels.

Rounds alternate restorelab and baseline, with and without sharpening, so machine noise hits
both; in each round the baseline resizes to the sizes restorelab's random resizes drew (paired
rounds: both sides process images of the same sizes). Branches still differ (BasicSR picks
Gaussian or Poisson noise for the whole batch, restorelab per sample), so images/s is total
images over total time of the timed rounds, the mean rate a training run sees; use enough
rounds for the branches to average out (30 by default).
CPU time (all threads) is reported beside wall time: on a shared machine it is the steadier
measure of the work each side does. Last line of stdout is JSON::

    {"pipeline": "realesrgan", "images_per_s": ..., "images_per_s_with_usm": ...,
     "basicsr_style_images_per_s": ..., "basicsr_style_images_per_s_with_usm": ...,
     "ratio": ..., "ratio_with_usm": ..., ...}
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from torch import Tensor

from restorelab.config import config_dir, register_resolvers
from restorelab.data.sources import EmbeddedSource
from restorelab.degradations import Degradation, jpeg_compress, usm_sharp

SCALE = 4
# Real-ESRGAN options (options/train_realesrgan_x4plus.yml and the RealESRGANDataset options).
KERNEL_LIST = [
    "iso",
    "aniso",
    "generalized_iso",
    "generalized_aniso",
    "plateau_iso",
    "plateau_aniso",
]
KERNEL_PROB = [0.45, 0.25, 0.12, 0.03, 0.12, 0.03]
KERNEL_RANGE = [2 * v + 1 for v in range(3, 11)]  # 7..21
FIRST = {"sigma": (0.2, 3.0), "sinc_prob": 0.1}
SECOND = {"sigma": (0.2, 1.5), "sinc_prob": 0.1}
FINAL_SINC_PROB = 0.8
RESIZE = [((0.2, 0.7, 0.1), (0.15, 1.5)), ((0.3, 0.4, 0.3), (0.3, 1.2))]
NOISE = [((1, 30), (0.05, 3.0)), ((1, 25), (0.05, 2.5))]
GAUSSIAN_NOISE_PROB, GRAY_NOISE_PROB, SECOND_BLUR_PROB = 0.5, 0.4, 0.8
JPEG_RANGE = (30, 95)
USM_SIZE, USM_SIGMA, USM_WEIGHT, USM_THRESHOLD = 51, 8.0, 0.5, 10.0


# --------------------------------------------------------------- baseline: kernels (NumPy)
def _np_kernel(kind: str, size: int, sigma: tuple[float, float], rng: random.Random) -> np.ndarray:
    """One kernel the way BasicSR's ``random_mixed_kernels`` draws it (own re-implementation)."""
    half = size // 2
    ax = np.arange(-half, half + 1, dtype=np.float64)
    xx, yy = np.meshgrid(ax, ax)
    iso = kind.endswith("iso") and not kind.endswith("aniso")
    sx = rng.uniform(*sigma)
    sy = sx if iso else rng.uniform(*sigma)
    theta = 0.0 if iso else rng.uniform(-math.pi, math.pi)
    c, s = math.cos(theta), math.sin(theta)
    rot = np.array([[c, -s], [s, c]])
    cov = rot @ np.diag([sx**2, sy**2]) @ rot.T
    inv = np.linalg.inv(cov)
    q = inv[0, 0] * xx**2 + 2 * inv[0, 1] * xx * yy + inv[1, 1] * yy**2
    if kind.startswith("generalized"):
        beta = rng.uniform(0.5, 1) if rng.random() < 0.5 else rng.uniform(1, 4)
        k = np.exp(-0.5 * q**beta)
    elif kind.startswith("plateau"):
        beta = rng.uniform(1, 1) if rng.random() < 0.5 else rng.uniform(1, 2)
        k = 1.0 / (q**beta + 1)
    else:
        k = np.exp(-0.5 * q)
    return k / k.sum()


def _np_sinc(size: int, omega: float) -> np.ndarray:
    from scipy.special import j1

    half = size // 2
    ax = np.arange(-half, half + 1, dtype=np.float64)
    xx, yy = np.meshgrid(ax, ax)
    r = np.sqrt(xx**2 + yy**2)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = omega * j1(omega * r) / (2 * np.pi * r)
    k[half, half] = omega**2 / (4 * np.pi)
    return k / k.sum()


def _pad21(k: np.ndarray) -> np.ndarray:
    pad = (21 - k.shape[0]) // 2
    return np.pad(k, ((pad, pad), (pad, pad)))


def baseline_kernels(batch: int, rng: random.Random) -> tuple[Tensor, Tensor, Tensor]:
    """Per-sample kernel1, kernel2 and the final sinc kernel (or pulse), each (B, 21, 21)."""
    out = []
    for options in (FIRST, SECOND):
        stack = []
        for _ in range(batch):
            size = rng.choice(KERNEL_RANGE)
            if rng.random() < options["sinc_prob"]:  # type: ignore[operator]
                omega = (
                    rng.uniform(math.pi / 3, math.pi)
                    if size < 13
                    else rng.uniform(math.pi / 5, math.pi)
                )
                k = _np_sinc(size, omega)
            else:
                kind = rng.choices(KERNEL_LIST, KERNEL_PROB)[0]
                k = _np_kernel(kind, size, options["sigma"], rng)  # type: ignore[arg-type]
            stack.append(_pad21(k))
        out.append(torch.from_numpy(np.stack(stack)).float())
    finals = []
    for _ in range(batch):
        if rng.random() < FINAL_SINC_PROB:
            finals.append(
                _pad21(_np_sinc(rng.choice(KERNEL_RANGE), rng.uniform(math.pi / 3, math.pi)))
            )
        else:
            pulse = np.zeros((21, 21))
            pulse[10, 10] = 1
            finals.append(pulse)
    out.append(torch.from_numpy(np.stack(finals)).float())
    return out[0], out[1], out[2]


# --------------------------------------------------------------- baseline: the batch path
def filter2d(img: Tensor, kernel: Tensor) -> Tensor:
    """BasicSR-style ``filter2D``: reflect pad, one conv (grouped for per-sample kernels)."""
    k = kernel.size(-1)
    b, c, h, w = img.size()
    img = F.pad(img, (k // 2, k // 2, k // 2, k // 2), mode="reflect")
    ph, pw = img.size()[-2:]
    if kernel.size(0) == 1:
        out = F.conv2d(img.view(b * c, 1, ph, pw), kernel.view(1, 1, k, k))
        return out.view(b, c, h, w)
    out = F.conv2d(
        img.view(1, b * c, ph, pw),
        kernel.view(b, 1, k, k).repeat(1, c, 1, 1).view(b * c, 1, k, k),
        groups=b * c,
    )
    return out.view(b, c, h, w)


def baseline_usm(img: Tensor, kernel: Tensor) -> Tensor:
    """BasicSR ``USMSharp.forward`` with its dense 51x51 kernel."""
    blur = filter2d(img, kernel)
    residual = img - blur
    mask = (torch.abs(residual) * 255 > USM_THRESHOLD).float()
    soft_mask = filter2d(mask, kernel)
    sharp = torch.clamp(img + USM_WEIGHT * residual, 0, 1)
    return soft_mask * sharp + (1 - soft_mask) * img


def _gaussian_noise(img: Tensor, sigma_range: tuple[float, float], gen: torch.Generator) -> Tensor:
    b = img.size(0)
    sigma = (
        torch.rand(b, generator=gen) * (sigma_range[1] - sigma_range[0]) + sigma_range[0]
    ) / 255
    gray = (torch.rand(b, generator=gen) < GRAY_NOISE_PROB).float().view(b, 1, 1, 1)
    noise = torch.randn(img.size(), generator=gen) * sigma.view(b, 1, 1, 1)
    noise_gray = torch.randn(b, 1, *img.shape[2:], generator=gen) * sigma.view(b, 1, 1, 1)
    noise = (1 - gray) * noise + gray * noise_gray
    return img + noise


def _poisson_field(img: Tensor, gen: torch.Generator) -> Tensor:
    img = torch.clamp((img * 255.0).round(), 0, 255) / 255.0
    counts = [len(torch.unique(img[i])) for i in range(img.size(0))]
    vals = torch.tensor([2 ** math.ceil(math.log2(v)) for v in counts]).float().view(-1, 1, 1, 1)
    return torch.poisson(img * vals, generator=gen) / vals - img


def _poisson_noise(img: Tensor, scale_range: tuple[float, float], gen: torch.Generator) -> Tensor:
    b = img.size(0)
    scale = torch.rand(b, generator=gen) * (scale_range[1] - scale_range[0]) + scale_range[0]
    gray = (torch.rand(b, generator=gen) < GRAY_NOISE_PROB).float().view(b, 1, 1, 1)
    noise = _poisson_field(img, gen)
    luma = (img * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    noise_gray = _poisson_field(luma, gen).expand_as(img)
    noise = (1 - gray) * noise + gray * noise_gray
    return img + noise * scale.view(b, 1, 1, 1)


def baseline_pipeline(
    gt: Tensor,
    kernels: tuple[Tensor, Tensor, Tensor],
    usm: Tensor | None,
    rng: random.Random,
    gen: torch.Generator,
    sizes: Sequence[tuple[int, int]] = (),
) -> Tensor:
    """Re-implementation of BasicSR ``RealESRGANModel.feed_data``'s degradation (x4).

    ``sizes``: the outputs of the two random resizes restorelab drew in the same round, so both
    sides work on images of the same sizes (the largest source of round-to-round variance);
    without them the sizes are drawn here, as BasicSR draws them.
    """
    if usm is not None:
        gt = baseline_usm(gt, usm)
    ori_h, ori_w = gt.shape[-2:]
    b = gt.size(0)
    out = gt
    for order, kernel in enumerate(kernels[:2]):
        if order == 0 or rng.random() < SECOND_BLUR_PROB:
            out = filter2d(out, kernel)
        probs, bounds = RESIZE[order]
        updown = rng.choices(["up", "down", "keep"], probs)[0]
        scale = (
            rng.uniform(1, bounds[1])
            if updown == "up"
            else (rng.uniform(bounds[0], 1) if updown == "down" else 1)
        )
        mode = rng.choice(["area", "bilinear", "bicubic"])
        if sizes:
            out = F.interpolate(out, size=sizes[order], mode=mode)
        elif order == 0:
            out = F.interpolate(out, scale_factor=scale, mode=mode)
        else:
            size = (int(ori_h / SCALE * scale), int(ori_w / SCALE * scale))
            out = F.interpolate(out, size=size, mode=mode)
        sigma_range, poisson_range = NOISE[order]
        if rng.random() < GAUSSIAN_NOISE_PROB:
            out = _gaussian_noise(out, sigma_range, gen)
        else:
            out = _poisson_noise(out, poisson_range, gen)
        quality = torch.rand(b, generator=gen) * (JPEG_RANGE[1] - JPEG_RANGE[0]) + JPEG_RANGE[0]
        out = jpeg_compress(torch.clamp(out, 0, 1), quality)

    def resize_sinc(x: Tensor) -> Tensor:
        mode = rng.choice(["area", "bilinear", "bicubic"])
        x = F.interpolate(x, size=(ori_h // SCALE, ori_w // SCALE), mode=mode)
        return filter2d(x, kernels[2])

    def jpeg(x: Tensor) -> Tensor:
        quality = torch.rand(b, generator=gen) * (JPEG_RANGE[1] - JPEG_RANGE[0]) + JPEG_RANGE[0]
        return jpeg_compress(torch.clamp(x, 0, 1), quality)

    steps = [resize_sinc, jpeg] if rng.random() < 0.5 else [jpeg, resize_sinc]
    for step in steps:
        out = step(out)
    return torch.clamp((out * 255.0).round(), 0, 255) / 255.0


# --------------------------------------------------------------- timing
def build_ours(overrides: Sequence[str], usm: bool) -> Degradation:
    register_resolvers()
    extra = [] if usm else ["degradation.stages.usm=null"]
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose(config_name="train", overrides=["degradation=realesrgan", *overrides, *extra])
    degradation = instantiate(cfg.degradation)
    assert isinstance(degradation, Degradation)
    return degradation


def record_resize_sizes(degradation: Degradation) -> list[tuple[int, int]]:
    """A list that receives the output size of each random resize of every call (in order)."""
    sizes: list[tuple[int, int]] = []
    for name in ("resize1", "resize2"):
        degradation.stages[name].register_forward_hook(
            lambda _m, _i, out: sizes.append((int(out.shape[-2]), int(out.shape[-1])))
        )
    return sizes


def timed(fn: Callable[[], Tensor]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of all threads) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    assert out.shape[-1] > 0
    return time.perf_counter() - wall, time.process_time() - cpu


def photo_patches(batch: int, size: int, seed: int) -> Tensor:
    """Random ``size`` crops of the embedded training photographs, float in [0, 1]."""
    source = EmbeddedSource(["astronaut", "chelsea", "rocket", "motorcycle_left", "retina"])
    rng = np.random.default_rng(seed)
    crops = []
    for i in range(batch):
        img = source[i % len(source)].gt
        top = int(rng.integers(0, img.shape[0] - size + 1))
        left = int(rng.integers(0, img.shape[1] - size + 1))
        crops.append(torch.from_numpy(img[top : top + size, left : left + size].copy()))
    return (torch.stack(crops).permute(0, 3, 1, 2).float() / 255.0).contiguous()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    ours = {usm: build_ours(args.overrides, usm=usm) for usm in (False, True)}
    sizes = {usm: record_resize_sizes(ours[usm]) for usm in (False, True)}
    gen = torch.Generator().manual_seed(0)
    gt = photo_patches(args.batch, args.size, seed=0)
    rng = random.Random(0)
    ax = torch.arange(USM_SIZE, dtype=torch.float64) - USM_SIZE // 2
    g = torch.exp(-0.5 * (ax / USM_SIGMA) ** 2)
    g = g / g.sum()
    usm_dense = torch.outer(g, g).float().view(1, USM_SIZE, USM_SIZE)

    # Same result check: separable USM (restorelab) against the dense 51x51 one (BasicSR).
    usm_diff = float((usm_sharp(gt[:2]) - baseline_usm(gt[:2], usm_dense)).abs().max())

    wall: dict[str, list[float]] = {"ours": [], "ours_usm": [], "base": [], "base_usm": []}
    cpu: dict[str, list[float]] = {k: [] for k in wall}
    for r in range(args.warmup + args.rounds):
        kernels = baseline_kernels(args.batch, rng)  # drawn "in the workers", untimed
        sizes[False].clear()
        sizes[True].clear()
        calls: dict[str, Callable[[], Tensor]] = {
            "ours": lambda: ours[False](gt),
            "base": lambda k=kernels: baseline_pipeline(gt, k, None, rng, gen, sizes[False]),
            "ours_usm": lambda: ours[True](gt),
            "base_usm": lambda k=kernels: baseline_pipeline(
                gt, k, usm_dense, rng, gen, sizes[True]
            ),
        }
        t = {name: timed(call) for name, call in calls.items()}  # in order: ours, then base
        if r >= args.warmup:
            for name, (w, c) in t.items():
                wall[name].append(w)
                cpu[name].append(c)
        note = " (warm-up)" if r < args.warmup else ""
        summary = ", ".join(
            f"{k} {w * 1000:.0f} ms ({c * 1000:.0f} cpu)" for k, (w, c) in t.items()
        )
        print(f"round {r}{note}: {summary}", file=sys.stderr)

    rate = {k: args.batch * len(v) / sum(v) for k, v in wall.items()}
    cpu_rate = {k: args.batch * len(v) / sum(v) for k, v in cpu.items()}
    result = {
        "pipeline": "realesrgan",
        "images_per_s": round(rate["ours"], 2),
        "images_per_s_with_usm": round(rate["ours_usm"], 2),
        "basicsr_style_images_per_s": round(rate["base"], 2),
        "basicsr_style_images_per_s_with_usm": round(rate["base_usm"], 2),
        "ratio": round(rate["ours"] / rate["base"], 3),
        "ratio_with_usm": round(rate["ours_usm"] / rate["base_usm"], 3),
        "cpu_time_ratio": round(cpu_rate["ours"] / cpu_rate["base"], 3),
        "cpu_time_ratio_with_usm": round(cpu_rate["ours_usm"] / cpu_rate["base_usm"], 3),
        "batch": args.batch,
        "size": args.size,
        "scale": SCALE,
        "rounds": args.rounds,
        "threads": torch.get_num_threads(),
        "usm_max_abs_diff": usm_diff,
    }
    print(
        f"realesrgan x{SCALE}, batch {args.batch} of {args.size} px, {torch.get_num_threads()} "
        f"threads: restorelab {rate['ours']:.1f} img/s ({rate['ours_usm']:.1f} with USM), "
        f"BasicSR-style re-implementation {rate['base']:.1f} img/s ({rate['base_usm']:.1f} with "
        f"USM): x{result['ratio']:.2f} ({result['ratio_with_usm']:.2f} with USM)"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
