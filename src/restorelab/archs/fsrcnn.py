"""FSRCNN: the fast SRCNN hourglass network, a ~12k-parameter SR baseline."""

from __future__ import annotations

from torch import Tensor, nn

from restorelab.archs._checks import check_positive, check_scale

_SUPPORTED_SCALES = (2, 3, 4)
#: Side of the final deconvolution's kernel (9 in the paper).
_DECONV_KERNEL = 9


class FSRCNN(nn.Module):
    """Feature extraction, shrinking, mapping, expanding, and a strided deconvolution.

    All layers but the last run at low resolution and the 1x1 shrink/expand layers keep the
    mapping narrow, so FSRCNN(d=56, s=12, m=4) has 12.5k weights; only the deconvolution
    depends on the scale, which is what lets the paper switch scales by retraining it alone.

    Args:
        num_in_ch: channels of the input image (1 for Y in the paper; 3 for RGB here).
        num_out_ch: channels of the output image.
        d: width of the feature extraction and expanding layers (56).
        s: width of the shrunk mapping layers (12).
        m: number of 3x3 mapping layers (4).
        scale: upsampling factor, one of 2, 3, 4.

    Shape:
        - Input: :math:`(B, C_{in}, H, W)`, values in [0, 1].
        - Output: :math:`(B, C_{out}, H \\cdot scale, W \\cdot scale)`.

    Reference:
        Dong, Loy, Tang, "Accelerating the Super-Resolution Convolutional Neural Network",
        ECCV 2016 (FSRCNN(56, 12, 4): 12,464 weights, Table 1).

    Example:
        >>> import torch
        >>> FSRCNN(scale=2)(torch.rand(1, 3, 12, 16)).shape
        torch.Size([1, 3, 24, 32])
    """

    def __init__(
        self,
        num_in_ch: int = 3,
        num_out_ch: int = 3,
        d: int = 56,
        s: int = 12,
        m: int = 4,
        scale: int = 4,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        self.scale: int = check_scale(name, scale, _SUPPORTED_SCALES)
        check_positive(name, d=d, s=s)
        layers: list[nn.Module] = [nn.Conv2d(num_in_ch, d, 5, 1, 2), nn.PReLU(d)]
        layers += [nn.Conv2d(d, s, 1), nn.PReLU(s)]
        for _ in range(m):
            layers += [nn.Conv2d(s, s, 3, 1, 1), nn.PReLU(s)]
        layers += [nn.Conv2d(s, d, 1), nn.PReLU(d)]
        self.body = nn.Sequential(*layers)
        pad = _DECONV_KERNEL // 2
        self.deconv = nn.ConvTranspose2d(
            d, num_out_ch, _DECONV_KERNEL, stride=scale, padding=pad, output_padding=scale - 1
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.deconv(self.body(x))
