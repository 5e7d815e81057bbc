"""Which stages are kornia's, and the measured reason where ours is kept (the JPEG codec)."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from kornia.enhance import jpeg_codec_differentiable
from kornia.filters import get_gaussian_kernel2d, get_motion_kernel2d
from PIL import Image
from torch import Tensor

from restorelab.data.sources import EmbeddedSource
from restorelab.degradations import RandomBlur, RandomResize, ResizeTo, motion_kernels
from restorelab.degradations.codec import jpeg_codec, quantization_tables
from restorelab.degradations.context import using_gt_size
from restorelab.ops.filtering import support_reach


def photos(size: int = 120, grey: bool = False) -> Tensor:
    """Crops of embedded photographs, on 8-bit levels (not multiples of 16: padding is tested)."""
    source = EmbeddedSource(["astronaut", "chelsea", "coffee"])
    crops = [torch.from_numpy(source[i].gt[:size, :size].copy()) for i in range(len(source))]
    x = torch.stack(crops).permute(0, 3, 1, 2).float() / 255.0
    return x[:, :1].contiguous() if grey else x


def pillow_jpeg(x: Tensor, quality: int) -> Tensor:
    """libjpeg's round trip through Pillow, image by image."""
    out = []
    for image in x:
        array = (image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        array = array[..., 0] if array.shape[-1] == 1 else array
        buffer = io.BytesIO()
        Image.fromarray(array).save(buffer, "JPEG", quality=quality)
        decoded = torch.from_numpy(np.asarray(Image.open(buffer)).copy()).float() / 255.0
        out.append(decoded.permute(2, 0, 1) if decoded.dim() == 3 else decoded[None])
    return torch.stack(out)


def psnr(a: Tensor, b: Tensor) -> float:
    return float(10 * torch.log10(1 / (a - b).pow(2).mean()))


def eight_bit(x: Tensor) -> Tensor:
    return torch.round(x.clamp(0, 1) * 255) / 255


@pytest.mark.parametrize("quality", [10, 30, 50, 75, 95])
def test_jpeg_codec_is_closer_to_libjpeg_than_kornias(quality: int) -> None:
    x = photos()
    reference = pillow_jpeg(x, quality)
    q = torch.full((x.shape[0],), float(quality))
    ours = psnr(eight_bit(jpeg_codec(x, q)), reference)
    theirs = psnr(eight_bit(jpeg_codec_differentiable(x, q)), reference)
    assert ours > 42.0  # measured 42.5 (q 10) to 47 (q 95)
    assert ours > theirs + (0.5 if quality <= 75 else 0.0)  # kornia: 37.8 (q 10) to 46.8 (q 95)
    # kornia's polynomial rounding keeps part of what an encoder drops: too close to the input.
    assert psnr(eight_bit(jpeg_codec(x, q)), x) == pytest.approx(psnr(reference, x), abs=0.3)


def test_grey_jpeg_matches_a_greyscale_libjpeg_file() -> None:
    x = photos(grey=True)
    out = jpeg_codec(x, torch.full((3,), 40.0))
    assert out.shape == x.shape
    assert psnr(eight_bit(out), pillow_jpeg(x, 40)) > 49.0  # measured 50-54 dB


def test_quantization_tables_follow_the_ijg_scaling() -> None:
    luma, chroma = quantization_tables(torch.tensor([50.0, 100.0, 10.0, 0.0]))
    assert luma[0, :8].tolist() == [16, 11, 10, 16, 24, 40, 51, 61]  # quality 50: Annex K
    assert luma[1].eq(1).all() and chroma[1].eq(1).all()  # quality 100: all ones
    assert luma[2, 0] == math.floor((16 * 500 + 50) / 100)  # quality 10: scale 500
    assert luma[3].eq(255).sum() > 0 and torch.equal(
        luma[3], quantization_tables(torch.ones(1))[0][0]
    )


def test_motion_and_isotropic_kernels_are_kornias() -> None:
    # A 10 px motion at 30 degrees (clockwise on screen) is kornia's 11-tap line at -30.
    ours = motion_kernels(torch.tensor([10.0]), torch.tensor([math.radians(30)]), 21)[0]
    theirs = get_motion_kernel2d(11, torch.tensor([-30.0]), torch.tensor([0.0]), "bilinear")[0]
    assert torch.allclose(ours[5:16, 5:16], theirs / theirs.sum(), atol=1e-5)
    assert ours[:5].abs().sum() == 0
    stage = RandomBlur(kernel_list=["iso"], kernel_prob=[1.0], sigma=(1.7, 1.7), size_range=(7, 21))
    generator = torch.Generator().manual_seed(0)
    kernels, separable, _ = stage.draw_kernels(32, generator, torch.device("cpu"))
    assert separable.all()
    full = support_reach(kernels) == 10
    reference = get_gaussian_kernel2d(21, (1.7, 1.7))[0]
    assert full.any() and torch.allclose(kernels[full], reference.expand(int(full.sum()), -1, -1))


def test_resize_is_real_esrgans_interpolate_unless_antialias_is_asked() -> None:
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    generator = torch.Generator().manual_seed(0)
    with using_gt_size(64, 64):
        plain = ResizeTo(scale=4, modes=["bicubic"])(x, generator)
        smooth = ResizeTo(scale=4, modes=["bicubic"], antialias=True)(x, generator)
    expected = F.interpolate(x, size=(16, 16), mode="bicubic", align_corners=False)
    assert torch.equal(plain, expected)
    # Shrinking white noise 4x: without antialiasing each output samples a few inputs and keeps
    # most of their variance; kornia's antialiasing (a Gaussian pre-blur) averages many more.
    assert float(smooth.std()) < 0.5 * float(plain.std())
    stage = RandomResize(updown_prob=[0, 1, 0], scale_range=[0.5, 1], modes=["area"])
    assert stage(x, generator).shape[-1] < 64 and not stage.antialias
