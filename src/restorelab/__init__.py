"""restorelab: Lightning + Hydra experiment framework for image restoration."""

__version__ = "0.1.0"
