"""MSRResNet: BasicSR's modified SRResNet (no batch norm, bilinear global skip).

Also home of the two pieces shared with EDSR and RRDBNet: the residual block without batch norm
and the down-scaled Kaiming initialisation.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from restorelab.archs._checks import check_scale

_SUPPORTED_SCALES = (2, 3, 4)


@torch.no_grad()
def scaled_kaiming_init(modules: Iterable[nn.Module], scale: float = 1.0) -> None:
    """Kaiming-normal init of every conv/linear weight in ``modules``, multiplied by ``scale``.

    Scaling residual branches down (0.1 in ESRGAN/BasicSR) makes each block start close to the
    identity, which keeps deep residual networks without batch norm stable early in training.
    Biases are set to zero.
    """
    for module in modules:
        for m in module.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)
                m.weight.mul_(scale)
                if m.bias is not None:
                    m.bias.zero_()


class ResidualBlockNoBN(nn.Module):
    """``x + res_scale * conv2(relu(conv1(x)))``, the batch-norm-free block of EDSR.

    Batch norm is dropped because it removes range flexibility from the features and costs
    memory, with no gain for restoration (Lim et al., 2017).

    Args:
        num_feat: channels in and out.
        res_scale: multiplier of the residual branch (0.1 in full EDSR for stability).
        pytorch_init: keep PyTorch's default init (EDSR) instead of Kaiming scaled by 0.1
            (MSRResNet).

    Shape:
        - Input: :math:`(B, C, H, W)`; Output: same.
    """

    def __init__(self, num_feat: int = 64, res_scale: float = 1.0, pytorch_init: bool = False):
        super().__init__()
        self.res_scale = res_scale
        self.conv1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.relu = nn.ReLU(inplace=True)
        if not pytorch_init:
            scaled_kaiming_init([self.conv1, self.conv2], 0.1)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv2(self.relu(self.conv1(x))) * self.res_scale


class MSRResNet(nn.Module):
    """SRResNet without batch norm, with a bilinear-upsampled input added to the output.

    A stack of residual blocks at low resolution, pixel-shuffle upsampling (x2, x3, or two x2
    steps for x4), and a global skip so the network learns only the residual over bilinear
    upsampling. It is BasicSR's standard small PSNR-oriented baseline; module names match BasicSR
    so its released ``MSRResNet`` weights load with ``strict=True``.

    Args:
        num_in_ch: channels of the input image.
        num_out_ch: channels of the output image; must equal ``num_in_ch`` (global skip).
        num_feat: width of the hidden features.
        num_block: number of residual blocks.
        scale: upsampling factor, one of 2, 3, 4.

    Shape:
        - Input: :math:`(B, C_{in}, H, W)`, values in [0, 1].
        - Output: :math:`(B, C_{out}, H \\cdot scale, W \\cdot scale)`.

    Reference:
        Ledig et al., "Photo-Realistic Single Image Super-Resolution Using a Generative
        Adversarial Network" (SRResNet), CVPR 2017; modifications as in Wang et al., "ESRGAN",
        ECCVW 2018, and the BasicSR toolbox. The x4 default has 1,517,571 parameters (1.5M).

    Example:
        >>> import torch
        >>> net = MSRResNet(num_feat=8, num_block=2, scale=3)
        >>> net(torch.rand(1, 3, 12, 16)).shape
        torch.Size([1, 3, 36, 48])
    """

    def __init__(
        self,
        num_in_ch: int = 3,
        num_out_ch: int = 3,
        num_feat: int = 64,
        num_block: int = 16,
        scale: int = 4,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        check_scale(name, scale, _SUPPORTED_SCALES)
        if num_in_ch != num_out_ch:
            raise ValueError(
                f"{name}: num_in_ch ({num_in_ch}) must equal num_out_ch ({num_out_ch}) "
                "because the upsampled input is added to the output"
            )
        self.scale: int = scale

        self.conv_first = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*(ResidualBlockNoBN(num_feat) for _ in range(num_block)))
        self.upconv2: nn.Conv2d | None
        if scale == 4:
            self.upconv1 = nn.Conv2d(num_feat, num_feat * 4, 3, 1, 1)
            self.upconv2 = nn.Conv2d(num_feat, num_feat * 4, 3, 1, 1)
            self.pixel_shuffle = nn.PixelShuffle(2)
        else:
            self.upconv1 = nn.Conv2d(num_feat, num_feat * scale * scale, 3, 1, 1)
            self.upconv2 = None
            self.pixel_shuffle = nn.PixelShuffle(scale)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.1, inplace=True)

        convs = [self.conv_first, self.upconv1, self.upconv2, self.conv_hr, self.conv_last]
        scaled_kaiming_init([m for m in convs if m is not None], 0.1)

    def forward(self, x: Tensor) -> Tensor:
        feat = self.lrelu(self.conv_first(x))
        out = self.body(feat)
        out = self.lrelu(self.pixel_shuffle(self.upconv1(out)))
        if self.upconv2 is not None:
            out = self.lrelu(self.pixel_shuffle(self.upconv2(out)))
        out = self.conv_last(self.lrelu(self.conv_hr(out)))
        base = F.interpolate(
            x, scale_factor=float(self.scale), mode="bilinear", align_corners=False
        )
        return out + base
