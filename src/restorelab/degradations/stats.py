"""How degraded a low-quality image is: the per-sample figures used to compare pipelines.

:func:`lq_statistics` measures, for each ``(gt, lq)`` pair, three things a degradation model
controls: how far ``lq`` is from a clean downscale of ``gt`` (PSNR), how blurred it is (edge
strength relative to the clean downscale, after a light smoothing that keeps noise out of it) and
how noisy (a robust estimate of white-noise level from its finest wavelet band). The statistical
test of ``degradation=realesrgan`` compares their distributions with BasicSR's own pipeline run
on the same ground-truth patches (``benchmarks/degradation_peer_stats.py``).
"""

from __future__ import annotations

import torch
from kornia.color import rgb_to_grayscale
from kornia.filters import gaussian_blur2d, sobel
from torch import Tensor

from restorelab.ops.imresize import imresize

__all__ = ["STATISTICS", "lq_statistics", "summarize"]

#: The figures :func:`lq_statistics` returns, one value per sample each.
STATISTICS = ("psnr", "sharpness", "noise")
#: Smoothing before measuring edges: enough to keep pixel noise out of the edge strength.
_EDGE_SIGMA = 1.0
#: median(|x|) / 0.6745 estimates the standard deviation of Gaussian noise (Donoho 1995).
_MAD_TO_SIGMA = 0.6745
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


def _luma(x: Tensor) -> Tensor:
    return rgb_to_grayscale(x) if x.shape[-3] == 3 else x


def _edge_strength(x: Tensor) -> Tensor:
    size = 2 * round(3 * _EDGE_SIGMA) + 1
    smooth = gaussian_blur2d(_luma(x), (size, size), (_EDGE_SIGMA, _EDGE_SIGMA))
    return sobel(smooth).flatten(1).mean(1)


def _noise_level(x: Tensor) -> Tensor:
    """Noise standard deviation (0..255) from the finest diagonal Haar band of the luma."""
    y = _luma(x)[:, 0]
    h, w = (y.shape[-2] // 2) * 2, (y.shape[-1] // 2) * 2
    y = y[:, :h, :w]
    diagonal = (y[:, 0::2, 0::2] - y[:, 0::2, 1::2] - y[:, 1::2, 0::2] + y[:, 1::2, 1::2]) / 2
    return diagonal.abs().flatten(1).median(dim=1).values / _MAD_TO_SIGMA * 255.0


def lq_statistics(gt: Tensor, lq: Tensor, scale: int) -> dict[str, Tensor]:
    """Per-sample PSNR, sharpness and noise level of ``lq`` made from ``gt`` at ``scale``.

    - ``psnr``: dB of ``lq`` against MATLAB-bicubic ``gt / scale`` (RGB, :math:`[0, 1]`).
    - ``sharpness``: mean Sobel magnitude of the lightly smoothed luma of ``lq`` over that of the
      clean downscale; 1 is as sharp, lower is blurrier (noise and ringing raise it).
    - ``noise``: white-noise standard deviation of the luma of ``lq`` in 0..255 units (median
      absolute finest diagonal wavelet coefficient over 0.6745; independent colour noise of
      sigma shows as 0.668 sigma there, grey noise as sigma); JPEG and blur lower it, texture
      raises it.

    Shape:
        - gt: :math:`(B, C, H, W)`, lq: :math:`(B, C, H / scale, W / scale)`
        - Output: each value :math:`(B,)`
    """
    with torch.no_grad():
        reference = imresize(gt.float(), size=(int(lq.shape[-2]), int(lq.shape[-1])))
        reference = reference.clamp(0.0, 1.0)
        lq = lq.float()
        mse = (lq - reference).pow(2).flatten(1).mean(1).clamp_min(1e-12)
        return {
            "psnr": 10.0 * torch.log10(1.0 / mse),
            "sharpness": _edge_strength(lq) / _edge_strength(reference).clamp_min(1e-12),
            "noise": _noise_level(lq),
        }


def summarize(values: Tensor) -> dict[str, float]:
    """Mean, standard deviation and the :data:`QUANTILES` of one statistic's samples."""
    v = values.double()
    quantiles = torch.quantile(v, torch.tensor(QUANTILES, dtype=torch.float64))
    out = {"mean": float(v.mean()), "std": float(v.std())}
    out.update({f"q{round(100 * q)}": float(x) for q, x in zip(QUANTILES, quantiles, strict=True)})
    return out
