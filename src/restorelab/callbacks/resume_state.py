"""Old path of ``restorelab.training.callbacks.resume_state.PeriodicCheckpoint`` (saved configs)."""

from restorelab.training.callbacks.resume_state import PeriodicCheckpoint

__all__ = ["PeriodicCheckpoint"]
