"""A loss as a weighted sum of named terms declared in config."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from restorelab.errors import ConfigError
from restorelab.losses.base import AdversarialTerm, LossTerm


class CompositeLoss(nn.Module):
    """Weighted sum of named terms; returns the total and each term for logging.

    Args:
        terms: name -> term (content :class:`LossTerm` or :class:`AdversarialTerm`); the
            names become the logged keys (``train/<name>``).
        sharpen_gt: optional transform of the ground truth seen by the *content* terms only
            (e.g. :class:`~restorelab.losses.UnsharpMask`, as Real-ESRGAN does for its pixel
            and perceptual terms); adversarial terms and D always see the real ground truth.

    Example:
        >>> from restorelab.losses import CompositeLoss, L1Loss
        >>> loss = CompositeLoss({"l1": L1Loss(weight=1.0)})
        >>> total, parts = loss.generator(torch.zeros(1, 3, 4, 4), torch.ones(1, 3, 4, 4))
        >>> float(total), float(parts["l1"])
        (1.0, 1.0)
    """

    def __init__(self, terms: Mapping[str, nn.Module], sharpen_gt: nn.Module | None = None) -> None:
        super().__init__()
        if not terms:
            raise ConfigError("loss.terms is empty: declare at least one loss term")
        for name, term in terms.items():
            if not isinstance(term, LossTerm | AdversarialTerm):
                raise ConfigError(
                    f"loss.terms.{name}: {type(term).__name__} is not a LossTerm or AdversarialTerm"
                )
        self.terms = nn.ModuleDict(dict(terms))
        self.sharpen_gt = sharpen_gt

    @property
    def adversarial(self) -> dict[str, AdversarialTerm]:
        """The adversarial terms (need a discriminator)."""
        return {n: t for n, t in self.terms.items() if isinstance(t, AdversarialTerm)}

    def content_target(self, gt: Tensor) -> Tensor:
        """The ground truth the content terms compare against (sharpened when configured)."""
        if self.sharpen_gt is None:
            return gt
        with torch.no_grad():
            return self.sharpen_gt(gt).to(gt.dtype)

    def generator(
        self,
        sr: Tensor,
        gt: Tensor,
        discriminator: nn.Module | None = None,
        content_gt: Tensor | None = None,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Generator objective: every content term, plus adversarial terms when D is given.

        Args:
            sr: generator output.
            gt: ground truth (what D sees as real).
            discriminator: the critic; without it adversarial terms are skipped (pixel-only
                training, or before ``d_start_step``).
            content_gt: precomputed :meth:`content_target` of ``gt`` (saves re-sharpening when
                the loss is applied to several outputs of one batch).

        Returns:
            the weighted total and the unweighted value of each term (detached).
        """
        total = sr.new_zeros((), dtype=torch.float32)
        parts: dict[str, Tensor] = {}
        target = self.content_target(gt) if content_gt is None else content_gt
        for name, term in self.terms.items():
            if isinstance(term, AdversarialTerm):
                if discriminator is None:
                    continue
                value = term.generator_loss(discriminator, sr, gt)
            else:
                value = term(sr, target)
            total = total + float(term.weight) * value.float()  # type: ignore[arg-type]
            parts[name] = value.detach()
        return total, parts

    def discriminator(
        self, discriminator: nn.Module, sr: Tensor, gt: Tensor
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Discriminator objective: the sum of the adversarial terms' D losses.

        Returns:
            the total and, per term ``<name>``: ``<name>_d`` (its D loss), ``<name>_d_real``
            and ``<name>_d_fake`` (mean logits on real and generated images), plus
            ``<name>_gp`` with a gradient penalty.
        """
        total = sr.new_zeros((), dtype=torch.float32)
        parts: dict[str, Tensor] = {}
        for name, term in self.adversarial.items():
            value, logs = term.discriminator_loss(discriminator, sr, gt)
            total = total + value.float()
            parts[f"{name}_d"] = value.detach()
            parts.update({f"{name}_{k}": v for k, v in logs.items()})
        return total, parts
