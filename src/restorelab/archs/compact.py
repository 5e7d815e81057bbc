"""SRVGGNetCompact: the small, fast VGG-style generator of Real-ESRGAN."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from restorelab.archs._checks import check_scale

_SUPPORTED_SCALES = (1, 2, 3, 4)
_ACTIVATIONS = ("relu", "prelu", "leakyrelu")
_SKIP_MODES = ("nearest", "bilinear")


class SRVGGNetCompact(nn.Module):
    """Plain stack of 3x3 convolutions that predicts a residual over an upsampled input.

    All convolutions run at the low resolution and a single PixelShuffle produces the output, so
    the network is cheap enough to train and run on a CPU; the skip connection means it only has
    to learn the detail missing from a naive upsampling. This is the architecture of Real-ESRGAN's
    ``realesr-animevideov3`` (16 convs) and ``realesr-general-x4v3`` (32 convs) models, and the
    module and parameter names match those releases so their weights load with ``strict=True``.

    Args:
        num_in_ch: channels of the input image.
        num_out_ch: channels of the output image; must equal ``num_in_ch`` (the skip adds the
            upsampled input to the output).
        num_feat: width of every hidden convolution.
        num_conv: number of hidden (conv + activation) pairs after the first conv.
        scale: upsampling factor, one of 1, 2, 3, 4.
        act_type: ``"relu"``, ``"prelu"`` (one learned slope per channel) or ``"leakyrelu"``
            (slope 0.1).
        upsample_skip: interpolation of the skip connection: ``"nearest"`` (as released by
            Real-ESRGAN) or ``"bilinear"`` (smoother start for training from scratch).

    Shape:
        - Input: :math:`(B, C_{in}, H, W)`, values in [0, 1].
        - Output: :math:`(B, C_{out}, H \\cdot scale, W \\cdot scale)`.

    Reference:
        Wang et al., "Real-ESRGAN: Training Real-World Blind Super-Resolution with Pure Synthetic
        Data", ICCVW 2021; the compact model was published with the Real-ESRGAN code release.

    Example:
        >>> import torch
        >>> net = SRVGGNetCompact(num_feat=8, num_conv=2, scale=2)
        >>> net(torch.rand(1, 3, 12, 16)).shape
        torch.Size([1, 3, 24, 32])
    """

    def __init__(
        self,
        num_in_ch: int = 3,
        num_out_ch: int = 3,
        num_feat: int = 64,
        num_conv: int = 16,
        scale: int = 4,
        act_type: str = "prelu",
        upsample_skip: str = "nearest",
    ) -> None:
        super().__init__()
        name = type(self).__name__
        check_scale(name, scale, _SUPPORTED_SCALES)
        if act_type not in _ACTIVATIONS:
            raise ValueError(f"{name}: act_type {act_type!r} not one of {_ACTIVATIONS}")
        if upsample_skip not in _SKIP_MODES:
            raise ValueError(f"{name}: upsample_skip {upsample_skip!r} not one of {_SKIP_MODES}")
        if num_in_ch != num_out_ch:
            raise ValueError(
                f"{name}: num_in_ch ({num_in_ch}) must equal num_out_ch ({num_out_ch}) "
                "because the upsampled input is added to the output"
            )
        self.scale: int = scale
        self.upsample_skip = upsample_skip

        self.body = nn.ModuleList()
        self.body.append(nn.Conv2d(num_in_ch, num_feat, 3, 1, 1))
        self.body.append(_activation(act_type, num_feat))
        for _ in range(num_conv):
            self.body.append(nn.Conv2d(num_feat, num_feat, 3, 1, 1))
            self.body.append(_activation(act_type, num_feat))
        self.body.append(nn.Conv2d(num_feat, num_out_ch * scale * scale, 3, 1, 1))
        self.upsampler = nn.PixelShuffle(scale)

    def forward(self, x: Tensor) -> Tensor:
        out = x
        for layer in self.body:
            out = layer(out)
        out = self.upsampler(out)
        if self.upsample_skip == "nearest":
            base = F.interpolate(x, scale_factor=float(self.scale), mode="nearest")
        else:
            base = F.interpolate(
                x, scale_factor=float(self.scale), mode="bilinear", align_corners=False
            )
        return out + base


def _activation(act_type: str, num_feat: int) -> nn.Module:
    if act_type == "relu":
        return nn.ReLU(inplace=True)
    if act_type == "prelu":
        return nn.PReLU(num_parameters=num_feat)
    return nn.LeakyReLU(negative_slope=0.1, inplace=True)
