"""SRResNet: the original residual SR generator of SRGAN, with batch norm and PReLU."""

from __future__ import annotations

from torch import Tensor, nn

from restorelab.archs._checks import check_positive, check_scale

_SUPPORTED_SCALES = (2, 4, 8)


class SRResNetBlock(nn.Module):
    """``x + BN(conv(PReLU(BN(conv(x)))))``: the residual block of SRGAN's generator."""

    def __init__(self, num_feat: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(num_feat, num_feat, 3, 1, 1),
            nn.BatchNorm2d(num_feat),
            nn.PReLU(),
            nn.Conv2d(num_feat, num_feat, 3, 1, 1),
            nn.BatchNorm2d(num_feat),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class SRResNet(nn.Module):
    """The SRGAN generator as published: 9x9 head, BN residual blocks, x2 sub-pixel steps.

    Kept for comparison with the paper; :class:`~restorelab.archs.MSRResNet` (no batch norm, a
    bilinear global skip) is the variant BasicSR and ESRGAN found to train better and is the
    better default. Batch norm makes the output depend on batch statistics while training,
    so validate in ``eval()`` mode (Lightning does).

    Args:
        num_in_ch: channels of the input image.
        num_out_ch: channels of the output image.
        num_feat: width of the trunk (64).
        num_block: residual blocks (16).
        scale: upsampling factor, one of 2, 4, 8 (one x2 sub-pixel step per factor 2).

    Shape:
        - Input: :math:`(B, C_{in}, H, W)`, values in [0, 1].
        - Output: :math:`(B, C_{out}, H \\cdot scale, W \\cdot scale)`.

    Reference:
        Ledig et al., "Photo-Realistic Single Image Super-Resolution Using a Generative
        Adversarial Network", CVPR 2017, Fig. 4 (x4: 1.55M parameters).

    Example:
        >>> import torch
        >>> SRResNet(num_feat=8, num_block=1, scale=2)(torch.rand(1, 3, 12, 16)).shape
        torch.Size([1, 3, 24, 32])
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
        self.scale: int = check_scale(name, scale, _SUPPORTED_SCALES)
        check_positive(name, num_feat=num_feat)
        self.head = nn.Sequential(nn.Conv2d(num_in_ch, num_feat, 9, 1, 4), nn.PReLU())
        self.body = nn.Sequential(*(SRResNetBlock(num_feat) for _ in range(num_block)))
        self.body_tail = nn.Sequential(
            nn.Conv2d(num_feat, num_feat, 3, 1, 1), nn.BatchNorm2d(num_feat)
        )
        steps: list[nn.Module] = []
        for _ in range(scale.bit_length() - 1):
            steps += [nn.Conv2d(num_feat, 4 * num_feat, 3, 1, 1), nn.PixelShuffle(2), nn.PReLU()]
        self.upsample = nn.Sequential(*steps)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 9, 1, 4)

    def forward(self, x: Tensor) -> Tensor:
        feat = self.head(x)
        feat = feat + self.body_tail(self.body(feat))
        return self.conv_last(self.upsample(feat))
