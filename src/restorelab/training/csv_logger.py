"""A CSV logger whose ``metrics.csv`` survives a resume: the run's history is kept, not deleted.

Lightning's ``CSVLogger`` deletes an existing ``metrics.csv`` when it opens its directory, so
``resume=RUN`` lost every row logged before; its header rewrite could also fail after reopening
the file for writing. This logger (``conf/logger/csv.yaml``) writes the same format (one
``step`` column plus every logged key, sorted; empty cells for keys a row lacks) but:

- reads an existing file and keeps its rows; the header grows to the union of the keys;
- on a resume, :meth:`CSVLogger.continue_from` drops the rows that the resumed process will log
  again: those written after the checkpoint it continues from (a killed run's last steps), so
  no step appears twice (:class:`~restorelab.training.callbacks.resume_state.ResumeState`
  records the row count in every checkpoint and calls it);
- writes the whole file atomically (:mod:`restorelab.atomic`) at each flush, so a kill during a
  write leaves the previous file, never half a row.

Built on Lightning's public ``Logger`` base class (no private Lightning attributes).
"""

from __future__ import annotations

import csv
import io
import os
from argparse import Namespace
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lightning.pytorch.core.saving import save_hparams_to_yaml
from lightning.pytorch.loggers.logger import Logger, rank_zero_experiment
from lightning.pytorch.utilities import rank_zero_only
from torch import Tensor

from restorelab.atomic import atomic_path, atomic_write_text

METRICS_FILE = "metrics.csv"
HPARAMS_FILE = "hparams.yaml"
STEP = "step"


def _row_step(row: Mapping[str, Any]) -> float | None:
    """The ``step`` of a row read back from the file (``None`` when missing or not a number)."""
    try:
        return float(row.get(STEP))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


class MetricsTable:
    """The rows of one ``metrics.csv``: those already in the file, then those logged here."""

    def __init__(self, log_dir: str | Path) -> None:
        self.log_dir = Path(log_dir)
        self.path = self.log_dir / METRICS_FILE
        self.rows: list[dict[str, Any]] = []
        self.keys: set[str] = set()
        self.hparams: dict[str, Any] = {}
        self._dirty = False
        if self.path.is_file():
            with open(self.path, newline="", encoding="utf-8") as f:
                reader = csv.DictReader(f)
                self.rows = [{k: v for k, v in row.items() if k is not None} for row in reader]
                self.keys = set(reader.fieldnames or ())
        self.log_dir.mkdir(parents=True, exist_ok=True)

    def log_metrics(self, metrics: Mapping[str, Any], step: int) -> None:
        """Add one row (tensors become Python numbers)."""
        row = {k: v.item() if isinstance(v, Tensor) else v for k, v in metrics.items()}
        row[STEP] = step
        self.rows.append(row)
        self.keys.update(row)
        self._dirty = True

    def continue_from(self, rows: int, step: int) -> int:
        """Keep the rows a resumed run does not log again; returns how many were dropped.

        ``rows`` rows were logged when the checkpoint was written, and the resumed run logs
        again from ``step`` (the checkpoint's global step). A row is kept when it was logged
        before the checkpoint, or after it at a step before ``step`` (the checkpoint's own
        training step, logged once it was written); the rest came from the steps a killed run
        did after its checkpoint, which the resumed run repeats.
        """
        kept = [
            row
            for i, row in enumerate(self.rows)
            if i < rows or (s := _row_step(row)) is None or s < step
        ]
        dropped = len(self.rows) - len(kept)
        if dropped:
            self.rows = kept
            self._dirty = True
        return dropped

    def log_hparams(self, params: Mapping[str, Any]) -> None:
        """Record hyperparameters in ``hparams.yaml`` (written atomically)."""
        self.hparams.update(params)
        with atomic_path(self.log_dir / HPARAMS_FILE) as tmp:
            save_hparams_to_yaml(tmp, self.hparams)

    def save(self) -> None:
        """Write every row to ``metrics.csv`` in one atomic replace (nothing new: no write)."""
        if not self._dirty:
            return
        out = io.StringIO(newline="")
        writer = csv.DictWriter(out, fieldnames=sorted(self.keys), restval="")
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_write_text(self.path, out.getvalue())
        self._dirty = False


class CSVLogger(Logger):
    """Log metrics to ``save_dir/name/version/metrics.csv``, keeping the history on resume.

    Args:
        save_dir: the run directory (``${paths.output_dir}``).
        name: sub-directory under ``save_dir`` (``csv``); ``None`` or ``""`` for none.
        version: sub-directory under ``name``; ``""`` for none (the restorelab default),
            ``None`` for the next free ``version_<n>`` as in Lightning.
        prefix: put in front of every metric key (``prefix-key``).
        flush_logs_every_n_steps: write the file every N logged steps (and at the end, and at
            every checkpoint).
    """

    LOGGER_JOIN_CHAR = "-"

    def __init__(
        self,
        save_dir: str | Path,
        name: str | None = "lightning_logs",
        version: int | str | None = None,
        prefix: str = "",
        flush_logs_every_n_steps: int = 100,
    ) -> None:
        super().__init__()
        if int(flush_logs_every_n_steps) < 1:
            raise ValueError(
                f"logger.csv.flush_logs_every_n_steps must be >= 1, got {flush_logs_every_n_steps}"
            )
        self._save_dir = os.fspath(save_dir)
        self._name = name or ""
        self._version = version
        self._prefix = prefix
        self._flush_every = int(flush_logs_every_n_steps)
        self._table: MetricsTable | None = None

    @property
    def name(self) -> str:
        return self._name

    @property
    def version(self) -> int | str:
        if self._version is None:
            self._version = self._next_version()
        return self._version

    @property
    def save_dir(self) -> str:
        return self._save_dir

    @property
    def root_dir(self) -> str:
        return os.path.join(self._save_dir, self._name)

    @property
    def log_dir(self) -> str:
        version = self.version
        sub = version if isinstance(version, str) else f"version_{version}"
        return os.path.join(self.root_dir, sub)

    def _next_version(self) -> int:
        root = Path(self.root_dir)
        taken = [
            int(p.name.split("_", 1)[1])
            for p in (root.iterdir() if root.is_dir() else [])
            if p.is_dir() and p.name.startswith("version_") and p.name[8:].isdigit()
        ]
        return max(taken, default=-1) + 1

    @property
    @rank_zero_experiment
    def experiment(self) -> MetricsTable:
        """The run's :class:`MetricsTable` (created, reading an existing file, on first use)."""
        if self._table is None:
            self._table = MetricsTable(self.log_dir)
        return self._table

    @rank_zero_only
    def log_hyperparams(
        self, params: dict[str, Any] | Namespace, *args: Any, **kwargs: Any
    ) -> None:
        self.experiment.log_hparams(vars(params) if isinstance(params, Namespace) else params)

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        table = self.experiment
        if self._prefix:
            metrics = {f"{self._prefix}{self.LOGGER_JOIN_CHAR}{k}": v for k, v in metrics.items()}
        if step is None:
            step = len(table.rows)
        table.log_metrics(metrics, step)
        if (step + 1) % self._flush_every == 0:
            table.save()

    @rank_zero_only
    def save(self) -> None:
        super().save()
        if self._table is not None:
            self._table.save()

    @rank_zero_only
    def finalize(self, status: str) -> None:
        self.save()

    @property
    def rows_logged(self) -> int:
        """Rows in the table now (what a checkpoint records for :meth:`continue_from`)."""
        return len(self._table.rows) if self._table is not None else 0

    @rank_zero_only
    def continue_from(self, rows: int, step: int) -> None:
        """Drop the rows a resumed run logs again (see :meth:`MetricsTable.continue_from`)."""
        self.experiment.continue_from(rows, step)
