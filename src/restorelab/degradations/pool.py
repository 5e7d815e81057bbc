"""The training-pair pool: Real-ESRGAN's queue that mixes degradations of different batches.

A batch shares one random resize, one noise kind and one order of the final step, so its samples
are more alike than the degradation model intends. Real-ESRGAN (``RealESRGANModel.
_dequeue_and_enqueue``, ``queue_size`` 180) keeps a pool of earlier ``(gt, lq)`` pairs; once the
pool is full, each batch is swapped for randomly chosen pairs from the pool and takes their
place. Picking random slots is the same draw as BasicSR's shuffle-then-take-the-first, without
copying the whole pool every step.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["PairPool"]


class PairPool(nn.Module):
    r"""A pool of up to ``size`` ``(gt, lq)`` pairs that hands out random earlier pairs.

    While the pool fills, batches pass through unchanged (and are stored); once it is full, every
    sample of a batch is exchanged for a random pair of the pool. A pool smaller than the batch
    exchanges its ``size`` first samples. A batch of another shape, dtype or device (a new patch
    size, a move to the GPU) empties the pool first.

    The pool is part of the module's ``state_dict`` (as extra state, 8-bit: the ground truth comes
    from 8-bit files and the quantized ``lq`` is on 8-bit levels), so a resumed run continues
    with the same pool instead of refilling it.

    Args:
        size: number of pairs kept, at least 1.

    Shape:
        - gt: :math:`(B, C, H, W)`, lq: :math:`(B, C, h, w)`
        - Output: the same shapes
    """

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = int(size)
        self.gt: Tensor | None = None
        self.lq: Tensor | None = None
        self.count = 0

    def forward(self, gt: Tensor, lq: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Store the batch and return it, or exchange it for random pairs of the full pool."""
        if not self._fits(gt, lq):
            self.gt = gt.new_empty((self.size, *gt.shape[1:]))
            self.lq = lq.new_empty((self.size, *lq.shape[1:]))
            self.count = 0
        assert self.gt is not None and self.lq is not None
        batch = gt.shape[0]
        if self.count < self.size:
            take = min(batch, self.size - self.count)
            self.gt[self.count : self.count + take] = gt[:take]
            self.lq[self.count : self.count + take] = lq[:take]
            self.count += take
            return gt, lq
        take = min(batch, self.size)
        slots = torch.randperm(self.size, generator=generator, device=generator.device)[:take]
        slots = slots.to(gt.device)
        out_gt, out_lq = gt.clone(), lq.clone()
        out_gt[:take] = self.gt.index_select(0, slots)
        out_lq[:take] = self.lq.index_select(0, slots)
        self.gt.index_copy_(0, slots, gt[:take])
        self.lq.index_copy_(0, slots, lq[:take])
        return out_gt, out_lq

    def _fits(self, gt: Tensor, lq: Tensor) -> bool:
        if self.gt is None or self.lq is None:
            return False
        return (
            self.gt.shape[1:] == gt.shape[1:]
            and self.lq.shape[1:] == lq.shape[1:]
            and (self.gt.dtype, self.gt.device) == (gt.dtype, gt.device)
            and (self.lq.dtype, self.lq.device) == (lq.dtype, lq.device)
        )

    def get_extra_state(self) -> dict[str, Any]:
        """The stored pairs as 8-bit CPU tensors, and how many slots are filled."""
        if self.gt is None or self.lq is None:
            return {"count": 0}
        return {
            "count": self.count,
            "gt": _to_8bit(self.gt[: self.count]),
            "lq": _to_8bit(self.lq[: self.count]),
            "dtype": str(self.gt.dtype).removeprefix("torch."),
        }

    def set_extra_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`get_extra_state` (on the CPU; the first batch moves it if needed)."""
        count = int(state.get("count", 0))
        if count == 0:
            self.gt = self.lq = None
            self.count = 0
            return
        dtype = getattr(torch, str(state["dtype"]))
        gt, lq = state["gt"], state["lq"]
        self.gt = gt.new_empty((self.size, *gt.shape[1:]), dtype=dtype)
        self.lq = lq.new_empty((self.size, *lq.shape[1:]), dtype=dtype)
        self.gt[:count] = gt.to(dtype) / 255.0
        self.lq[:count] = lq.to(dtype) / 255.0
        self.count = count

    def _apply(self, fn: Any, recurse: bool = True) -> PairPool:
        """Follow ``.to(device)`` like a buffer would (the pool is not a registered buffer, since
        its shape changes with the patch size)."""
        if self.gt is not None and self.lq is not None:
            self.gt, self.lq = fn(self.gt), fn(self.lq)
        return super()._apply(fn, recurse)

    def extra_repr(self) -> str:
        return f"size={self.size}"


def _to_8bit(x: Tensor) -> Tensor:
    return torch.round(x.detach().float().clamp(0.0, 1.0) * 255.0).to(torch.uint8).cpu()
