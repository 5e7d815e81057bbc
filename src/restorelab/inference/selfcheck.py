"""A bundled model's self-check: one PSNR on a fixed, generated input that anyone can recompute.

The measured scores on a model's card come from held-out photographs that are not shipped; the
self-check is a number the test suite (and a user) can reproduce anywhere, so a changed weights
file, loader or tiler cannot pass unnoticed. Input: a 192x192 crop of scikit-image's
``astronaut`` (bundled with scikit-image, no download), degraded the way the model's task says:

* ``sr``: MATLAB-bicubic x4 downsampling, rounded to 8 bits; scored as PSNR-Y, border 4;
* ``real``: Real-ESRGAN's second-order degradation (``conf/degradation/realesrgan.yaml``) drawn
  with seed 0, rounded to 8 bits; scored as PSNR-Y, border 4;
* ``denoise``: additive Gaussian noise of sigma 25 (0..255) drawn from ``torch.Generator``
  seed 0, clipped and rounded to 8 bits; scored as RGB PSNR.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from restorelab.inference.enhancer import Enhancer
from restorelab.metrics import psnr_y
from restorelab.ops.imresize import imresize

#: The crop of ``astronaut`` the check runs on (rows, columns).
CROP = (slice(40, 232), slice(160, 352))
SIGMA = 25.0
SEED = 0


def reference_gt() -> torch.Tensor:
    from skimage import data

    pixels = np.ascontiguousarray(data.astronaut()[CROP])
    return torch.from_numpy(pixels).permute(2, 0, 1)[None].float() / 255


def to_uint8(x: torch.Tensor) -> np.ndarray:
    return (x[0].permute(1, 2, 0) * 255).round().clamp(0, 255).to(torch.uint8).numpy()


def psnr_rgb(sr: torch.Tensor, gt: torch.Tensor) -> float:
    mse = torch.mean((sr * 255 - gt * 255) ** 2)
    return float(10 * torch.log10(255.0**2 / mse))


def real_lq(gt: torch.Tensor, scale: int = 4) -> torch.Tensor:
    """``gt`` through Real-ESRGAN's degradation (the packaged config), seed :data:`SEED`."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from restorelab.config import config_dir

    root = OmegaConf.create({"seed": SEED, "data": {"scale": scale}})
    root.degradation = OmegaConf.load(Path(config_dir()) / "degradation" / "realesrgan.yaml")
    degradation = instantiate(root.degradation)
    return degradation(gt, seeds=[SEED])


def degraded(gt: torch.Tensor, task: str, scale: int) -> torch.Tensor:
    """The self-check input for ``task`` (``sr``, ``real`` or ``denoise``), in [0, 1]."""
    if task == "sr":
        return imresize(gt, 1 / scale)
    if task == "real":
        return real_lq(gt, scale)
    if task == "denoise":
        noise = torch.randn(gt.shape, generator=torch.Generator().manual_seed(SEED))
        return gt + noise * SIGMA / 255
    raise ValueError(f"selfcheck task must be 'sr', 'real' or 'denoise', got {task!r}")


def selfcheck(enhancer: Enhancer, task: str) -> float:
    """The self-check PSNR (dB) of ``enhancer`` for ``task`` (``sr``, ``real`` or ``denoise``)."""
    gt = reference_gt()
    lq = degraded(gt, task, enhancer.scale)
    out = enhancer.enhance(to_uint8(lq.clamp(0, 1)))
    sr = torch.from_numpy(np.asarray(out)).permute(2, 0, 1)[None].float() / 255
    if task == "denoise":
        return psnr_rgb(sr, gt)
    return float(psnr_y(sr, gt, crop_border=enhancer.scale)[0])
