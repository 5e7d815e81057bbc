"""Architectures: output shapes, scale validation, parameter counts, key names, gradients."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import nn

from restorelab.archs import (
    EDSR,
    Bicubic,
    MSRResNet,
    RRDBNet,
    SRVGGNetCompact,
    VGGStyleDiscriminator,
)
from restorelab.ops.imresize import imresize
from restorelab.weights import build_generator
from tests.helpers import CONF, n_params

# (class, tiny keyword arguments, supported scales, an unsupported scale)
GENERATORS: list[tuple[type[nn.Module], dict[str, Any], tuple[int, ...], int]] = [
    (SRVGGNetCompact, {"num_feat": 8, "num_conv": 2}, (1, 2, 3, 4), 5),
    (MSRResNet, {"num_feat": 8, "num_block": 2}, (2, 3, 4), 1),
    (EDSR, {"num_feat": 8, "num_block": 2}, (2, 3, 4), 8),
    (RRDBNet, {"num_feat": 8, "num_block": 1, "num_grow_ch": 4}, (1, 2, 4), 3),
    (Bicubic, {}, (1, 2, 3, 4, 8), 5),
]
SHAPE_CASES = [
    pytest.param(cls, kwargs, scale, id=f"{cls.__name__}-x{scale}")
    for cls, kwargs, scales, _ in GENERATORS
    for scale in scales
]


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.mark.parametrize(("cls", "kwargs", "scale"), SHAPE_CASES)
def test_generator_output_shape(cls: type[nn.Module], kwargs: dict[str, Any], scale: int) -> None:
    net = cls(scale=scale, **kwargs)
    assert net.scale == scale
    out = net(torch.rand(2, 3, 12, 16))
    assert out.shape == (2, 3, 12 * scale, 16 * scale)
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()


@pytest.mark.parametrize(
    ("cls", "kwargs", "scale"),
    [pytest.param(c, k, s, id=f"{c.__name__}-x{s}") for c, k, _, s in GENERATORS],
)
def test_unsupported_scale_raises(cls: type[nn.Module], kwargs: dict[str, Any], scale: int) -> None:
    with pytest.raises(ValueError, match=rf"^{cls.__name__}: scale {scale} not supported"):
        cls(scale=scale, **kwargs)


@pytest.mark.parametrize("scale", [1, 2])
@pytest.mark.parametrize("size", [(13, 15), (1, 3), (6, 5)])
def test_rrdbnet_pixel_unshuffle_any_size(scale: int, size: tuple[int, int]) -> None:
    """Inputs not divisible by the unshuffle factor are padded and the output cropped back."""
    net = RRDBNet(num_feat=8, num_block=1, num_grow_ch=4, scale=scale)
    out = net(torch.rand(1, 3, *size))
    assert out.shape == (1, 3, size[0] * scale, size[1] * scale)


def test_configurable_channels() -> None:
    x = torch.rand(1, 1, 12, 16)
    assert SRVGGNetCompact(num_in_ch=1, num_out_ch=1, num_feat=8, num_conv=1)(x).shape[1] == 1
    assert MSRResNet(num_in_ch=1, num_out_ch=1, num_feat=8, num_block=1)(x).shape[1] == 1
    assert EDSR(1, 1, num_feat=8, num_block=1, rgb_mean=(0.5,))(x).shape[1] == 1
    assert RRDBNet(num_in_ch=1, num_out_ch=2, num_feat=8, num_block=1)(x).shape[1] == 2
    with pytest.raises(ValueError, match="num_out_ch"):
        SRVGGNetCompact(num_in_ch=3, num_out_ch=1)
    with pytest.raises(ValueError, match="num_out_ch"):
        MSRResNet(num_in_ch=3, num_out_ch=1)
    with pytest.raises(ValueError, match="rgb_mean"):
        EDSR(num_in_ch=1, num_out_ch=1)


@pytest.mark.parametrize("act_type", ["relu", "prelu", "leakyrelu"])
@pytest.mark.parametrize("upsample_skip", ["nearest", "bilinear"])
def test_compact_options(act_type: str, upsample_skip: str) -> None:
    net = SRVGGNetCompact(num_feat=8, num_conv=1, act_type=act_type, upsample_skip=upsample_skip)
    assert net(torch.rand(1, 3, 6, 7)).shape == (1, 3, 24, 28)


def test_compact_rejects_unknown_options() -> None:
    with pytest.raises(ValueError, match="act_type"):
        SRVGGNetCompact(act_type="gelu")
    with pytest.raises(ValueError, match="upsample_skip"):
        SRVGGNetCompact(upsample_skip="bicubic")


@pytest.mark.parametrize("upsample_skip", ["nearest", "bilinear"])
def test_compact_skip_is_interpolated_input(upsample_skip: str) -> None:
    """With the last conv zeroed the network outputs exactly the interpolated input."""
    net = SRVGGNetCompact(num_feat=8, num_conv=1, scale=2, upsample_skip=upsample_skip)
    last = net.body[-1]
    assert isinstance(last, nn.Conv2d)
    assert last.bias is not None
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
    x = torch.rand(1, 3, 6, 7)
    align = None if upsample_skip == "nearest" else False
    expected = nn.functional.interpolate(x, scale_factor=2, mode=upsample_skip, align_corners=align)
    torch.testing.assert_close(net(x), expected)


# Published parameter counts, and the exact counts of this implementation (which equal the
# original code's: same layers, same shapes).
#   MSRResNet x4: BasicSR model zoo, "MSRResNet 1.52M" (Wang et al., BasicSR / ESRGAN repo).
#   EDSR x4: Lim et al., CVPRW 2017, Table 1: baseline 1.5M, full 43M.
#   RRDBNet x4: Wang et al., ESRGAN, ECCVW 2018: 16.7M.
#   SRVGGNetCompact realesr-general-x4v3 (64 feat, 32 convs, PReLU): Real-ESRGAN release, ~1.21M.
@pytest.mark.parametrize(
    ("factory", "exact", "published_m", "digits"),
    [
        pytest.param(lambda: MSRResNet(scale=4), 1_517_571, 1.52, 2, id="msrresnet_x4"),
        pytest.param(lambda: EDSR(scale=4), 1_517_571, 1.5, 1, id="edsr_baseline_x4"),
        pytest.param(
            lambda: EDSR(num_feat=256, num_block=32, res_scale=0.1, scale=4),
            43_089_923,
            43.0,
            0,
            id="edsr_full_x4",
        ),
        pytest.param(lambda: RRDBNet(scale=4), 16_697_987, 16.7, 1, id="rrdbnet_x4"),
        pytest.param(
            lambda: SRVGGNetCompact(num_feat=64, num_conv=32, scale=4),
            1_213_296,
            1.21,
            2,
            id="compact_general_x4v3",
        ),
    ],
)
def test_published_parameter_counts(
    factory: Any, exact: int, published_m: float, digits: int
) -> None:
    count = n_params(factory())
    assert count == exact
    assert round(count / 1e6, digits) == published_m


def test_state_dict_keys_follow_original_releases() -> None:
    compact = SRVGGNetCompact(num_feat=8, num_conv=2).state_dict()
    assert {"body.0.weight", "body.1.weight", "body.2.weight", "body.6.weight"} <= set(compact)
    assert compact["body.1.weight"].shape == (8,)  # PReLU, one slope per channel

    msr = MSRResNet(num_feat=8, num_block=2, scale=4).state_dict()
    for key in ("conv_first", "body.1.conv1", "body.1.conv2", "upconv1", "upconv2", "conv_hr"):
        assert f"{key}.weight" in msr
    assert "conv_last.bias" in msr
    assert "upconv2.weight" not in MSRResNet(num_feat=8, num_block=1, scale=2).state_dict()

    edsr = EDSR(num_feat=8, num_block=2, scale=4).state_dict()
    for key in ("conv_first", "body.1.conv2", "conv_after_body", "upsample.0", "upsample.2"):
        assert f"{key}.weight" in edsr
    assert "mean" not in edsr  # non-persistent, as in BasicSR

    rrdb = RRDBNet(num_feat=8, num_block=2, num_grow_ch=4).state_dict()
    for key in ("conv_first", "body.1.rdb3.conv5", "conv_body", "conv_up1", "conv_up2"):
        assert f"{key}.weight" in rrdb
    assert {"conv_hr.weight", "conv_last.weight"} <= set(rrdb)
    assert RRDBNet(num_feat=8, num_block=1, scale=2).conv_first.in_channels == 12
    assert RRDBNet(num_feat=8, num_block=1, scale=1).conv_first.in_channels == 48


def test_edsr_mean_buffer_follows_dtype() -> None:
    net = EDSR(num_feat=8, num_block=1, scale=2).double()
    assert net.mean.dtype == torch.float64
    assert net(torch.rand(1, 3, 6, 6, dtype=torch.float64)).dtype == torch.float64


@pytest.mark.parametrize("scale", [1, 2, 3, 4])
def test_bicubic_matches_imresize_and_has_no_parameters(scale: int) -> None:
    net = Bicubic(scale=scale)
    assert list(net.parameters()) == []
    assert list(net.buffers()) == []
    x = torch.rand(2, 3, 12, 16)
    torch.testing.assert_close(net(x), imresize(x, scale=scale), rtol=0, atol=0)


@pytest.mark.parametrize("size", [32, 96, 128, (48, 80)])
def test_discriminator_accepts_patches_from_32_px(size: int | tuple[int, int]) -> None:
    h, w = (size, size) if isinstance(size, int) else size
    net = VGGStyleDiscriminator(num_feat=8)
    assert net(torch.rand(2, 3, h, w)).shape == (2, 1)


def test_discriminator_rejects_small_inputs() -> None:
    net = VGGStyleDiscriminator(num_feat=8)
    with pytest.raises(ValueError, match=r"16x16 px .* minimum 32x32"):
        net(torch.rand(2, 3, 16, 16))
    with pytest.raises(ValueError, match="input_size 16"):
        VGGStyleDiscriminator(input_size=16)


def test_discriminator_layout() -> None:
    """128 px: BasicSR's vgg128 layout, 4x4 before linear1; 256 px adds the conv5 stage."""
    small = VGGStyleDiscriminator()
    keys = set(small.state_dict())
    assert {"conv0_0.bias", "bn0_1.weight", "conv4_1.weight", "bn4_1.running_var"} <= keys
    assert not {"conv0_1.bias", "bn0_0.weight", "conv5_0.weight"} & keys
    assert small.linear1.in_features == 64 * 8 * 4 * 4
    big = VGGStyleDiscriminator(num_feat=8, input_size=256)
    assert "conv5_1.weight" in big.state_dict()
    assert big(torch.rand(2, 3, 64, 64)).shape == (2, 1)
    with pytest.raises(ValueError, match="minimum 64x64"):
        big(torch.rand(1, 3, 32, 32))


@pytest.mark.parametrize(
    ("cls", "kwargs"),
    [pytest.param(c, k, id=c.__name__) for c, k, _, _ in GENERATORS if c is not Bicubic],
)
def test_gradients_reach_every_parameter(cls: type[nn.Module], kwargs: dict[str, Any]) -> None:
    net = cls(**kwargs)
    x = torch.rand(1, 3, 8, 8, requires_grad=True)
    net(x).square().mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_gradients_through_bicubic_and_discriminator() -> None:
    x = torch.rand(2, 3, 8, 8, requires_grad=True)
    d = VGGStyleDiscriminator(num_feat=8)
    d(Bicubic(scale=4)(x)).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is not None for p in d.parameters())


@pytest.mark.parametrize(
    ("name", "scale"),
    [
        ("compact", 4),
        ("msrresnet", 3),
        ("edsr", 2),
        ("edsr_full", 4),
        ("rrdbnet", 2),
        ("bicubic", 4),
    ],
)
def test_generator_configs_instantiate(name: str, scale: int) -> None:
    cfg = OmegaConf.load(CONF / "generator" / f"{name}.yaml")
    root = OmegaConf.create({"data": {"scale": scale}, "generator": cfg})
    net = build_generator(root.generator)
    assert net.scale == scale


def test_discriminator_config_instantiates() -> None:
    cfg = OmegaConf.load(CONF / "discriminator" / "vgg.yaml")
    root = OmegaConf.create({"data": {"patch_size": 96}, "discriminator": cfg})
    net = instantiate(root.discriminator)
    assert isinstance(net, VGGStyleDiscriminator)
    assert net.input_size == 96
    assert net(torch.rand(1, 3, 96, 96)).shape == (1, 1)


def test_default_compact_config_is_cpu_sized() -> None:
    cfg = OmegaConf.load(CONF / "generator" / "compact.yaml")
    net = build_generator(OmegaConf.create({"data": {"scale": 4}, "g": cfg}).g)
    assert n_params(net) == 272_160
    assert net.upsample_skip == "bilinear"


@pytest.mark.parametrize(
    ("cls", "kwargs", "scale"),
    [
        pytest.param(c, k, s, id=f"{c.__name__}-x{s}")
        for c, k, _, _ in GENERATORS
        if c is not Bicubic
        for s in (2, 4)
    ],
)
def test_learned_generators_are_scriptable(
    cls: type[nn.Module], kwargs: dict[str, Any], scale: int
) -> None:
    """`restorelab-export --format torchscript` relies on this (tracing works too)."""
    net = cls(scale=scale, **kwargs).eval()
    x = torch.rand(1, 3, 7, 9)
    torch.testing.assert_close(torch.jit.script(net)(x), net(x))
