"""Adversarial loss terms (the critic that keeps correcting the generator).

One term, :class:`GANLoss`, covers the objectives the field uses, as options rather than
subclasses:

- ``kind``: ``vanilla`` (BCE, SRGAN), ``lsgan`` (least squares, Mao et al. 2017), ``hinge``
  (Lim & Ye 2017 / SAGAN), ``wgan`` (Wasserstein critic, Arjovsky et al. 2017).
- ``relativistic=True``: the relativistic *average* GAN (Jolicoeur-Martineau 2018) that ESRGAN
  uses (RaGAN): D judges whether a real image is more realistic than the average fake, and G
  gets gradients from both real and fake images.
- ``gp_weight > 0``: gradient penalty on real/fake interpolates (Gulrajani et al. 2017);
  ``kind=wgan gp_weight=10`` is WGAN-GP.
- ``real_label < 1``: one-sided label smoothing of D's real target (Salimans et al. 2016).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from restorelab.errors import ConfigError
from restorelab.losses.base import AdversarialTerm

GAN_KINDS = ("vanilla", "lsgan", "hinge", "wgan")


class GANLoss(AdversarialTerm):
    """GAN objectives on the discriminator's raw logits, relativistic or not.

    Args:
        weight: weight of the generator-side term (ESRGAN: 5e-3, SRGAN: 1e-3,
            Real-ESRGAN: 0.1).
        kind: ``vanilla``, ``lsgan``, ``hinge`` or ``wgan``.
        real_label: D's target for real images (``vanilla``/``lsgan`` only); below 1 gives
            one-sided label smoothing, e.g. 0.9.
        relativistic: relativistic average GAN (ESRGAN's RaGAN with ``kind=vanilla``); the real
            and fake parts are averaged, as in the ESRGAN authors' code.
        gp_weight: weight of the gradient penalty in D's loss (0: none; WGAN-GP: 10).

    Example:
        >>> d = nn.Sequential(nn.Flatten(), nn.Linear(12, 1))
        >>> term = GANLoss(kind="vanilla", relativistic=True)
        >>> sr, gt = torch.rand(2, 3, 2, 2), torch.rand(2, 3, 2, 2)
        >>> loss_d, logs = term.discriminator_loss(d, sr, gt)
        >>> sorted(logs)
        ['d_fake', 'd_real']
    """

    def __init__(
        self,
        weight: float = 5e-3,
        kind: str = "vanilla",
        real_label: float = 1.0,
        relativistic: bool = False,
        gp_weight: float = 0.0,
    ) -> None:
        super().__init__(weight)
        if kind not in GAN_KINDS:
            raise ConfigError(f"GANLoss: kind={kind!r} unknown; choose from {GAN_KINDS}")
        if not 0.0 < real_label <= 1.0:
            raise ConfigError(f"GANLoss: real_label must be in (0, 1], got {real_label}")
        if real_label != 1.0 and kind not in ("vanilla", "lsgan"):
            raise ConfigError(
                f"GANLoss: real_label={real_label} (label smoothing) needs kind=vanilla or "
                f"lsgan; kind={kind} has no target labels"
            )
        if relativistic and kind == "wgan":
            raise ConfigError(
                "GANLoss: relativistic=true with kind=wgan is the plain WGAN loss again "
                "(the means cancel); use kind=vanilla, lsgan or hinge"
            )
        if gp_weight < 0:
            raise ConfigError(f"GANLoss: gp_weight must be >= 0, got {gp_weight}")
        self.kind = kind
        self.real_label = float(real_label)
        self.relativistic = bool(relativistic)
        self.gp_weight = float(gp_weight)

    # -- the two halves of every objective ------------------------------------------------
    def _as_real(self, logits: Tensor, label: float = 1.0) -> Tensor:
        """Loss for logits that should be judged real."""
        if self.kind == "vanilla":
            return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, label))
        if self.kind == "lsgan":
            return F.mse_loss(logits, torch.full_like(logits, label))
        if self.kind == "hinge":
            return F.relu(1.0 - logits).mean()
        return -logits.mean()  # wgan

    def _as_fake(self, logits: Tensor) -> Tensor:
        """Loss for logits that should be judged fake."""
        if self.kind == "vanilla":
            return F.binary_cross_entropy_with_logits(logits, torch.zeros_like(logits))
        if self.kind == "lsgan":
            # relativistic LSGAN pushes fake-minus-mean-real to -1 (RaLSGAN), plain LSGAN to 0
            target = -1.0 if self.relativistic else 0.0
            return F.mse_loss(logits, torch.full_like(logits, target))
        if self.kind == "hinge":
            return F.relu(1.0 + logits).mean()
        return logits.mean()  # wgan

    # -- generator and discriminator objectives -------------------------------------------
    def generator_loss(self, discriminator: nn.Module, sr: Tensor, gt: Tensor) -> Tensor:
        fake = discriminator(sr).float()
        if not self.relativistic:
            if self.kind in ("hinge", "wgan"):
                return -fake.mean()
            return self._as_real(fake)
        with torch.no_grad():
            real = discriminator(gt).float()
        # roles swapped: G wants fakes above the average real and reals below the average fake
        return 0.5 * (self._as_real(fake - real.mean()) + self._as_fake(real - fake.mean()))

    def discriminator_loss(
        self, discriminator: nn.Module, sr: Tensor, gt: Tensor
    ) -> tuple[Tensor, dict[str, Tensor]]:
        sr = sr.detach()
        real = discriminator(gt).float()
        fake = discriminator(sr).float()
        if self.relativistic:
            loss = 0.5 * (
                self._as_real(real - fake.mean(), self.real_label)
                + self._as_fake(fake - real.mean())
            )
        else:
            loss = self._as_real(real, self.real_label) + self._as_fake(fake)
        logs = {"d_real": real.detach().mean(), "d_fake": fake.detach().mean()}
        if self.gp_weight > 0:
            gp = gradient_penalty(discriminator, gt, sr)
            loss = loss + self.gp_weight * gp
            logs["gp"] = gp.detach()
        return loss, logs

    def extra_repr(self) -> str:
        return (
            f"weight={self.weight}, kind={self.kind}, real_label={self.real_label}, "
            f"relativistic={self.relativistic}, gp_weight={self.gp_weight}"
        )


def gradient_penalty(discriminator: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
    """WGAN-GP penalty ``E[(||grad_x D(x)||_2 - 1)^2]`` at random real/fake interpolates.

    Args:
        discriminator: the critic (its parameters must require grad: the penalty is part of
            D's loss and is differentiated again).
        real: ground-truth batch.
        fake: generated batch (detached), same shape.

    Returns:
        the scalar penalty (float32), differentiable w.r.t. D's parameters.
    """
    eps = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=torch.float32)
    mixed = (eps * real.float() + (1.0 - eps) * fake.detach().float()).requires_grad_(True)
    out = discriminator(mixed).float()
    (grad,) = torch.autograd.grad(out.sum(), mixed, create_graph=True)
    norm = grad.flatten(1).norm(2, dim=1)
    return ((norm - 1.0) ** 2).mean()
