"""U-Net discriminator with spectral normalization (Real-ESRGAN)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import spectral_norm

from restorelab.archs._checks import ArchConfigError


class UNetDiscriminatorSN(nn.Module):
    """Per-pixel realness logits from a U-Net whose convolutions are spectrally normalised.

    Real-ESRGAN's complex degradations need a critic that judges local texture as well as global
    style: three stride-2 encoder stages, a bilinear-upsampling decoder with skip connections,
    and two extra convolutions, giving one logit per input pixel. Spectral normalization
    (Miyato et al. 2018) stabilises training against the stronger critic. Module names follow
    Real-ESRGAN's release, so its ``net_d`` weights load with ``strict=True``.

    Decoder stages upsample to the exact size of their skip connection, so any input of at
    least ``min_input_size`` pixels works (the original needs multiples of 8).

    Args:
        num_in_ch: channels of the judged image.
        num_feat: width of the first convolution (Real-ESRGAN: 64).
        skip_connection: add encoder features to the decoder (U-Net); False gives a plain
            encoder-decoder.

    Shape:
        - Input: :math:`(B, C_{in}, H, W)`.
        - Output: :math:`(B, 1, H, W)` raw logits.

    Reference:
        Wang et al., "Real-ESRGAN: Training Real-World Blind Super-Resolution with Pure
        Synthetic Data", ICCVW 2021, sec. 3.3.

    Example:
        >>> import torch
        >>> UNetDiscriminatorSN(num_feat=8)(torch.rand(1, 3, 30, 30)).shape
        torch.Size([1, 1, 30, 30])
    """

    min_input_size = 8

    def __init__(self, num_in_ch: int = 3, num_feat: int = 64, skip_connection: bool = True):
        super().__init__()
        if num_feat < 1:
            raise ArchConfigError(
                f"UNetDiscriminatorSN: discriminator.num_feat must be >= 1, got {num_feat}"
            )
        self.skip_connection = bool(skip_connection)
        nf = num_feat
        self.conv0 = nn.Conv2d(num_in_ch, nf, 3, 1, 1)
        # encoder
        self.conv1 = spectral_norm(nn.Conv2d(nf, nf * 2, 4, 2, 1, bias=False))
        self.conv2 = spectral_norm(nn.Conv2d(nf * 2, nf * 4, 4, 2, 1, bias=False))
        self.conv3 = spectral_norm(nn.Conv2d(nf * 4, nf * 8, 4, 2, 1, bias=False))
        # decoder
        self.conv4 = spectral_norm(nn.Conv2d(nf * 8, nf * 4, 3, 1, 1, bias=False))
        self.conv5 = spectral_norm(nn.Conv2d(nf * 4, nf * 2, 3, 1, 1, bias=False))
        self.conv6 = spectral_norm(nn.Conv2d(nf * 2, nf, 3, 1, 1, bias=False))
        # extra convolutions
        self.conv7 = spectral_norm(nn.Conv2d(nf, nf, 3, 1, 1, bias=False))
        self.conv8 = spectral_norm(nn.Conv2d(nf, nf, 3, 1, 1, bias=False))
        self.conv9 = nn.Conv2d(nf, 1, 3, 1, 1)

    @staticmethod
    def _act(x: Tensor) -> Tensor:
        return F.leaky_relu(x, negative_slope=0.2)

    def _up(self, conv: nn.Module, x: Tensor, skip: Tensor) -> Tensor:
        """Upsample ``x`` to ``skip``'s size, convolve, and add the skip connection."""
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        x = self._act(conv(x))
        return x + skip if self.skip_connection else x

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        if min(h, w) < self.min_input_size:
            raise ValueError(
                f"{type(self).__name__}: input of {h}x{w} px is smaller than the minimum "
                f"{self.min_input_size} px (three stride-2 stages)"
            )
        x0 = self._act(self.conv0(x))
        x1 = self._act(self.conv1(x0))
        x2 = self._act(self.conv2(x1))
        x3 = self._act(self.conv3(x2))
        x4 = self._up(self.conv4, x3, x2)
        x5 = self._up(self.conv5, x4, x1)
        x6 = self._up(self.conv6, x5, x0)
        out = self._act(self.conv7(x6))
        out = self._act(self.conv8(out))
        return self.conv9(out)
