"""PSNR/SSIM on Y against reference values computed by BasicSR on real image pairs."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from restorelab.metrics import PSNRY, SSIMY, psnr_y, quantize_8bit, rgb_to_y, ssim_y
from tests.helpers import REFERENCE


def _metrics_reference() -> dict[str, Any]:
    with open(REFERENCE / "conventions.json") as f:
        data: dict[str, Any] = json.load(f)
    return data["metrics"]


def _load_png(name: str) -> torch.Tensor:
    """A reference PNG as a float32 (1, C, H, W) tensor in [0, 1] (C is 1 for grayscale)."""
    array = np.asarray(Image.open(REFERENCE / name)).astype(np.float32) / 255.0
    tensor = torch.from_numpy(array)
    chw = tensor.permute(2, 0, 1) if tensor.dim() == 3 else tensor.unsqueeze(0)
    return chw.unsqueeze(0)


METRIC_CASES = ["bicubic_vs_gt_crop0", "bicubic_vs_gt_crop4", "gray_bicubic_vs_gt_crop4"]


def test_reference_cases_are_all_tested() -> None:
    assert sorted(_metrics_reference()) == sorted(METRIC_CASES)


@pytest.mark.parametrize("case", METRIC_CASES)
def test_matches_reference_values(case: str) -> None:
    ref = _metrics_reference()[case]
    sr, gt = _load_png(ref["sr"]), _load_png(ref["gt"])
    crop = ref["crop_border"]
    # Measured deviations: PSNR <= 4e-5 dB, SSIM <= 4e-6 (the reference has 4-5 decimals).
    assert psnr_y(sr, gt, crop).item() == pytest.approx(ref["psnr_y"], abs=1e-3)
    assert ssim_y(sr, gt, crop).item() == pytest.approx(ref["ssim_y"], abs=1e-4)


def test_gray_is_not_converted_to_y() -> None:
    """Scoring gray via RGB -> studio Y compresses contrast and inflates PSNR by over 1 dB."""
    ref = _metrics_reference()["gray_bicubic_vs_gt_crop4"]
    sr, gt = _load_png(ref["sr"]), _load_png(ref["gt"])
    via_rgb = psnr_y(sr.expand(-1, 3, -1, -1), gt.expand(-1, 3, -1, -1), 4).item()
    assert via_rgb - psnr_y(sr, gt, 4).item() > 1.0


def test_y_differs_from_rgb_psnr() -> None:
    ref = _metrics_reference()["bicubic_vs_gt_crop4"]
    sr, gt = _load_png(ref["sr"]), _load_png(ref["gt"])
    assert abs(psnr_y(sr, gt, 4).item() - ref["psnr_rgb"]) > 1.0


def test_hand_computed_psnr() -> None:
    """Constant gray images 10 levels apart: MSE = 100, so PSNR = 10 log10(255^2 / 100)."""
    gt = torch.full((2, 1, 16, 16), 100 / 255)
    sr = gt + 10 / 255
    expected = 10 * math.log10(255**2 / 100)
    torch.testing.assert_close(
        psnr_y(sr, gt, crop_border=2), torch.full((2,), expected, dtype=torch.float64)
    )


def test_hand_computed_psnr_rgb() -> None:
    """Equal RGB offsets of d levels shift Y by d * (65.481 + 128.553 + 24.966) / 255."""
    gt = torch.full((1, 3, 8, 8), 100 / 255)
    sr = gt + 10 / 255
    y_diff = 10 * (65.481 + 128.553 + 24.966) / 255
    expected = 20 * math.log10(255 / y_diff)
    assert psnr_y(sr, gt, 0).item() == pytest.approx(expected, abs=1e-9)


def test_identical_images() -> None:
    x = torch.rand(2, 3, 24, 24)
    assert torch.isinf(psnr_y(x, x, 4)).all()
    torch.testing.assert_close(ssim_y(x, x, 4), torch.ones(2, dtype=torch.float64))


def test_quantization_happens_before_scoring() -> None:
    """Differences below half an 8-bit level vanish, as they would in a saved PNG."""
    gt = torch.rand(1, 3, 16, 16).mul(255).round().div(255)
    sr = gt + 0.3 / 255
    assert torch.isinf(psnr_y(sr, gt, 0)).all()
    out_of_range = gt.clone()
    out_of_range[..., 0, 0] = 1.5
    clamped = gt.clone()
    clamped[..., 0, 0] = 1.0
    torch.testing.assert_close(psnr_y(out_of_range, gt, 0), psnr_y(clamped, gt, 0))


def test_quantize_and_rgb_to_y() -> None:
    levels = quantize_8bit(torch.tensor([-0.1, 0.0, 0.5, 1.0, 1.3]))
    assert levels.dtype == torch.float64
    assert levels.tolist() == [0.0, 0.0, 128.0, 255.0, 255.0]
    black_white = torch.stack([torch.zeros(3, 1, 1), torch.full((3, 1, 1), 255.0)])
    assert rgb_to_y(black_white).flatten().tolist() == pytest.approx([16.0, 235.0])
    with pytest.raises(ValueError, match="3"):
        rgb_to_y(torch.rand(1, 4, 2, 2))


def test_ssim_crop_and_per_image_values() -> None:
    ref = _metrics_reference()["bicubic_vs_gt_crop0"]
    sr, gt = _load_png(ref["sr"]), _load_png(ref["gt"])
    batch_sr = torch.cat([sr, gt])
    batch_gt = torch.cat([gt, gt])
    values = ssim_y(batch_sr, batch_gt, 0)
    assert values.shape == (2,)
    assert values[0].item() == pytest.approx(ref["ssim_y"], abs=1e-4)
    assert values[1].item() == pytest.approx(1.0)


def test_metric_objects_accumulate_mean_over_images() -> None:
    torch.manual_seed(0)
    gt = torch.rand(5, 3, 32, 32)
    sr = (gt + 0.05 * torch.randn_like(gt)).clamp(0, 1)
    psnr_metric, ssim_metric = PSNRY(crop_border=4), SSIMY(crop_border=4)
    for part in (slice(0, 2), slice(2, 5)):
        psnr_metric.update(sr[part], gt[part])
        ssim_metric.update(sr[part], gt[part])
    torch.testing.assert_close(psnr_metric.compute(), psnr_y(sr, gt, 4).mean())
    torch.testing.assert_close(ssim_metric.compute(), ssim_y(sr, gt, 4).mean())
    assert psnr_metric.count.item() == 5
    assert psnr_metric.higher_is_better and ssim_metric.higher_is_better
    psnr_metric.reset()
    assert psnr_metric.count.item() == 0


def test_shape_mismatch_names_both_shapes() -> None:
    sr, gt = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 30)
    for fn in (psnr_y, ssim_y):
        with pytest.raises(ValueError, match=r"\(1, 3, 32, 32\).*\(1, 3, 32, 30\)"):
            fn(sr, gt, 0)
    with pytest.raises(ValueError, match="same shape"):
        PSNRY(crop_border=0).update(sr, gt)


def test_invalid_inputs() -> None:
    with pytest.raises(ValueError, match="C 3"):
        psnr_y(torch.rand(1, 2, 16, 16), torch.rand(1, 2, 16, 16), 0)
    with pytest.raises(ValueError, match="crop_border"):
        psnr_y(torch.rand(1, 1, 16, 16), torch.rand(1, 1, 16, 16), 8)
    with pytest.raises(ValueError, match="11x11"):
        ssim_y(torch.rand(1, 1, 16, 16), torch.rand(1, 1, 16, 16), 3)
