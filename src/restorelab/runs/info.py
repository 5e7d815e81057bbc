"""What a run needs to be reproduced: ``run_info.json`` and the run's status file.

Hydra already stores the resolved config and the overrides in ``<run>/.hydra/``; what it does not
store is *which code* ran them. ``run_info.json`` adds the git commit of the restorelab checkout
and whether it had uncommitted changes (``git_diff.patch`` holds them), the versions of the
libraries that change numbers (torch, lightning, kornia, restorelab, ...), the command line and
the host. ``run_status.json`` says whether the run is ``running``, ``ok`` or ``failed`` (with
the error), and when it started and ended; ``restorelab-runs`` reads both.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from restorelab.atomic import atomic_write_text

RUN_INFO = "run_info.json"
RUN_STATUS = "run_status.json"
GIT_DIFF = "git_diff.patch"

#: Distributions whose versions are recorded: the ones that can change a run's numbers.
VERSIONED = (
    "restorelab",
    "torch",
    "lightning",
    "kornia",
    "torchmetrics",
    "hydra-core",
    "omegaconf",
    "numpy",
    "pillow",
    "scikit-image",
    "wandb",
)
#: Seconds a git query may take before the commit is recorded as unknown.
GIT_TIMEOUT_S = 10.0


def is_global_zero() -> bool:
    """True in the process that owns the run directory (not a DDP/SLURM worker rank > 0)."""
    for var in ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK"):
        value = os.environ.get(var)
        if value not in (None, "", "0"):
            return False
    return True


def package_versions(names: tuple[str, ...] = VERSIONED) -> dict[str, str | None]:
    """Installed version of each distribution (``None`` when it is not installed)."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    versions["python"] = platform.python_version()
    return versions


def _git(args: list[str], cwd: Path) -> str | None:
    """Output of a read-only git command in ``cwd``; ``None`` when git or the repo is missing.

    ``--no-optional-locks`` keeps ``git status`` from refreshing the index, so recording a run
    never takes ``.git/index.lock`` from under someone committing in the same checkout.
    """
    try:
        done = subprocess.run(
            ["git", "--no-optional-locks", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def git_state(source: Path | None = None) -> dict[str, Any]:
    """Commit, dirty flag and diff of the git checkout that holds the restorelab sources.

    The code that ran is what matters, so the repository is found from this package's location,
    not from the working directory. An installed wheel (no checkout) gives ``commit: None``.
    Dirty means tracked files differ from the commit; untracked files are listed separately.

    Returns:
        ``{"commit", "dirty", "untracked", "diff"}`` (``diff`` is the text of ``git diff HEAD``).
    """
    where = source or Path(__file__).resolve().parent
    commit = _git(["rev-parse", "HEAD"], where)
    if commit is None:
        return {"commit": None, "dirty": None, "untracked": [], "diff": ""}
    status = _git(["status", "--porcelain", "--untracked-files=all"], where) or ""
    lines = [line for line in status.splitlines() if line.strip()]
    untracked = [line[3:] for line in lines if line.startswith("??")]
    dirty = any(not line.startswith("??") for line in lines)
    diff = (_git(["diff", "HEAD"], where) or "") if dirty else ""
    return {"commit": commit.strip(), "dirty": dirty, "untracked": untracked, "diff": diff}


def now_iso() -> str:
    """Current UTC time, ISO 8601 with seconds."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def collect_run_info(overrides: list[str], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything but the config needed to rerun a run: code version, libraries, command."""
    git = git_state()
    return {
        "git_commit": git["commit"],
        "git_dirty": git["dirty"],
        "git_untracked": git["untracked"],
        "versions": package_versions(),
        "overrides": list(overrides),
        "command": [Path(sys.argv[0]).name, *sys.argv[1:]],
        "cwd": os.getcwd(),
        "host": socket.gethostname(),
        "started": now_iso(),
        **(extra or {}),
        "_diff": git["diff"],
    }


def write_run_info(run_dir: Path, info: dict[str, Any], resumed: bool = False) -> Path:
    """Write ``run_info.json`` (and ``git_diff.patch`` when the checkout was dirty).

    When ``resumed`` (``restorelab-train resume=RUN``) the first invocation's record stays
    at the top level and this invocation's is appended to its ``resumed`` list (its diff as
    ``git_diff.resume-<n>.patch``), so the code that started the run is never overwritten.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    info = dict(info)
    diff = info.pop("_diff", "")
    path = run_dir / RUN_INFO
    first = read_json(path) if resumed else None
    if first is not None:
        earlier = list(first.get("resumed") or [])
        if diff:
            name = f"git_diff.resume-{len(earlier) + 1}.patch"
            atomic_write_text(run_dir / name, diff)
            info["git_diff"] = name
        first["resumed"] = [*earlier, info]
        atomic_write_text(path, json.dumps(first, indent=2) + "\n")
        return path
    if diff:
        atomic_write_text(run_dir / GIT_DIFF, diff)
        info["git_diff"] = GIT_DIFF
    atomic_write_text(path, json.dumps(info, indent=2) + "\n")
    return path


def record_run_info(run_dir: Path, **fields: Any) -> None:
    """Add decisions made while the run starts (precision, time budget) to ``run_info.json``.

    They go into the record of the current invocation: the top level for a first run, the
    last ``resumed`` entry for a resume. Nothing happens outside rank zero or without the file
    (``train()`` called directly, not through ``restorelab-train``).
    """
    path = run_dir / RUN_INFO
    info = read_json(path) if is_global_zero() else None
    if info is None:
        return
    resumed = info.get("resumed")
    target = resumed[-1] if isinstance(resumed, list) and resumed else info
    target.update(fields)
    atomic_write_text(path, json.dumps(info, indent=2) + "\n")


class RunStatus:
    """``run_status.json``: ``running`` from the start, then ``ok`` or ``failed`` with the error.

    The file is rewritten atomically at each change, so a reader never sees half a file; a run
    killed without a chance to write (SIGKILL, node loss) stays ``running`` with its ``pid`` and
    ``host``, which ``restorelab-runs`` checks.
    """

    def __init__(self, run_dir: Path, resumed: bool = False, **fields: Any) -> None:
        self.path = run_dir / RUN_STATUS
        self._t0 = time.monotonic()
        # a resumed run keeps its first start and adds up the wall time of its invocations
        previous = (read_json(self.path) or {}) if resumed else {}
        self._offset = float(previous.get("wall_time_s") or 0.0)
        self.data: dict[str, Any] = {
            "status": "running",
            "started": previous.get("started") or now_iso(),
            "invoked": now_iso(),
            "ended": None,
            "wall_time_s": None,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "error": None,
            **fields,
        }
        self._write()

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path, json.dumps(self.data, indent=2) + "\n")

    def finish(self, status: str, error: str | None = None, **fields: Any) -> None:
        """Record the outcome (``ok`` or ``failed``), the end time and the wall time."""
        self.data.update(
            status=status,
            ended=now_iso(),
            wall_time_s=round(self._offset + time.monotonic() - self._t0, 3),
            error=error,
            **fields,
        )
        self._write()


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object from ``path``; ``None`` when missing or unreadable (a run being written)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _flag_value(argv: list[str], names: tuple[str, ...]) -> str | None:
    """Value of ``--flag VALUE`` or ``--flag=VALUE`` in ``argv`` (the last one wins)."""
    value = None
    for i, arg in enumerate(argv):
        for name in names:
            if arg == name and i + 1 < len(argv):
                value = argv[i + 1]
            elif arg.startswith(name + "="):
                value = arg.split("=", 1)[1]
    return value


def rerun_argv(argv: list[str]) -> list[str]:
    """Add ``+hydra=default`` when ``argv`` reruns a saved ``RUN/.hydra/config.yaml``.

    Hydra saves a run's config without its defaults list, so ``restorelab-train --config-dir
    RUN/.hydra --config-name config`` would otherwise get Hydra's stock settings: a run dir
    under ``outputs/<date>/<time>`` of the working directory instead of restorelab's layout
    (``RESTORELAB_OUTPUTS``, ``train/runs/...``), and no sweep report. Nothing changes when the
    primary config has a defaults list or a ``hydra`` override is already given.
    """
    config_dir = _flag_value(argv, ("--config-dir", "-cd"))
    config_name = _flag_value(argv, ("--config-name", "-cn"))
    if not config_dir or not config_name:
        return argv
    if any(a.lstrip("+~").startswith("hydra=") for a in argv):
        return argv
    name = config_name if config_name.endswith(".yaml") else f"{config_name}.yaml"
    path = Path(config_dir).expanduser() / name
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return argv  # Hydra reports a missing or broken config itself
    if not isinstance(data, dict) or "defaults" in data:
        return argv
    return [*argv, "+hydra=default"]
