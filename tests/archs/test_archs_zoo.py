"""The architecture zoo: shapes at every scale, published sizes, release keys, speed paths."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from restorelab.archs import (
    EDSR,
    ESPCN,
    FSRCNN,
    RCAN,
    MSRResNet,
    NAFNet,
    RefineNet,
    RRDBNet,
    SRResNet,
    SRVGGNetCompact,
    SwinIR,
    UNet,
)
from restorelab.archs._checks import ArchConfigError
from restorelab.commands.archs import build
from restorelab.errors import ConfigError
from restorelab.training.builder import build_module
from restorelab.training.module import RestorationModule
from restorelab.weights import build_generator, load_pretrained
from tests.helpers import CONF, n_params


def swin_tiny(upsampler: str = "pixelshuffle", **kw: Any) -> dict[str, Any]:
    opts = {"img_size": 8, "embed_dim": 12, "depths": [2, 1], "num_heads": [2, 3]}
    return {**opts, "window_size": 4, "num_feat": 8, "upsampler": upsampler, **kw}


def refine_tiny(scale: int = 4) -> RefineNet:
    first = SRVGGNetCompact(num_feat=8, num_conv=1, scale=scale)
    return RefineNet(first, num_stages=2, num_feat=8, num_conv=1)


# (name, factory(scale), supported scales, an unsupported scale)
ZOO: list[tuple[str, Callable[[int], nn.Module], tuple[int, ...], int]] = [
    ("swinir", lambda s: SwinIR(scale=s, **swin_tiny()), (2, 3, 4, 8), 1),
    ("swinir_light", lambda s: SwinIR(scale=s, **swin_tiny("pixelshuffledirect")), (2, 3, 4), 8),
    ("swinir_real", lambda s: SwinIR(scale=s, **swin_tiny("nearest+conv")), (2, 4), 3),
    ("swinir_restore", lambda s: SwinIR(scale=s, **swin_tiny("")), (1,), 2),
    ("swinir_3conv", lambda s: SwinIR(scale=s, **swin_tiny(resi_connection="3conv")), (2,), 1),
    ("rcan", lambda s: RCAN(num_feat=8, num_group=2, num_block=1, squeeze_factor=4, scale=s),
     (2, 3, 4, 8), 1),
    ("espcn", lambda s: ESPCN(num_feat=8, num_feat2=4, scale=s), (2, 3, 4), 8),
    ("fsrcnn", lambda s: FSRCNN(d=8, s=4, m=1, scale=s), (2, 3, 4), 1),
    ("compact", lambda s: SRVGGNetCompact(num_feat=8, num_conv=1, scale=s), (1, 2, 3, 4), 8),
    ("msrresnet", lambda s: MSRResNet(num_feat=8, num_block=1, scale=s), (2, 3, 4), 1),
    ("srresnet", lambda s: SRResNet(num_feat=8, num_block=1, scale=s), (2, 4, 8), 3),
    ("edsr", lambda s: EDSR(num_feat=8, num_block=1, scale=s), (2, 3, 4), 1),
    ("rrdbnet", lambda s: RRDBNet(num_feat=8, num_block=1, num_grow_ch=4, scale=s), (1, 2, 4), 3),
    ("refine", refine_tiny, (1, 2, 3, 4), 8),
    ("nafnet", lambda s: NAFNet(width=8, middle_blk_num=1, enc_blk_nums=[1], dec_blk_nums=[1],
                                scale=s), (1,), 2),
    ("unet", lambda s: UNet(num_feat=8, depth=2, scale=s), (1,), 4),
]  # fmt: skip


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.mark.parametrize(
    ("factory", "scale"),
    [pytest.param(f, s, id=f"{n}-x{s}") for n, f, scales, _ in ZOO for s in scales],
)
def test_forward_shape_at_every_supported_scale(factory: Any, scale: int) -> None:
    net = factory(scale)
    assert net.scale == scale
    for h, w in ((8, 8), (9, 13)):  # SwinIR pads to its window and crops back
        out = net(torch.rand(2, 3, h, w))
        assert out.shape == (2, 3, h * scale, w * scale)
        assert torch.isfinite(out).all()


@pytest.mark.parametrize(
    ("name", "factory", "scale"), [pytest.param(n, f, s, id=n) for n, f, _, s in ZOO]
)
def test_unsupported_scale_names_the_key(name: str, factory: Any, scale: int) -> None:
    with pytest.raises(ValueError, match=rf"scale {scale} not supported"):
        factory(scale)
    if name != "refine":  # RefineNet's scale is its first stage's (SRVGGNetCompact's) error
        with pytest.raises(ArchConfigError, match=r"\(generator\.scale; supported: "):
            factory(scale)


# Tiny/light configs of the generator group train on a CPU: forward at their default size.
CPU_CONFIGS = [
    "compact_tiny", "edsr_tiny", "msrresnet_tiny", "rrdbnet_tiny", "rcan_tiny", "swinir_tiny",
    "espcn", "fsrcnn", "refine", "nafnet_tiny", "unet_tiny",
]  # fmt: skip
RESTORATION_ONLY = ("nafnet_tiny", "unet_tiny")  # scale 1: denoising, deblurring, JPEG


def config_net(name: str, scale: int = 4) -> nn.Module:
    cfg = OmegaConf.load(CONF / "generator" / f"{name}.yaml")
    return build_generator(OmegaConf.create({"data": {"scale": scale}, "g": cfg}).g)


@pytest.mark.parametrize("name", CPU_CONFIGS)
def test_cpu_configs_build_and_run(name: str) -> None:
    scale = 1 if name in RESTORATION_ONLY else 4
    net = config_net(name, scale)
    assert net(torch.rand(1, 3, 24, 24)).shape == (1, 3, 24 * scale, 24 * scale)
    assert n_params(net) < 500_000


# ------------------------------------------------------------------ published parameter counts
def swin_bias_tables(net: nn.Module) -> int:
    return sum(p.numel() for k, p in net.named_parameters() if "relative_position_bias" in k)


@pytest.mark.parametrize(
    ("config", "scale", "exact", "published_m", "digits"),
    [
        # Liang et al., SwinIR (ICCVW 2021), classical SR x4: 11.9M.
        ("swinir", 4, 11_900_199, 11.9, 1),
        # Zhang et al., RCAN (ECCV 2018): 10 groups x 20 RCABs, 15.6M at x4 (the paper's
        # model-size figure rounds it to "about 16M").
        ("rcan", 4, 15_592_355, 15.6, 1),
        # Lim et al., EDSR (CVPRW 2017), Table 1: baseline 1.5M, full 43M.
        ("edsr", 4, 1_517_571, 1.5, 1),
        ("edsr_full", 4, 43_089_923, 43.0, 0),
        # Wang et al., ESRGAN (ECCVW 2018): RRDBNet 16.7M.
        ("rrdbnet", 4, 16_697_987, 16.7, 1),
        # Real-ESRGAN release realesr-general-x4v3 (SRVGGNetCompact 64 ch, 32 convs): 1.21M.
        ("srvgg", 4, 1_213_296, 1.21, 2),
        # Ledig et al., SRGAN (CVPR 2017) SRResNet; EDSR paper Table 1 lists it at 1.5M.
        ("srresnet", 4, 1_549_462, 1.5, 1),
        # BasicSR model zoo: MSRResNet x4 1.52M.
        ("msrresnet", 4, 1_517_571, 1.52, 2),
        # Chen et al., NAFNet (ECCV 2022), released NAFNet-SIDD-width32: 29.16M.
        ("nafnet", 1, 29_159_715, 29.16, 2),
        # Ronneberger et al., U-Net (MICCAI 2015) widths 64-1024 with same padding: 31.0M.
        ("unet", 1, 31_031_875, 31.0, 1),
    ],
)
def test_published_parameter_counts(
    config: str, scale: int, exact: int, published_m: float, digits: int
) -> None:
    count = n_params(build(config, scale, "meta"))  # meta device: no memory, no init time
    assert count == exact
    assert round(count / 1e6, digits) == published_m


@pytest.mark.parametrize(("scale", "published_k"), [(2, 878), (3, 886), (4, 897)])
def test_swinir_light_parameter_counts(scale: int, published_k: int) -> None:
    """SwinIR paper, lightweight SR table: 878K / 886K / 897K at x2 / x3 / x4.

    The paper's count leaves out the relative-position bias tables (24 blocks x 225 x 6 =
    32,400 entries), which are learned parameters here as in the released code.
    """
    net = build("swinir_light", scale, "meta")
    assert swin_bias_tables(net) == 24 * (2 * 8 - 1) ** 2 * 6
    assert round((n_params(net) - swin_bias_tables(net)) / 1e3) == published_k


def test_espcn_and_fsrcnn_paper_sizes() -> None:
    """The papers work on the Y channel; restorelab's configs use RGB."""
    # Shi et al., ESPCN (CVPR 2016): (5x5, 64), (3x3, 32), (3x3, r^2) convs with biases.
    espcn = ESPCN(num_in_ch=1, num_out_ch=1, scale=3)
    assert n_params(espcn) == (25 * 64 + 64) + (9 * 64 * 32 + 32) + (9 * 32 * 9 + 9) == 22_729
    # Dong et al., FSRCNN (ECCV 2016): FSRCNN(56, 12, 4) has 12,464 weights (biases and PReLU
    # slopes not counted by the paper).
    fsrcnn = FSRCNN(num_in_ch=1, num_out_ch=1, d=56, s=12, m=4, scale=3)
    weights = sum(m.weight.numel() for m in fsrcnn.modules() if isinstance(m, nn.Conv2d))
    deconv = fsrcnn.deconv.weight.numel()
    assert weights + deconv == 12_464


# ------------------------------------------------- state-dict keys of the original releases
def _conv(prefix: str, cin: int, cout: int, k: int = 3) -> dict[str, tuple[int, ...]]:
    return {f"{prefix}.weight": (cout, cin, k, k), f"{prefix}.bias": (cout,)}


def _linear(prefix: str, cin: int, cout: int) -> dict[str, tuple[int, ...]]:
    return {f"{prefix}.weight": (cout, cin), f"{prefix}.bias": (cout,)}


def _norm(prefix: str, dim: int) -> dict[str, tuple[int, ...]]:
    return {f"{prefix}.weight": (dim,), f"{prefix}.bias": (dim,)}


def swinir_release_layout(
    dim: int, depths: list[int], heads: list[int], ws: int, img: int, scale: int, head: str
) -> dict[str, tuple[int, ...]]:
    """Key -> shape of a SwinIR release (JingyunLiang/SwinIR, models/network_swinir.py)."""
    keys = {**_conv("conv_first", 3, dim), **_norm("patch_embed.norm", dim)}
    n_win = (img // ws) ** 2
    for i, (depth, h) in enumerate(zip(depths, heads, strict=True)):
        for j in range(depth):
            b = f"layers.{i}.residual_group.blocks.{j}"
            keys.update(_norm(f"{b}.norm1", dim) | _norm(f"{b}.norm2", dim))
            keys[f"{b}.attn.relative_position_bias_table"] = ((2 * ws - 1) ** 2, h)
            keys[f"{b}.attn.relative_position_index"] = (ws * ws, ws * ws)
            keys.update(
                _linear(f"{b}.attn.qkv", dim, 3 * dim) | _linear(f"{b}.attn.proj", dim, dim)
            )
            keys.update(
                _linear(f"{b}.mlp.fc1", dim, 2 * dim) | _linear(f"{b}.mlp.fc2", 2 * dim, dim)
            )
            if j % 2 == 1:
                keys[f"{b}.attn_mask"] = (n_win, ws * ws, ws * ws)
        keys.update(_conv(f"layers.{i}.conv", dim, dim))
    keys.update(_norm("norm", dim) | _conv("conv_after_body", dim, dim))
    if head == "pixelshuffle":
        keys.update(_conv("conv_before_upsample.0", dim, 64))
        for k in range(int(math.log2(scale))):
            keys.update(_conv(f"upsample.{2 * k}", 64, 256))
        keys.update(_conv("conv_last", 64, 3))
    else:  # pixelshuffledirect
        keys.update(_conv("upsample.0", dim, 3 * scale * scale))
    return keys  # fmt: skip


def rrdbnet_release_layout(nf: int, nb: int, gc: int, scale: int) -> dict[str, tuple[int, ...]]:
    """Real-ESRGAN / BasicSR RRDBNet (RealESRGAN_x4plus.pth, x2plus: pixel-unshuffled input)."""
    keys = _conv("conv_first", 3 * (4 // scale) ** 2, nf)
    for b in range(nb):
        for r in (1, 2, 3):
            for c in range(1, 6):
                cin = nf + (c - 1) * gc
                keys.update(_conv(f"body.{b}.rdb{r}.conv{c}", cin, gc if c < 5 else nf))
    for name in ("conv_body", "conv_up1", "conv_up2", "conv_hr"):
        keys.update(_conv(name, nf, nf))
    return keys | _conv("conv_last", nf, 3)


def srvgg_release_layout(nf: int, nc: int, scale: int) -> dict[str, tuple[int, ...]]:
    """Real-ESRGAN SRVGGNetCompact (realesr-general-x4v3.pth): body.<i>, PReLU per channel."""
    keys = _conv("body.0", 3, nf)
    for i in range(nc + 1):
        keys[f"body.{2 * i + 1}.weight"] = (nf,)
        if i < nc:
            keys.update(_conv(f"body.{2 * i + 2}", nf, nf))
    return keys | _conv(f"body.{2 * nc + 2}", nf, 3 * scale * scale)


def edsr_release_layout(nf: int, nb: int, scale: int) -> dict[str, tuple[int, ...]]:
    """EDSR as released by BasicSR (EDSR_Mx4_f64b16_DIV2K_official-0c287733.pth)."""
    keys = _conv("conv_first", 3, nf)
    for b in range(nb):
        keys.update(_conv(f"body.{b}.conv1", nf, nf) | _conv(f"body.{b}.conv2", nf, nf))
    keys.update(_conv("conv_after_body", nf, nf))
    for k in range(int(math.log2(scale))):
        keys.update(_conv(f"upsample.{2 * k}", nf, 4 * nf))
    return keys | _conv("conv_last", nf, 3)


RELEASES = [
    pytest.param(
        lambda: SwinIR(scale=4, img_size=16, embed_dim=12, depths=[2, 2], num_heads=[2, 3],
                       window_size=8),
        swinir_release_layout(12, [2, 2], [2, 3], 8, 16, 4, "pixelshuffle"),
        id="swinir_classical",
    ),
    pytest.param(
        lambda: SwinIR(scale=3, img_size=64, embed_dim=60, depths=[6] * 4, num_heads=[6] * 4,
                       window_size=8, upsampler="pixelshuffledirect"),
        swinir_release_layout(60, [6] * 4, [6] * 4, 8, 64, 3, "pixelshuffledirect"),
        id="swinir_light_x3_full_size",
    ),
    pytest.param(lambda: RRDBNet(num_feat=8, num_block=2, num_grow_ch=4, scale=4),
                 rrdbnet_release_layout(8, 2, 4, 4), id="rrdbnet_x4plus"),
    pytest.param(lambda: RRDBNet(num_feat=8, num_block=1, num_grow_ch=4, scale=2),
                 rrdbnet_release_layout(8, 1, 4, 2), id="rrdbnet_x2plus"),
    pytest.param(lambda: SRVGGNetCompact(num_feat=64, num_conv=32, scale=4, act_type="prelu"),
                 srvgg_release_layout(64, 32, 4), id="srvgg_general_x4v3_full_size"),
    pytest.param(lambda: EDSR(num_feat=8, num_block=2, scale=4),
                 edsr_release_layout(8, 2, 4), id="edsr_x4"),
]  # fmt: skip


@pytest.mark.parametrize(("factory", "layout"), RELEASES)
def test_release_state_dicts_load(factory: Any, layout: dict[str, Any], tmp_path: Path) -> None:
    """A state dict with the original key names and shapes loads strictly (params_ema .pth)."""
    net = factory()
    gen = torch.Generator().manual_seed(1)
    state = {k: torch.randn(shape, generator=gen) for k, shape in layout.items()}
    for key in [k for k in state if k.endswith("relative_position_index")]:
        state[key] = net.state_dict()[key].clone()  # integer buffer, same values in releases
    path = tmp_path / "release.pth"
    torch.save({"params_ema": state}, path)
    load_pretrained(net, path)
    loaded = net.state_dict()
    assert set(loaded) == set(state)
    for key, value in state.items():
        torch.testing.assert_close(loaded[key].to(value.dtype), value, rtol=0, atol=0)
    net(torch.rand(1, 3, 8, 8))


def test_swinir_relative_position_index_matches_the_original_formula() -> None:
    """index[i, j] = (dy + ws - 1) * (2 ws - 1) + (dx + ws - 1), tokens in row-major order."""
    ws = 4
    net = SwinIR(scale=2, **swin_tiny("pixelshuffledirect", window_size=ws))
    index = net.layers[0].residual_group.blocks[0].attn.relative_position_index
    pos = [(i // ws, i % ws) for i in range(ws * ws)]
    expected = torch.tensor(
        [[(a[0] - b[0] + ws - 1) * (2 * ws - 1) + (a[1] - b[1] + ws - 1) for b in pos] for a in pos]
    )
    assert torch.equal(index, expected)


def test_swinir_attn_mask_follows_img_size() -> None:
    """Masks for the training size are stored; other sizes get theirs computed on the fly."""
    net = SwinIR(scale=2, **swin_tiny("pixelshuffledirect", img_size=16, depths=[2], num_heads=[2]))
    mask = net.layers[0].residual_group.blocks[1].attn_mask
    assert mask.shape == (16, 16, 16)
    assert set(mask.unique().tolist()) == {0.0, -100.0}
    assert net.layers[0].residual_group.blocks[0].attn_mask is None
    x = torch.rand(1, 3, 16, 16)
    ref = net(x)
    net.layers[0].residual_group.blocks[1].input_resolution = (0, 0)  # force recomputation
    torch.testing.assert_close(net(x), ref)


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"embed_dim": 10, "num_heads": [3, 3]}, r"generator\.embed_dim=10 is not divisible by "
         r"generator\.num_heads entry 3"),
        ({"img_size": 10}, r"generator\.window_size=4 does not divide generator\.img_size=10"),
        ({"depths": [2], "num_heads": [2, 2]}, r"generator\.depths \(1 entries\) and "
         r"generator\.num_heads \(2 entries\)"),
        ({"upsampler": "bicubic"}, r"generator\.upsampler='bicubic' is not one of"),
        ({"resi_connection": "2conv"}, r"generator\.resi_connection='2conv'"),
        ({"window_size": 0}, r"generator\.window_size=0 must be > 0"),
    ],
)  # fmt: skip
def test_swinir_bad_options_name_the_key(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ArchConfigError, match=message):
        SwinIR(scale=2, **{**swin_tiny(), **kwargs})


def test_rcan_bad_squeeze_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"generator\.squeeze_factor=16 does not divide "):
        RCAN(num_feat=24, num_group=1, num_block=1)


def test_start_up_rejects_window_not_dividing_the_patch(compose_cfg: Any) -> None:
    cfg = compose_cfg("generator=swinir_tiny", "data.patch_size=80", "logger=none")
    with pytest.raises(ConfigError, match=r"data\.patch_size=80 gives 20 px .* "
                       r"generator\.window_size=8"):  # fmt: skip
        build_module(cfg)
    cfg = compose_cfg("generator=swinir_tiny", "generator.num_heads=[5,5]", "logger=none")
    with pytest.raises(Exception, match=r"generator\.embed_dim=24 is not divisible"):
        build_module(cfg)


# ------------------------------------------------------------- channels_last, torch.compile
SPEED_CASES = [
    pytest.param(lambda: SRVGGNetCompact(num_feat=8, num_conv=2, scale=4), id="compact"),
    pytest.param(lambda: SwinIR(scale=2, **swin_tiny("pixelshuffledirect")), id="swinir"),
    pytest.param(lambda: RCAN(num_feat=8, num_group=1, num_block=2, squeeze_factor=4, scale=3),
                 id="rcan"),
    pytest.param(lambda: EDSR(num_feat=8, num_block=1, scale=2), id="edsr"),
    pytest.param(lambda: SRResNet(num_feat=8, num_block=1, scale=2), id="srresnet"),
    pytest.param(lambda: RRDBNet(num_feat=8, num_block=1, num_grow_ch=4, scale=2), id="rrdbnet"),
    pytest.param(lambda: ESPCN(num_feat=8, num_feat2=4, scale=3), id="espcn"),
    pytest.param(lambda: FSRCNN(d=8, s=4, m=1, scale=2), id="fsrcnn"),
    pytest.param(refine_tiny, id="refine"),
    pytest.param(lambda: NAFNet(width=8, middle_blk_num=1, enc_blk_nums=[1, 1],
                                dec_blk_nums=[1, 1]), id="nafnet"),
    pytest.param(lambda: UNet(num_feat=8, depth=2), id="unet"),
]  # fmt: skip


def _trained_like(net: nn.Module) -> nn.Module:
    """Random weights everywhere (zero-initialised convs would hide layout bugs)."""
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return net.eval()


@pytest.mark.parametrize("factory", SPEED_CASES)
def test_channels_last_gives_the_same_output(factory: Any) -> None:
    net = _trained_like(factory())
    x = torch.rand(2, 3, 16, 12)
    with torch.no_grad():
        ref = net(x)
        fast = RestorationModule(net, channels_last=True).eval()
        out = fast(x)
        stages = fast.stages(x)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(stages[-1], ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("factory", "backend"),
    [
        pytest.param(lambda: SRVGGNetCompact(num_feat=8, num_conv=2, scale=4), "inductor",
                     id="compact-inductor"),
        pytest.param(lambda: SwinIR(scale=2, **swin_tiny("pixelshuffledirect")), "aot_eager",
                     id="swinir-aot_eager"),
        pytest.param(refine_tiny, "aot_eager", id="refine-aot_eager"),
    ],
)  # fmt: skip
def test_compile_gives_the_same_output(factory: Any, backend: str) -> None:
    """``module.compile``: inductor works here (gcc is installed); aot_eager needs no compiler."""
    net = _trained_like(factory())
    keys = list(net.state_dict())
    x = torch.rand(2, 3, 16, 12)
    with torch.no_grad():
        ref = net(x)
        compiled = RestorationModule(net, compile=True, compile_backend=backend).eval()
        out = compiled(x)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)
    assert list(compiled.generator.state_dict()) == keys  # checkpoints stay loadable


def test_compile_flags_are_config_values(compose_cfg: Any) -> None:
    cfg = compose_cfg()
    assert cfg.module.compile is False and cfg.module.compile_backend == "inductor"
    cfg = compose_cfg("module.compile=true", "module.compile_backend=aot_eager",
                      "generator=compact_tiny", "logger=none")  # fmt: skip
    module = build_module(cfg)
    assert module.generator._compiled_call_impl is not None
