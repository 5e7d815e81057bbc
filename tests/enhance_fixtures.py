"""Shared helpers of the enhance/export tests: tiny checkpoints and generated images."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

#: A tiny SRVGGNetCompact: 5 convolutions (receptive field 11 input pixels), x2.
TINY_COMPACT: dict[str, Any] = {
    "_target_": "restorelab.archs.SRVGGNetCompact",
    "num_in_ch": 3,
    "num_out_ch": 3,
    "num_feat": 8,
    "num_conv": 3,
    "act_type": "prelu",
    "upsample_skip": "bilinear",
    "scale": 2,
}
TINY_RECEPTIVE_FIELD = 2 * (TINY_COMPACT["num_conv"] + 2) + 1


def save_checkpoint(path: Path, config: dict[str, Any], seed: int = 0, **extra: Any) -> nn.Module:
    """Build the generator of ``config`` with random weights and save it the way training
    does (``state_dict`` with ``generator.*`` keys, configs under ``restorelab``)."""
    import hydra

    torch.manual_seed(seed)
    generator = hydra.utils.instantiate(config)
    with torch.no_grad():  # PReLU slopes and biases away from their defaults
        for p in generator.parameters():
            p.add_(0.05 * torch.randn_like(p))
    ckpt = {
        "state_dict": {f"generator.{k}": v for k, v in generator.state_dict().items()},
        "restorelab": {
            "version": "0.1.0",
            "scale": int(config["scale"]),
            "generator": dict(config),
            "config": {},
        },
        **extra,
    }
    torch.save(ckpt, path)
    return generator.eval()


class TinyStages(nn.Module):
    """A two-stage x2 generator with ``stages()``: nearest upsampling, then a 3x3 refinement."""

    def __init__(self, scale: int = 2) -> None:
        super().__init__()
        self.scale = scale
        self.refine = nn.Conv2d(3, 3, 3, padding=1)
        with torch.no_grad():
            self.refine.weight.zero_()
            self.refine.weight[:, :, 1, 1] = torch.eye(3) * 0.5
            self.refine.bias.fill_(0.25)

    def stages(self, lq: Tensor) -> list[Tensor]:
        up = nn.functional.interpolate(lq, scale_factor=float(self.scale), mode="nearest")
        return [up, self.refine(up)]

    def forward(self, lq: Tensor) -> Tensor:
        return self.stages(lq)[-1]


def gradient_image(h: int, w: int, channels: int = 3, dtype: type = np.uint8) -> np.ndarray:
    """A smooth, deterministic test image (no flat regions, every channel different)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    planes = [
        0.5 + 0.5 * np.sin(xx / (5 + 2 * c) + yy / (7 + c) + c) for c in range(max(channels, 1))
    ]
    img = np.stack(planes, axis=2)
    top = np.iinfo(dtype).max
    arr = np.rint(img * top).astype(dtype)
    return arr[:, :, 0] if channels == 1 else arr
