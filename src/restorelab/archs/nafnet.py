"""NAFNet: a nonlinear-activation-free U-shaped network for image restoration at scale 1."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from restorelab.archs._checks import ArchConfigError, check_positive, check_scale
from restorelab.archs.padding import pad_to_multiple


class LayerNorm2d(nn.Module):
    """Layer normalisation over the channels of each pixel of a :math:`(B, C, H, W)` map."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        mean = x.mean(dim=1, keepdim=True)
        var = (x - mean).pow(2).mean(dim=1, keepdim=True)
        normed = (x - mean) / torch.sqrt(var + self.eps)
        return normed * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


class SimpleGate(nn.Module):
    """Split the channels in two halves and multiply them: NAFNet's replacement for GELU."""

    def forward(self, x: Tensor) -> Tensor:
        first, second = x.chunk(2, dim=1)
        return first * second


class NAFBlock(nn.Module):
    """NAFNet's block: a gated depthwise-conv branch with simplified channel attention, then a
    gated feed-forward branch, each added back with a learned per-channel scale (zero at init,
    so every block starts as the identity).

    Args:
        c: channels.
        dw_expand: expansion of the depthwise branch (before the gate halves it).
        ffn_expand: expansion of the feed-forward branch.
        drop_out_rate: dropout after each branch.
    """

    def __init__(
        self, c: int, dw_expand: int = 2, ffn_expand: int = 2, drop_out_rate: float = 0.0
    ) -> None:
        super().__init__()
        dw = c * dw_expand
        self.conv1 = nn.Conv2d(c, dw, 1)
        self.conv2 = nn.Conv2d(dw, dw, 3, padding=1, groups=dw)
        self.conv3 = nn.Conv2d(dw // 2, c, 1)
        # Simplified channel attention: global average pooling and one 1x1 conv, no activation.
        self.sca = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(dw // 2, dw // 2, 1))
        self.sg = SimpleGate()
        ffn = c * ffn_expand
        self.conv4 = nn.Conv2d(c, ffn, 1)
        self.conv5 = nn.Conv2d(ffn // 2, c, 1)
        self.norm1 = LayerNorm2d(c)
        self.norm2 = LayerNorm2d(c)
        self.dropout1: nn.Module = nn.Dropout(drop_out_rate) if drop_out_rate > 0 else nn.Identity()
        self.dropout2: nn.Module = nn.Dropout(drop_out_rate) if drop_out_rate > 0 else nn.Identity()
        self.beta = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.gamma = nn.Parameter(torch.zeros(1, c, 1, 1))

    def forward(self, inp: Tensor) -> Tensor:
        x = self.sg(self.conv2(self.conv1(self.norm1(inp))))
        x = self.conv3(x * self.sca(x))
        y = inp + self.dropout1(x) * self.beta
        x = self.conv5(self.sg(self.conv4(self.norm2(y))))
        return y + self.dropout2(x) * self.gamma


class NAFNet(nn.Module):
    """U-shaped restoration network of NAF blocks, with a residual (input + prediction) output.

    Encoder levels halve the resolution with a stride-2 conv and double the channels; decoder
    levels upsample with a 1x1 conv and pixel shuffle and add the encoder's skip. Input sizes that
    are not a multiple of ``2 ** len(enc_blk_nums)`` are reflect-padded and cropped back, so
    whole validation images of any size work.

    Defaults are the NAFNet-width32 configuration for SIDD denoising (``NAFNet-SIDD-width32``:
    width 32, encoder blocks [2, 2, 4, 8], 12 middle blocks, decoder blocks [2, 2, 2, 2]); the
    GoPro deblurring models use width 32/64 with encoder [1, 1, 1, 28], 1 middle block and decoder
    [1, 1, 1, 1]. Module names follow the official release, so its weights load unchanged.

    Args:
        img_channel: channels of the input and output image.
        width: channels of the first level.
        middle_blk_num: blocks at the lowest resolution.
        enc_blk_nums: blocks per encoder level (one level per entry).
        dec_blk_nums: blocks per decoder level (same number of levels).
        dw_expand: expansion of each block's depthwise branch.
        ffn_expand: expansion of each block's feed-forward branch.
        drop_out_rate: dropout inside the blocks.
        scale: must be 1 (restoration keeps the size); present so the framework can check it.

    Shape:
        - Input: :math:`(B, C, H, W)`, values in [0, 1].
        - Output: :math:`(B, C, H, W)`.

    Reference:
        Chen, Chu, Zhang, Sun, "Simple Baselines for Image Restoration", ECCV 2022.

    Example:
        >>> net = NAFNet(width=8, middle_blk_num=1, enc_blk_nums=[1, 1], dec_blk_nums=[1, 1])
        >>> net(torch.rand(1, 3, 30, 17)).shape
        torch.Size([1, 3, 30, 17])
    """

    def __init__(
        self,
        img_channel: int = 3,
        width: int = 32,
        middle_blk_num: int = 12,
        enc_blk_nums: Sequence[int] = (2, 2, 4, 8),
        dec_blk_nums: Sequence[int] = (2, 2, 2, 2),
        dw_expand: int = 2,
        ffn_expand: int = 2,
        drop_out_rate: float = 0.0,
        scale: int = 1,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        self.scale: int = check_scale(name, scale, (1,))
        check_positive(name, img_channel=img_channel, width=width)
        enc = [int(n) for n in enc_blk_nums]
        dec = [int(n) for n in dec_blk_nums]
        if len(enc) != len(dec):
            raise ArchConfigError(
                f"{name}: generator.enc_blk_nums ({len(enc)} levels) and generator.dec_blk_nums "
                f"({len(dec)} levels) must have the same length"
            )
        if any(n < 0 for n in [*enc, *dec, middle_blk_num]):
            raise ArchConfigError(f"{name}: block counts must be >= 0")

        def blocks(channels: int, count: int) -> nn.Sequential:
            return nn.Sequential(
                *[NAFBlock(channels, dw_expand, ffn_expand, drop_out_rate) for _ in range(count)]
            )

        self.intro = nn.Conv2d(img_channel, width, 3, padding=1)
        self.ending = nn.Conv2d(width, img_channel, 3, padding=1)
        self.encoders = nn.ModuleList()
        self.downs = nn.ModuleList()
        chan = width
        for count in enc:
            self.encoders.append(blocks(chan, count))
            self.downs.append(nn.Conv2d(chan, 2 * chan, 2, stride=2))
            chan *= 2
        self.middle_blks = blocks(chan, middle_blk_num)
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for count in dec:
            self.ups.append(
                nn.Sequential(nn.Conv2d(chan, chan * 2, 1, bias=False), nn.PixelShuffle(2))
            )
            chan //= 2
            self.decoders.append(blocks(chan, count))
        self.padder_size = 2 ** len(enc)

    def forward(self, inp: Tensor) -> Tensor:
        height, width = inp.shape[-2:]
        x = pad_to_multiple(inp, self.padder_size)
        feat = self.intro(x)
        skips = []
        for encoder, down in zip(self.encoders, self.downs, strict=True):
            feat = encoder(feat)
            skips.append(feat)
            feat = down(feat)
        feat = self.middle_blks(feat)
        for decoder, up, skip in zip(self.decoders, self.ups, reversed(skips), strict=True):
            feat = decoder(up(feat) + skip)
        out = self.ending(feat) + x
        return out[..., :height, :width]

    def extra_repr(self) -> str:
        return f"scale={self.scale}"
