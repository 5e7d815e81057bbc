"""VGG-style discriminator of SRGAN/ESRGAN, made input-size agnostic."""

from __future__ import annotations

from torch import Tensor, nn


class VGGStyleDiscriminator(nn.Module):
    """Strided VGG-style conv stack with batch norm, then two linear layers to one logit.

    Each stage is a 3x3 conv followed by a 4x4 stride-2 conv (both with batch norm except the
    very first conv), doubling the width up to ``8 * num_feat`` and halving the resolution.
    The original network asserts a fixed input size so that the last feature map is exactly
    4x4 before the flatten; here an ``nn.AdaptiveAvgPool2d(4)`` sits before ``linear1``, so any
    patch of at least ``min_input_size`` pixels per side works. For the input size the network
    was built for (128, or 256 with the extra stage) the map is already 4x4, the pooling is the
    identity, and the network equals the original; module names follow BasicSR, so its weights
    load with ``strict=True``.

    Args:
        num_in_ch: channels of the judged image.
        num_feat: width of the first stage.
        input_size: training patch size. Below 256 the network has five stride-2 stages
            (``conv0_*`` .. ``conv4_*``, BasicSR's 128-px layout); from 256 on a sixth stage
            (``conv5_*``) is added, matching BasicSR's 256-px layout.

    Shape:
        - Input: :math:`(B, C_{in}, H, W)` with ``H, W >= min_input_size`` (32, or 64 with the
          sixth stage).
        - Output: :math:`(B, 1)` raw logits (no sigmoid; the adversarial loss applies it).

    Raises:
        ValueError: in ``forward``, for an input smaller than ``min_input_size``.

    Reference:
        Ledig et al., "Photo-Realistic Single Image Super-Resolution Using a Generative
        Adversarial Network", CVPR 2017; Wang et al., "ESRGAN", ECCVW 2018.

    Example:
        >>> import torch
        >>> net = VGGStyleDiscriminator(num_feat=8)
        >>> net(torch.rand(2, 3, 96, 96)).shape
        torch.Size([2, 1])
    """

    def __init__(self, num_in_ch: int = 3, num_feat: int = 64, input_size: int = 128) -> None:
        super().__init__()
        if input_size < 32:
            raise ValueError(
                f"{type(self).__name__}: input_size {input_size} too small (minimum 32 px)"
            )
        self.input_size = input_size
        self.num_stages: int = 6 if input_size >= 256 else 5
        self.min_input_size: int = 2**self.num_stages

        widths = [num_feat, num_feat * 2, num_feat * 4, num_feat * 8, num_feat * 8, num_feat * 8]
        in_ch = num_in_ch
        for i in range(self.num_stages):
            out_ch = widths[i]
            # stage 0's first conv has a bias and no batch norm; every other conv is followed by BN
            self.add_module(f"conv{i}_0", nn.Conv2d(in_ch, out_ch, 3, 1, 1, bias=i == 0))
            if i > 0:
                self.add_module(f"bn{i}_0", nn.BatchNorm2d(out_ch, affine=True))
            self.add_module(f"conv{i}_1", nn.Conv2d(out_ch, out_ch, 4, 2, 1, bias=False))
            self.add_module(f"bn{i}_1", nn.BatchNorm2d(out_ch, affine=True))
            in_ch = out_ch

        self.pool = nn.AdaptiveAvgPool2d(4)
        self.linear1 = nn.Linear(in_ch * 4 * 4, 100)
        self.linear2 = nn.Linear(100, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        if min(h, w) < self.min_input_size:
            raise ValueError(
                f"{type(self).__name__}: input of {h}x{w} px is smaller than the minimum "
                f"{self.min_input_size}x{self.min_input_size} px for {self.num_stages} "
                "stride-2 stages"
            )
        feat = self.lrelu(self.get_submodule("conv0_0")(x))
        feat = self.lrelu(self.get_submodule("bn0_1")(self.get_submodule("conv0_1")(feat)))
        for i in range(1, self.num_stages):
            for j in (0, 1):
                conv, bn = self.get_submodule(f"conv{i}_{j}"), self.get_submodule(f"bn{i}_{j}")
                feat = self.lrelu(bn(conv(feat)))
        feat = self.pool(feat).flatten(1)
        feat = self.lrelu(self.linear1(feat))
        return self.linear2(feat)
