"""Old home of the Lightning callbacks, now :mod:`restorelab.training.callbacks`.

Kept because run configs saved before the move name ``restorelab.callbacks.*`` as ``_target_``
(``restorelab-train --config-dir RUN/.hydra`` and ``resume=RUN`` compose them).
"""

from restorelab.training.callbacks import (
    AtomicCheckpointIO,
    ImageGridLogger,
    OptionalMetricCheckpoint,
    PerceptualMetricLogger,
    atomic_torch_save,
)

__all__ = [
    "AtomicCheckpointIO",
    "ImageGridLogger",
    "OptionalMetricCheckpoint",
    "PerceptualMetricLogger",
    "atomic_torch_save",
]
