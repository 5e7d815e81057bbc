"""How validation and test score a restored batch: PSNR/SSIM on Y, image by image.

Restoration benchmarks score the Y channel of RGB (MATLAB's ``rgb2ycbcr``) with ``scale``
pixels cropped from each border; a grayscale image is scored on its single channel. These
helpers feed the module's torchmetrics accumulators (dataset means) and, for test, the
per-image scores that ``evaluate`` writes out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from torch import Tensor

from restorelab.errors import ConfigError
from restorelab.metrics import PSNRY, SSIMY, psnr_y, ssim_y


def scoring_view(x: Tensor, gray: bool) -> Tensor:
    """The channels a metric scores: Y of RGB, or the single channel of a grayscale image.

    A grayscale ground truth travels as three equal channels; it is scored on one channel
    (the mean of the output's three), as MATLAB scores a single-channel image.
    """
    return x.mean(dim=1, keepdim=True) if gray else x


def check_output_shape(sr: Tensor, gt: Tensor) -> None:
    """Fail with the likely cause when the generator's output and the ground truth differ."""
    if sr.shape != gt.shape:
        raise ConfigError(
            f"generator output {tuple(sr.shape)} does not match ground truth "
            f"{tuple(gt.shape)}: check generator.scale against data.scale"
        )


def counted_images(batch: Mapping[str, Any]) -> list[bool]:
    """Which images of an evaluation batch count in the metrics (all, unless marked).

    Under DDP the evaluation loader pads the ranks to equal length with repeats marked
    ``counted=False`` (see :mod:`restorelab.data.sharding`); scoring them would count those
    images twice.
    """
    marks = batch.get("counted")
    if marks is None:
        return [True] * len(batch["gt"])
    return [bool(m) for m in marks]


def update_metrics(
    pred: Tensor,
    gt: Tensor,
    grays: Iterable[Any],
    psnr: PSNRY,
    ssim: SSIMY,
    counted: Iterable[bool] | None = None,
) -> list[tuple[Tensor, Tensor]]:
    """Update ``psnr`` and ``ssim`` image by image; returns each ``(pred, gt)`` scoring view.

    One image at a time because a batch may mix RGB and grayscale images, which are scored
    on different channels. Images whose ``counted`` is False (padding repeats) are skipped,
    and have no view in the result.
    """
    grays = list(grays)
    marks = [True] * len(grays) if counted is None else list(counted)
    views = []
    for i, (gray, count) in enumerate(zip(grays, marks, strict=True)):
        if not count:
            continue
        p = scoring_view(pred[i : i + 1], bool(gray))
        g = scoring_view(gt[i : i + 1], bool(gray))
        psnr.update(p, g)
        ssim.update(p, g)
        views.append((p, g))
    return views


def per_image_scores(
    views: Iterable[tuple[Tensor, Tensor]], crop_border: int
) -> list[tuple[float, float]]:
    """``(psnr_y, ssim_y)`` of each ``(pred, gt)`` view from :func:`update_metrics`."""
    return [
        (float(psnr_y(p, g, crop_border)[0]), float(ssim_y(p, g, crop_border)[0])) for p, g in views
    ]
