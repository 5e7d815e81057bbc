"""Unsharp masking of the ground truth, as Real-ESRGAN does for its pixel and perceptual terms."""

from __future__ import annotations

from torch import Tensor, nn

from restorelab.errors import ConfigError
from restorelab.ops.sharpen import usm_sharp


class UnsharpMask(nn.Module):
    """Thresholded unsharp masking of the content terms' target.

    Real-ESRGAN (Wang et al. 2021, sec. 4.3) trains against a sharpened ground truth for the
    L1 and perceptual terms (not the adversarial one) to get sharper outputs without the
    overshoot artifacts of sharpening the outputs afterwards. The sharpening itself is
    :func:`restorelab.ops.sharpen.usm_sharp`, the same one the ``realesrgan``
    degradation applies before degrading, so target and input see one definition.

    Args:
        kernel_size: odd Gaussian width (BasicSR ``USMSharp(radius=50)``: 51 taps).
        sigma: its standard deviation (OpenCV's default for 51 taps: 8).
        weight: sharpening amount (Real-ESRGAN: 0.5).
        threshold: residual, in 8-bit levels, below which a pixel is left alone (10).

    Shape:
        - Input: :math:`(B, C, H, W)` in [0, 1], ``H, W > kernel_size // 2`` (reflected borders);
          Output: same shape, clamped to [0, 1].
    """

    def __init__(
        self,
        kernel_size: int = 51,
        sigma: float = 8.0,
        weight: float = 0.5,
        threshold: float = 10.0,
    ) -> None:
        super().__init__()
        if kernel_size < 3 or kernel_size % 2 == 0:
            raise ConfigError(
                f"loss.sharpen_gt.kernel_size must be odd and >= 3, got {kernel_size}"
            )
        if sigma <= 0:
            raise ConfigError(f"loss.sharpen_gt.sigma must be > 0, got {sigma}")
        self.kernel_size = int(kernel_size)
        self.sigma = float(sigma)
        self.weight = float(weight)
        self.threshold = float(threshold)

    def forward(self, img: Tensor) -> Tensor:
        return usm_sharp(img.float(), self.kernel_size, self.sigma, self.weight, self.threshold)

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, sigma={self.sigma}, weight={self.weight}, "
            f"threshold={self.threshold}"
        )
