"""Lightning callbacks and plugins of restorelab."""

from restorelab.callbacks.checkpoint_io import AtomicCheckpointIO, atomic_torch_save
from restorelab.callbacks.image_grid import ImageGridLogger

__all__ = ["AtomicCheckpointIO", "ImageGridLogger", "atomic_torch_save"]
