"""RRDBNet: the ESRGAN generator built from residual-in-residual dense blocks."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from restorelab.archs._checks import check_scale
from restorelab.archs.msrresnet import scaled_kaiming_init
from restorelab.archs.padding import pad_to_multiple

_SUPPORTED_SCALES = (1, 2, 4)


class ResidualDenseBlock(nn.Module):
    """Five densely connected 3x3 convs whose output, scaled by 0.2, is added to the input.

    Args:
        num_feat: channels in and out.
        num_grow_ch: channels each of the first four convs adds to the dense concatenation.

    Shape:
        - Input: :math:`(B, C, H, W)`; Output: same.
    """

    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_grow_ch, 3, 1, 1)
        self.conv2 = nn.Conv2d(num_feat + num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv3 = nn.Conv2d(num_feat + 2 * num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv4 = nn.Conv2d(num_feat + 3 * num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv5 = nn.Conv2d(num_feat + 4 * num_grow_ch, num_feat, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)
        scaled_kaiming_init([self.conv1, self.conv2, self.conv3, self.conv4, self.conv5], 0.1)

    def forward(self, x: Tensor) -> Tensor:
        x1 = self.lrelu(self.conv1(x))
        x2 = self.lrelu(self.conv2(torch.cat((x, x1), 1)))
        x3 = self.lrelu(self.conv3(torch.cat((x, x1, x2), 1)))
        x4 = self.lrelu(self.conv4(torch.cat((x, x1, x2, x3), 1)))
        x5 = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))
        return x + x5 * 0.2


class RRDB(nn.Module):
    """Three residual dense blocks wrapped in another residual connection scaled by 0.2.

    Args:
        num_feat: channels in and out.
        num_grow_ch: growth channels of each dense block.

    Shape:
        - Input: :math:`(B, C, H, W)`; Output: same.
    """

    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32) -> None:
        super().__init__()
        self.rdb1 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb2 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb3 = ResidualDenseBlock(num_feat, num_grow_ch)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.rdb3(self.rdb2(self.rdb1(x))) * 0.2


class RRDBNet(nn.Module):
    """ESRGAN generator: a deep trunk of RRDBs and two nearest-neighbour x2 upsampling steps.

    Dense connections and residual scaling (0.2) let a very deep network without batch norm
    train stably; the upsampling is nearest interpolation followed by a conv (no pixel shuffle).
    The network always upsamples by 4 internally; for scale 2 and 1 the input is first
    pixel-unshuffled by 2 or 4 (as Real-ESRGAN does), which also makes those models cheaper.
    With pixel-unshuffle the input is padded (reflect) to a multiple of the unshuffle factor
    and the output cropped back, so any input size works. Module names match the ESRGAN /
    Real-ESRGAN releases (BasicSR layout), so their weights load with ``strict=True``.

    Args:
        num_in_ch: channels of the input image.
        num_out_ch: channels of the output image.
        num_feat: width of the trunk.
        num_block: number of RRDBs (23 in ESRGAN, 6 in the Real-ESRGAN anime model).
        num_grow_ch: growth channels of the dense blocks.
        scale: upsampling factor, one of 1, 2, 4.

    Shape:
        - Input: :math:`(B, C_{in}, H, W)`, values in [0, 1].
        - Output: :math:`(B, C_{out}, H \\cdot scale, W \\cdot scale)`.

    Reference:
        Wang et al., "ESRGAN: Enhanced Super-Resolution Generative Adversarial Networks",
        ECCVW 2018 (x4 default: 16.7M parameters); Wang et al., "Real-ESRGAN", ICCVW 2021
        (pixel-unshuffle for x2 and x1).

    Example:
        >>> import torch
        >>> net = RRDBNet(num_feat=8, num_block=1, num_grow_ch=4, scale=4)
        >>> net(torch.rand(1, 3, 12, 16)).shape
        torch.Size([1, 3, 48, 64])
    """

    def __init__(
        self,
        num_in_ch: int = 3,
        num_out_ch: int = 3,
        num_feat: int = 64,
        num_block: int = 23,
        num_grow_ch: int = 32,
        scale: int = 4,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        check_scale(name, scale, _SUPPORTED_SCALES)
        self.scale: int = scale
        self.unshuffle: int = 4 // scale

        self.conv_first = nn.Conv2d(num_in_ch * self.unshuffle**2, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*(RRDB(num_feat, num_grow_ch) for _ in range(num_block)))
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        if self.unshuffle > 1:
            x = pad_to_multiple(x, self.unshuffle)
            x = F.pixel_unshuffle(x, self.unshuffle)
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        feat = self.lrelu(self.conv_up1(F.interpolate(feat, scale_factor=2.0, mode="nearest")))
        feat = self.lrelu(self.conv_up2(F.interpolate(feat, scale_factor=2.0, mode="nearest")))
        out = self.conv_last(self.lrelu(self.conv_hr(feat)))
        return out[..., : h * self.scale, : w * self.scale]
