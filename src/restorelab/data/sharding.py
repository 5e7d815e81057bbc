"""How data is shared out across processes: the global batch, the data seed, evaluation shards.

The data module (and the training entry point, before any process starts) use these; they know
nothing of how the processes are launched (:mod:`restorelab.runs.ddp`).

Evaluation images are shared out so that each one counts once in the metrics on any number of
processes. Lightning's default for a validation loader, a ``DistributedSampler``, pads the ranks
to equal length by repeating images, and the torchmetrics sums then count the repeats. Not
padding would leave ranks with different numbers of batches (or none), and every collective a
validation step makes (DDP's buffer broadcast on the first forward after training, a callback's
all-gather) must be met by every rank. So :class:`EvalShardSampler` keeps the padding, and marks
it: each item carries ``counted``, False for a padding repeat, and scoring skips those.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from torch.utils.data import Dataset, DistributedSampler

from restorelab.errors import ConfigError


def per_device_batch_size(global_batch: int, world_size: int) -> int:
    """The batch each process loads: ``global_batch / world_size`` (must divide evenly).

    Restoration results shift when the total batch changes with the GPU count, so configs
    state the global batch and the per-device share is derived from it.
    """
    if world_size < 1:
        raise ConfigError(f"world size must be >= 1, got {world_size}")
    if global_batch < 1 or global_batch % world_size != 0:
        raise ConfigError(
            f"data.batch_size={global_batch} (the global batch) is not divisible by the "
            f"{world_size} processes (trainer.devices x trainer.num_nodes): use a multiple "
            f"of {world_size}"
        )
    return global_batch // world_size


def data_seed(seed: int | None) -> int:
    """``seed``, else the one ``lightning.seed_everything`` exported, else 0."""
    if seed is not None:
        return int(seed)
    return int(os.environ.get("PL_GLOBAL_SEED", 0))


class EvalShardSampler(DistributedSampler):
    """One rank's contiguous share of the evaluation images, as ``(index, counted)`` pairs.

    Every rank gets ``ceil(n / world)`` items: rank ``r`` the images ``r * k .. r * k + k - 1``
    in order, the last ranks padded with repeats marked ``counted=False``. Contiguous shares
    keep the first images on rank 0, so callbacks that show rank 0's first images (the
    validation grid) show the same ones as on one process. A ``DistributedSampler`` subclass,
    so Lightning keeps it instead of injecting its own padding one.

    Args:
        dataset: the evaluation dataset (only its length is used).
        num_replicas: number of processes (world size).
        rank: this process's global rank.
    """

    def __init__(self, dataset: Dataset, num_replicas: int = 1, rank: int = 0) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=False)

    def __iter__(self) -> Iterator[tuple[int, bool]]:  # type: ignore[override]
        n = len(self.dataset)  # type: ignore[arg-type]
        start = self.rank * self.num_samples
        positions = range(start, start + self.num_samples)
        return iter([(p % n, p < n) for p in positions])


class CountedDataset(Dataset[dict[str, object]]):
    """The items of an evaluation dataset by ``(index, counted)``, with ``counted`` added.

    Args:
        dataset: a dataset of dict items indexed by position (``ImageDataset``).
    """

    def __init__(self, dataset: Dataset[dict[str, object]]) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: tuple[int, bool]) -> dict[str, object]:
        index, counted = key
        return {**self.dataset[int(index)], "counted": bool(counted)}
