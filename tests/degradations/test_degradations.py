"""Tests of the degradation stages, the seeded pipeline and the `degradation` config presets."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import Tensor, nn

from restorelab.degradations import (
    JPEG,
    BicubicDown,
    Degradation,
    GaussianBlur,
    GaussianNoise,
    Stage,
    gaussian_blur,
    jpeg_compress,
)
from restorelab.ops.imresize import imresize
from tests.helpers import CONF

PRESET_DIR = CONF / "degradation"
PRESETS = sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))
# Presets this file is responsible for; any other yaml in the group is still instantiated above.
EXPECTED_SCALES = {
    "bicubic_x4": 4,
    "bicubic": 4,  # follows data.scale, 4 in `load_preset`
    "gaussian_blur": 1,
    "noise_sigma25": 1,
    "jpeg_q10": 1,
    "blur_bicubic_noise_jpeg_x4": 4,
}
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def load_preset(
    name: str, seed: int = 0, scale: int = 4, overrides: Sequence[str] = ()
) -> Degradation:
    """Instantiate a preset the way the root config would: under `degradation`, with `seed`."""
    root = OmegaConf.create({"seed": seed, "data": {"scale": scale}})
    root.degradation = OmegaConf.load(PRESET_DIR / f"{name}.yaml")
    merged = OmegaConf.merge(root, OmegaConf.from_dotlist([f"degradation.{o}" for o in overrides]))
    degradation = instantiate(merged.degradation)
    assert isinstance(degradation, Degradation)
    return degradation


def make_gt(shape: Sequence[int] = (2, 3, 32, 48), seed: int = 0) -> Tensor:
    """A random ground truth already on 8-bit levels, drawn without the global RNG."""
    gen = torch.Generator().manual_seed(seed)
    return torch.round(torch.rand(*shape, generator=gen) * 255) / 255


def textured(shape: Sequence[int] = (2, 3, 48, 64), seed: int = 0) -> Tensor:
    """A smooth image with edges and mild texture, closer to a photo than white noise."""
    b, c, h, w = shape
    gen = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    base = 0.5 + 0.3 * torch.sin(12 * xx + 5 * yy) * torch.cos(7 * yy)
    base = base + 0.2 * (xx > 0.5).float() - 0.1
    img = base.expand(b, c, h, w) + 0.05 * torch.rand(b, c, h, w, generator=gen)
    return img.clamp(0, 1)


def on_8bit_levels(x: Tensor) -> bool:
    return torch.equal(torch.round(x * 255) / 255, x)


def pipeline(stage: Stage, seed: int = 0, quantize: bool = True) -> Degradation:
    return Degradation({"stage": stage}, seed=seed, quantize=quantize)


# --- presets ---------------------------------------------------------------------------------


def test_presets_are_all_known() -> None:
    assert set(EXPECTED_SCALES) <= set(PRESETS)


@pytest.mark.parametrize("name", PRESETS)
@pytest.mark.parametrize("device", DEVICES)
def test_preset_shape_range_and_levels(name: str, device: str) -> None:
    degradation = load_preset(name).to(device)
    gt = make_gt().to(device)
    lq = degradation(gt)
    s = degradation.scale
    if name in EXPECTED_SCALES:
        assert s == EXPECTED_SCALES[name]
    assert lq.shape == (2, 3, 32 // s, 48 // s)
    assert lq.device == gt.device and lq.dtype == gt.dtype
    assert lq.min() >= 0 and lq.max() <= 1
    assert on_8bit_levels(lq)
    seeded = degradation(gt, seeds=[3, 4])
    assert seeded.shape == lq.shape and on_8bit_levels(seeded)


def test_bicubic_preset_follows_data_scale() -> None:
    for scale in (2, 4):
        degradation = load_preset("bicubic", scale=scale)
        assert degradation.scale == scale
        assert degradation(make_gt()).shape == (2, 3, 32 // scale, 48 // scale)


def test_preset_seed_comes_from_root_config() -> None:
    assert load_preset("noise_sigma25", seed=123).seed == 123


def test_override_one_stage_and_switch_one_off() -> None:
    degradation = load_preset("blur_bicubic_noise_jpeg_x4", overrides=["stages.noise.sigma=[0,25]"])
    noise = degradation.stages["noise"]
    assert isinstance(noise, GaussianNoise) and noise.sigma == (0.0, 25.0)
    assert list(degradation.stages) == ["blur", "bicubic", "noise", "jpeg"]

    without_jpeg = load_preset("blur_bicubic_noise_jpeg_x4", overrides=["stages.jpeg=null"])
    assert list(without_jpeg.stages) == ["blur", "bicubic", "noise"]
    assert without_jpeg.scale == 4


def test_bad_override_fails_at_instantiation() -> None:
    with pytest.raises(Exception, match="sigma"):
        load_preset("noise_sigma25", overrides=["stages.noise.sigma=[30,1]"])


def test_repr_lists_stages() -> None:
    text = repr(load_preset("blur_bicubic_noise_jpeg_x4"))
    for piece in ("seed=0", "scale=4", "blur", "GaussianBlur", "BicubicDown(scale=4)", "JPEG"):
        assert piece in text


# --- seeding ---------------------------------------------------------------------------------


def test_same_seed_is_bit_identical_different_seed_differs() -> None:
    gt = make_gt()
    first = load_preset("blur_bicubic_noise_jpeg_x4", seed=7)(gt)
    again = load_preset("blur_bicubic_noise_jpeg_x4", seed=7)(gt)
    other = load_preset("blur_bicubic_noise_jpeg_x4", seed=8)(gt)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_training_draws_continue_and_reseed_restarts() -> None:
    degradation = load_preset("noise_sigma25", seed=1)
    gt = make_gt()
    first, second = degradation(gt), degradation(gt)
    assert not torch.equal(first, second)
    degradation.reseed(1)
    assert torch.equal(degradation(gt), first)
    degradation.reseed(2)
    assert not torch.equal(degradation(gt), first)


def test_per_image_seeds_ignore_batch_composition_and_order() -> None:
    degradation = load_preset("blur_bicubic_noise_jpeg_x4")
    gt = make_gt((3, 3, 32, 48))
    batched = degradation(gt, seeds=[10, 11, 12])
    reordered = degradation(gt[[2, 0]], seeds=[12, 10])
    alone = degradation(gt[1:2], seeds=[11])
    assert torch.equal(reordered, batched[[2, 0]])
    assert torch.equal(alone, batched[1:2])
    # Same image, same seed, later "epoch" and a fresh pipeline with another training seed.
    assert torch.equal(
        load_preset("blur_bicubic_noise_jpeg_x4", seed=99)(gt, seeds=torch.tensor([10, 11, 12])),
        batched,
    )
    # Different seeds give different inputs for the same image.
    assert not torch.equal(degradation(gt[:1], seeds=[13]), batched[:1])


def test_validation_does_not_disturb_training_stream() -> None:
    gt = make_gt()
    plain = load_preset("noise_sigma25")
    interrupted = load_preset("noise_sigma25")
    expected = [plain(gt), plain(gt)]
    got = [interrupted(gt)]
    interrupted(gt, seeds=[1, 2])
    got.append(interrupted(gt))
    assert all(torch.equal(a, b) for a, b in zip(expected, got, strict=True))


def test_seed_count_must_match_batch() -> None:
    with pytest.raises(ValueError, match="seeds"):
        load_preset("noise_sigma25")(make_gt(), seeds=[1])


@pytest.mark.parametrize("seeds", [None, [5, 6]])
def test_global_rng_untouched(seeds: list[int] | None) -> None:
    state = torch.random.get_rng_state()
    load_preset("blur_bicubic_noise_jpeg_x4")(make_gt(), seeds=seeds)
    assert torch.equal(torch.random.get_rng_state(), state)


# --- probabilities ---------------------------------------------------------------------------

STOCHASTIC: dict[str, Callable[[float], Stage]] = {
    "blur": lambda prob: GaussianBlur(kernel_size=9, sigma=(1.0, 2.0), prob=prob),
    "noise": lambda prob: GaussianNoise(sigma=(5.0, 10.0), prob=prob),
    "jpeg": lambda prob: JPEG(quality=(20, 40), prob=prob),
}


@pytest.mark.parametrize("kind", sorted(STOCHASTIC))
def test_prob_zero_leaves_input_unchanged(kind: str) -> None:
    gt = make_gt((4, 3, 24, 24))
    assert torch.equal(pipeline(STOCHASTIC[kind](0.0))(gt), gt)


@pytest.mark.parametrize("kind", sorted(STOCHASTIC))
def test_prob_one_changes_every_sample(kind: str) -> None:
    gt = make_gt((4, 3, 24, 24))
    lq = pipeline(STOCHASTIC[kind](1.0))(gt)
    assert (lq != gt).flatten(1).any(dim=1).all()


@pytest.mark.parametrize("kind", sorted(STOCHASTIC))
def test_partial_prob_degrades_a_subset_and_leaves_the_rest_exact(kind: str) -> None:
    gt = make_gt((16, 3, 16, 16))
    lq = pipeline(STOCHASTIC[kind](0.5), seed=3)(gt)
    changed = (lq != gt).flatten(1).any(dim=1)
    assert 0 < int(changed.sum()) < 16


# --- stages ----------------------------------------------------------------------------------


def test_noise_std_matches_sigma_on_flat_grey() -> None:
    gt = torch.full((2, 3, 96, 96), 0.5)
    lq = pipeline(GaussianNoise(sigma=(25, 25), gray_prob=0.0), quantize=False)(gt)
    std = (lq - gt).std().item()
    assert std == pytest.approx(25 / 255, rel=0.03)
    assert (lq[:, 0] != lq[:, 1]).any()


def test_gray_noise_is_shared_by_channels() -> None:
    gt = torch.full((2, 3, 16, 16), 0.5)
    lq = pipeline(GaussianNoise(sigma=(20, 20), gray_prob=1.0), quantize=False)(gt)
    assert torch.equal(lq[:, 0], lq[:, 1]) and torch.equal(lq[:, 1], lq[:, 2])
    assert not torch.equal(lq, gt)


def test_blur_sigma_differs_per_sample() -> None:
    # Blurring an impulse returns the kernel; its second moment measures each sample's sigma.
    batch, size = 8, 41
    impulse = torch.zeros(batch, 1, size, size)
    impulse[..., size // 2, size // 2] = 1.0
    out = GaussianBlur(kernel_size=21, sigma=(0.5, 3.0))(impulse, torch.Generator().manual_seed(0))
    offsets = (torch.arange(size) - size // 2).float() ** 2
    row_profile = out.sum(dim=-2).squeeze(1)  # (B, W)
    sigma = (row_profile * offsets).sum(dim=-1).sqrt()
    assert sigma.min() > 0.45 and sigma.max() < 3.05
    assert sigma.std() > 0.3
    assert len(torch.unique(torch.round(sigma, decimals=3))) == batch


def test_blur_function_matches_fixed_sigma_and_fits_small_images() -> None:
    x = make_gt((2, 3, 24, 24))
    same = gaussian_blur(x, torch.tensor([1.5, 1.5]), kernel_size=9)
    assert torch.allclose(same[0], gaussian_blur(x[:1], torch.tensor([1.5]), 9)[0])
    tiny = make_gt((1, 3, 5, 7))
    assert gaussian_blur(tiny, torch.tensor([2.0]), kernel_size=21).shape == tiny.shape


def test_jpeg_error_grows_as_quality_drops() -> None:
    gt = textured((2, 3, 40, 56))  # not multiples of 16: the codec pads and crops back
    errors = []
    for quality in (90.0, 50.0, 10.0):
        lq = jpeg_compress(gt, torch.full((2,), quality))
        assert lq.shape == gt.shape
        errors.append((lq - gt).pow(2).mean().item())
    assert 0 < errors[0] < errors[1] < errors[2]


def test_jpeg_per_sample_quality_and_grey_input() -> None:
    gt = textured((2, 3, 32, 32))
    mixed = jpeg_compress(gt, torch.tensor([10.0, 90.0]))
    assert torch.allclose(mixed[1:], jpeg_compress(gt[1:], torch.tensor([90.0])), atol=1e-5)
    grey = jpeg_compress(gt[:, :1], torch.tensor([10.0, 10.0]))
    assert grey.shape == (2, 1, 32, 32) and not torch.equal(grey, gt[:, :1])


def test_bicubic_down_equals_matlab_imresize() -> None:
    gt = make_gt()
    stage = BicubicDown(4)
    assert stage.scale == 4
    assert torch.equal(stage(gt, torch.Generator()), imresize(gt, 1 / 4))
    lq = pipeline(stage, quantize=False)(gt)
    assert torch.equal(lq, imresize(gt, 1 / 4).clamp(0, 1))


def test_bicubic_down_rejects_sizes_not_divisible_by_scale() -> None:
    with pytest.raises(ValueError, match="scale=4"):
        BicubicDown(4)(make_gt((1, 3, 30, 48)), torch.Generator())


def test_float64_is_kept() -> None:
    gt = make_gt().double()
    assert load_preset("blur_bicubic_noise_jpeg_x4")(gt).dtype == torch.float64


def test_autocast_does_not_change_lq() -> None:
    degradation = load_preset("blur_bicubic_noise_jpeg_x4")
    gt = make_gt()
    expected = degradation(gt, seeds=[1, 2])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = degradation(gt, seeds=[1, 2])
    assert got.dtype == torch.float32 and torch.equal(got, expected)


def test_pipeline_scale_is_product_of_stage_scales() -> None:
    assert Degradation({"a": BicubicDown(2), "b": BicubicDown(3), "n": GaussianNoise()}).scale == 6
    empty = Degradation({})
    assert empty.scale == 1
    gt = make_gt()
    assert torch.equal(empty(gt), gt)


@pytest.mark.parametrize(
    ("build", "argument"),
    [
        (lambda: GaussianBlur(kernel_size=4), "kernel_size"),
        (lambda: GaussianBlur(kernel_size=0), "kernel_size"),
        (lambda: GaussianBlur(kernel_size=-3), "kernel_size"),
        (lambda: GaussianBlur(sigma=(3.0, 1.0)), "sigma"),
        (lambda: GaussianBlur(sigma=(0.0, 1.0)), "sigma"),
        (lambda: GaussianBlur(prob=1.5), "prob"),
        (lambda: GaussianNoise(sigma=(30, 1)), "sigma"),
        (lambda: GaussianNoise(sigma=(-1, 1)), "sigma"),
        (lambda: GaussianNoise(sigma=(1, 2, 3)), "sigma"),
        (lambda: GaussianNoise(gray_prob=-0.1), "gray_prob"),
        (lambda: GaussianNoise(prob=2), "prob"),
        (lambda: JPEG(quality=(95, 30)), "quality"),
        (lambda: JPEG(quality=(10, 120)), "quality"),
        (lambda: JPEG(prob=-1), "prob"),
        (lambda: BicubicDown(0), "scale"),
        (lambda: BicubicDown(2.5), "scale"),  # type: ignore[arg-type]
        (lambda: Degradation({}, seed=1.5), "seed"),  # type: ignore[arg-type]
    ],
)
def test_argument_errors_name_the_argument(build: Callable[[], nn.Module], argument: str) -> None:
    with pytest.raises(ValueError, match=f"`{argument}`"):
        build()


def test_non_stage_is_rejected() -> None:
    with pytest.raises(ValueError, match="'bad'"):
        Degradation({"bad": nn.Identity()})  # type: ignore[dict-item]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_generator_follows_the_device() -> None:
    degradation = load_preset("noise_sigma25")
    gt = make_gt()
    on_cpu = degradation(gt)
    on_gpu = degradation(gt.cuda())
    assert on_gpu.is_cuda and on_cpu.device.type == "cpu"
    degradation.reseed(0)
    assert torch.equal(degradation(gt.cuda()), on_gpu)
