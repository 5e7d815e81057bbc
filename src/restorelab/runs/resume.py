"""``restorelab-train resume=RUN_DIR`` (or ``resume=latest``): continue a run where it was.

A resumed run keeps everything that identifies it:

- its run directory: before Hydra starts, :func:`resume_argv` turns the command line into one
  that composes the run's saved config (``RUN/.hydra/config.yaml``) with ``hydra.run.dir=RUN``,
  so no new timestamped directory appears; the resume's own config and overrides are recorded
  under ``RUN/.hydra/resume-<time>/``;
- its checkpoint: ``ckpt_path=RUN/checkpoints/last.ckpt`` (weights, optimizers, schedulers, loop
  position, random states);
- its W&B run: ``logger.wandb.id`` (the id stored in the checkpoint, or found under
  ``RUN/wandb/``) with ``logger.wandb.resume=allow``.

All three are explicit overrides on that command line (:func:`resume_overrides`), so the config
``restorelab-train resume=RUN --cfg job`` prints is the config that runs: nothing changes it
after composition. :func:`prepare_resume` only checks it.

Further overrides are accepted when they leave what the checkpoint depends on alone;
:func:`check_compatible` refuses a checkpoint whose architecture, scale or degradation differs
from the config's (``resume_must_match``), showing every differing key with both values.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import yaml
from omegaconf import DictConfig, OmegaConf

from restorelab.errors import ConfigError

#: Config keys a checkpoint must agree with when ``resume_must_match`` is not in the config
#: (runs saved before it existed): what the weights were trained for.
DEFAULT_MUST_MATCH = ("generator", "discriminator", "degradation", "data.scale")
LAST = Path("checkpoints") / "last.ckpt"
#: Lightning's CSV logger deletes the run's ``metrics.csv``; runs saved before restorelab had
#: its own resume with this one instead (same arguments, the history kept).
LIGHTNING_CSV = "lightning.pytorch.loggers.CSVLogger"
RESTORELAB_CSV = "restorelab.training.csv_logger.CSVLogger"
SAVED_CONFIG = Path(".hydra") / "config.yaml"
_CONFIG_FLAGS = ("--config-dir", "-cd", "--config-path", "-cp", "--config-name", "-cn")


def runs_root() -> Path:
    """Where ``restorelab-train`` puts its runs: ``$RESTORELAB_OUTPUTS/train`` (``outputs/``)."""
    return Path(os.environ.get("RESTORELAB_OUTPUTS", "outputs")) / "train"


def latest_run(root: Path) -> Path:
    """The run under ``root`` (``runs/*`` and ``multiruns/*/*``) whose last.ckpt is newest."""
    candidates = [
        p.parent.parent
        for pattern in (f"runs/*/{LAST}", f"multiruns/*/*/{LAST}")
        for p in root.glob(pattern)
    ]
    if not candidates:
        raise ConfigError(f"resume=latest: no run with {LAST} under {root}")
    return max(candidates, key=lambda run: (run / LAST).stat().st_mtime)


def resolve_run_dir(spec: str, root: Path | None = None) -> Path:
    """The absolute run directory ``resume=spec`` names, checked to be resumable."""
    run = latest_run(root or runs_root()) if spec == "latest" else Path(spec)
    if not run.is_dir():
        raise ConfigError(f"resume={spec}: run directory does not exist: {run}")
    for needed in (SAVED_CONFIG, LAST):
        if not (run / needed).is_file():
            raise ConfigError(
                f"resume={spec}: {run / needed} not found (is {run} a run directory?)"
            )
    return run.resolve()


def _override_key(arg: str) -> str:
    """The config key a command-line override sets: ``++a.b=1`` -> ``a.b``, ``~a`` -> ``a``."""
    return arg.split("=", 1)[0].lstrip("+~")


def resume_overrides(run: Path, given: Sequence[str]) -> list[str]:
    """The overrides that point ``run``'s saved config at its checkpoint and its W&B run.

    ``ckpt_path=RUN/checkpoints/last.ckpt`` when the saved config has a ``ckpt_path`` key (every
    ``restorelab-train`` config has); ``++logger.wandb.id=ID ++logger.wandb.resume=allow`` when
    it has a W&B logger and the run's id is known (the saved ``logger.wandb.id``, else the one in
    the checkpoint or under ``RUN/wandb/``); ``logger.<name>._target_=`` restorelab's CSV logger
    for a logger saved as Lightning's (which would delete the run's ``metrics.csv``). A key the
    user overrides in ``given`` is left to the user (and ``prepare_resume`` refuses a
    ``ckpt_path`` from another run); so are the logger keys when ``given`` replaces or removes
    the logger.
    """
    try:
        saved = yaml.safe_load((run / SAVED_CONFIG).read_text())
    except (OSError, yaml.YAMLError):
        return []  # Hydra reports a missing or broken config itself
    if not isinstance(saved, Mapping):
        return []
    keys = {_override_key(a) for a in given}
    out = []
    if "ckpt_path" in saved and "ckpt_path" not in keys:
        out.append(f"ckpt_path={run / LAST}")
    wandb_cfg = _select(saved, "logger.wandb")
    touched = keys & {"logger", "logger.wandb", "logger.wandb.id", "logger.wandb.resume"}
    if isinstance(wandb_cfg, Mapping) and not touched:
        run_id = wandb_cfg.get("id")
        if not run_id:
            from restorelab.weights import load_checkpoint

            run_id = wandb_run_id(run, load_checkpoint(run / LAST))
        if run_id:
            out += [f"++logger.wandb.id={run_id}", "++logger.wandb.resume=allow"]
    loggers = saved.get("logger")
    for name, logger_cfg in loggers.items() if isinstance(loggers, Mapping) else []:
        is_lightnings = (
            isinstance(logger_cfg, Mapping) and logger_cfg.get("_target_") == LIGHTNING_CSV
        )
        if is_lightnings and not keys & {"logger", f"logger.{name}", f"logger.{name}._target_"}:
            out.append(f"logger.{name}._target_={RESTORELAB_CSV}")
    return out


def resume_argv(argv: Sequence[str], now: dt.datetime | None = None) -> list[str]:
    """The command line that continues ``prog ... resume=RUN ...`` in RUN itself.

    Composes RUN's saved config with the other arguments, the :func:`resume_overrides`
    (checkpoint, W&B run), ``++resume=RUN`` and RUN as Hydra's run directory. A pure function:
    :func:`restorelab.commands.train.main` hands the result to Hydra. Returns ``argv`` unchanged
    (as a new list) when there is no ``resume=`` argument; a rewritten command line carries
    ``++resume=``, so applying this twice, as DDP children do, changes nothing.
    """
    args = list(argv[1:])
    specs = [a.split("=", 1)[1] for a in args if a.startswith("resume=")]
    if not specs or specs[-1] in ("", "null"):
        return [a for a in argv if not a.startswith("resume=")] if specs else list(argv)
    if any(a in ("-m", "--multirun") for a in args):
        raise ConfigError("resume= continues one run; it cannot be combined with -m/--multirun")
    if any(a.split("=", 1)[0] in _CONFIG_FLAGS for a in args):
        raise ConfigError(
            "resume= composes the run's own saved config; drop --config-dir/--config-name"
        )
    run = resolve_run_dir(specs[-1])
    stamp = (now or dt.datetime.now()).strftime("%Y-%m-%d_%H-%M-%S")
    rest = [a for a in args if not a.startswith("resume=")]
    return [
        argv[0],
        "--config-dir",
        str(run / ".hydra"),
        "--config-name",
        "config",
        *rest,
        *resume_overrides(run, rest),
        f"++resume={run}",
        f"hydra.run.dir={run}",
        f"hydra.output_subdir=.hydra/resume-{stamp}",
    ]


def wandb_run_id(run: Path, checkpoint: Mapping[str, Any]) -> str | None:
    """The W&B id of ``run``: from the checkpoint's ResumeState, else from ``RUN/wandb/``."""
    for key, state in (checkpoint.get("callbacks") or {}).items():
        if "ResumeState" in str(key) and isinstance(state, Mapping) and state.get("wandb_id"):
            return str(state["wandb_id"])
    dirs = sorted((run / "wandb").glob("*run-*-*"), key=lambda p: p.stat().st_mtime)
    return dirs[-1].name.rsplit("-", 1)[-1] if dirs else None


def _flatten(node: Any, prefix: str) -> dict[str, Any]:
    if isinstance(node, Mapping) and node:
        out: dict[str, Any] = {}
        for key, value in node.items():
            out.update(_flatten(value, f"{prefix}.{key}"))
        return out
    return {prefix: None if isinstance(node, Mapping) else node}


def _select(config: Mapping[str, Any], dotted: str) -> Any:
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def config_differences(
    saved: Mapping[str, Any], current: Mapping[str, Any], keys: Sequence[str]
) -> list[tuple[str, Any, Any]]:
    """``(key, saved value, current value)`` for every leaf under ``keys`` that differs."""
    diffs = []
    for key in keys:
        old, new = _flatten(_select(saved, key), key), _flatten(_select(current, key), key)
        for leaf in sorted(set(old) | set(new)):
            if old.get(leaf) != new.get(leaf):
                diffs.append((leaf, old.get(leaf), new.get(leaf)))
    return diffs


def check_compatible(cfg: DictConfig, checkpoint: Mapping[str, Any], source: str) -> None:
    """Refuse a checkpoint trained for another architecture, scale or degradation."""
    saved = (checkpoint.get("restorelab") or {}).get("config")
    if not isinstance(saved, Mapping):
        return  # not written by restorelab-train: nothing to compare with
    keys = list(cfg.get("resume_must_match") or DEFAULT_MUST_MATCH)
    current = cast(dict[str, Any], OmegaConf.to_container(cfg, resolve=True))
    diffs = config_differences(saved, current, keys)
    if diffs:
        shown = "; ".join(f"{k}: checkpoint {a!r}, now {b!r}" for k, a, b in diffs)
        raise ConfigError(
            f"cannot resume from {source}: the config differs from the checkpoint's in keys "
            f"that must match (resume_must_match): {shown}"
        )


def prepare_resume(cfg: DictConfig, run_dir: Path) -> int:
    """Check that ``cfg`` can continue from its checkpoint; the step it continues from.

    ``cfg`` is not changed: ``restorelab-train resume=RUN`` already put the checkpoint and the
    W&B run on the command line (:func:`resume_overrides`). With ``resume`` set, the run
    directory must be RUN and ``ckpt_path`` a checkpoint of RUN. Any ``ckpt_path`` is checked
    with :func:`check_compatible`. Returns 0 without a ``ckpt_path``.
    """
    from restorelab.weights import load_checkpoint

    resume = cfg.get("resume")
    ckpt_path = cfg.get("ckpt_path")
    if resume not in (None, ""):
        run = Path(str(resume))
        if run.resolve() != run_dir.resolve():
            raise ConfigError(
                f"resume={resume} must run in its own directory, but the run directory is "
                f"{run_dir}: start it as `restorelab-train resume=RUN`"
            )
        if ckpt_path in (None, ""):
            raise ConfigError(
                f"resume={resume} needs ckpt_path (its {run / LAST}): start it as "
                "`restorelab-train resume=RUN`, which sets it on the command line"
            )
        if not Path(str(ckpt_path)).expanduser().resolve().is_relative_to(run.resolve()):
            raise ConfigError(
                f"ckpt_path={ckpt_path} and resume={resume} disagree: a resumed run continues "
                f"from a checkpoint of its own ({run / LAST} by default); drop ckpt_path to "
                "resume, or drop resume to start a new run from that checkpoint"
            )
    if ckpt_path in (None, ""):
        return 0
    checkpoint = load_checkpoint(str(ckpt_path))
    check_compatible(cfg, checkpoint, str(ckpt_path))
    return int(checkpoint.get("global_step") or 0)


def remove_cut_writes(run_dir: Path) -> list[Path]:
    """Delete the temporary files of writes a killed run left unfinished; returns them.

    Every file of a run is written to ``.<name>.<random>.tmp`` next to it and renamed when
    complete (:mod:`restorelab.atomic`); a SIGKILL or a node loss mid-write leaves that
    temporary file, as large as a checkpoint, and the previous complete file in place. A run
    that continues in its directory (``resume=``, a SLURM requeue) removes them: no process
    of the run is writing any more.
    """
    removed = []
    for folder in (run_dir, run_dir / LAST.parent):
        for path in sorted(folder.glob(".*.tmp")):
            if path.is_file():
                with contextlib.suppress(FileNotFoundError):  # already gone
                    path.unlink()
                    removed.append(path)
    return removed
