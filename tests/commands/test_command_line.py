"""The command line Hydra composes: built once, by pure functions, and what runs is what prints.

``restorelab-train resume=RUN`` becomes RUN's saved config with its checkpoint and W&B run as
explicit overrides, so ``--cfg job`` shows the config that runs and nothing changes it after
composition. ``sys.argv`` is assigned in two places only.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
import yaml
from omegaconf import OmegaConf

from restorelab.commands.train import hydra_argv, options_first
from restorelab.errors import ConfigError
from restorelab.runs.resume import prepare_resume, resume_argv, resume_overrides
from tests.helpers import COMMON, ok, train_cli
from tests.helpers import SRC as SRC_ROOT

SRC = SRC_ROOT / "restorelab"
#: The only assignments of sys.argv: the command line Hydra reads (and Lightning's DDP launcher
#: re-runs), and, for the duration of fit, a sweep job's own command line for its DDP ranks.
ARGV_ASSIGNED_IN = {"commands/train.py": 1, "runs/ddp.py": 2}  # ddp.py: set, then restore


def test_sys_argv_is_assigned_only_by_the_entry_point_and_the_ddp_context() -> None:
    found: dict[str, int] = {}
    for path in sorted(SRC.rglob("*.py")):
        n = len(re.findall(r"\bsys\.argv(\[[^\]]*\])?\s*(=[^=]|\+=)", path.read_text()))
        if n:
            found[path.relative_to(SRC).as_posix()] = n
    assert found == ARGV_ASSIGNED_IN


def make_run(path: Path, wandb_id: str | None = "abc123") -> Path:
    """A run directory with a restorelab-like saved config and a checkpoint naming its W&B id."""
    (path / ".hydra").mkdir(parents=True)
    saved = {"seed": 1, "ckpt_path": None, "resume": None, "logger": {"wandb": {"id": None}}}
    (path / ".hydra" / "config.yaml").write_text(yaml.safe_dump(saved))
    (path / "checkpoints").mkdir()
    callbacks = {"ResumeState": {"wandb_id": wandb_id}} if wandb_id else {}
    torch.save({"global_step": 3, "callbacks": callbacks}, path / "checkpoints" / "last.ckpt")
    return path


def test_resume_puts_checkpoint_and_wandb_run_on_the_command_line(tmp_path: Path) -> None:
    run = make_run(tmp_path / "r").resolve()
    last = run / "checkpoints" / "last.ckpt"
    argv = resume_argv(["restorelab-train", f"resume={run}", "seed=2"])
    assert argv[5:10] == [
        "seed=2",
        f"ckpt_path={last}",
        "++logger.wandb.id=abc123",
        "++logger.wandb.resume=allow",
        f"++resume={run}",
    ]
    # what the user sets is the user's; a replaced logger gets no W&B keys
    assert resume_overrides(run, ["ckpt_path=/x.ckpt"]) == [
        "++logger.wandb.id=abc123",
        "++logger.wandb.resume=allow",
    ]
    assert resume_overrides(run, ["logger=csv"]) == [f"ckpt_path={last}"]
    assert resume_overrides(run, ["logger.wandb.id=mine"]) == [f"ckpt_path={last}"]
    # no id anywhere (a run without W&B files): nothing to resume on W&B
    assert resume_overrides(make_run(tmp_path / "n", wandb_id=None), []) == [
        f"ckpt_path={(tmp_path / 'n').resolve() / 'checkpoints' / 'last.ckpt'}"
    ]


def test_hydra_sees_flags_before_overrides() -> None:
    argv = ["p", "a=1", "--cfg", "job", "b=2", "--info", "defaults", "-m", "c=3"]
    flags = ["--cfg", "job", "--info", "defaults", "-m"]
    assert options_first(argv) == ["p", *flags, "a=1", "b=2", "c=3"]
    assert hydra_argv(["restorelab-train", "seed=1"]) == ["restorelab-train", "seed=1"]


def test_prepare_resume_checks_and_does_not_change_the_config(tmp_path: Path) -> None:
    run = make_run(tmp_path / "r").resolve()
    last = run / "checkpoints" / "last.ckpt"
    cfg = OmegaConf.create({"resume": str(run), "ckpt_path": str(last), "logger": None})
    before = OmegaConf.to_container(cfg)
    assert prepare_resume(cfg, run) == 3
    assert OmegaConf.to_container(cfg) == before

    other = tmp_path / "other.ckpt"
    torch.save({"global_step": 1}, other)
    cfg.ckpt_path = str(other)
    with pytest.raises(ConfigError, match=r"^ckpt_path=.*other.ckpt and resume=.* disagree"):
        prepare_resume(cfg, run)
    cfg.ckpt_path = None
    with pytest.raises(ConfigError, match=r"needs ckpt_path .*`restorelab-train resume=RUN`"):
        prepare_resume(cfg, run)


@pytest.mark.slow
def test_cfg_job_of_a_resume_prints_the_config_that_runs(tmp_path: Path) -> None:
    ok(train_cli([*COMMON, "trainer.max_steps=2"], tmp_path))  # logger=default: W&B + CSV
    (run,) = (tmp_path / "train" / "runs").iterdir()
    (wandb_dir,) = (run / "wandb").glob("offline-run-*")
    wandb_id = wandb_dir.name.rsplit("-", 1)[1]

    args = [f"resume={run}", "trainer.max_steps=4"]
    shown = yaml.safe_load(ok(train_cli([*args, "--cfg", "job"], tmp_path)).stdout)
    assert shown["ckpt_path"] == str(run / "checkpoints" / "last.ckpt")
    assert shown["resume"] == str(run)
    assert shown["logger"]["wandb"]["id"] == wandb_id
    assert shown["logger"]["wandb"]["resume"] == "allow"
    assert shown["trainer"]["max_steps"] == 4

    ok(train_cli(args, tmp_path))
    (saved,) = (run / ".hydra").glob("resume-*/config.yaml")
    assert yaml.safe_load(saved.read_text()) == shown
