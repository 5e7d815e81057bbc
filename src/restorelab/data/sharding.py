"""How data is shared out across processes: the global batch per device, and the data seed.

The data module (and the training entry point, before any process starts) use these; they know
nothing of how the processes are launched (:mod:`restorelab.runs.ddp`).
"""

from __future__ import annotations

import os

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
