"""Data-parallel plumbing: global batch per device, data seed, and DDP ranks under Hydra.

Lightning's DDP launcher (``strategy=ddp``, ``start_method=popen``) starts ranks 1..N-1 by
re-running the command line (``sys.argv``) with ``hydra.run.dir="<HydraConfig run.dir>"``
appended. Two things go wrong with that under Hydra:

- in a multirun (``-m``) the command line is the whole sweep, so every child would start a sweep
  of its own, and ``HydraConfig.run.dir`` is not the job's directory;
- ``run.dir`` is re-read when the children are launched, so anything that re-resolves to another
  value (a timestamp, an environment variable) sends the children to a new directory.

:func:`ddp_children_argv_and_run_dir` pins ``HydraConfig.run.dir`` to the job's resolved
absolute output directory and, in a multirun, rewrites ``sys.argv``: the sweep on the command line
is replaced with this job's own overrides, for the duration of ``fit`` (restored afterwards).
Besides :func:`restorelab.commands.train.main`, this is the only place ``sys.argv`` is assigned.
Every rank then works in the one run directory that rank 0 created, and only rank 0 creates the
W&B run (Lightning's loggers are rank-zero only).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from omegaconf import open_dict, read_write

#: Hydra command-line flags that take a value and must reach the DDP children unchanged.
_VALUE_FLAGS = ("--config-dir", "-cd", "--config-path", "-cp", "--config-name", "-cn")
_MULTIRUN_FLAGS = ("-m", "--multirun")


def child_argv(argv: list[str], job_overrides: list[str]) -> list[str]:
    """The command line for one multirun job's DDP children.

    Keeps the program and Hydra's config-location flags, drops ``-m``/``--multirun`` and the
    sweep's overrides, and adds the job's own overrides (``HydraConfig.overrides.task``).
    """
    kept = [argv[0]]
    args = iter(argv[1:])
    for arg in args:
        if arg in _MULTIRUN_FLAGS:
            continue
        if arg in _VALUE_FLAGS:
            kept += [arg, next(args, "")]
        elif arg.startswith(tuple(f"{f}=" for f in _VALUE_FLAGS)):
            kept.append(arg)
    return kept + list(job_overrides)


@contextlib.contextmanager
def ddp_children_argv_and_run_dir(run_dir: Path) -> Iterator[None]:
    """For the duration of ``fit``: rewrite ``sys.argv`` and ``HydraConfig.run.dir`` for DDP ranks.

    Lightning's DDP launcher starts ranks 1..N-1 by re-running ``sys.argv`` (with
    ``hydra.run.dir`` set from ``HydraConfig``), so while this is active ``HydraConfig.run.dir``
    is ``run_dir`` resolved and, in a multirun, ``sys.argv`` is :func:`child_argv` (this job's
    overrides instead of the sweep). Both are restored on exit, in ``finally``, also when ``fit``
    raises. A no-op outside a Hydra app and in processes that Lightning itself launched.
    """
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized() or "LOCAL_RANK" in os.environ:
        yield
        return
    hydra_cfg: Any = HydraConfig.get()
    old_dir = hydra_cfg.run.dir
    old_argv = list(sys.argv)
    try:
        with read_write(hydra_cfg), open_dict(hydra_cfg):
            hydra_cfg.run.dir = str(Path(run_dir).resolve())
        if hydra_cfg.mode == RunMode.MULTIRUN:
            # Lightning's launcher re-runs sys.argv: one job's command line, not the sweep
            sys.argv = child_argv(old_argv, list(hydra_cfg.overrides.task))
        yield
    finally:
        sys.argv = old_argv
        with read_write(hydra_cfg), open_dict(hydra_cfg):
            hydra_cfg.run.dir = old_dir
