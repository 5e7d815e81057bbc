"""Generators and discriminators: plain ``nn.Module``\\ s built from keyword arguments.

Nothing here imports training code (no Lightning, no Hydra). Every generator maps float images
in [0, 1] of shape ``(B, C, H, W)`` to ``(B, C, H * scale, W * scale)`` and exposes its integer
``scale``; module names follow the original releases so their weights load unchanged.
"""

from restorelab.archs.bicubic import Bicubic
from restorelab.archs.compact import SRVGGNetCompact
from restorelab.archs.edsr import EDSR
from restorelab.archs.msrresnet import MSRResNet
from restorelab.archs.rrdbnet import RRDBNet
from restorelab.archs.vgg_discriminator import VGGStyleDiscriminator

__all__ = [
    "EDSR",
    "Bicubic",
    "MSRResNet",
    "RRDBNet",
    "SRVGGNetCompact",
    "VGGStyleDiscriminator",
]
