"""The scale-1 tasks (deblurring, denoising, JPEG) and their generators (NAFNet, U-Net)."""

from __future__ import annotations

import re

import pytest
import torch
from hydra.utils import instantiate

from restorelab.archs import NAFNet, UNet
from restorelab.archs._checks import ArchConfigError
from restorelab.degradations import JPEG, Degradation, GaussianNoise, RandomBlur
from restorelab.errors import root_cause
from restorelab.training.builder import build_module
from restorelab.training.fit import train
from restorelab.weights import build_generator

FAST = [
    "debug=fast",
    "data.batch_size=2",
    "data.patch_size=32",
    "data.val_names=[coffee]",
    "trainer.precision=32-true",
]
TINY = {"nafnet": "generator=nafnet_tiny", "unet": "generator=unet_tiny"}

# experiment -> (generator group, first stage type, PSNR-Y range of the degraded input on coffee)
TASKS = {
    "deblur_gopro_style": ("nafnet", RandomBlur, (20.0, 32.0)),
    "denoise_sigma25": ("nafnet", GaussianNoise, (24.5, 26.5)),
    "jpeg_q10": ("unet", JPEG, (26.0, 31.0)),
}


@pytest.mark.parametrize("name", sorted(TASKS))
def test_task_experiment_composes_at_scale_1(compose_cfg, name: str) -> None:
    generator, stage_type, _ = TASKS[name]
    cfg = compose_cfg(f"experiment={name}")
    assert cfg.data.scale == 1 and cfg.generator.scale == 1
    assert cfg.generator._target_.endswith("NAFNet" if generator == "nafnet" else "UNet")
    degradation = instantiate(cfg.degradation)
    assert isinstance(degradation, Degradation) and degradation.scale == 1
    assert isinstance(next(iter(degradation.stages.values())), stage_type)
    assert degradation.check_input_size(cfg.data.patch_size, cfg.data.patch_size) == (
        cfg.data.patch_size,
        cfg.data.patch_size,
    )


@pytest.mark.parametrize("name", sorted(TASKS))
def test_task_experiment_runs_under_debug_fast(compose_cfg, name: str) -> None:
    generator, _, (low, high) = TASKS[name]
    metrics = train(compose_cfg(f"experiment={name}", *FAST, TINY[generator]))
    assert "val/psnr_y" in metrics
    # at scale 1 the "bicubic" baseline is the degraded input itself
    assert low < metrics["val/psnr_y_bicubic"] < high


def test_denoise_input_psnr_matches_sigma_25(compose_cfg) -> None:
    cfg = compose_cfg("experiment=denoise_sigma25")
    gt = torch.full((1, 3, 64, 64), 0.5)
    lq = instantiate(cfg.degradation)(gt, seeds=[1])
    mse = float(((lq - gt) ** 2).mean())
    assert 10 * torch.log10(torch.tensor(1.0 / mse)).item() == pytest.approx(20.17, abs=0.1)


def test_scale_other_than_1_is_a_clear_error(compose_cfg) -> None:
    with pytest.raises(ArchConfigError, match=r"generator\.scale"):
        NAFNet(scale=4)
    with pytest.raises(ArchConfigError, match=r"generator\.scale"):
        UNet(scale=2)
    cfg = compose_cfg("experiment=denoise_sigma25", "data.scale=4", "degradation=bicubic_x4")
    with pytest.raises(Exception) as error:
        build_generator(cfg.generator)
    cause = root_cause(error.value)
    assert isinstance(cause, ArchConfigError)
    assert "NAFNet: scale 4 not supported (generator.scale" in str(cause)


NETS = {
    "nafnet": lambda: NAFNet(width=8, middle_blk_num=1, enc_blk_nums=[1, 1], dec_blk_nums=[1, 1]),
    "unet": lambda: UNet(num_feat=8, depth=2),
}


@pytest.mark.parametrize("name", sorted(NETS))
@pytest.mark.parametrize("size", [(32, 32), (30, 17), (5, 9)])
def test_generator_keeps_any_size(name: str, size: tuple[int, int]) -> None:
    torch.manual_seed(0)
    net = NETS[name]()
    x = torch.rand(2, 3, *size)
    out = net(x)
    assert out.shape == x.shape and out.dtype == x.dtype
    out.mean().backward()
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)


@pytest.mark.parametrize("name", sorted(NETS))
def test_generator_output_is_input_plus_prediction(name: str) -> None:
    torch.manual_seed(0)
    net = NETS[name]()
    last = net.ending if isinstance(net, NAFNet) else net.conv_last
    x = torch.rand(1, 3, 24, 20)
    prediction = net(x) - x
    assert prediction.abs().max() > 1e-4
    with torch.no_grad():
        last.weight.zero_()
        assert last.bias is not None
        last.bias.zero_()
    assert torch.allclose(net(x), x, atol=1e-6)  # zero prediction: output is the input


def test_nafnet_blocks_start_as_identity_and_published_sizes() -> None:
    net = NAFNet()  # NAFNet-width32 SIDD configuration
    assert len(net.encoders) == 4 and [len(e) for e in net.encoders] == [2, 2, 4, 8]
    assert len(net.middle_blks) == 12 and [len(d) for d in net.decoders] == [2, 2, 2, 2]
    assert net.middle_blks[0].conv1.in_channels == 32 * 16
    params = sum(p.numel() for p in net.parameters())
    assert params == pytest.approx(29.16e6, rel=0.01)
    block = net.encoders[0][0]
    x = torch.rand(1, 32, 8, 8)
    assert torch.equal(block(x), x)  # beta = gamma = 0 at initialisation
    unet = UNet()
    assert sum(p.numel() for p in unet.parameters()) == pytest.approx(31.03e6, rel=0.01)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["degradation=realesrgan", "data.patch_size=32"],
            r"degradation\.stages\.usm: USMSharp: `kernel_size`=51 is larger than the 32x32",
        ),
        (
            ["degradation=realesrgan", "degradation.stages.blur2.prob=1.5"],
            r"degradation\.stages\.blur2: RandomBlur: `prob` must be in \[0, 1\], got 1\.5",
        ),
        (
            [
                "degradation=motion_blur",
                "degradation.stages.blur.kernel_size=20",
                "data.scale=1",
                "generator=nafnet_tiny",
            ],
            r"degradation\.stages\.blur: RandomBlur: `kernel_size` must be an odd integer",
        ),
        (
            ["degradation=realesrgan", "+degradation.stages.blur1.sigmaa=1"],
            r"degradation\.stages\.blur1\.sigmaa: RandomBlur has no parameter `sigmaa`",
        ),
    ],
)
def test_bad_degradation_config_fails_at_start_up(compose_cfg, overrides, message) -> None:
    cfg = compose_cfg(*overrides)
    with pytest.raises(Exception) as error:
        build_module(cfg)
    cause = root_cause(error.value)
    assert cause is not None
    assert re.search(message, str(cause)), str(cause)
