"""Batched, on-device degradations that synthesize the low-quality input ``lq`` from ``gt``.

A :class:`Degradation` applies an ordered mapping of :class:`Stage` modules (built from the
``degradation`` config group) and owns the random generator they draw from. Each stage is a typed
function plus a thin module that draws its parameters per sample.
"""

from restorelab.degradations.base import DegradationError, Stage
from restorelab.degradations.blur import GaussianBlur, gaussian_blur
from restorelab.degradations.build import build_stage
from restorelab.degradations.jpeg import JPEG, jpeg_compress
from restorelab.degradations.kernels import (
    defocus_kernels,
    gaussian_kernels,
    generalized_gaussian_kernels,
    motion_kernels,
    plateau_kernels,
    sinc_kernels,
)
from restorelab.degradations.noise import GaussianNoise, gaussian_noise
from restorelab.degradations.order import RandomOrder
from restorelab.degradations.pipeline import Degradation
from restorelab.degradations.poisson import RandomNoise, poisson_noise
from restorelab.degradations.random_blur import KERNEL_TYPES, RandomBlur
from restorelab.degradations.random_resize import RESIZE_MODES, RandomResize, ResizeTo, resize
from restorelab.degradations.resize import BicubicDown, bicubic_down
from restorelab.degradations.sharpen import USMSharp, usm_sharp
from restorelab.degradations.sinc import SincFilter
from restorelab.ops.filtering import filter_per_sample, filter_per_sample_separable

__all__ = [
    "JPEG",
    "KERNEL_TYPES",
    "RESIZE_MODES",
    "BicubicDown",
    "Degradation",
    "DegradationError",
    "GaussianBlur",
    "GaussianNoise",
    "RandomBlur",
    "RandomNoise",
    "RandomOrder",
    "RandomResize",
    "ResizeTo",
    "SincFilter",
    "Stage",
    "USMSharp",
    "bicubic_down",
    "build_stage",
    "defocus_kernels",
    "filter_per_sample",
    "filter_per_sample_separable",
    "gaussian_blur",
    "gaussian_kernels",
    "gaussian_noise",
    "generalized_gaussian_kernels",
    "jpeg_compress",
    "motion_kernels",
    "plateau_kernels",
    "poisson_noise",
    "resize",
    "sinc_kernels",
    "usm_sharp",
]
