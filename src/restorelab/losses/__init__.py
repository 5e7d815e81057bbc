"""Loss terms and their weighted composition."""

from restorelab.losses.adversarial import GANLoss, gradient_penalty
from restorelab.losses.base import AdversarialTerm, LossTerm
from restorelab.losses.composite import CompositeLoss
from restorelab.losses.frequency import FFTLoss
from restorelab.losses.gradient import EdgeLoss, TVLoss
from restorelab.losses.perceptual import PerceptualLoss
from restorelab.losses.pixel import CharbonnierLoss, L1Loss, MSELoss
from restorelab.losses.sharpen import UnsharpMask
from restorelab.losses.structural import MSSSIMLoss, SSIMLoss
from restorelab.losses.vgg import VGGFeatureExtractor

__all__ = [
    "AdversarialTerm",
    "CharbonnierLoss",
    "CompositeLoss",
    "EdgeLoss",
    "FFTLoss",
    "GANLoss",
    "L1Loss",
    "LossTerm",
    "MSELoss",
    "MSSSIMLoss",
    "PerceptualLoss",
    "SSIMLoss",
    "TVLoss",
    "UnsharpMask",
    "VGGFeatureExtractor",
    "gradient_penalty",
]
