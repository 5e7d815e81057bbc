"""The ground-truth size of the batch being degraded, visible to every stage of the pipeline.

Real-ESRGAN's later resizes are relative to the original image, not to the current one: the
second random resize scales the *target* low-resolution size, and the final resize goes back to
exactly ``gt / scale`` whatever the earlier random resizes did. :class:`Degradation` records the
size of ``gt`` here for the duration of a call, so those stages can read it without the
:class:`Stage` interface growing an argument every other stage would ignore.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from torch import Tensor

__all__ = ["gt_size", "using_gt_size"]

_GT_SIZE: ContextVar[tuple[int, int] | None] = ContextVar("restorelab_gt_size", default=None)


def gt_size(x: Tensor) -> tuple[int, int]:
    """``(H, W)`` of the ground truth being degraded; ``x``'s own size outside a pipeline."""
    size = _GT_SIZE.get()
    return size if size is not None else (int(x.shape[-2]), int(x.shape[-1]))


@contextmanager
def using_gt_size(height: int, width: int) -> Iterator[None]:
    """Make ``(height, width)`` the ground-truth size seen by :func:`gt_size` inside the block."""
    token = _GT_SIZE.set((int(height), int(width)))
    try:
        yield
    finally:
        _GT_SIZE.reset(token)
