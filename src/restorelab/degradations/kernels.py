"""Batched blur-kernel generators: one kernel per sample, drawn on the device.

Every function returns a stack of kernels of shape :math:`(B, K, K)` on a common odd grid of side
``K`` that sums to one per sample. A per-sample ``size`` (odd, at most ``K``) zeroes the kernel
outside its own centred ``size x size`` square, which is how Real-ESRGAN draws kernels of random
size (7..21) and pads them to 21 (Wang et al. 2021, "Real-ESRGAN", Sec. 3.2). Computing all the
kernels of a batch as one tensor expression, instead of one NumPy call per sample in data workers,
is what makes them cheap to draw on the device.

Kernel families (Real-ESRGAN's plus the two classical camera blurs):

- ``gaussian_kernels``: anisotropic Gaussian, isotropic when ``sigma_x == sigma_y``.
- ``generalized_gaussian_kernels``: :math:`\\exp(-\\tfrac12 q^\\beta)` with :math:`q` the
  Gaussian's quadratic form (sharper or flatter tops than a Gaussian).
- ``plateau_kernels``: :math:`1 / (1 + q^\\beta)`, a flat top with heavy tails.
- ``motion_kernels``: kornia's line kernel (linear camera shake).
- ``defocus_kernels``: an anti-aliased disk (out-of-focus lens).
- ``sinc_kernels``: the circular ideal low-pass filter, whose ringing and overshoot mimic
  sharpening halos and over-shoot artifacts.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from kornia.filters import get_motion_kernel2d
from torch import Tensor

#: Relative weight below which a rotated motion kernel's tap is float noise of the rotation.
_ROTATION_NOISE = 1e-5

__all__ = [
    "defocus_kernels",
    "gaussian_kernels",
    "generalized_gaussian_kernels",
    "grid",
    "motion_kernels",
    "normalize",
    "plateau_kernels",
    "quadratic_form",
    "sinc_kernels",
    "size_mask",
]


def grid(kernel_size: int, device: torch.device, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """Pixel offsets ``(x, y)`` from the centre of a ``kernel_size`` square, each :math:`(K, K)`.

    ``x`` grows to the right and ``y`` downwards (image coordinates).
    """
    half = kernel_size // 2
    axis = torch.arange(-half, half + 1, device=device, dtype=dtype)
    y, x = torch.meshgrid(axis, axis, indexing="ij")
    return x, y


def size_mask(size: Tensor, kernel_size: int, dtype: torch.dtype) -> Tensor:
    """1 inside each sample's centred ``size x size`` square, 0 outside: :math:`(B, K, K)`."""
    x, y = grid(kernel_size, size.device, dtype)
    half = (size.to(dtype) // 2).view(-1, 1, 1)
    return ((x.abs() <= half) & (y.abs() <= half)).to(dtype)


def normalize(kernel: Tensor) -> Tensor:
    """Scale each kernel of a :math:`(B, K, K)` stack to sum to one."""
    return kernel / kernel.sum(dim=(-2, -1), keepdim=True)


def quadratic_form(sigma_x: Tensor, sigma_y: Tensor, theta: Tensor, kernel_size: int) -> Tensor:
    r"""The quadratic form :math:`q = [x, y]\,\Sigma^{-1}[x, y]^T` of a rotated Gaussian.

    One :math:`(K, K)` map per sample, stacked to :math:`(B, K, K)`.

    :math:`\Sigma = R(\theta)\,\mathrm{diag}(\sigma_x^2, \sigma_y^2)\,R(\theta)^T`: the kernel's
    long axis (for :math:`\sigma_x > \sigma_y`) points at angle ``theta`` (radians, counter-
    clockwise from the x axis with y pointing down, i.e. clockwise on screen).
    """
    dtype = sigma_x.dtype
    x, y = grid(kernel_size, sigma_x.device, dtype)
    cos = torch.cos(theta).view(-1, 1, 1)
    sin = torch.sin(theta).view(-1, 1, 1)
    # Coordinates in the kernel's own frame: along and across its principal axes.
    along = cos * x + sin * y
    across = -sin * x + cos * y
    return (along / sigma_x.view(-1, 1, 1)) ** 2 + (across / sigma_y.view(-1, 1, 1)) ** 2


def gaussian_kernels(
    sigma_x: Tensor, sigma_y: Tensor, theta: Tensor, size: Tensor, kernel_size: int
) -> Tensor:
    r"""Anisotropic Gaussian kernels :math:`\exp(-q/2)`, one per sample.

    Args:
        sigma_x: standard deviation along the principal axis, :math:`(B,)`, positive.
        sigma_y: standard deviation across it, :math:`(B,)`, positive.
        theta: angle of the principal axis in radians, :math:`(B,)`.
        size: odd support of each kernel, :math:`(B,)`, at most ``kernel_size``.
        kernel_size: odd side of the common grid.

    Returns:
        :math:`(B, K, K)` kernels, each summing to one.

    Example:
        >>> s = torch.tensor([1.0, 2.0])
        >>> k = gaussian_kernels(s, s, torch.zeros(2), torch.tensor([7, 21]), 21)
        >>> k.shape, bool(torch.allclose(k.sum(dim=(1, 2)), torch.ones(2)))
        (torch.Size([2, 21, 21]), True)
    """
    q = quadratic_form(sigma_x, sigma_y, theta, kernel_size)
    return normalize(torch.exp(-0.5 * q) * size_mask(size, kernel_size, q.dtype))


def generalized_gaussian_kernels(
    sigma_x: Tensor, sigma_y: Tensor, theta: Tensor, beta: Tensor, size: Tensor, kernel_size: int
) -> Tensor:
    r"""Generalized Gaussian kernels :math:`\exp(-\tfrac12 q^\beta)` (Real-ESRGAN eq. 2).

    ``beta < 1`` gives a peaky kernel with long tails, ``beta > 1`` a flat top with a sharp
    fall-off; ``beta = 1`` is the Gaussian. Other arguments as :func:`gaussian_kernels`.
    """
    q = quadratic_form(sigma_x, sigma_y, theta, kernel_size)
    kernel = torch.exp(-0.5 * q.pow(beta.view(-1, 1, 1)))
    return normalize(kernel * size_mask(size, kernel_size, q.dtype))


def plateau_kernels(
    sigma_x: Tensor, sigma_y: Tensor, theta: Tensor, beta: Tensor, size: Tensor, kernel_size: int
) -> Tensor:
    r"""Plateau-shaped kernels :math:`1 / (1 + q^\beta)` (Real-ESRGAN eq. 3).

    Other arguments as :func:`gaussian_kernels`.
    """
    q = quadratic_form(sigma_x, sigma_y, theta, kernel_size)
    kernel = torch.reciprocal(q.pow(beta.view(-1, 1, 1)) + 1.0)
    return normalize(kernel * size_mask(size, kernel_size, q.dtype))


def motion_kernels(length: Tensor, theta: Tensor, kernel_size: int) -> Tensor:
    """Linear motion-blur kernels: kornia's line kernels, one per sample, on a common grid.

    Each kernel is :func:`kornia.filters.get_motion_kernel2d`: a uniform line through the centre
    covering ``2 * round(length / 2) + 1`` pixel centres (the odd support kornia needs; at least
    3, at most ``kernel_size``), rotated with bilinear interpolation to the direction ``theta``
    and normalised. Samples are grouped by support (one kornia call per distinct one) and the
    kernels zero-padded to the ``kernel_size`` grid.

    Args:
        length: length of the path in pixels, :math:`(B,)`, at most ``kernel_size - 1``.
        theta: direction in radians, :math:`(B,)` (0 is horizontal, growing clockwise on screen
            as the other kernels' angles do, with y pointing down).
        kernel_size: odd side of the grid.

    Returns:
        :math:`(B, K, K)` kernels, each summing to one.

    Example:
        >>> k = motion_kernels(torch.tensor([10.0]), torch.tensor([0.0]), 15)
        >>> int((k[0].sum(dim=1) > 0).sum())  # a horizontal line covers one row
        1
    """
    support = (2 * torch.round(length / 2) + 1).clamp(3, kernel_size).to(torch.long)
    # kornia's angle is in degrees, counter-clockwise on screen: the opposite turn of theta.
    angle = torch.rad2deg(-theta).to(length.dtype)
    kernels = length.new_zeros((length.shape[0], kernel_size, kernel_size))
    for size in sorted(set(support.tolist())):
        rows = (support == size).nonzero().squeeze(1)
        lines = get_motion_kernel2d(size, angle[rows], torch.zeros_like(angle[rows]), "bilinear")
        # Bilinear rotation by a multiple of 90 degrees leaks float noise (~1e-8) into the
        # neighbouring rows; drop it, so a horizontal line stays exactly one row.
        lines = torch.where(lines > _ROTATION_NOISE * lines.amax((-2, -1), keepdim=True), lines, 0)
        pad = (kernel_size - size) // 2
        kernels[rows] = F.pad(lines.to(length.dtype), (pad, pad, pad, pad))
    return normalize(kernels)


def defocus_kernels(radius: Tensor, kernel_size: int) -> Tensor:
    """Defocus (disk) kernels with anti-aliased rims.

    A pixel's weight is its approximate coverage by the disk, ``clamp(radius + 0.5 - r, 0, 1)``.

    Args:
        radius: disk radius in pixels, :math:`(B,)`, at most ``kernel_size // 2``.
        kernel_size: odd side of the grid.

    Returns:
        :math:`(B, K, K)` kernels, each summing to one.
    """
    x, y = grid(kernel_size, radius.device, radius.dtype)
    r = torch.sqrt(x**2 + y**2)
    return normalize((radius.view(-1, 1, 1) + 0.5 - r).clamp(0.0, 1.0))


def sinc_kernels(omega: Tensor, size: Tensor, kernel_size: int) -> Tensor:
    r"""Circular low-pass (2-D sinc) kernels with cutoff ``omega``, one per sample.

    :math:`k(r) = \omega J_1(\omega r) / (2 \pi r)`, :math:`k(0) = \omega^2 / (4 \pi)`, cut to each
    sample's ``size`` square and normalised (Real-ESRGAN eq. 4). The smaller the cutoff, the
    stronger the blur and the ringing.

    Args:
        omega: cutoff frequency in radians per pixel, :math:`(B,)`, in :math:`(0, \pi]`.
        size: odd support of each kernel, :math:`(B,)`.
        kernel_size: odd side of the common grid.

    Returns:
        :math:`(B, K, K)` kernels, each summing to one (with negative lobes).
    """
    x, y = grid(kernel_size, omega.device, omega.dtype)
    r = torch.sqrt(x**2 + y**2)
    w = omega.view(-1, 1, 1)
    safe_r = torch.where(r == 0, torch.ones_like(r), r)
    kernel = w * torch.special.bessel_j1(w * safe_r) / (2 * math.pi * safe_r)
    kernel = torch.where(r == 0, w**2 / (4 * math.pi), kernel)
    return normalize(kernel * size_mask(size, kernel_size, omega.dtype))
