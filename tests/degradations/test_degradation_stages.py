"""The stages of the degradation library: blur, resize, noise, JPEG, ordering, and bad input."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
from torch import Tensor, nn

from restorelab.degradations import (
    JPEG,
    Degradation,
    DegradationError,
    GaussianBlur,
    GaussianNoise,
    RandomBlur,
    RandomNoise,
    RandomOrder,
    RandomResize,
    ResizeTo,
    SincFilter,
    Stage,
    USMSharp,
    build_stage,
    poisson_noise,
)
from restorelab.degradations.context import using_gt_size


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def photo(shape: tuple[int, ...] = (4, 3, 48, 48), seed: int = 0) -> Tensor:
    """Smooth content with edges, on 8-bit levels."""
    b, c, h, w = shape
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    base = 0.5 + 0.3 * torch.sin(11 * xx + 4 * yy) + 0.15 * (xx > 0.5).float()
    noise = 0.05 * torch.rand(b, c, h, w, generator=gen(seed))
    return torch.round((base.expand(b, c, h, w) + noise).clamp(0, 1) * 255) / 255


# --- blur -------------------------------------------------------------------------------------


def test_random_blur_blurs_every_sample_differently_and_is_seeded() -> None:
    x = photo((6, 3, 48, 48))
    stage = RandomBlur(
        kernel_list=["iso", "aniso", "motion", "defocus"],
        kernel_prob=[0.25, 0.25, 0.25, 0.25],
        sinc_prob=0.1,
    )
    out = stage(x, gen(3))
    assert out.shape == x.shape
    assert torch.equal(out, stage(x, gen(3)))
    assert not torch.equal(out, stage(x, gen(4)))

    def hf(t: Tensor) -> Tensor:  # gradient energy in both directions
        dx = (t[..., 1:] - t[..., :-1]).pow(2).flatten(1).mean(1)
        dy = (t[..., 1:, :] - t[..., :-1, :]).pow(2).flatten(1).mean(1)
        return dx + dy

    assert (hf(out) < hf(x)).all()  # blurring lowers the high-frequency energy of every sample


@pytest.mark.parametrize("prob", [0.0, 0.5])
def test_random_blur_prob_skips_samples_exactly(prob: float) -> None:
    x = photo((16, 3, 32, 32))
    out = RandomBlur(prob=prob)(x, gen(1))
    changed = (out != x).flatten(1).any(1)
    if prob == 0.0:
        assert torch.equal(out, x)
    else:
        assert 0 < int(changed.sum()) < 16


def test_sinc_filter_rings_and_prob_zero_is_identity() -> None:
    x = torch.zeros(2, 1, 40, 40)
    x[..., 20:] = 1.0
    ringing = SincFilter(omega=(1.0, 1.0), size_range=(21, 21), prob=1.0)(x, gen())
    assert ringing.min() < -0.01 and ringing.max() > 1.01  # over- and undershoot at the edge
    assert torch.equal(SincFilter(prob=0.0)(x, gen()), x)


# --- resize -----------------------------------------------------------------------------------


def test_random_resize_draws_up_down_and_keep_with_the_configured_odds() -> None:
    x = torch.rand(1, 3, 40, 40)
    stage = RandomResize(updown_prob=(0.2, 0.7, 0.1), scale_range=(0.5, 1.5))
    g = gen(0)
    sizes = [stage(x, g).shape[-1] for _ in range(400)]
    up = sum(s > 40 for s in sizes) / 400
    down = sum(s < 40 for s in sizes) / 400
    keep = sum(s == 40 for s in sizes) / 400
    assert up == pytest.approx(0.2, abs=0.06) and down == pytest.approx(0.7, abs=0.06)
    assert keep >= 0.05 and min(sizes) >= 20 and max(sizes) <= 60


def test_random_resize_relative_to_target_and_resize_to_exact_size() -> None:
    gt = torch.rand(2, 3, 64, 48)
    around = RandomResize(updown_prob=(0, 0, 1), scale_range=(0.3, 1.2), relative_to_scale=4)
    with using_gt_size(64, 48):
        assert around(gt, gen()).shape[-2:] == (16, 12)  # "keep" means gt / 4
        final = ResizeTo(scale=4)(torch.rand(2, 3, 7, 33), gen())
    assert final.shape[-2:] == (16, 12)
    assert ResizeTo(scale=4).scale == 4


def test_resize_modes_are_all_drawn() -> None:
    x = torch.rand(1, 1, 8, 8)
    x[..., ::2, :] = 0
    stage = ResizeTo(scale=1)  # to the ground-truth size: only the interpolation is random
    g = gen(0)
    with using_gt_size(12, 12):
        outputs = {tuple(stage(x, g).flatten().tolist()) for _ in range(30)}
    assert len(outputs) == 3  # area, bilinear and bicubic give three different results


# --- noise ------------------------------------------------------------------------------------


def test_gaussian_noise_statistics_on_a_large_sample() -> None:
    x = torch.full((8, 3, 128, 128), 0.5)
    out = RandomNoise(gaussian_prob=1.0, sigma=(25, 25), gray_prob=0.0)(x, gen())
    noise = out - x
    assert noise.std().item() == pytest.approx(25 / 255, rel=0.01)
    assert abs(noise.mean().item()) < 1e-3
    # colour noise: channels independent
    corr = torch.corrcoef(torch.stack([noise[:, 0].flatten(), noise[:, 1].flatten()]))[0, 1]
    assert abs(corr.item()) < 0.02


def test_gaussian_noise_level_range_and_gray_share() -> None:
    x = torch.full((64, 3, 32, 32), 0.5)
    out = RandomNoise(gaussian_prob=1.0, sigma=(5, 30), gray_prob=0.5)(x, gen(1))
    std = (out - x).flatten(1).std(1) * 255
    assert std.min() > 4 and std.max() < 32 and std.std() > 4
    gray = (out[:, 0] == out[:, 1]).flatten(1).all(1) & (out[:, 1] == out[:, 2]).flatten(1).all(1)
    assert 15 < int(gray.sum()) < 49


@pytest.mark.parametrize("value", [0.2, 0.6])
def test_poisson_noise_variance_follows_brightness_and_scale(value: float) -> None:
    level = round(value * 255) / 255
    x = torch.full((4, 3, 128, 128), level)
    scale = torch.tensor([0.5, 1.0, 2.0, 3.0])
    noise = poisson_noise(x, scale, torch.zeros(4, dtype=torch.bool), gen()) - x
    expected = scale * math.sqrt(level / 256)  # Poisson(x * 256) / 256, times the scale
    assert torch.allclose(noise.flatten(1).std(1), expected, rtol=0.03)
    assert noise.mean().abs() < 2e-3


def test_poisson_gray_noise_is_shared_and_stage_mixes_both_kinds() -> None:
    x = torch.full((2, 3, 16, 16), 0.5)
    grey = poisson_noise(x, torch.ones(2), torch.ones(2, dtype=torch.bool), gen())
    assert torch.equal(grey[:, 0], grey[:, 1]) and not torch.equal(grey, x)
    stage = RandomNoise(
        gaussian_prob=0.5, sigma=(20, 20), poisson_scale=(0.05, 0.05), gray_prob=0.0
    )
    out = stage(torch.full((32, 3, 32, 32), 0.5), gen(2)) - 0.5
    std = out.flatten(1).std(1) * 255
    strong, weak = int((std > 15).sum()), int((std < 2).sum())
    assert strong + weak == 32 and 8 < strong < 24  # Gaussian and Poisson samples both present


# --- JPEG -------------------------------------------------------------------------------------


def test_jpeg_changes_the_image_and_is_deterministic_for_a_seed() -> None:
    x = photo((4, 3, 48, 48))
    degrade = Degradation({"jpeg": JPEG(quality=(10, 40))}, seed=5)
    first = degrade(x)
    assert not torch.equal(first, x)
    assert (first - x).abs().flatten(1).mean(1).min() > 1 / 255
    assert torch.equal(Degradation({"jpeg": JPEG(quality=(10, 40))}, seed=5)(x), first)
    assert not torch.equal(Degradation({"jpeg": JPEG(quality=(10, 40))}, seed=6)(x), first)


# --- ordering and sharpening ------------------------------------------------------------------


def test_random_order_runs_both_orders() -> None:
    class Add(Stage):
        def __init__(self, value: float) -> None:
            super().__init__()
            self.value = value

        def forward(self, x: Tensor, generator: torch.Generator) -> Tensor:
            return x * 0.5 + self.value

    stage = RandomOrder({"a": {"add": Add(0.1)}, "b": {"add": Add(0.3)}})
    x = torch.zeros(1, 1, 2, 2)
    g = gen(0)
    results = {round(float(stage(x, g)[0, 0, 0, 0]), 4) for _ in range(20)}
    assert results == {0.35, 0.25}  # a then b: 0.05 + 0.3; b then a: 0.15 + 0.1


def test_usm_stage_is_deterministic_and_keeps_shape() -> None:
    x = photo((2, 3, 64, 64))
    stage = USMSharp()
    assert torch.equal(stage(x, gen(0)), stage(x, gen(1)))
    assert stage(x, gen()).shape == x.shape


# --- bad input --------------------------------------------------------------------------------

BAD: list[tuple[Callable[[], nn.Module], str]] = [
    (lambda: RandomBlur(kernel_size=20), "`kernel_size`"),
    (lambda: RandomBlur(kernel_list=["iso", "blurry"], kernel_prob=[0.5, 0.5]), "'blurry'"),
    (lambda: RandomBlur(kernel_list=["iso"], kernel_prob=[0.5, 0.5]), "`kernel_prob`"),
    (lambda: RandomBlur(kernel_list=["iso"], kernel_prob=[1.5]), "`kernel_prob`"),
    (lambda: RandomBlur(size_range=(8, 21)), "`size_range`"),
    (lambda: RandomBlur(size_range=(7, 23)), "`size_range`"),
    (lambda: RandomBlur(motion_length=(3, 40)), "`motion_length`"),
    (lambda: RandomBlur(sinc_prob=-0.1), "`sinc_prob`"),
    (lambda: RandomBlur(prob=1.01), "`prob`"),
    (lambda: SincFilter(omega=(0.5, 4.0)), "`omega`"),
    (lambda: RandomResize(updown_prob=(0.5, 0.5)), "`updown_prob`"),
    (lambda: RandomResize(scale_range=(1.2, 1.5)), "`scale_range`"),
    (lambda: RandomResize(modes=["nearest"]), "`modes`"),
    (lambda: ResizeTo(scale=0), "`scale`"),
    (lambda: RandomNoise(gaussian_prob=2), "`gaussian_prob`"),
    (lambda: RandomNoise(poisson_scale=(-1, 1)), "`poisson_scale`"),
    (lambda: USMSharp(kernel_size=50), "`kernel_size`"),
]


@pytest.mark.parametrize(("build", "key"), BAD)
def test_bad_arguments_name_the_key(build: Callable[[], nn.Module], key: str) -> None:
    with pytest.raises(DegradationError, match=key):
        build()


def test_config_errors_name_the_stage_and_the_key() -> None:
    def make(stages: dict) -> Degradation:
        return Degradation(stages)

    with pytest.raises(DegradationError, match=r"degradation\.stages\.blur2\.sigmaa: RandomBlur"):
        make({"blur2": {"_target_": "restorelab.degradations.RandomBlur", "sigmaa": [1, 2]}})
    with pytest.raises(DegradationError, match=r"degradation\.stages\.n: unknown stage type"):
        make({"n": {"_target_": "restorelab.degradations.NoSuchStage"}})
    with pytest.raises(DegradationError, match=r"degradation\.stages\.n: .*not a restorelab"):
        make({"n": {"_target_": "torch.nn.Identity"}})
    with pytest.raises(DegradationError, match=r"degradation\.stages\.j: JPEG: `prob`"):
        make({"j": {"_target_": "restorelab.degradations.JPEG", "prob": 1.5}})
    with pytest.raises(DegradationError, match=r"stages\.f\.groups\.g\.j: JPEG: `quality`"):
        make(
            {
                "f": {
                    "_target_": "restorelab.degradations.RandomOrder",
                    "groups": {
                        "g": {
                            "j": {"_target_": "restorelab.degradations.JPEG", "quality": [50, 120]}
                        }
                    },
                }
            }
        )
    with pytest.raises(DegradationError, match=r"stages\.r: BicubicDown needs parameter `scale`"):
        build_stage("stages.r", {"_target_": "restorelab.degradations.BicubicDown"})


def test_kernel_larger_than_the_patch_fails_at_start_up() -> None:
    degradation = Degradation({"noise": GaussianNoise(), "blur": RandomBlur(kernel_size=21)})
    assert degradation.check_input_size(64, 64) == (64, 64)
    with pytest.raises(DegradationError, match=r"degradation\.stages\.blur: .*`kernel_size`=21"):
        degradation.check_input_size(16, 16)


def test_gaussian_blur_kernel_larger_than_the_patch_fails_at_start_up() -> None:
    degradation = Degradation({"blur": GaussianBlur(kernel_size=21)})
    assert degradation.check_input_size(21, 40) == (21, 40)
    with pytest.raises(DegradationError, match=r"stages\.blur: GaussianBlur: `kernel_size`=21"):
        degradation.check_input_size(20, 40)
