"""Lightning callbacks and plugins of restorelab."""

from restorelab.training.callbacks.checkpoint_io import AtomicCheckpointIO, atomic_torch_save
from restorelab.training.callbacks.degradation_stats import DegradationStatsLogger
from restorelab.training.callbacks.image_grid import ImageGridLogger
from restorelab.training.callbacks.metric_checkpoint import OptionalMetricCheckpoint
from restorelab.training.callbacks.perceptual_metric import PerceptualMetricLogger

__all__ = [
    "AtomicCheckpointIO",
    "DegradationStatsLogger",
    "ImageGridLogger",
    "OptionalMetricCheckpoint",
    "PerceptualMetricLogger",
    "atomic_torch_save",
]
