"""Blur kernels (shape, sum, orientation) and the per-sample filtering that applies them."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from restorelab.degradations import (
    KERNEL_TYPES,
    RandomBlur,
    defocus_kernels,
    filter_per_sample,
    filter_per_sample_separable,
    gaussian_kernels,
    generalized_gaussian_kernels,
    motion_kernels,
    plateau_kernels,
    sinc_kernels,
    usm_sharp,
)
from restorelab.degradations.random_blur import apply_kernels
from restorelab.ops.filtering import support_reach

K = 21


def moments(kernel: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Second moments (xx, yy, xy) of each kernel of a (B, K, K) stack about its centre."""
    half = kernel.shape[-1] // 2
    axis = torch.arange(-half, half + 1, dtype=kernel.dtype)
    y, x = torch.meshgrid(axis, axis, indexing="ij")
    return (
        (kernel * x * x).sum((-2, -1)),
        (kernel * y * y).sum((-2, -1)),
        (kernel * x * y).sum((-2, -1)),
    )


def principal_angle(kernel: Tensor) -> Tensor:
    """Direction (radians, modulo pi) of each kernel's long axis, from its second moments."""
    xx, yy, xy = moments(kernel)
    return 0.5 * torch.atan2(2 * xy, xx - yy)


def angle_error(a: Tensor, b: Tensor) -> Tensor:
    """Distance between two axis directions, modulo pi."""
    d = (a - b) % math.pi
    return torch.minimum(d, math.pi - d)


def all_kernels() -> dict[str, Tensor]:
    b = 4
    sx = torch.tensor([0.5, 1.0, 2.0, 3.0])
    sy = torch.tensor([0.5, 0.7, 1.0, 2.0])
    theta = torch.tensor([0.0, 0.5, 1.0, -2.0])
    size = torch.tensor([7, 11, 15, 21])
    beta = torch.tensor([0.5, 1.0, 2.0, 4.0])
    return {
        "gaussian": gaussian_kernels(sx, sy, theta, size, K),
        "generalized": generalized_gaussian_kernels(sx, sy, theta, beta, size, K),
        "plateau": plateau_kernels(sx, sy, theta, beta.clamp(1, 2), size, K),
        "motion": motion_kernels(torch.tensor([3.0, 8.0, 14.0, 20.0]), theta, K),
        "defocus": defocus_kernels(torch.tensor([1.0, 2.5, 5.0, 10.0]), K),
        "sinc": sinc_kernels(torch.tensor([0.7, 1.2, 2.0, math.pi]), size, K),
        "random": RandomBlur(
            kernel_list=KERNEL_TYPES, kernel_prob=[1 / 8] * 8, sinc_prob=0.2
        ).draw_kernels(b * 8, torch.Generator().manual_seed(0), torch.device("cpu"))[0],
    }


@pytest.mark.parametrize("family", sorted(all_kernels()))
def test_every_kernel_sums_to_one_and_has_the_grid_shape(family: str) -> None:
    kernel = all_kernels()[family]
    assert kernel.shape[-2:] == (K, K)
    assert torch.allclose(kernel.sum((-2, -1)), torch.ones(kernel.shape[0]), atol=1e-5)
    assert torch.isfinite(kernel).all()
    # Centrally symmetric, so correlation and convolution agree (no half-pixel shift).
    assert torch.allclose(kernel, kernel.flip(-1, -2), atol=1e-6)


def test_per_sample_size_cuts_the_support() -> None:
    s = torch.full((3,), 5.0)
    kernel = gaussian_kernels(s, s, torch.zeros(3), torch.tensor([7, 13, 21]), K)
    assert support_reach(kernel).tolist() == [3, 6, 10]
    assert kernel[0, :7].abs().sum() == 0 and kernel[0, 14:].abs().sum() == 0


def test_isotropic_gaussian_has_the_configured_sigma() -> None:
    sigma = torch.tensor([1.0, 2.0])
    kernel = gaussian_kernels(sigma, sigma, torch.zeros(2), torch.tensor([21, 21]), K)
    xx, yy, xy = moments(kernel)
    assert torch.allclose(xx.sqrt(), sigma, rtol=0.02)
    assert torch.allclose(yy, xx, atol=1e-6) and xy.abs().max() < 1e-6


def test_anisotropic_gaussian_points_along_theta() -> None:
    theta = torch.tensor([0.0, math.pi / 4, math.pi / 2, 2.0, -0.6])
    n = len(theta)
    kernel = gaussian_kernels(
        torch.full((n,), 3.0), torch.full((n,), 0.8), theta, torch.full((n,), 21), K
    )
    assert angle_error(principal_angle(kernel), theta).max() < 0.02
    xx, yy, _ = moments(kernel[:1])
    assert xx > 5 * yy  # theta = 0: long along x (image rows)


def test_generalized_and_plateau_shapes() -> None:
    s = torch.full((2,), 2.0)
    z, size = torch.zeros(2), torch.full((2,), 21)
    gauss = gaussian_kernels(s, s, z, size, K)
    same = generalized_gaussian_kernels(s, s, z, torch.ones(2), size, K)
    assert torch.allclose(same, gauss, atol=1e-7)  # beta = 1 is the Gaussian
    peaky, flat = generalized_gaussian_kernels(s, s, z, torch.tensor([0.5, 4.0]), size, K)
    c = K // 2

    def drop(k: Tensor) -> float:  # centre over its neighbour: how pointed the top is
        return float(k[c, c] / k[c, c + 1])

    def tail(k: Tensor) -> float:  # far from the centre over the centre
        return float(k[c, c + 8] / k[c, c])

    # beta < 1: a pointed top and heavy tails; beta > 1: a flat top and no tails.
    assert drop(peaky) > drop(gauss[0]) > drop(flat)
    assert tail(peaky) > tail(gauss[0]) > tail(flat)
    plateau = plateau_kernels(s, s, z, torch.tensor([2.0, 2.0]), size, K)
    assert plateau[0, c, c] == pytest.approx(plateau[0, c, c + 1].item(), rel=0.1)  # flat top


def test_motion_kernel_is_a_line_of_the_right_length_and_direction() -> None:
    length = torch.tensor([10.0, 10.0, 16.0])
    theta = torch.tensor([0.0, math.pi / 2, math.pi / 4])
    kernel = motion_kernels(length, theta, K)
    c = K // 2
    horizontal = kernel[0]
    assert (horizontal.sum(dim=1) > 0).sum() == 1  # a single row...
    assert (horizontal[c] > 0).sum() == 11  # ...10 px long: 11 pixel centres
    assert torch.allclose(kernel[1], horizontal.T, atol=1e-6)  # vertical = transposed
    assert angle_error(principal_angle(kernel), theta).max() < 0.02
    xx, _, _ = moments(kernel[:1])
    assert xx.sqrt().item() == pytest.approx(10 / math.sqrt(12), rel=0.1)  # uniform segment


def test_defocus_kernel_is_a_disk() -> None:
    kernel = defocus_kernels(torch.tensor([4.0]), K)[0]
    c = K // 2
    assert kernel[c, c] == kernel[c, c + 3] == kernel[c + 2, c + 2]  # flat inside
    assert kernel[c, c + 5] == 0 and kernel[c + 4, c + 4] == 0  # zero outside r = 4.5
    assert support_reach(kernel[None]).item() == 4
    xx, yy, xy = moments(kernel[None])
    assert xx.item() == pytest.approx(yy.item()) and abs(xy.item()) < 1e-6


def test_sinc_kernel_rings_and_wider_cutoff_is_sharper() -> None:
    kernel = sinc_kernels(torch.tensor([math.pi / 3, math.pi]), torch.tensor([21, 21]), K)
    assert (kernel[0] < 0).any()  # negative lobes: ringing
    c = K // 2
    assert kernel[1, c, c] > kernel[0, c, c]
    # pi cutoff on a 21 grid is close to the identity
    assert kernel[1, c, c] > 0.7


def reference_filter(x: Tensor, kernel: Tensor) -> Tensor:
    """Image by image, with a plain depthwise convolution."""
    pad = kernel.shape[-1] // 2
    out = []
    for i in range(x.shape[0]):
        w = kernel[i].expand(x.shape[1], 1, -1, -1)
        padded = F.pad(x[i : i + 1], (pad,) * 4, mode="reflect")
        out.append(F.conv2d(padded, w, groups=x.shape[1]))
    return torch.cat(out)


def test_filter_per_sample_matches_one_convolution_per_image() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(5, 3, 30, 40, generator=gen)
    kernel = torch.rand(5, 9, 9, generator=gen)
    kernel = (kernel + kernel.flip(-1, -2)) / 2
    assert torch.allclose(filter_per_sample(x, kernel), reference_filter(x, kernel), atol=1e-5)


def test_separable_filter_equals_dense_outer_product() -> None:
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(3, 3, 32, 24, generator=gen)
    taps = torch.rand(3, 11, generator=gen)
    dense = torch.einsum("bi,bj->bij", taps, taps)
    assert torch.allclose(
        filter_per_sample_separable(x, taps, taps), filter_per_sample(x, dense), atol=1e-5
    )


def test_apply_kernels_skips_unchosen_and_matches_reference() -> None:
    gen = torch.Generator().manual_seed(2)
    stage = RandomBlur(sinc_prob=0.2)
    kernels, separable, profile = stage.draw_kernels(12, gen, torch.device("cpu"))
    assert separable.any() and (~separable).any()
    x = torch.rand(12, 3, 40, 40, generator=gen)
    chosen = torch.arange(12) % 3 != 0
    out = apply_kernels(x, kernels, chosen, separable, profile)
    assert torch.equal(out[~chosen], x[~chosen])
    expected = reference_filter(x[chosen], kernels[chosen])
    assert torch.allclose(out[chosen], expected, atol=1e-5)
    # Only isotropic Gaussians chosen: the two 1-D passes give the same result.
    iso = separable.clone()
    out_iso = apply_kernels(x, kernels, iso, separable, profile)
    assert torch.allclose(out_iso[iso], reference_filter(x[iso], kernels[iso]), atol=1e-5)
    assert torch.equal(out_iso[~iso], x[~iso])
    # Small kernels only: the convolution is cut to their support, same result.
    s = torch.full((2,), 1.0)
    small = gaussian_kernels(s, s, torch.zeros(2), torch.tensor([5, 7]), K)
    both = torch.ones(2, dtype=torch.bool)
    assert torch.allclose(
        apply_kernels(x[:2], small, both), reference_filter(x[:2], small), atol=1e-5
    )


def test_kernel_larger_than_image_is_cut_and_renormalised() -> None:
    x = torch.full((1, 3, 6, 6), 0.3)
    kernel = gaussian_kernels(
        torch.tensor([4.0]), torch.tensor([4.0]), torch.zeros(1), torch.tensor([21]), K
    )
    out = filter_per_sample(x, kernel)
    assert out.shape == x.shape and torch.allclose(out, x, atol=1e-6)  # flat stays flat


def test_usm_separable_equals_dense_51x51_and_sharpens_edges() -> None:
    x = torch.zeros(1, 3, 64, 64)
    x[..., 32:] = 0.8
    x = x + 0.1
    sharp = usm_sharp(x)
    axis = torch.arange(51.0) - 25
    g = torch.exp(-0.5 * (axis / 8.0) ** 2)
    g = g / g.sum()
    dense = torch.outer(g, g)[None]
    blur = filter_per_sample(x, dense)
    residual = x - blur
    mask = filter_per_sample((residual.abs() * 255 > 10).float(), dense)
    expected = mask * (x + 0.5 * residual).clamp(0, 1) + (1 - mask) * x
    assert torch.allclose(sharp, expected, atol=1e-5)
    # Overshoot on both sides of the edge; flat areas far away are untouched.
    assert sharp[0, 0, 10, 30] < x[0, 0, 10, 30] and sharp[0, 0, 10, 33] > x[0, 0, 10, 33]
    assert torch.equal(usm_sharp(torch.full((1, 3, 64, 64), 0.5)), torch.full((1, 3, 64, 64), 0.5))
