"""Old path of :class:`restorelab.training.loggers.WandbLogger`, named by saved run configs."""

from restorelab.training.loggers import WandbLogger

__all__ = ["WandbLogger"]
