"""Inference: tiled enhancement of real photos, and exporting trained generators.

``Enhancer`` is the Python API; ``restorelab-enhance`` and ``restorelab-export`` the commands.
"""

from restorelab.inference.enhancer import Enhancer, EnhanceSettings
from restorelab.inference.export import export_model
from restorelab.inference.image_io import Photo, read_photo, write_photo
from restorelab.inference.models import Model, load_model

__all__ = [
    "EnhanceSettings",
    "Enhancer",
    "Model",
    "Photo",
    "export_model",
    "load_model",
    "read_photo",
    "write_photo",
]
