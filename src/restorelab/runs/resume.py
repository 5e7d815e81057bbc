"""``restorelab-train resume=RUN_DIR`` (or ``resume=latest``): continue a run where it was.

A resumed run keeps everything that identifies it:

- its run directory: before Hydra starts, :func:`resume_argv` rewrites the command line to
  compose the run's saved config (``RUN/.hydra/config.yaml``) with ``hydra.run.dir=RUN``, so no
  new timestamped directory appears; the resume's own config and overrides are recorded under
  ``RUN/.hydra/resume-<time>/``;
- its checkpoint: ``RUN/checkpoints/last.ckpt`` (weights, optimizers, schedulers, loop position,
  random states);
- its W&B run: the id stored in the checkpoint (or found under ``RUN/wandb/``) with
  ``resume="allow"``.

Further overrides are accepted when they leave what the checkpoint depends on alone;
:func:`check_compatible` refuses a checkpoint whose architecture, scale or degradation differs
from the config's (``resume_must_match``), showing every differing key with both values.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

from omegaconf import DictConfig, OmegaConf, open_dict

from restorelab.errors import ConfigError

#: Config keys a checkpoint must agree with when ``resume_must_match`` is not in the config
#: (runs saved before it existed): what the weights were trained for.
DEFAULT_MUST_MATCH = ("generator", "discriminator", "degradation", "data.scale")
LAST = Path("checkpoints") / "last.ckpt"
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


def resume_argv(argv: Sequence[str], now: dt.datetime | None = None) -> list[str]:
    """Rewrite ``prog ... resume=RUN ...`` to compose RUN's saved config into RUN itself.

    Returns ``argv`` unchanged when there is no ``resume=`` argument (a rewritten command line
    carries ``++resume=``, so applying this twice, as DDP children do, changes nothing).
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
    """Point ``cfg`` at its run's checkpoint and W&B run, and check the checkpoint fits.

    With ``resume`` set, ``ckpt_path`` becomes ``RUN/checkpoints/last.ckpt`` and the W&B
    logger gets the run's id with ``resume="allow"``. Any ``ckpt_path`` is checked with
    :func:`check_compatible`. Returns the step the checkpoint continues from (0 without one).
    """
    from restorelab.weights import load_checkpoint

    resume = cfg.get("resume")
    if resume not in (None, ""):
        run = Path(str(resume))
        if run.resolve() != run_dir.resolve():
            raise ConfigError(
                f"resume={resume} must run in its own directory, but the run directory is "
                f"{run_dir}: start it as `restorelab-train resume=RUN`"
            )
        with open_dict(cfg):
            if cfg.get("ckpt_path") in (None, ""):
                cfg.ckpt_path = str(run / LAST)
    ckpt_path = cfg.get("ckpt_path")
    if ckpt_path in (None, ""):
        return 0
    checkpoint = load_checkpoint(str(ckpt_path))
    check_compatible(cfg, checkpoint, str(ckpt_path))
    wandb_cfg = (cfg.get("logger") or {}).get("wandb")
    if resume not in (None, "") and wandb_cfg is not None:
        run_id = wandb_cfg.get("id") or wandb_run_id(Path(str(resume)), checkpoint)
        if run_id:
            with open_dict(cfg):
                cfg.logger.wandb.id = run_id
                cfg.logger.wandb.resume = "allow"
    return int(checkpoint.get("global_step") or 0)


def main_argv() -> None:
    """Apply :func:`resume_argv` to ``sys.argv`` (what Hydra and DDP children read)."""
    sys.argv = resume_argv(sys.argv)
