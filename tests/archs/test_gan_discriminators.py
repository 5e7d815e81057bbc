"""Discriminators: output shapes at several input sizes, gradients, spectral norm, configs."""

from __future__ import annotations

import hydra
import pytest
import torch

from restorelab.archs import PatchGANDiscriminator, UNetDiscriminatorSN, VGGStyleDiscriminator
from restorelab.errors import ConfigError


@pytest.mark.parametrize(
    ("net", "size", "out_shape"),
    [
        (VGGStyleDiscriminator(num_feat=8, input_size=128), 128, (2, 1)),
        (VGGStyleDiscriminator(num_feat=8, input_size=128), 48, (2, 1)),
        (PatchGANDiscriminator(num_feat=8), 64, (2, 1, 6, 6)),
        (PatchGANDiscriminator(num_feat=8), 70, (2, 1, 6, 6)),
        (PatchGANDiscriminator(num_feat=8, n_layers=2, norm="instance"), 40, (2, 1, 8, 8)),
        (UNetDiscriminatorSN(num_feat=8), 64, (2, 1, 64, 64)),
        (UNetDiscriminatorSN(num_feat=8), 37, (2, 1, 37, 37)),
    ],
    ids=lambda v: type(v).__name__ if not isinstance(v, int | tuple) else str(v),
)
def test_shapes_and_gradients(net, size: int, out_shape: tuple[int, ...]) -> None:
    x = torch.rand(2, 3, size, size, requires_grad=True)
    out = net(x)
    assert tuple(out.shape) == out_shape
    out.mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)


def test_patchgan_receptive_field_is_local() -> None:
    """Changing one corner changes only the patch logits that see it (70 px field, n=3)."""
    torch.manual_seed(0)
    net = PatchGANDiscriminator(num_feat=8, norm="none").eval()
    x = torch.rand(1, 3, 256, 256)
    y = x.clone()
    y[..., :8, :8] = 1 - y[..., :8, :8]
    changed = (net(x) - net(y)).abs()[0, 0] > 0
    assert changed[0, 0] and not changed[-1, -1] and not changed[:, -10:].any()


def test_spectral_norm_bounds_the_unet_convolutions() -> None:
    torch.manual_seed(0)
    net = UNetDiscriminatorSN(num_feat=8)
    keys = set(net.state_dict())
    assert {"conv1.weight_orig", "conv1.weight_u", "conv8.weight_v", "conv0.weight"} <= keys
    for _ in range(30):  # power iterations converge in training mode
        net(torch.rand(1, 3, 16, 16))
    w = net.conv2.weight.detach().flatten(1)
    assert float(torch.linalg.matrix_norm(w, ord=2)) == pytest.approx(1.0, abs=0.05)
    pg = PatchGANDiscriminator(num_feat=8, norm="spectral")
    assert any(k.endswith("weight_orig") for k in pg.state_dict())


def test_too_small_inputs_and_bad_options_fail_clearly() -> None:
    with pytest.raises(ValueError, match="smaller than the minimum 24 px"):
        PatchGANDiscriminator(num_feat=8)(torch.rand(1, 3, 20, 20))
    with pytest.raises(ValueError, match="minimum 8 px"):
        UNetDiscriminatorSN(num_feat=8)(torch.rand(1, 3, 6, 6))
    with pytest.raises(ConfigError, match=r"discriminator\.norm='group'"):
        PatchGANDiscriminator(norm="group")


@pytest.mark.parametrize("name", ["vgg", "patchgan", "unet_sn"])
def test_each_discriminator_config_builds(compose_cfg, name: str) -> None:
    cfg = compose_cfg(f"discriminator={name}", "discriminator.num_feat=8", "data.patch_size=64")
    net = hydra.utils.instantiate(cfg.discriminator)
    assert net(torch.rand(2, 3, 64, 64)).shape[:2] == (2, 1)
