"""MATLAB-compatible bicubic imresize against reference values it did not compute itself."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from restorelab.ops.imresize import MatlabResize, imresize
from tests.helpers import REFERENCE


def _conventions() -> dict[str, Any]:
    with open(REFERENCE / "conventions.json") as f:
        data: dict[str, Any] = json.load(f)
    return data


def _load_png(name: str) -> torch.Tensor:
    """A reference PNG as a float64 (C, H, W) tensor in [0, 1] (C is 1 for grayscale)."""
    array = np.asarray(Image.open(REFERENCE / name)).astype(np.float64) / 255.0
    tensor = torch.from_numpy(array)
    return tensor.permute(2, 0, 1) if tensor.dim() == 3 else tensor.unsqueeze(0)


def _to_uint8_levels(x: torch.Tensor) -> torch.Tensor:
    return torch.round(x.clamp(0, 1) * 255).to(torch.int64)


def _scale_from_key(key: str) -> float:
    """JSON keys are rounded ("0.333333"); recover the exact factor 1/n or n."""
    value = float(key)
    return 1.0 / round(1.0 / value) if value < 1 else value


IMRESIZE_KEYS = ["0.5", "0.333333", "0.25", "2", "3", "4"]


@pytest.mark.parametrize("key", IMRESIZE_KEYS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_matches_reference_outputs(key: str, dtype: torch.dtype) -> None:
    ref = _conventions()["imresize"]
    x = torch.tensor(ref["input_hwc"], dtype=dtype).permute(2, 0, 1)
    expected = torch.tensor(ref["outputs"][key]["hwc"], dtype=torch.float64)

    out = imresize(x, scale=_scale_from_key(key))

    assert out.dtype == dtype
    assert list(out.permute(1, 2, 0).shape) == ref["outputs"][key]["shape"]
    # Measured: at most 1.3e-6 (the reference is float32, stored with 6 decimals).
    assert (out.permute(1, 2, 0).double() - expected).abs().max().item() < 1e-5


def test_reference_keys_are_all_tested() -> None:
    assert sorted(_conventions()["imresize"]["outputs"]) == sorted(IMRESIZE_KEYS)


@pytest.mark.parametrize(
    ("in_hw", "scale", "out_hw"),
    [
        ((96, 96), 1 / 4, (24, 24)),
        ((12, 15), 1 / 2, (6, 8)),
        ((12, 15), 1 / 3, (4, 5)),
        ((7, 9), 2.0, (14, 18)),
        ((10, 10), 0.55, (6, 6)),
        ((5, 6), 1.0, (5, 6)),
    ],
)
def test_output_size_is_ceil_of_scaled_size(
    in_hw: tuple[int, int], scale: float, out_hw: tuple[int, int]
) -> None:
    assert imresize(torch.rand(3, *in_hw), scale=scale).shape == (3, *out_hw)
    assert tuple(out_hw) == (math.ceil(in_hw[0] * scale), math.ceil(in_hw[1] * scale))


def test_scale_one_is_identity() -> None:
    x = torch.rand(2, 3, 9, 11, dtype=torch.float64)
    torch.testing.assert_close(imresize(x, scale=1.0), x)


def test_explicit_size() -> None:
    x = torch.rand(1, 3, 20, 30)
    assert imresize(x, size=(10, 45)).shape == (1, 3, 10, 45)
    # An explicit size equal to the scaled size gives the same result as the scale.
    torch.testing.assert_close(imresize(x, size=(10, 15)), imresize(x, scale=0.5))


def test_constant_image_stays_constant() -> None:
    """Normalized weights and the mirror padding preserve a constant, at every scale."""
    x = torch.full((1, 1, 13, 17), 0.3, dtype=torch.float64)
    for scale in (1 / 4, 1 / 3, 0.7, 1.5, 4.0):
        out = imresize(x, scale=scale)
        torch.testing.assert_close(out, torch.full_like(out, 0.3))


def test_tiny_input_with_wide_kernel() -> None:
    """A kernel wider than the image (x1/4 of 3 pixels) folds the mirror several times."""
    x = torch.rand(1, 3, 3, dtype=torch.float64)
    out = imresize(x, scale=1 / 4)
    assert out.shape == (1, 1, 1)
    assert torch.isfinite(out).all()


def test_batch_dims_are_independent() -> None:
    x = torch.rand(2, 4, 3, 16, 20)
    out = imresize(x, scale=1 / 2)
    assert out.shape == (2, 4, 3, 8, 10)
    torch.testing.assert_close(out[1, 2], imresize(x[1, 2], scale=1 / 2))
    torch.testing.assert_close(out[0, 3, 1:2], imresize(x[0, 3, 1:2], scale=1 / 2))


def test_float32_and_float64_agree() -> None:
    x = torch.rand(2, 3, 24, 24, dtype=torch.float64)
    for scale in (1 / 4, 3.0):
        out64 = imresize(x, scale=scale)
        out32 = imresize(x.float(), scale=scale)
        assert out64.dtype == torch.float64
        assert out32.dtype == torch.float32
        assert (out32.double() - out64).abs().max().item() < 1e-5


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_is_computed_in_float32(dtype: torch.dtype) -> None:
    x = torch.rand(1, 3, 16, 16)
    out = imresize(x.to(dtype), scale=1 / 2)
    assert out.dtype == dtype
    expected = imresize(x.to(dtype).float(), scale=1 / 2)
    torch.testing.assert_close(out.float(), expected, atol=1e-2, rtol=0)


def test_gradient_flows() -> None:
    x = torch.rand(1, 3, 12, 12, dtype=torch.float64, requires_grad=True)
    imresize(x, scale=1 / 3).sum().backward()
    assert x.grad is not None
    assert torch.isfinite(x.grad).all()
    assert x.grad.abs().sum() > 0
    # imresize is linear, so it passes gradcheck exactly.
    small = torch.rand(1, 5, 7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: imresize(t, scale=1.5), (small,))


def test_module_wrapper() -> None:
    x = torch.rand(2, 3, 10, 15)
    module = MatlabResize(scale=1 / 2)
    torch.testing.assert_close(module(x), imresize(x, scale=1 / 2))
    assert "scale=0.5" in repr(module)


@pytest.mark.parametrize("scale", [0.0, -2.0, float("nan")])
def test_non_positive_scale_raises(scale: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        imresize(torch.rand(1, 3, 8, 8), scale=scale)
    with pytest.raises(ValueError, match="positive"):
        MatlabResize(scale=scale)


def test_scale_and_size_are_exclusive() -> None:
    x = torch.rand(1, 3, 8, 8)
    with pytest.raises(ValueError, match="exactly one of `scale` and `size`"):
        imresize(x)
    with pytest.raises(ValueError, match="exactly one of `scale` and `size`"):
        imresize(x, scale=0.5, size=(4, 4))


def test_reproduces_reference_lq_png() -> None:
    gt = _load_png("gt_astronaut_96.png")
    lq = _load_png("lq_astronaut_24_x4.png")
    ours = _to_uint8_levels(imresize(gt.float(), scale=1 / 4))
    diff = (ours - _to_uint8_levels(lq)).abs()
    # Measured: 0 pixels differ; allow a few off-by-one from float rounding on other platforms.
    assert diff.max().item() <= 1
    assert (diff > 0).sum().item() <= 3


def test_reproduces_reference_bicubic_png() -> None:
    lq = _load_png("lq_astronaut_24_x4.png")
    bicubic = _load_png("bicubic_astronaut_96_x4.png")
    ours = _to_uint8_levels(imresize(lq.float(), scale=4))
    diff = (ours - _to_uint8_levels(bicubic)).abs()
    # Measured: 0 pixels differ.
    assert diff.max().item() <= 1
    assert (diff > 0).sum().item() <= 3


def test_reproduces_reference_gray_pair() -> None:
    """Gray camera: downscale x1/4, round to 8 bits, upscale x4, round again."""
    gt = _load_png("gt_camera_96_gray.png")
    bicubic = _load_png("bicubic_camera_96_gray_x4.png")
    assert gt.shape == (1, 96, 96)
    lq = _to_uint8_levels(imresize(gt.float(), scale=1 / 4)).float() / 255
    ours = _to_uint8_levels(imresize(lq, scale=4))
    diff = (ours - _to_uint8_levels(bicubic)).abs()
    # Measured: 0 pixels differ.
    assert diff.max().item() <= 1
    assert (diff > 0).sum().item() <= 3


def test_differs_from_torch_bicubic() -> None:
    """Guards against a silent fallback to F.interpolate, whose numbers are not comparable."""
    gt = _load_png("gt_astronaut_96.png").float().unsqueeze(0)
    ours = imresize(gt, scale=1 / 4)
    theirs = torch.nn.functional.interpolate(gt, scale_factor=1 / 4, mode="bicubic")
    assert (ours - theirs).abs().max().item() > 1e-2


def test_imresize_is_exact_under_bf16_autocast() -> None:
    """Validation runs under bf16 autocast; the resize must not drop to bf16 there."""
    x = torch.rand(1, 3, 24, 24)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = imresize(x, scale=4)
    assert inside.dtype == torch.float32
    assert torch.equal(inside, imresize(x, scale=4))
