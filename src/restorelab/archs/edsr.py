"""EDSR: enhanced deep residual network for single-image super-resolution."""

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from restorelab.archs._checks import check_scale
from restorelab.archs.msrresnet import ResidualBlockNoBN

_SUPPORTED_SCALES = (2, 3, 4)


class EDSR(nn.Module):
    """Residual blocks without batch norm, a long skip, and pixel-shuffle upsampling.

    The input is mean-shifted and multiplied by ``img_range`` before the first conv (and the
    inverse applied to the output) because the released EDSR weights were trained on 0-255
    images minus the DIV2K mean. The defaults are the EDSR *baseline* (64 features, 16 blocks,
    no residual scaling, 1.5M parameters at x4); the full EDSR uses ``num_feat=256,
    num_block=32, res_scale=0.1`` (43M parameters at x4). Module names follow BasicSR, so its
    EDSR weights load with ``strict=True``; ``mean`` is a non-persistent buffer (it follows
    ``.to(device)`` but is not written to, nor expected in, state dicts, as in BasicSR).

    Args:
        num_in_ch: channels of the input image; must equal ``len(rgb_mean)``.
        num_out_ch: channels of the output image; must equal ``num_in_ch`` (the mean is added
            back to the output).
        num_feat: width of the hidden features.
        num_block: number of residual blocks.
        res_scale: multiplier of each residual branch.
        scale: upsampling factor, one of 2, 3, 4.
        rgb_mean: per-channel mean subtracted from the input (DIV2K RGB mean by default).
        img_range: factor applied after the mean shift (255 to match the released weights).

    Shape:
        - Input: :math:`(B, C_{in}, H, W)`, values in [0, 1].
        - Output: :math:`(B, C_{out}, H \\cdot scale, W \\cdot scale)`.

    Reference:
        Lim et al., "Enhanced Deep Residual Networks for Single Image Super-Resolution",
        CVPRW 2017.

    Example:
        >>> import torch
        >>> net = EDSR(num_feat=8, num_block=2, scale=2)
        >>> net(torch.rand(1, 3, 12, 16)).shape
        torch.Size([1, 3, 24, 32])
    """

    mean: Tensor

    def __init__(
        self,
        num_in_ch: int = 3,
        num_out_ch: int = 3,
        num_feat: int = 64,
        num_block: int = 16,
        res_scale: float = 1.0,
        scale: int = 4,
        rgb_mean: Sequence[float] = (0.4488, 0.4371, 0.4040),
        img_range: float = 255.0,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        check_scale(name, scale, _SUPPORTED_SCALES)
        if not num_in_ch == num_out_ch == len(rgb_mean):
            raise ValueError(
                f"{name}: num_in_ch ({num_in_ch}), num_out_ch ({num_out_ch}) and "
                f"len(rgb_mean) ({len(rgb_mean)}) must be equal"
            )
        self.scale: int = scale
        self.img_range = img_range
        mean = torch.tensor([float(v) for v in rgb_mean]).view(1, -1, 1, 1)
        self.register_buffer("mean", mean, persistent=False)

        self.conv_first = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1)
        self.body = nn.Sequential(
            *(
                ResidualBlockNoBN(num_feat, res_scale=res_scale, pytorch_init=True)
                for _ in range(num_block)
            )
        )
        self.conv_after_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.upsample = _pixel_shuffle_upsampler(scale, num_feat)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        mean = self.mean.to(x.dtype)
        x = (x - mean) * self.img_range
        x = self.conv_first(x)
        res = self.conv_after_body(self.body(x)) + x
        out = self.conv_last(self.upsample(res))
        return out / self.img_range + mean


def _pixel_shuffle_upsampler(scale: int, num_feat: int) -> nn.Sequential:
    """(conv to 4x channels, PixelShuffle(2)) per factor 2, or one (conv 9x, PixelShuffle(3))."""
    layers: list[nn.Module] = []
    if scale == 3:
        layers += [nn.Conv2d(num_feat, 9 * num_feat, 3, 1, 1), nn.PixelShuffle(3)]
    else:
        for _ in range(scale.bit_length() - 1):
            layers += [nn.Conv2d(num_feat, 4 * num_feat, 3, 1, 1), nn.PixelShuffle(2)]
    return nn.Sequential(*layers)
