"""Parameter-free bicubic upsampling, the baseline every restoration table starts from."""

from __future__ import annotations

from torch import Tensor, nn

from restorelab.archs._checks import check_scale
from restorelab.ops.imresize import imresize

_SUPPORTED_SCALES = (1, 2, 3, 4, 8)


class Bicubic(nn.Module):
    """Upsample with MATLAB-compatible bicubic interpolation, as a drop-in generator.

    Plugging the classical baseline into the generator slot lets it be scored through exactly the
    same evaluation path as a trained network (``restorelab-eval generator=bicubic``), so the
    "bicubic" row of a results table is computed with the same cropping, rounding and Y-channel
    conventions as every other row. Scale 1 is the identity, i.e. it scores the degraded input
    itself (useful for denoising or deblurring tasks).

    The module has no parameters and no buffers: ``list(module.parameters())`` is empty, so an
    optimizer cannot be built over it (PyTorch raises on an empty parameter list) and code that
    infers the device from the first parameter must not be used with it. It is meant for
    evaluation only; the training path never optimizes it. Outputs are not clamped (the cubic
    kernel can overshoot [0, 1], as MATLAB's does before conversion to 8 bits).

    Args:
        scale: upsampling factor, one of 1, 2, 3, 4, 8.

    Shape:
        - Input: :math:`(B, C, H, W)`, values in [0, 1].
        - Output: :math:`(B, C, H \\cdot scale, W \\cdot scale)`.

    Reference:
        Keys, "Cubic convolution interpolation for digital image processing", IEEE TASSP 1981
        (kernel with a = -0.5, as MATLAB's ``imresize``).

    Example:
        >>> import torch
        >>> Bicubic(scale=2)(torch.rand(1, 3, 12, 16)).shape
        torch.Size([1, 3, 24, 32])
    """

    def __init__(self, scale: int = 4) -> None:
        super().__init__()
        check_scale(type(self).__name__, scale, _SUPPORTED_SCALES)
        self.scale: int = scale

    def forward(self, x: Tensor) -> Tensor:
        return imresize(x, scale=float(self.scale))

    def extra_repr(self) -> str:
        return f"scale={self.scale}"
