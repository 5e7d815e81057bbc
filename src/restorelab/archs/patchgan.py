"""PatchGAN discriminator of pix2pix: one logit per overlapping image patch."""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn.utils import spectral_norm

from restorelab.archs._checks import ArchConfigError

PATCHGAN_NORMS = ("batch", "instance", "spectral", "none")


class PatchGANDiscriminator(nn.Module):
    """Fully convolutional critic judging every receptive-field patch separately.

    ``n_layers`` stride-2 4x4 convolutions (width doubling up to ``8 * num_feat``), one stride-1
    4x4 convolution, and a final 4x4 convolution to one channel. With ``n_layers=3`` each output
    logit sees a 70x70 patch (the pix2pix default). Fully convolutional, so any input of at
    least ``min_input_size`` (``3 * 2^n_layers``) pixels works; the output grows with the input.

    Args:
        num_in_ch: channels of the judged image.
        num_feat: width of the first convolution.
        n_layers: stride-2 downsampling convolutions.
        norm: ``batch`` (pix2pix), ``instance``, ``spectral`` (spectral-normalised convs, no
            feature norm; safe with a gradient penalty) or ``none``.

    Shape:
        - Input: :math:`(B, C_{in}, H, W)`.
        - Output: :math:`(B, 1, H', W')` raw patch logits, :math:`H' \\approx H / 2^{n} - 2`.

    Reference:
        Isola et al., "Image-to-Image Translation with Conditional Adversarial Networks"
        (pix2pix), CVPR 2017.

    Example:
        >>> import torch
        >>> PatchGANDiscriminator(num_feat=8)(torch.rand(1, 3, 64, 64)).shape
        torch.Size([1, 1, 6, 6])
    """

    def __init__(
        self, num_in_ch: int = 3, num_feat: int = 64, n_layers: int = 3, norm: str = "batch"
    ) -> None:
        super().__init__()
        if norm not in PATCHGAN_NORMS:
            raise ArchConfigError(
                f"PatchGANDiscriminator: discriminator.norm={norm!r} is not one of "
                f"{', '.join(map(repr, PATCHGAN_NORMS))}"
            )
        if n_layers < 1:
            raise ArchConfigError(
                f"PatchGANDiscriminator: discriminator.n_layers must be >= 1, got {n_layers}"
            )
        self.n_layers = int(n_layers)
        # n stride-2 convs divide the size by 2^n; the two stride-1 4x4 convs (padding 1) then
        # shrink it by 1 px each: 3 px must remain for a 1x1 output
        self.min_input_size = 3 * 2**self.n_layers

        def conv(cin: int, cout: int, stride: int, normed: bool) -> list[nn.Module]:
            layer = nn.Conv2d(cin, cout, 4, stride, 1, bias=not normed or norm == "spectral")
            if norm == "spectral":
                return [spectral_norm(layer)]
            if not normed or norm == "none":
                return [layer]
            feat_norm = nn.BatchNorm2d(cout) if norm == "batch" else nn.InstanceNorm2d(cout)
            return [layer, feat_norm]

        layers: list[nn.Module] = [*conv(num_in_ch, num_feat, 2, False), nn.LeakyReLU(0.2)]
        width = num_feat
        for n in range(1, self.n_layers + 1):
            out = num_feat * min(2**n, 8)
            stride = 2 if n < self.n_layers else 1
            layers += [*conv(width, out, stride, True), nn.LeakyReLU(0.2)]
            width = out
        layers.append(nn.Conv2d(width, 1, 4, 1, 1))
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        if min(h, w) < self.min_input_size:
            raise ValueError(
                f"{type(self).__name__}: input of {h}x{w} px is smaller than the minimum "
                f"{self.min_input_size} px for n_layers={self.n_layers}"
            )
        return self.model(x)
