"""Tiling: tiled == untiled with enough overlap, feathered seams otherwise, bounded buffers."""

from __future__ import annotations

import hydra
import numpy as np
import pytest
import torch

from restorelab.errors import ConfigError
from restorelab.inference import Enhancer, EnhanceSettings
from restorelab.inference.tiling import (
    FloatCanvas,
    IntCanvas,
    check_tiling,
    core_bounds,
    run_tiled,
)
from tests.helpers import TINY_COMPACT, TINY_RECEPTIVE_FIELD, TinyStages


@pytest.fixture(scope="module")
def tiny() -> torch.nn.Module:
    torch.manual_seed(0)
    net = hydra.utils.instantiate(TINY_COMPACT).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return net


def _fn(net: torch.nn.Module):
    def run(tile: np.ndarray) -> list[np.ndarray]:
        x = torch.from_numpy(np.ascontiguousarray(tile.transpose(2, 0, 1)[None]))
        with torch.no_grad():
            return [net(x)[0].permute(1, 2, 0).numpy()]

    return run


def _tiled(image: np.ndarray, net: torch.nn.Module, tile: int, overlap: int) -> np.ndarray:
    canvases = run_tiled(
        image,
        _fn(net),
        lambda shapes: [FloatCanvas(*s) for s in shapes],
        tile=tile,
        overlap=overlap,
    )
    return canvases[0].array  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("height", "width", "tile", "overlap"),
    [(61, 83, 24, 11), (61, 83, 30, 12), (50, 50, 22, 11), (40, 97, 64, 16), (33, 35, 32, 16)],
)
def test_tiled_equals_untiled_when_overlap_covers_receptive_field(
    tiny: torch.nn.Module, height: int, width: int, tile: int, overlap: int
) -> None:
    assert overlap >= TINY_RECEPTIVE_FIELD
    image = np.random.default_rng(1).random((height, width, 3), dtype=np.float32)
    full = _fn(tiny)(image)[0]
    tiled = _tiled(image, tiny, tile, overlap)
    assert tiled.shape == (2 * height, 2 * width, 3)
    assert np.abs(tiled - full).max() <= 1e-4


def test_small_overlap_has_no_visible_seam(tiny: torch.nn.Module) -> None:
    """Below the receptive field the cross-fade keeps the error far below one 8-bit level,
    and it shrinks as the overlap grows; cutting tiles without context (overlap 0) does not."""
    image = np.random.default_rng(2).random((64, 64, 3), dtype=np.float32)
    full = _fn(tiny)(image)[0]
    errors = {ov: float(np.abs(_tiled(image, tiny, 16, ov) - full).max()) for ov in (0, 2, 4, 8)}
    assert errors[0] > 0.05  # hard cuts: a visible seam
    assert errors[2] < errors[0] / 3
    assert errors[8] < errors[4] < errors[2]
    assert errors[8] < 0.5 / 255


def test_weights_sum_to_one_for_any_overlap() -> None:
    """A pointwise generator (receptive field 1) is exact for every tile and overlap: the
    cross-fade weights form a partition of unity, also where four tiles meet."""
    image = np.random.default_rng(3).random((45, 71, 3), dtype=np.float32)

    def run(tile: np.ndarray) -> list[np.ndarray]:
        return [np.repeat(np.repeat(tile * 0.5 + 0.25, 3, axis=0), 3, axis=1)]

    want = run(image)[0]
    for tile, overlap in [(10, 0), (10, 1), (10, 5), (16, 3), (45, 7)]:
        got = run_tiled(image, run, lambda shapes: [FloatCanvas(*s) for s in shapes], tile, overlap)
        assert np.abs(got[0].array - want).max() <= 1e-6  # type: ignore[attr-defined]


def test_every_output_is_assembled_for_multi_stage_generators() -> None:
    """Each of ``stages()``'s outputs gets its own canvas, each equal to the untiled stage."""
    net = TinyStages().eval()
    image = np.random.default_rng(4).random((30, 41, 3), dtype=np.float32)

    def run(tile: np.ndarray) -> list[np.ndarray]:
        x = torch.from_numpy(np.ascontiguousarray(tile.transpose(2, 0, 1)[None]))
        with torch.no_grad():
            return [o[0].permute(1, 2, 0).numpy() for o in net.stages(x)]

    want = run(image)
    got = run_tiled(image, run, lambda shapes: [FloatCanvas(*s) for s in shapes], 12, 4)
    assert len(got) == 2
    for g, w in zip(got, want, strict=True):
        assert np.abs(g.array - w).max() <= 1e-6  # type: ignore[attr-defined]


def test_int_canvas_rounds_and_clamps() -> None:
    canvas = IntCanvas(1, 4, 1, np.dtype(np.uint8))
    canvas.write(0, 0, np.array([[[-0.2], [0.5], [100.4 / 255], [1.3]]], dtype=np.float32))
    assert canvas.array[0, :, 0].tolist() == [0, 128, 100, 255]
    canvas16 = IntCanvas(1, 2, 1, np.dtype(np.uint16))
    canvas16.write(0, 0, np.array([[[0.5], [1.0]]], dtype=np.float32))
    assert canvas16.array[0, :, 0].tolist() == [32768, 65535]


def test_uint8_tiled_enhance_matches_rounded_untiled(tiny: torch.nn.Module) -> None:
    """The integer path: tiled uint8 output == the untiled float output, rounded."""
    rng = np.random.default_rng(5)
    image = rng.integers(0, 256, (37, 52, 3), dtype=np.uint8)
    full = _fn(tiny)(image.astype(np.float32) / 255)[0]
    want = np.rint(np.clip(full, 0, 1) * 255).astype(np.uint8)
    got = Enhancer(tiny, EnhanceSettings(tile=24, tile_overlap=TINY_RECEPTIVE_FIELD))
    out = got.enhance_pixels(image)[0]
    assert out.dtype == np.uint8 and out.shape == (74, 104, 3)
    # float32 rounding may flip a value sitting exactly on .5 by one level
    assert np.abs(out.astype(int) - want.astype(int)).max() <= 1
    assert (out == want).mean() > 0.999


def test_core_bounds_are_balanced() -> None:
    assert core_bounds(100, 0) == [0, 100]
    assert core_bounds(100, 128) == [0, 100]
    assert core_bounds(257, 256) == [0, 128, 257]
    assert core_bounds(100, 30) == [0, 25, 50, 75, 100]


@pytest.mark.parametrize(
    ("tile", "overlap", "message"),
    [
        (-1, 0, "--tile must be >= 0"),
        (64, -2, "--tile-overlap must be >= 0"),
        (64, 40, "--tile-overlap (40) must be at most half of --tile (64)"),
    ],
)
def test_bad_tiling_is_refused(tile: int, overlap: int, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_tiling(tile, overlap)
