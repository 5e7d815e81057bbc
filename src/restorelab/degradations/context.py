"""What every stage of a running pipeline can see: the ground-truth size, and a parameter record.

Real-ESRGAN's later resizes are relative to the original image, not to the current one: the
second random resize scales the *target* low-resolution size, and the final resize goes back to
exactly ``gt / scale`` whatever the earlier random resizes did. :class:`Degradation` records the
size of ``gt`` here for the duration of a call, so those stages can read it without the
:class:`Stage` interface growing an argument every other stage would ignore.

The same way, stages :func:`record` the parameters they drew, and :class:`Degradation` collects
them per call (:attr:`Degradation.last_params`) for logging and for ``restorelab-data preview``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from torch import Tensor

__all__ = ["Recorded", "gt_size", "record", "recording", "stage_name", "using_gt_size"]

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


# --------------------------------------------------------------- the sampled parameters
#: One recorded value: a per-sample tensor :math:`(B,)`, per-sample names, or one for the batch.
Recorded = Tensor | list[str] | str | float | int | bool

_RECORD: ContextVar[dict[str, Recorded] | None] = ContextVar("restorelab_record", default=None)
_PREFIX: ContextVar[str] = ContextVar("restorelab_record_prefix", default="")


def record(key: str, value: Recorded) -> None:
    """Note a parameter a stage drew (``sigma``, ``quality``, ``kind``...), if someone listens.

    Inside :func:`recording` the value is stored under ``<stage>/<key>`` (the stage's name in the
    pipeline, set by :func:`stage_name`); outside it this does nothing, so stages used on their
    own pay nothing. Tensors are kept as they are (on the device, no copy, no host sync).
    """
    store = _RECORD.get()
    if store is not None:
        prefix = _PREFIX.get()
        store[f"{prefix}/{key}" if prefix else key] = value


@contextmanager
def recording() -> Iterator[dict[str, Recorded]]:
    """Collect every :func:`record` made inside the block into the dict it yields."""
    store: dict[str, Recorded] = {}
    token = _RECORD.set(store)
    try:
        yield store
    finally:
        _RECORD.reset(token)


@contextmanager
def stage_name(name: str) -> Iterator[None]:
    """Record inside the block under ``name`` (nested: ``outer/name``)."""
    outer = _PREFIX.get()
    token = _PREFIX.set(f"{outer}/{name}" if outer else name)
    try:
        yield
    finally:
        _PREFIX.reset(token)
