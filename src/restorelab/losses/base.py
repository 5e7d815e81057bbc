"""The two kinds of loss term: content terms ``(sr, gt) -> Tensor`` and adversarial terms.

Every term carries its own ``weight`` so a loss is declared in config as named weighted terms,
and adding a term never needs a new module subclass.
"""

from __future__ import annotations

from torch import Tensor, nn


class LossTerm(nn.Module):
    """A content loss term: ``forward(sr, gt)`` returns the unweighted scalar loss.

    Args:
        weight: multiplier applied by :class:`~restorelab.losses.CompositeLoss`.
    """

    def __init__(self, weight: float = 1.0) -> None:
        super().__init__()
        self.weight = float(weight)

    def forward(self, sr: Tensor, gt: Tensor) -> Tensor:
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"weight={self.weight}"


class AdversarialTerm(nn.Module):
    """An adversarial term: separate generator and discriminator losses.

    Both methods call the discriminator themselves, so terms that need real and fake logits
    together (relativistic GANs) fit the same interface.

    Args:
        weight: multiplier of the generator-side loss in the generator's total.
    """

    def __init__(self, weight: float = 1.0) -> None:
        super().__init__()
        self.weight = float(weight)

    def generator_loss(self, discriminator: nn.Module, sr: Tensor, gt: Tensor) -> Tensor:
        """Loss that pushes the generator's ``sr`` towards being judged real."""
        raise NotImplementedError

    def discriminator_loss(
        self, discriminator: nn.Module, sr: Tensor, gt: Tensor
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Loss that teaches the discriminator to tell ``gt`` (real) from ``sr`` (fake).

        Returns:
            the loss and detached diagnostics (mean real and fake logits).
        """
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"weight={self.weight}"
