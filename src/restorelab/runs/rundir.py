"""A run never writes into another run's directory.

Running into an existing ``hydra.run.dir``, or a sweep into a ``hydra.sweep.dir`` whose job
directories hold runs (a resumed Optuna study numbers its jobs from 0 again), overwrote the
earlier runs' checkpoints, ``metrics.json``, ``run_info.json`` and saved config.

What counts as a run: a directory with ``run_info.json`` or ``checkpoints/``, which only
restorelab-train writes. ``.hydra/`` and the log do not count: Hydra writes them into the run
directory before any restorelab code runs, so they are all a refused start or a Hydra app
without a training run (``restorelab-eval``) can leave.

Who may use such a directory anyway, because they continue that run: ``resume=RUN`` (RUN
itself), a SLURM requeue of the job that wrote it (:func:`restorelab.runs.requeue.is_requeue`),
and the other processes of a multi-process run (DDP ranks and nodes joining rank 0's
directory: :func:`restorelab.runs.info.is_global_zero` is false).

The check runs twice. :class:`RunDirGuard`, a Hydra callback (``conf/hydra/default.yaml``),
checks the run or sweep directory before Hydra writes anything into it and stops with one line
and exit code 2. It also stops a run or sweep directory that cannot be created or written (a
path under a regular file, a read-only folder): Hydra's own ``mkdir`` would end in a
traceback before any restorelab code runs. :func:`restorelab.runs.job.run_job` checks each
job's directory again before writing ``run_info.json`` (a job that another sweep, started at
the same time, also claims).
"""

from __future__ import annotations

import errno
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from restorelab.errors import ConfigError
from restorelab.runs.info import RUN_INFO, is_global_zero
from restorelab.runs.requeue import is_requeue

#: What restorelab-train writes into a run directory and nothing else does.
RUN_MARKERS = (RUN_INFO, "checkpoints")


def run_marker(folder: Path) -> Path | None:
    """The first file of :data:`RUN_MARKERS` in ``folder``: the proof it holds a run."""
    for name in RUN_MARKERS:
        if (folder / name).exists():
            return folder / name
    return None


def continues(folder: Path, resume: str | None) -> bool:
    """True when this process continues the run in ``folder`` rather than starting one."""
    if resume not in (None, "", "null") and Path(str(resume)).resolve() == folder.resolve():
        return True
    return not is_global_zero() or is_requeue(folder)


def check_run_dir(folder: Path, key: str, resume: str | None) -> None:
    """Refuse to start a run in ``folder`` (named by config ``key``) when it holds another."""
    marker = run_marker(folder)
    if marker is None or continues(folder, resume):
        return
    raise ConfigError(
        f"run directory {folder} holds another run ({marker}): a new run there would overwrite its "
        f"checkpoints, metrics.json and run_info.json; choose another {key}, or continue it "
        f"with resume={folder}"
    )


def check_sweep_dir(folder: Path) -> None:
    """Refuse a sweep into ``folder`` when it, or a job directory in it, holds a run."""
    if not is_global_zero():
        return
    jobs = sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    for job in [folder, *jobs]:
        marker = run_marker(job)
        if marker is not None:
            raise ConfigError(
                f"hydra.sweep.dir={folder} holds the runs of an earlier sweep ({marker}): this "
                "sweep's jobs, numbered from 0 again (also when an Optuna study resumes), would "
                "overwrite them; choose another hydra.sweep.dir"
            )


def nearest_existing(folder: Path) -> Path:
    """``folder`` itself or its nearest ancestor that exists (a dangling link counts as one).

    Raises the ``OSError`` of a path that cannot even be looked at (a folder without search
    permission, a link loop): :func:`check_writable` reports it.
    """
    current = folder
    while True:
        try:
            os.lstat(current)
            return current
        except (FileNotFoundError, NotADirectoryError):
            if current.parent == current:
                return current
            current = current.parent


def check_writable(folder: Path, key: str) -> None:
    """Refuse ``folder`` (config ``key``) when it cannot be created or written.

    Probes ``folder`` or, when it does not exist yet, the nearest existing ancestor, where
    Hydra's ``mkdir`` would create it: that ancestor must be a directory in which a file can
    be created. The probe is a temporary file, removed again, so nothing is left behind. It
    acts under the real kernel rules, which also stop root (for whom ``os.access`` is always
    true) at a path under a regular file or on a read-only mount.
    """
    try:
        base = nearest_existing(Path(os.path.abspath(folder)))
        if not base.is_dir():
            what = "a link to nothing" if base.is_symlink() and not base.exists() else None
            raise NotADirectoryError(errno.ENOTDIR, what or os.strerror(errno.ENOTDIR), str(base))
        try:
            with tempfile.TemporaryFile(dir=base, prefix=".restorelab-probe-"):
                pass
        except OSError as error:  # name the folder, not the probe's random file name
            raise OSError(error.errno, error.strerror or str(error), str(base)) from error
    except OSError as error:
        reason = f"{error.filename}: {error.strerror or error}"
        raise ConfigError(f"{key}={folder}: cannot write there: {reason}") from error


def _select(config: DictConfig, key: str) -> Any:
    """``config``'s value at ``key``, resolved; ``None`` when it cannot be resolved yet."""
    try:
        return OmegaConf.select(config, key, throw_on_resolution_failure=True)
    except Exception:  # an interpolation only Hydra's job can resolve: run_job checks then
        return None


class RunDirGuard(Callback):
    """Hydra callback: stop before Hydra writes into a directory that holds another run,
    or into one that cannot be created or written.

    Args:
        prog: the command named in the one-line error (``restorelab-<hydra.job.name>``).
    """

    def __init__(self, prog: str = "restorelab-train") -> None:
        self.prog = prog

    def _refuse(self, error: ConfigError) -> None:
        print(f"{self.prog}: error: {error}", file=sys.stderr)
        raise SystemExit(2)

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        folder = _select(config, "hydra.run.dir")
        if folder is None:
            return
        try:
            check_writable(Path(str(folder)), "hydra.run.dir")
            check_run_dir(Path(str(folder)), "hydra.run.dir", _select(config, "resume"))
        except ConfigError as error:
            self._refuse(error)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        folder = _select(config, "hydra.sweep.dir")
        if folder is None:
            return
        try:
            check_writable(Path(str(folder)), "hydra.sweep.dir")
            check_sweep_dir(Path(str(folder)))
        except ConfigError as error:
            self._refuse(error)
