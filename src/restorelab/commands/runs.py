"""``restorelab-runs [DIR]``: the table of training runs (see :mod:`restorelab.runs.table`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from restorelab.commands.common import report_errors
from restorelab.runs.table import (
    DEFAULT_METRICS,
    FORMATS,
    collect_runs,
    header_labels,
    render,
    sort_rows,
)


def build_parser() -> argparse.ArgumentParser:
    """Command-line interface of ``restorelab-runs``."""
    parser = argparse.ArgumentParser(
        prog="restorelab-runs",
        description="Table of the training runs under DIR: differing overrides, best (max or "
        "min, as the header says) and final validation metrics, steps, wall time, checkpoint, "
        "status (ok/failed/running).",
    )
    parser.add_argument(
        "dir", nargs="?", default="outputs", help="where to look (default: outputs)"
    )
    parser.add_argument("--format", choices=FORMATS, default="table", help="output format")
    parser.add_argument(
        "--sort", default="started", help="column to sort by, e.g. best_psnr_y (default: started)"
    )
    parser.add_argument("-r", "--reverse", action="store_true", help="sort descending")
    parser.add_argument(
        "--status", choices=("ok", "failed", "running", "unknown"), help="only runs in this state"
    )
    parser.add_argument(
        "--metrics",
        nargs="+",
        default=list(DEFAULT_METRICS),
        help="validation metrics to show, as logged (default: val/psnr_y val/ssim_y); best is "
        "the max or the min as the metric wants (val/lpips: min); KEY:max or KEY:min for a "
        "metric restorelab does not know",
    )
    return parser


def run(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, print the table; returns the exit status."""
    args = build_parser().parse_args(argv)
    root = Path(args.dir)
    rows = collect_runs(root, args.metrics, args.status)
    rows = sort_rows(rows, args.sort, args.reverse)
    if not rows and args.format != "json":
        print(f"no runs under {root}", file=sys.stderr)
        return 0
    print(render(rows, args.format, header_labels(args.metrics)))
    return 0


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point of ``restorelab-runs``."""
    sys.exit(report_errors("restorelab-runs", run, argv))
