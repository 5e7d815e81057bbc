"""Unsharp masking of the ground truth, as Real-ESRGAN does for its pixel and perceptual terms."""

from __future__ import annotations

import kornia
from torch import Tensor, nn

from restorelab.errors import ConfigError


def gaussian_sigma_for(kernel_size: int) -> float:
    """OpenCV's default sigma for a Gaussian kernel of ``kernel_size`` (sigma=0 in cv2)."""
    return 0.3 * ((kernel_size - 1) * 0.5 - 1) + 0.8


class UnsharpMask(nn.Module):
    """Thresholded unsharp masking: ``gt + weight * (gt - blur(gt))`` where edges are.

    Real-ESRGAN (Wang et al. 2021, sec. 4.3) trains against a sharpened ground truth for the
    L1 and perceptual terms (not the adversarial one) to get sharper outputs without the
    overshoot artifacts of sharpening the outputs afterwards. Pixels whose high-frequency
    residual is below ``threshold`` (in 8-bit levels) keep their value; a blurred mask
    blends the two, so no hard seams appear.

    Args:
        radius: Gaussian kernel radius; the kernel is ``2 * radius + 1`` pixels wide with
            OpenCV's default sigma for that size (Real-ESRGAN: radius 50). Borders are
            replicated, so patches smaller than the kernel work too.
        weight: sharpening amount (Real-ESRGAN: 0.5).
        threshold: residual, in 8-bit levels, below which a pixel is left alone (10).

    Shape:
        - Input: :math:`(B, C, H, W)` in [0, 1]; Output: same shape, clamped to [0, 1].
    """

    def __init__(self, radius: int = 50, weight: float = 0.5, threshold: float = 10.0) -> None:
        super().__init__()
        if radius < 1:
            raise ConfigError(f"loss.sharpen_gt.radius must be >= 1, got {radius}")
        self.kernel_size = 2 * int(radius) + 1
        self.sigma = gaussian_sigma_for(self.kernel_size)
        self.weight = float(weight)
        self.threshold = float(threshold)

    def _blur(self, x: Tensor) -> Tensor:
        k = self.kernel_size
        return kornia.filters.gaussian_blur2d(x, (k, k), (self.sigma, self.sigma), "replicate")

    def forward(self, img: Tensor) -> Tensor:
        img = img.float()
        residual = img - self._blur(img)
        mask = (residual.abs() * 255 > self.threshold).float()
        soft = self._blur(mask)
        sharp = (img + self.weight * residual).clamp(0, 1)
        return soft * sharp + (1 - soft) * img

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, sigma={self.sigma:.2f}, weight={self.weight}, "
            f"threshold={self.threshold}"
        )
