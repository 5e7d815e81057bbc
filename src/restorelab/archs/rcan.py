"""RCAN: very deep residual channel-attention network for super-resolution."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from restorelab.archs._checks import ArchConfigError, check_positive, check_scale
from restorelab.archs.edsr import _pixel_shuffle_upsampler

_SUPPORTED_SCALES = (2, 3, 4, 8)


class ChannelAttention(nn.Module):
    """Squeeze-and-excitation: reweight channels by a gate computed from their global mean.

    Args:
        num_feat: channels in and out.
        squeeze_factor: reduction of the bottleneck (16 in RCAN).
    """

    def __init__(self, num_feat: int, squeeze_factor: int = 16) -> None:
        super().__init__()
        self.attention = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(num_feat, num_feat // squeeze_factor, 1, padding=0),
            nn.ReLU(inplace=True),
            nn.Conv2d(num_feat // squeeze_factor, num_feat, 1, padding=0),
            nn.Sigmoid(),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x * self.attention(x)


class RCAB(nn.Module):
    """Residual channel-attention block: conv, ReLU, conv, channel attention, plus the input."""

    def __init__(self, num_feat: int, squeeze_factor: int = 16, res_scale: float = 1.0) -> None:
        super().__init__()
        self.res_scale = res_scale
        self.rcab = nn.Sequential(
            nn.Conv2d(num_feat, num_feat, 3, 1, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(num_feat, num_feat, 3, 1, 1),
            ChannelAttention(num_feat, squeeze_factor),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.rcab(x) * self.res_scale


class ResidualGroup(nn.Module):
    """``num_block`` RCABs and a conv, with a short skip around them (residual in residual)."""

    def __init__(
        self, num_feat: int, num_block: int, squeeze_factor: int = 16, res_scale: float = 1.0
    ) -> None:
        super().__init__()
        self.residual_group = nn.Sequential(
            *(RCAB(num_feat, squeeze_factor, res_scale) for _ in range(num_block))
        )
        self.conv = nn.Conv2d(num_feat, num_feat, 3, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv(self.residual_group(x))


class RCAN(nn.Module):
    """Residual groups of channel-attention blocks, a long skip, and pixel-shuffle upsampling.

    The residual-in-residual structure lets low-frequency information bypass the trunk, so the
    400+ conv layers concentrate on high frequencies; channel attention rescales features by
    their global statistics. Module names follow BasicSR's RCAN (the input is mean-shifted and
    scaled by ``img_range`` as in EDSR; ``mean`` is a non-persistent buffer).

    Args:
        num_in_ch: channels of the input image; must equal ``len(rgb_mean)``.
        num_out_ch: channels of the output image; must equal ``num_in_ch``.
        num_feat: width of the trunk.
        num_group: residual groups (10 in RCAN).
        num_block: RCABs per group (20 in RCAN).
        squeeze_factor: channel-attention reduction (16 in RCAN); must divide ``num_feat``.
        res_scale: multiplier of each RCAB's residual branch.
        scale: upsampling factor, one of 2, 3, 4, 8.
        rgb_mean: per-channel mean subtracted from the input (DIV2K mean).
        img_range: factor applied after the mean shift (255 as in the release).

    Shape:
        - Input: :math:`(B, C_{in}, H, W)`, values in [0, 1].
        - Output: :math:`(B, C_{out}, H \\cdot scale, W \\cdot scale)`.

    Reference:
        Zhang et al., "Image Super-Resolution Using Very Deep Residual Channel Attention
        Networks", ECCV 2018 (x4: 15.6M parameters, "about 16M" in the paper).

    Example:
        >>> import torch
        >>> net = RCAN(num_feat=16, num_group=2, num_block=2, squeeze_factor=4, scale=2)
        >>> net(torch.rand(1, 3, 12, 16)).shape
        torch.Size([1, 3, 24, 32])
    """

    mean: Tensor

    def __init__(
        self,
        num_in_ch: int = 3,
        num_out_ch: int = 3,
        num_feat: int = 64,
        num_group: int = 10,
        num_block: int = 20,
        squeeze_factor: int = 16,
        res_scale: float = 1.0,
        scale: int = 4,
        rgb_mean: Sequence[float] = (0.4488, 0.4371, 0.4040),
        img_range: float = 255.0,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        self.scale: int = check_scale(name, scale, _SUPPORTED_SCALES)
        check_positive(
            name,
            num_feat=num_feat,
            num_group=num_group,
            num_block=num_block,
            squeeze_factor=squeeze_factor,
        )
        if num_feat % squeeze_factor:
            raise ArchConfigError(
                f"{name}: generator.squeeze_factor={squeeze_factor} does not divide "
                f"generator.num_feat={num_feat}"
            )
        if not num_in_ch == num_out_ch == len(rgb_mean):
            raise ArchConfigError(
                f"{name}: generator.num_in_ch ({num_in_ch}), generator.num_out_ch "
                f"({num_out_ch}) and len(generator.rgb_mean) ({len(rgb_mean)}) must be equal"
            )
        self.img_range = img_range
        mean = torch.tensor([float(v) for v in rgb_mean]).view(1, -1, 1, 1)
        self.register_buffer("mean", mean, persistent=False)
        self.conv_first = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1)
        self.body = nn.Sequential(
            *(
                ResidualGroup(num_feat, num_block, squeeze_factor, res_scale)
                for _ in range(num_group)
            )
        )
        self.conv_after_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.upsample = _pixel_shuffle_upsampler(scale, num_feat)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        mean = self.mean.to(x.dtype)
        x = (x - mean) * self.img_range
        feat = self.conv_first(x)
        feat = feat + self.conv_after_body(self.body(feat))
        out = self.conv_last(self.upsample(feat))
        return out / self.img_range + mean
