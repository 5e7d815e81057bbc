"""Training-data order that is a function of (seed, epoch, rank) and survives a resume.

Two pieces make a run reproducible across process counts and interruptions:

- :class:`EpochSampler`, a ``DistributedSampler`` that yields ``(epoch, index)`` pairs. The
  permutation comes from ``seed + epoch`` (as ``DistributedSampler``'s does), and the dataset
  draws the patch of each pair from ``(seed, epoch, index)``. One process with a global batch of
  ``B`` and ``N`` processes with ``B / N`` each therefore see the same patches in the same global
  batches (rank ``r`` takes every ``N``-th index of the permutation), and Lightning keeps the
  sampler as it is under DDP because it already is a ``DistributedSampler``.
- :class:`ResumableDataLoader`, a ``DataLoader`` with ``state_dict``/``load_state_dict``, which
  Lightning stores in every checkpoint (``loops.fit_loop.state_dict.combined_loader``). The state
  is the epoch and the number of batches the training loop has consumed in it, so a run resumed
  from a mid-epoch checkpoint continues with the very next batch instead of restarting the epoch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from torch.utils.data import DataLoader, Dataset, DistributedSampler


class EpochSampler(DistributedSampler):
    """Shuffled ``(epoch, index)`` pairs for one rank, with an optional skip after a resume.

    Args:
        dataset: the dataset to sample (only its length is used).
        num_replicas: number of processes (world size).
        rank: this process's global rank.
        seed: seed of the permutation; epoch ``e`` uses ``seed + e``.
    """

    def __init__(self, dataset: Dataset, num_replicas: int = 1, rank: int = 0, seed: int = 0):
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed)
        self._resume: tuple[int, int] | None = None

    def resume_at(self, epoch: int, skip: int) -> None:
        """Start at ``epoch`` and drop its first ``skip`` samples (of this rank) once."""
        self.set_epoch(epoch)
        self._resume = (epoch, skip)

    def __iter__(self) -> Iterator[tuple[int, int]]:  # type: ignore[override]
        indices = list(super().__iter__())
        if self._resume is not None:
            epoch, skip = self._resume
            self._resume = None
            if epoch == self.epoch:
                indices = indices[skip:]
        return iter([(self.epoch, int(i)) for i in indices])


class ResumableDataLoader(DataLoader):
    """A ``DataLoader`` whose position in the epoch is saved in Lightning checkpoints.

    Args:
        progress: returns how many batches of the current epoch the training loop has consumed
            (the data module reads it from the trainer). The loader's own count would be ahead by
            the batches Lightning prefetches.
        *args, **kwargs: as for ``DataLoader``; ``sampler`` should be an :class:`EpochSampler`.
    """

    def __init__(self, *args: Any, progress: Callable[[], int] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.progress = progress

    def state_dict(self) -> dict[str, int]:
        """``{"epoch", "batches"}``: where the training loop stands (empty when unknown)."""
        if not isinstance(self.sampler, EpochSampler) or self.progress is None:
            return {}
        return {"epoch": int(self.sampler.epoch), "batches": int(self.progress())}

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        """Make the next iterator continue after the consumed batches of the saved epoch."""
        if not state_dict or not isinstance(self.sampler, EpochSampler):
            return
        epoch, batches = int(state_dict["epoch"]), int(state_dict["batches"])
        if batches >= len(self):  # saved after the epoch's last batch: the next one starts
            epoch, batches = epoch + 1, 0
        assert self.batch_size is not None
        self.sampler.resume_at(epoch, batches * self.batch_size)
