"""Adversarial objectives: known values for every kind, RaGAN, WGAN-GP's penalty, smoothing."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn

from restorelab.errors import ConfigError
from restorelab.losses import GANLoss, gradient_penalty


class ConstantCritic(nn.Module):
    """Returns a fixed logit for real-looking (mean > 0.5) and another for other images."""

    def __init__(self, real_logit: float, fake_logit: float) -> None:
        super().__init__()
        self.real_logit, self.fake_logit = real_logit, fake_logit
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x: Tensor) -> Tensor:
        is_real = x.flatten(1).mean(1, keepdim=True) > 0.5
        logits = torch.where(is_real, self.real_logit, self.fake_logit)
        return logits + 0 * self.dummy


REAL, FAKE = torch.full((4, 3, 2, 2), 0.9), torch.full((4, 3, 2, 2), 0.1)


def bce(logit: float, target: float) -> float:
    """Binary cross-entropy of a logit against a target, from its definition."""
    p = 1 / (1 + math.exp(-logit))
    return -(target * math.log(p) + (1 - target) * math.log(1 - p))


@pytest.mark.parametrize(
    ("kind", "d_expected", "g_expected"),
    [
        ("vanilla", bce(2.0, 1) + bce(-1.0, 0), bce(-1.0, 1)),
        ("lsgan", (2.0 - 1) ** 2 + (-1.0) ** 2, (-1.0 - 1) ** 2),
        ("hinge", max(0, 1 - 2.0) + max(0, 1 - 1.0), 1.0),
        ("wgan", -1.0 - 2.0, 1.0),
    ],
)
def test_standard_kinds_known_values(kind: str, d_expected: float, g_expected: float) -> None:
    critic = ConstantCritic(real_logit=2.0, fake_logit=-1.0)
    term = GANLoss(kind=kind)
    d, logs = term.discriminator_loss(critic, FAKE, REAL)
    assert float(d) == pytest.approx(d_expected, rel=1e-6)
    assert float(logs["d_real"]) == 2.0 and float(logs["d_fake"]) == -1.0
    assert float(term.generator_loss(critic, FAKE, REAL)) == pytest.approx(g_expected, rel=1e-6)


def test_relativistic_average_gan_known_values() -> None:
    critic = ConstantCritic(real_logit=2.0, fake_logit=-1.0)
    term = GANLoss(kind="vanilla", relativistic=True)
    # D: real - mean(fake) = 3 should be real, fake - mean(real) = -3 fake; averaged (ESRGAN code)
    d, _ = term.discriminator_loss(critic, FAKE, REAL)
    assert float(d) == pytest.approx(0.5 * (bce(3.0, 1) + bce(-3.0, 0)), rel=1e-6)
    # G: the roles swap
    g = term.generator_loss(critic, FAKE, REAL)
    assert float(g) == pytest.approx(0.5 * (bce(-3.0, 1) + bce(3.0, 0)), rel=1e-6)
    # equal logits: no preference either way, log 2
    even = ConstantCritic(0.7, 0.7)
    assert float(term.discriminator_loss(even, FAKE, REAL)[0]) == pytest.approx(math.log(2))
    # relativistic hinge and LSGAN use the same differences
    hinge = GANLoss(kind="hinge", relativistic=True)
    assert float(hinge.discriminator_loss(critic, FAKE, REAL)[0]) == pytest.approx(0.0)
    assert float(hinge.generator_loss(critic, FAKE, REAL)) == pytest.approx(0.5 * (4 + 4))
    ls = GANLoss(kind="lsgan", relativistic=True)
    assert float(ls.discriminator_loss(critic, FAKE, REAL)[0]) == pytest.approx(
        0.5 * ((3 - 1) ** 2 + (-3 + 1) ** 2)
    )


def test_relativistic_generator_loss_reaches_the_generator_through_fakes_only() -> None:
    disc = nn.Sequential(nn.Flatten(), nn.Linear(12, 1))
    disc.requires_grad_(False)
    sr = torch.rand(4, 3, 2, 2, requires_grad=True)
    gt = torch.rand(4, 3, 2, 2, requires_grad=True)
    GANLoss(relativistic=True).generator_loss(disc, sr, gt).backward()
    assert sr.grad is not None and sr.grad.abs().sum() > 0
    assert gt.grad is None  # real logits are constants for G


def test_label_smoothing_changes_the_real_target() -> None:
    critic = ConstantCritic(real_logit=2.0, fake_logit=-1.0)
    smooth = GANLoss(kind="vanilla", real_label=0.9)
    d, _ = smooth.discriminator_loss(critic, FAKE, REAL)
    assert float(d) == pytest.approx(bce(2.0, 0.9) + bce(-1.0, 0), rel=1e-6)
    # the generator's target stays 1
    assert float(smooth.generator_loss(critic, FAKE, REAL)) == pytest.approx(bce(-1.0, 1))
    ls = GANLoss(kind="lsgan", real_label=0.9)
    assert float(ls.discriminator_loss(critic, FAKE, REAL)[0]) == pytest.approx(1.1**2 + 1.0)


def test_gradient_penalty_of_a_linear_critic_is_known() -> None:
    # D(x) = w . x has gradient w everywhere: the penalty is (||w|| - 1)^2 at any interpolate
    lin = nn.Sequential(nn.Flatten(), nn.Linear(12, 1))
    with torch.no_grad():
        lin[1].weight.fill_(0.5)  # ||w|| = 0.5 * sqrt(12)
    gp = gradient_penalty(lin, torch.rand(3, 3, 2, 2), torch.rand(3, 3, 2, 2))
    assert float(gp) == pytest.approx((0.5 * math.sqrt(12) - 1) ** 2, rel=1e-5)
    # and it is part of WGAN-GP's D loss, differentiable w.r.t. D's weights
    term = GANLoss(kind="wgan", gp_weight=10.0)
    d, logs = term.discriminator_loss(lin, torch.rand(3, 3, 2, 2), torch.rand(3, 3, 2, 2))
    assert float(logs["gp"]) == pytest.approx(float(gp), rel=1e-5)
    d.backward()
    # d(gp)/dw = 2 (||w|| - 1) w / ||w|| per weight, times 10, plus the WGAN part's gradient
    assert lin[1].weight.grad is not None and lin[1].weight.grad.abs().sum() > 0


def test_bad_adversarial_options_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="kind='nope' unknown"):
        GANLoss(kind="nope")
    with pytest.raises(ConfigError, match="label smoothing"):
        GANLoss(kind="hinge", real_label=0.9)
    with pytest.raises(ConfigError, match="real_label must be in"):
        GANLoss(real_label=1.5)
    with pytest.raises(ConfigError, match="relativistic=true with kind=wgan"):
        GANLoss(kind="wgan", relativistic=True)
    with pytest.raises(ConfigError, match="gp_weight"):
        GANLoss(gp_weight=-1)
