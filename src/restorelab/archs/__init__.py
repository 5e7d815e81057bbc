"""Generators and discriminators: plain ``nn.Module``\\ s built from keyword arguments.

Nothing here imports training code (no Lightning, no Hydra). Every generator maps float images
in [0, 1] of shape ``(B, C, H, W)`` to ``(B, C, H * scale, W * scale)`` and exposes its integer
``scale``; module names follow the original releases so their weights load unchanged.
"""

from restorelab.archs.bicubic import Bicubic
from restorelab.archs.compact import SRVGGNetCompact
from restorelab.archs.edsr import EDSR
from restorelab.archs.espcn import ESPCN
from restorelab.archs.fsrcnn import FSRCNN
from restorelab.archs.msrresnet import MSRResNet
from restorelab.archs.nafnet import NAFNet
from restorelab.archs.patchgan import PatchGANDiscriminator
from restorelab.archs.rcan import RCAN
from restorelab.archs.refine import RefineNet
from restorelab.archs.rrdbnet import RRDBNet
from restorelab.archs.srresnet import SRResNet
from restorelab.archs.swinir import SwinIR
from restorelab.archs.unet import UNet
from restorelab.archs.unet_discriminator import UNetDiscriminatorSN
from restorelab.archs.vgg_discriminator import VGGStyleDiscriminator

__all__ = [
    "EDSR",
    "ESPCN",
    "FSRCNN",
    "RCAN",
    "Bicubic",
    "MSRResNet",
    "NAFNet",
    "PatchGANDiscriminator",
    "RRDBNet",
    "RefineNet",
    "SRResNet",
    "SRVGGNetCompact",
    "SwinIR",
    "UNet",
    "UNetDiscriminatorSN",
    "VGGStyleDiscriminator",
]
