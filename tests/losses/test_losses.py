"""Loss terms give known values; the composite weights and names them; the GAN step is clean."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from restorelab.errors import ConfigError
from restorelab.losses import CharbonnierLoss, CompositeLoss, GANLoss, L1Loss, MSELoss


def test_pixel_losses_known_values() -> None:
    sr, gt = torch.zeros(1, 3, 4, 4), torch.full((1, 3, 4, 4), 0.5)
    assert float(L1Loss()(sr, gt)) == pytest.approx(0.5)
    assert float(MSELoss()(sr, gt)) == pytest.approx(0.25)
    assert float(CharbonnierLoss(eps=1e-3)(sr, gt)) == pytest.approx(math.sqrt(0.25 + 1e-6))
    assert float(CharbonnierLoss(eps=1e-3)(gt, gt)) == pytest.approx(1e-3)


def test_composite_weights_and_reports_each_term() -> None:
    loss = CompositeLoss({"l1": L1Loss(weight=2.0), "mse": MSELoss(weight=0.5)})
    total, parts = loss.generator(torch.zeros(2, 3, 4, 4), torch.ones(2, 3, 4, 4))
    assert float(total) == pytest.approx(2.0 * 1.0 + 0.5 * 1.0)
    assert set(parts) == {"l1", "mse"}


def test_composite_rejects_empty_and_foreign_terms() -> None:
    with pytest.raises(ConfigError, match="empty"):
        CompositeLoss({})
    with pytest.raises(ConfigError, match=r"loss\.terms\.bad"):
        CompositeLoss({"bad": nn.L1Loss()})


def test_gan_kinds_and_label_smoothing() -> None:
    disc = nn.Sequential(nn.Flatten(), nn.Linear(12, 1))
    sr, gt = torch.rand(4, 3, 2, 2), torch.rand(4, 3, 2, 2)
    for kind in ("vanilla", "lsgan", "hinge"):
        term = GANLoss(kind=kind)
        g = term.generator_loss(disc, sr, gt)
        d, logs = term.discriminator_loss(disc, sr, gt)
        assert g.ndim == 0 and d.ndim == 0 and set(logs) == {"d_real", "d_fake"}
    zero = nn.Sequential(nn.Flatten(), nn.Linear(12, 1))
    nn.init.zeros_(zero[1].weight), nn.init.zeros_(zero[1].bias)
    # logits 0 -> BCE log(2) for real and fake
    d, _ = GANLoss(kind="vanilla").discriminator_loss(zero, sr, gt)
    assert float(d) == pytest.approx(2 * math.log(2))
    smoothed, _ = GANLoss(kind="vanilla", real_label=0.9).discriminator_loss(zero, sr, gt)
    assert float(smoothed) == pytest.approx(
        2 * math.log(2)
    )  # BCE at logit 0 is log 2 for any label
    with pytest.raises(ConfigError, match="kind"):
        GANLoss(kind="nope")


def test_adversarial_terms_are_skipped_without_a_discriminator() -> None:
    loss = CompositeLoss({"l1": L1Loss(), "gan": GANLoss()})
    _, parts = loss.generator(torch.zeros(1, 3, 4, 4), torch.ones(1, 3, 4, 4))
    assert set(parts) == {"l1"}
    assert set(loss.adversarial) == {"gan"}
