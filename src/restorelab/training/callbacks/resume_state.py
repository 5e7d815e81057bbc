"""What a checkpoint must carry, beyond weights and optimizers, for a bit-identical resume.

Lightning already stores the model, optimizers, schedulers, loop counters and (through
:class:`~restorelab.data.sampling.ResumableDataLoader`) the position in the epoch. The random
states are the rest: torch's, numpy's and Python's global generators and the training stream of
the degradation pipeline (``restorelab.degradations.Degradation`` owns its own generator).
:class:`ResumeState` saves them in every checkpoint through ``state_dict`` (one entry per DDP
rank) and puts them back when a run resumes. It also flushes the CSV log at every checkpoint
and records its row count, so a resumed run keeps the rows logged before its checkpoint and
drops those a killed run wrote after it (``CSVLogger.continue_from`` in
:mod:`restorelab.training.csv_logger`). Validation is kept from moving the global generators
at all, so a checkpoint written after a validation restores the state that the next training
batch sees in an uninterrupted run.

:class:`PeriodicCheckpoint` writes ``last.ckpt`` every N training steps (atomically, through the
trainer's checkpoint IO), so a killed run loses at most N steps (and never a validation).

Everything is stored as tensors and plain numbers: checkpoints stay loadable with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Checkpoint
from lightning.pytorch.loggers import WandbLogger

from restorelab.training.csv_logger import CSVLogger


def capture_global_rng() -> dict[str, Any]:
    """torch (CPU and CUDA), numpy and Python global RNG states as tensors and numbers."""
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()  # type: ignore[misc]
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "kind": str(kind),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "python": {
            "version": int(version),
            "internal": torch.tensor(internal, dtype=torch.int64),
            "gauss": gauss,
        },
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_global_rng(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_global_rng`."""
    torch.set_rng_state(state["torch"])
    numpy_state = state["numpy"]
    np.random.set_state(
        (
            numpy_state["kind"],
            numpy_state["keys"].numpy().astype(np.uint32),
            numpy_state["pos"],
            numpy_state["has_gauss"],
            numpy_state["cached_gaussian"],
        )
    )
    python_state = state["python"]
    random.setstate(
        (
            python_state["version"],
            tuple(int(v) for v in python_state["internal"].tolist()),
            python_state["gauss"],
        )
    )
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _gather(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """``obj`` of every DDP rank, in rank order (``[obj]`` without a process group)."""
    dist = torch.distributed
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return [obj]
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, obj)
    return gathered


class ResumeState(L.Callback):
    """Save and restore the random states of every rank, and the W&B run id, in checkpoints."""

    def __init__(self) -> None:
        self._module: L.LightningModule | None = None
        self._trainer: L.Trainer | None = None
        self._validation_rng: dict[str, Any] | None = None
        self._to_restore: dict[str, Any] | None = None
        self.loaded_wandb_id: str | None = None
        self._csv_rows: list[int] | None = None

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._trainer, self._module = trainer, pl_module

    def _rank_state(self) -> dict[str, Any]:
        degradation = getattr(self._module, "degradation", None)
        deg_state = degradation.rng_state() if degradation is not None else None
        return {"global": capture_global_rng(), "degradation": deg_state}

    def _csv_loggers(self) -> list[CSVLogger]:
        loggers = self._trainer.loggers if self._trainer is not None else []
        return [logger for logger in loggers if isinstance(logger, CSVLogger)]

    def state_dict(self) -> dict[str, Any]:
        wandb_id = None
        if self._trainer is not None:
            for logger in self._trainer.loggers:
                if isinstance(logger, WandbLogger) and logger.version:
                    wandb_id = str(logger.version)
        csv_rows = []
        if self._trainer is not None and self._trainer.is_global_zero:
            for csv_logger in self._csv_loggers():
                csv_logger.save()  # every row logged before this checkpoint is on disk
                csv_rows.append(csv_logger.rows_logged)
        return {"ranks": _gather(self._rank_state()), "wandb_id": wandb_id, "csv_rows": csv_rows}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._to_restore = state_dict
        self.loaded_wandb_id = state_dict.get("wandb_id")
        self._csv_rows = [int(n) for n in state_dict.get("csv_rows") or []]

    def _mine(self, trainer: L.Trainer) -> dict[str, Any] | None:
        if self._to_restore is None:
            return None
        ranks = self._to_restore.get("ranks") or []
        if not ranks:
            return None
        # resuming on another number of processes: ranks beyond the saved ones reuse theirs
        return ranks[trainer.global_rank % len(ranks)]

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Continue the degradation stream (after the module's ``on_fit_start`` reseeded it)
        and the CSV logs (at the restored ``global_step``: nothing is logged before)."""
        if self._csv_rows is not None:
            for i, csv_logger in enumerate(self._csv_loggers()):
                rows = self._csv_rows[i] if i < len(self._csv_rows) else 0  # older checkpoints
                csv_logger.continue_from(rows, trainer.global_step)
            self._csv_rows = None
        mine = self._mine(trainer)
        degradation = getattr(pl_module, "degradation", None)
        if mine is not None and degradation is not None and mine["degradation"] is not None:
            degradation.set_rng_state(mine["degradation"], pl_module.device)

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        """Put the global generators back right before the first batch after a resume."""
        mine = self._mine(trainer)
        if mine is not None:
            restore_global_rng(mine["global"])
        self._to_restore = None

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._validation_rng = capture_global_rng()

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Undo validation's draws: training randomness never depends on when it validated."""
        if self._validation_rng is not None:
            restore_global_rng(self._validation_rng)
            self._validation_rng = None


class PeriodicCheckpoint(Checkpoint):
    """Write ``dirpath/filename`` every ``every_n_train_steps`` training steps (0: never).

    A Lightning ``Checkpoint``, so it runs after the other callbacks of the batch (whose state,
    an EMA for instance, is then up to date in the file).

    The step's checkpoint is written at the end of the step but only takes ``filename``'s place
    once it is known that no validation of that step was cut short: at the start of the next
    step; or it is replaced by one written after the validation that follows it, or at the end
    of training (whose state counts the last epoch, as the final checkpoint does). Lightning
    counts a checkpoint written at the end of a training step as validated (a resume skips that
    step's validation), so a run killed during a validation must continue from the checkpoint
    before it and validate again, as the uninterrupted run did; and the one after the
    validation carries its outcome (the best score so far). Until then the file is
    ``.<filename>.pending.tmp``; a killed run leaves it behind and a resume removes it
    (:func:`restorelab.runs.resume.remove_cut_writes`).

    Args:
        dirpath: the checkpoint directory of the run.
        every_n_train_steps: steps between writes.
        filename: file name; ``last.ckpt`` is what ``resume=`` continues from.
    """

    def __init__(
        self, dirpath: str | Path, every_n_train_steps: int = 500, filename: str = "last.ckpt"
    ) -> None:
        if every_n_train_steps < 0:
            raise ValueError(
                f"callbacks.last_checkpoint.every_n_train_steps must be >= 0, "
                f"got {every_n_train_steps}"
            )
        self.path = Path(dirpath) / filename
        self.pending = self.path.with_name(f".{filename}.pending.tmp")
        self.every_n_train_steps = int(every_n_train_steps)
        self._has_pending = False

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        step = trainer.global_step
        if trainer.sanity_checking or self.every_n_train_steps == 0 or step == 0:
            return
        if step % self.every_n_train_steps == 0:
            trainer.save_checkpoint(self.pending)
            self._has_pending = True

    def _commit(self, trainer: L.Trainer) -> None:
        """The pending checkpoint becomes ``filename`` (one atomic rename, rank zero)."""
        if self._has_pending and trainer.is_global_zero:
            os.replace(self.pending, self.path)
        self._has_pending = False

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self._commit(trainer)  # no validation followed the step it was written at

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Training ended at a checkpoint step: write the state it ended in (epoch counted)."""
        self._replace_pending(trainer)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """The validation after a checkpoint step ended: write the state it left instead."""
        if not trainer.sanity_checking:
            self._replace_pending(trainer)

    def _replace_pending(self, trainer: L.Trainer) -> None:
        if not self._has_pending:
            return
        trainer.save_checkpoint(self.path)
        self._has_pending = False
        if trainer.is_global_zero:
            self.pending.unlink(missing_ok=True)
