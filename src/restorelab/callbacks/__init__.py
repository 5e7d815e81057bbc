"""Lightning callbacks and plugins of restorelab."""

from restorelab.callbacks.checkpoint_io import AtomicCheckpointIO, atomic_torch_save
from restorelab.callbacks.image_grid import ImageGridLogger
from restorelab.callbacks.metric_checkpoint import OptionalMetricCheckpoint
from restorelab.callbacks.perceptual_metric import PerceptualMetricLogger

__all__ = [
    "AtomicCheckpointIO",
    "ImageGridLogger",
    "OptionalMetricCheckpoint",
    "PerceptualMetricLogger",
    "atomic_torch_save",
]
