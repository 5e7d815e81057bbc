"""Loss terms and their weighted composition."""

from restorelab.losses.adversarial import GANLoss
from restorelab.losses.base import AdversarialTerm, LossTerm
from restorelab.losses.composite import CompositeLoss
from restorelab.losses.pixel import CharbonnierLoss, L1Loss, MSELoss

__all__ = [
    "AdversarialTerm",
    "CharbonnierLoss",
    "CompositeLoss",
    "GANLoss",
    "L1Loss",
    "LossTerm",
    "MSELoss",
]
