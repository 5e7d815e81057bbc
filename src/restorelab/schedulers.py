"""Old path of :func:`restorelab.training.schedulers.with_warmup`, named by saved run configs."""

from restorelab.training.schedulers import with_warmup

__all__ = ["with_warmup"]
