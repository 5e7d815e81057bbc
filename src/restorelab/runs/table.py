"""``restorelab-runs [DIR]``: compare the runs under a directory, without W&B.

Everything comes from the run directories themselves: ``.hydra/overrides.yaml`` (what the run
changed), ``metrics.json`` (final validation metrics and step, written by ``restorelab-train``),
the CSV log (``csv/metrics.csv``: every validation, hence the best value) or, without one, the
offline W&B run file, ``run_status.json`` (ok / failed with the error / running, wall time) and
the checkpoints folder. Overrides shown are only those that differ between the listed runs, so
a sweep's table shows exactly the swept values. "Best" is the maximum or the minimum as the
metric wants (:mod:`restorelab.metric_direction`: ``val/lpips`` is lower-is-better); the table
and markdown headers say which (``best_lpips (min)``), and ``--metrics KEY:min`` declares it
for a metric that table does not know.

Example::

    restorelab-runs outputs/ --sort best_psnr_y --reverse
    restorelab-runs outputs/train/multiruns/2026-11-25_12-00-00 --format markdown
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from restorelab.errors import ConfigError, DataError
from restorelab.metric_direction import higher_is_better
from restorelab.runs.info import RUN_STATUS, read_json

FORMATS = ("table", "csv", "json", "markdown")
DEFAULT_METRICS = ("val/psnr_y", "val/ssim_y")
#: Files whose presence makes a directory a run directory.
RUN_MARKERS = (RUN_STATUS, "metrics.json", "checkpoints/last.ckpt")
#: Directories never searched for runs (logger and checkpoint internals).
SKIP_DIRS = {"wandb", "csv", "checkpoints", ".hydra", ".submitit", "images", "tensorboard"}


#: ``--metrics KEY:max`` / ``KEY:min``: which way is better, for a metric of unknown direction.
DIRECTION_SUFFIXES = {"max": True, "min": False}


def short_name(metric: str) -> str:
    """Column stem of a metric: ``val/psnr_y`` -> ``psnr_y``."""
    return metric.rsplit("/", 1)[-1]


def parse_metric(spec: str) -> tuple[str, bool]:
    """``(key, higher is better)`` of a ``--metrics`` entry: ``val/lpips`` or ``val/niqe:min``.

    Raises:
        ConfigError: no suffix, and :mod:`restorelab.metric_direction` does not know the metric.
    """
    key, _, suffix = spec.rpartition(":")
    if key and suffix in DIRECTION_SUFFIXES:
        return key, DIRECTION_SUFFIXES[suffix]
    try:
        return spec, higher_is_better(spec)
    except ConfigError as e:
        raise ConfigError(f"--metrics {e}; add :max or :min, e.g. {spec}:min") from e


def header_labels(metrics: Sequence[str]) -> dict[str, str]:
    """Header text of the ``best_*`` columns for humans: ``best_lpips (min)``."""
    labels = {}
    for spec in metrics:
        key, higher = parse_metric(spec)
        column = f"best_{short_name(key)}"
        labels[column] = f"{column} ({'max' if higher else 'min'})"
    return labels


def find_run_dirs(root: Path) -> list[Path]:
    """Every run directory below ``root`` (``root`` itself included), sorted by path."""
    found: list[Path] = []
    for here, dirs, _ in os.walk(root):
        path = Path(here)
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        if any((path / marker).is_file() for marker in RUN_MARKERS):
            found.append(path)
    return found


def read_overrides(run: Path) -> list[str]:
    """The run's command-line overrides (Hydra's own ``hydra.*`` ones left out)."""
    path = run / ".hydra" / "overrides.yaml"
    if not path.is_file():
        return []
    try:
        data = yaml.safe_load(path.read_text()) or []
    except (OSError, yaml.YAMLError) as e:
        raise DataError(f"{path}: unreadable overrides file: {e}") from e
    return [str(o) for o in data if not override_key(str(o)).startswith("hydra.")]


def override_key(override: str) -> str:
    """The key an override sets: ``+a.b=1`` -> ``a.b``, ``~a`` -> ``a``."""
    return override.split("=", 1)[0].lstrip("+~")


def _finite(value: Any) -> float | None:
    """A float, or ``None`` for missing, empty or non-numeric values (NaN stays NaN)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def csv_history(run: Path) -> list[dict[str, float | None]]:
    """Rows of the run's CSV log(s) (Lightning's CSVLogger), as floats."""
    rows: list[dict[str, float | None]] = []
    for path in sorted(run.glob("csv/**/metrics.csv")):
        with path.open(newline="") as f:
            rows.extend({k: _finite(v) for k, v in row.items() if k} for row in csv.DictReader(f))
    return rows


def wandb_history(run: Path) -> list[dict[str, float | None]]:
    """Rows logged to the run's offline W&B file(s), when there is no CSV log."""
    from restorelab.runs.wandb_offline import find_run_files, read_history

    rows: list[dict[str, float | None]] = []
    for path in find_run_files(run / "wandb"):
        try:
            history = read_history(path, allow_truncated=True)
        except ValueError:
            continue  # a corrupt file must not hide the other runs
        rows.extend({k: _finite(v) for k, v in row.items()} for row in history)
    return rows


def best_checkpoint(run: Path) -> Path | None:
    """The best checkpoint (newest ``best*.ckpt``), else ``last.ckpt``, else none."""
    folder = run / "checkpoints"
    best = sorted(folder.glob("best*.ckpt"), key=lambda p: p.stat().st_mtime)
    if best:
        return best[-1]
    last = folder / "last.ckpt"
    return last if last.is_file() else None


def process_alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_status(run: Path, has_metrics: bool) -> tuple[str, str | None, dict[str, Any]]:
    """``(status, error, status_record)`` of a run.

    A ``running`` record whose process is gone on this host is reported ``failed``: the run was
    killed before it could write its outcome. Runs from before status files: ``ok`` when they
    wrote ``metrics.json``, else ``unknown``.
    """
    record = read_json(run / RUN_STATUS) or {}
    status = record.get("status")
    error = record.get("error")
    if status is None:
        return ("ok" if has_metrics else "unknown"), None, record
    if status == "running" and record.get("host") == socket.gethostname():
        pid = record.get("pid")
        if isinstance(pid, int) and not process_alive(pid):
            return "failed", f"process {pid} ended without writing its outcome (killed?)", record
    return str(status), error, record


def collect_run(run: Path, root: Path, metrics: Sequence[str]) -> dict[str, Any]:
    """One row of the table: the run's identity, outcome and metrics."""
    final = read_json(run / "metrics.json") or {}
    status, error, record = run_status(run, bool(final))
    history = csv_history(run) or wandb_history(run)
    row: dict[str, Any] = {
        "run": str(run.relative_to(root)) if run != root else ".",
        "sweep": "",
        "status": status,
        "overrides": read_overrides(run),
    }
    if (run.parent / "multirun.yaml").is_file() or record.get("sweep_dir"):
        row["sweep"] = sweep_name(run, root, record.get("sweep_dir"))
    for spec in metrics:
        metric, higher = parse_metric(spec)
        name = short_name(metric)
        values = [v for h in history if (v := h.get(metric)) is not None]
        last = _finite(final.get(metric))
        if last is None and values:
            last = values[-1]
        finite = [v for v in [*values, last] if v is not None and math.isfinite(v)]
        best = max if higher else min
        row[f"best_{name}"] = best(finite) if finite else None
        row[f"final_{name}"] = last
    steps = final.get("step")
    if steps is None:
        logged = [s for h in history if (s := h.get("step", h.get("trainer/global_step")))]
        steps = int(max(logged)) if logged else None
    row["steps"] = steps
    row["wall_time_s"] = record.get("wall_time_s")
    row["started"] = record.get("started")
    ckpt = best_checkpoint(run)
    row["checkpoint"] = str(ckpt) if ckpt else ""
    row["error"] = error or ""
    return row


def sweep_name(run: Path, root: Path, recorded: str | None) -> str:
    """The sweep directory of a job, relative to ``root`` when it lies below it.

    The recorded ``sweep_dir`` is used when it still holds the run; a sweep moved or copied
    elsewhere is recognised by its layout (the job directory's parent).
    """
    sweep = run.parent
    if recorded and Path(recorded).resolve() in run.resolve().parents:
        sweep = Path(recorded)
    try:
        return str(sweep.resolve().relative_to(root.resolve())) or "."
    except ValueError:
        return str(sweep)


def differing_overrides(rows: list[dict[str, Any]]) -> None:
    """Replace each row's overrides by those whose value is not the same in every row.

    With a single run there is nothing to compare, so all its overrides are kept.
    """
    if len(rows) < 2:
        for row in rows:
            row["overrides"] = " ".join(row["overrides"])
        return
    per_run = [{override_key(o): o for o in row["overrides"]} for row in rows]
    keys = {k for d in per_run for k in d}
    same = {k for k in keys if all(k in d for d in per_run) and len({d[k] for d in per_run}) == 1}
    for row, by_key in zip(rows, per_run, strict=True):
        row["overrides"] = " ".join(o for k, o in by_key.items() if k not in same)


def collect_runs(
    root: Path, metrics: Sequence[str] = DEFAULT_METRICS, status: str | None = None
) -> list[dict[str, Any]]:
    """The rows of every run under ``root``, overrides reduced to those that differ.

    ``metrics`` are ``--metrics`` entries (``val/psnr_y``, ``val/niqe:min``, see
    :func:`parse_metric`); an unknown direction fails before any run is read.
    """
    for spec in metrics:
        parse_metric(spec)
    if not root.is_dir():
        raise DataError(f"no such directory: {root}")
    rows = [collect_run(run, root, metrics) for run in find_run_dirs(root)]
    if status:
        rows = [r for r in rows if r["status"] == status]
    differing_overrides(rows)
    return rows


def sort_rows(rows: list[dict[str, Any]], key: str, reverse: bool) -> list[dict[str, Any]]:
    """Sort by a column; rows without a value (or NaN) go last in either direction."""
    if rows and key not in rows[0]:
        raise DataError(f"--sort {key}: no such column (columns: {', '.join(rows[0])})")

    def present(row: dict[str, Any]) -> bool:
        value = row.get(key)
        return value not in (None, "") and not (isinstance(value, float) and math.isnan(value))

    have = sorted((r for r in rows if present(r)), key=lambda r: r[key], reverse=reverse)
    return have + [r for r in rows if not present(r)]


def _cell(key: str, value: Any) -> str:
    """Human formatting for the table and markdown outputs."""
    if value is None or value == "":
        return "-"
    if isinstance(value, float):
        if key == "wall_time_s":
            minutes, seconds = divmod(value, 60)
            return f"{int(minutes)}m{seconds:04.1f}s" if minutes else f"{seconds:.1f}s"
        if "ssim" in key:
            return f"{value:.4f}"
        return f"{value:.2f}"
    return str(value)


def display_columns(rows: list[dict[str, Any]]) -> list[str]:
    """Columns for humans: ``started`` left out, ``error`` only when some run failed."""
    columns = [c for c in rows[0] if c != "started"]
    if not any(r.get("error") for r in rows):
        columns.remove("error")
    return columns


def render(rows: list[dict[str, Any]], fmt: str, labels: dict[str, str] | None = None) -> str:
    """The runs as ``table``, ``csv``, ``json`` or ``markdown`` text.

    ``labels`` rename columns in the table and markdown headers (:func:`header_labels`); csv
    and json keep the plain keys, which ``--sort`` and scripts use.
    """
    if fmt == "json":
        return json.dumps(rows, indent=2)
    if not rows:
        return ""
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue().rstrip("\n")
    columns = display_columns(rows)
    cells = [[_cell(c, r.get(c)) for c in columns] for r in rows]
    heads = [(labels or {}).get(c, c) for c in columns]
    if fmt == "markdown":
        lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(columns)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in cells]
        return "\n".join(lines)
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(heads)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(heads, widths, strict=True)).rstrip()]
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    return "\n".join(lines)
