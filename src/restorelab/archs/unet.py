"""A standard U-Net for image restoration at scale 1, with a residual output."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from restorelab.archs._checks import ArchConfigError, check_positive, check_scale
from restorelab.archs.padding import pad_to_multiple


class DoubleConv(nn.Sequential):
    """Two 3x3 convolutions, each followed by a leaky ReLU: one U-Net level."""

    def __init__(self, in_ch: int, out_ch: int, negative_slope: float) -> None:
        super().__init__(
            nn.Conv2d(in_ch, out_ch, 3, padding=1),
            nn.LeakyReLU(negative_slope, inplace=True),
            nn.Conv2d(out_ch, out_ch, 3, padding=1),
            nn.LeakyReLU(negative_slope, inplace=True),
        )


class UNet(nn.Module):
    """Encoder-decoder with skip connections that predicts the residual ``sr - lq``.

    ``depth`` times: two 3x3 convs, then 2x2 max pooling and twice the channels; a bottleneck of
    two convs; then ``depth`` times a 2x2 transposed conv that halves the channels, concatenation
    with the encoder features of that level, and two convs. Same-padded convolutions keep the
    size (Ronneberger et al. used unpadded ones and cropped the skips); a final 1x1 conv maps to
    the image channels and the input is added back. With the defaults (64 channels, 4 levels)
    the widths are Ronneberger et al.'s 64-128-256-512-1024 (31.0M parameters). Inputs whose size
    is not a multiple of ``2 ** depth`` are reflect-padded and cropped back.

    Args:
        num_in_ch: channels of the input image.
        num_out_ch: channels of the output image (must equal ``num_in_ch`` for the residual).
        num_feat: channels of the first level.
        depth: number of pooling levels.
        negative_slope: slope of the leaky ReLUs (0 gives a plain ReLU).
        scale: must be 1 (restoration keeps the size); present so the framework can check it.

    Shape:
        - Input: :math:`(B, C, H, W)`, values in [0, 1].
        - Output: :math:`(B, C, H, W)`.

    Reference:
        Ronneberger, Fischer, Brox, "U-Net: Convolutional Networks for Biomedical Image
        Segmentation", MICCAI 2015.

    Example:
        >>> net = UNet(num_feat=8, depth=2)
        >>> net(torch.rand(1, 3, 30, 17)).shape
        torch.Size([1, 3, 30, 17])
    """

    def __init__(
        self,
        num_in_ch: int = 3,
        num_out_ch: int = 3,
        num_feat: int = 64,
        depth: int = 4,
        negative_slope: float = 0.2,
        scale: int = 1,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        self.scale: int = check_scale(name, scale, (1,))
        check_positive(
            name, num_in_ch=num_in_ch, num_out_ch=num_out_ch, num_feat=num_feat, depth=depth
        )
        if num_out_ch != num_in_ch:
            raise ArchConfigError(
                f"{name}: generator.num_out_ch={num_out_ch} must equal generator.num_in_ch="
                f"{num_in_ch} (the input is added to the output)"
            )
        widths = [num_feat * 2**i for i in range(depth + 1)]
        self.encoders = nn.ModuleList()
        in_ch = num_in_ch
        for w in widths[:-1]:
            self.encoders.append(DoubleConv(in_ch, w, negative_slope))
            in_ch = w
        self.bottleneck = DoubleConv(widths[-2], widths[-1], negative_slope)
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for w in reversed(widths[:-1]):
            self.ups.append(nn.ConvTranspose2d(2 * w, w, 2, stride=2))
            self.decoders.append(DoubleConv(2 * w, w, negative_slope))
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 1)
        self.multiple = 2**depth

    def forward(self, lq: Tensor) -> Tensor:
        height, width = lq.shape[-2:]
        x = pad_to_multiple(lq, self.multiple)
        feat = x
        skips = []
        for encoder in self.encoders:
            feat = encoder(feat)
            skips.append(feat)
            feat = F.max_pool2d(feat, 2)
        feat = self.bottleneck(feat)
        for up, decoder, skip in zip(self.ups, self.decoders, reversed(skips), strict=True):
            feat = decoder(torch.cat([up(feat), skip], dim=1))
        out = self.conv_last(feat) + x
        return out[..., :height, :width]

    def extra_repr(self) -> str:
        return f"scale={self.scale}"
