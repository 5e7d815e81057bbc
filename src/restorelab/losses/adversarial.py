"""Adversarial loss terms (the critic that keeps correcting the generator)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from restorelab.losses.base import AdversarialTerm

GAN_KINDS = ("vanilla", "lsgan", "hinge")


class GANLoss(AdversarialTerm):
    """Standard (non-relativistic) GAN objectives on the discriminator's logits.

    Args:
        weight: weight of the generator-side term (ESRGAN: 5e-3, SRGAN: 1e-3).
        kind: ``vanilla`` (BCE, SRGAN), ``lsgan`` (least squares) or ``hinge``.
        real_label: target for real images in the discriminator loss; values below 1
            give one-sided label smoothing (Salimans et al., 2016).
    """

    def __init__(self, weight: float = 5e-3, kind: str = "vanilla", real_label: float = 1.0):
        super().__init__(weight)
        if kind not in GAN_KINDS:
            raise ValueError(f"GANLoss: kind={kind!r} unknown; choose from {GAN_KINDS}")
        if not 0.0 < real_label <= 1.0:
            raise ValueError(f"GANLoss: real_label must be in (0, 1], got {real_label}")
        self.kind = kind
        self.real_label = float(real_label)

    def _target_loss(self, logits: Tensor, real: bool, label: float = 1.0) -> Tensor:
        logits = logits.float()
        if self.kind == "vanilla":
            target = torch.full_like(logits, label if real else 0.0)
            return F.binary_cross_entropy_with_logits(logits, target)
        if self.kind == "lsgan":
            target = torch.full_like(logits, label if real else 0.0)
            return F.mse_loss(logits, target)
        raise AssertionError  # hinge handled by callers

    def generator_loss(self, discriminator: nn.Module, sr: Tensor, gt: Tensor) -> Tensor:
        fake = discriminator(sr)
        if self.kind == "hinge":
            return -fake.float().mean()
        return self._target_loss(fake, real=True)

    def discriminator_loss(
        self, discriminator: nn.Module, sr: Tensor, gt: Tensor
    ) -> tuple[Tensor, dict[str, Tensor]]:
        real = discriminator(gt)
        fake = discriminator(sr.detach())
        if self.kind == "hinge":
            loss = F.relu(1.0 - real.float()).mean() + F.relu(1.0 + fake.float()).mean()
        else:
            loss = self._target_loss(real, True, self.real_label) + self._target_loss(fake, False)
        logs = {"d_real": real.detach().float().mean(), "d_fake": fake.detach().float().mean()}
        return loss, logs

    def extra_repr(self) -> str:
        return f"weight={self.weight}, kind={self.kind}, real_label={self.real_label}"
