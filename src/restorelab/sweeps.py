"""Old path of :class:`restorelab.runs.sweeps.SweepReport`, named by saved run configs."""

from restorelab.runs.sweeps import SweepReport

__all__ = ["SweepReport"]
