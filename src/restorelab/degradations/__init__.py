"""Batched, on-device degradations that synthesize the low-quality input ``lq`` from ``gt``.

A :class:`Degradation` applies an ordered mapping of :class:`Stage` modules (built from the
``degradation`` config group) and owns the random generator they draw from. Each stage is a typed
function plus a thin module that draws its parameters per sample.
"""

from restorelab.degradations.base import DegradationError, Stage
from restorelab.degradations.blur import GaussianBlur, gaussian_blur
from restorelab.degradations.jpeg import JPEG, jpeg_compress
from restorelab.degradations.noise import GaussianNoise, gaussian_noise
from restorelab.degradations.pipeline import Degradation
from restorelab.degradations.resize import BicubicDown, bicubic_down

__all__ = [
    "JPEG",
    "BicubicDown",
    "Degradation",
    "DegradationError",
    "GaussianBlur",
    "GaussianNoise",
    "Stage",
    "bicubic_down",
    "gaussian_blur",
    "gaussian_noise",
    "jpeg_compress",
]
