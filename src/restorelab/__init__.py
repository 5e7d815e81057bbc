"""restorelab: Lightning + Hydra experiment framework for image restoration."""

__version__ = "0.1.0"

__all__ = ["Enhancer", "__version__"]


def __getattr__(name: str) -> object:
    """Import ``Enhancer`` on first use, so ``import restorelab`` stays light (no torch)."""
    if name == "Enhancer":
        from restorelab.inference.enhancer import Enhancer

        return Enhancer
    raise AttributeError(f"module 'restorelab' has no attribute {name!r}")
