"""ESPCN: the efficient sub-pixel convolutional network, a tiny real-time SR baseline."""

from __future__ import annotations

from torch import Tensor, nn

from restorelab.archs._checks import check_positive, check_scale

_SUPPORTED_SCALES = (2, 3, 4)


class ESPCN(nn.Module):
    """Three convolutions at low resolution and one sub-pixel (PixelShuffle) upsampling step.

    Working entirely at the input resolution makes it cheap enough for real-time video SR;
    it is the smallest learned baseline here and trains in seconds on a CPU.

    Args:
        num_in_ch: channels of the input image (the paper super-resolves the Y channel only:
            1; restorelab feeds RGB: 3).
        num_out_ch: channels of the output image.
        num_feat: width of the first conv (64 in the paper).
        num_feat2: width of the second conv (32 in the paper).
        scale: upsampling factor, one of 2, 3, 4.

    Shape:
        - Input: :math:`(B, C_{in}, H, W)`, values in [0, 1].
        - Output: :math:`(B, C_{out}, H \\cdot scale, W \\cdot scale)`.

    Reference:
        Shi et al., "Real-Time Single Image and Video Super-Resolution Using an Efficient
        Sub-Pixel Convolutional Neural Network", CVPR 2016 (l=3, (f1,n1)=(5,64),
        (f2,n2)=(3,32), f3=3, tanh).

    Example:
        >>> import torch
        >>> ESPCN(scale=3)(torch.rand(1, 3, 12, 16)).shape
        torch.Size([1, 3, 36, 48])
    """

    def __init__(
        self,
        num_in_ch: int = 3,
        num_out_ch: int = 3,
        num_feat: int = 64,
        num_feat2: int = 32,
        scale: int = 4,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        self.scale: int = check_scale(name, scale, _SUPPORTED_SCALES)
        check_positive(name, num_feat=num_feat, num_feat2=num_feat2)
        self.conv1 = nn.Conv2d(num_in_ch, num_feat, 5, 1, 2)
        self.conv2 = nn.Conv2d(num_feat, num_feat2, 3, 1, 1)
        self.conv3 = nn.Conv2d(num_feat2, num_out_ch * scale * scale, 3, 1, 1)
        self.act = nn.Tanh()
        self.pixel_shuffle = nn.PixelShuffle(scale)

    def forward(self, x: Tensor) -> Tensor:
        feat = self.act(self.conv2(self.act(self.conv1(x))))
        return self.pixel_shuffle(self.conv3(feat))
