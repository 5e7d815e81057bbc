"""A run never overwrites another run's files (issue 13 item 7).

A directory holds a run when restorelab-train wrote ``run_info.json`` or ``checkpoints/`` there
(``.hydra/`` and the log alone do not count: Hydra writes them before any restorelab code
runs). A new run, or a sweep whose job directories hold runs, is refused with one line before
Hydra writes anything; ``resume=RUN``, a SLURM requeue of the same job and the other processes
of a multi-process run continue in the directory. A run or sweep directory that cannot be
created or written is refused the same way, instead of Hydra's traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest

from restorelab.errors import ConfigError
from restorelab.runs.rundir import check_run_dir, check_sweep_dir, check_writable
from tests.helpers import (
    TINY,
    TINY_TRIAL,
    assert_one_line_error,
    make_unwritable,
    ok,
    run_cli,
    train_cli,
)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` and its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_a_new_run_into_a_run_directory_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    run = tmp_path / "run"
    ok(train_cli([*TINY, "logger=none", f"hydra.run.dir={run}"], tmp_path))
    before = snapshot(run)
    assert {"run_info.json", "metrics.json", "checkpoints/last.ckpt", ".hydra/config.yaml"} <= set(
        before
    )

    again = train_cli([*TINY, "logger=none", "seed=7", f"hydra.run.dir={run}"], tmp_path)
    line = assert_one_line_error(again, "restorelab-train")
    assert line == (
        f"restorelab-train: error: run directory {run} holds another run "
        f"({run / 'run_info.json'}): a new run there would overwrite its checkpoints, "
        f"metrics.json and run_info.json; choose another hydra.run.dir, or continue it with "
        f"resume={run}"
    )
    assert snapshot(run) == before  # not even Hydra's .hydra/ or the log was touched


@pytest.mark.slow
def test_resuming_an_optuna_study_into_the_same_sweep_dir_is_refused(tmp_path: Path) -> None:
    sweep = tmp_path / "outputs" / "search"
    args = ["hparams_search=optuna", "hydra.sweeper.n_trials=1", *TINY_TRIAL]
    ok(run_cli("restorelab-train", *args, f"hydra.sweep.dir={sweep}", cwd=tmp_path))
    before = snapshot(sweep)
    assert "0/run_info.json" in before and "0/metrics.json" in before

    # the same command again resumes the study, whose sweeper numbers its jobs from 0 again
    again = run_cli("restorelab-train", *args, f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    line = assert_one_line_error(again, "restorelab-train")
    assert line == (
        f"restorelab-train: error: hydra.sweep.dir={sweep} holds the runs of an earlier sweep "
        f"({sweep / '0' / 'run_info.json'}): this sweep's jobs, numbered from 0 again (also "
        "when an Optuna study resumes), would overwrite them; choose another hydra.sweep.dir"
    )
    assert snapshot(sweep) == before
    db = tmp_path / "outputs" / "optuna" / "train_optuna.db"
    study = optuna.load_study(study_name="train_optuna", storage=f"sqlite:///{db}")
    assert len(study.trials) == 1  # refused before the sweeper asked for a trial

    # into a new sweep dir the study continues
    ok(run_cli("restorelab-train", *args, f"hydra.sweep.dir={sweep}2", cwd=tmp_path))
    study = optuna.load_study(study_name="train_optuna", storage=f"sqlite:///{db}")
    assert [t.number for t in study.trials] == [0, 1]


# --------------------------------------------------------------- what counts as another run
SLURM_JOB = {"SLURM_JOB_ID": "4242", "SLURM_NTASKS": "1", "SLURM_JOB_NAME": "train"}


def a_run(folder: Path, **info: object) -> Path:
    (folder / ".hydra").mkdir(parents=True)
    (folder / "run_info.json").write_text(json.dumps({"slurm_job_id": None, **info}))
    return folder


def test_hydras_own_files_alone_are_not_a_run(tmp_path: Path) -> None:
    (tmp_path / "d" / ".hydra").mkdir(parents=True)
    (tmp_path / "d" / "train.log").write_text("")
    check_run_dir(tmp_path / "d", "hydra.run.dir", resume=None)
    check_run_dir(tmp_path / "missing", "hydra.run.dir", resume=None)
    (tmp_path / "d" / "checkpoints").mkdir()
    with pytest.raises(ConfigError, match=r"holds another run \(.*checkpoints\)"):
        check_run_dir(tmp_path / "d", "hydra.run.dir", resume=None)


def test_resume_and_other_ranks_continue_in_the_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = a_run(tmp_path / "r")
    check_run_dir(run, "hydra.run.dir", resume=str(run))
    with pytest.raises(ConfigError, match="holds another run"):
        check_run_dir(run, "hydra.run.dir", resume=str(tmp_path / "other"))
    monkeypatch.setenv("LOCAL_RANK", "1")  # a DDP process joining rank 0's directory
    check_run_dir(run, "hydra.run.dir", resume=None)


def test_a_slurm_requeue_of_the_same_job_continues(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in SLURM_JOB.items():
        monkeypatch.setenv(name, value)
    first = a_run(tmp_path / "first", slurm_job_id="4242")
    check_run_dir(first, "hydra.run.dir", resume=None)
    resumed = a_run(tmp_path / "resumed", slurm_job_id="7", resumed=[{"slurm_job_id": "4242"}])
    check_run_dir(resumed, "hydra.run.dir", resume=None)
    other = a_run(tmp_path / "other", slurm_job_id="7")
    with pytest.raises(ConfigError, match="holds another run"):
        check_run_dir(other, "hydra.run.dir", resume=None)
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "4242")  # an array task's id is <array>_<task>
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "3")
    with pytest.raises(ConfigError, match="holds another run"):
        check_run_dir(first, "hydra.run.dir", resume=None)
    check_run_dir(a_run(tmp_path / "task", slurm_job_id="4242_3"), "hydra.run.dir", resume=None)


def test_a_sweep_dir_with_runs_in_its_job_dirs_is_refused(tmp_path: Path) -> None:
    (tmp_path / "s" / ".submitit").mkdir(parents=True)
    (tmp_path / "s" / "multirun.yaml").write_text("")
    check_sweep_dir(tmp_path / "s")
    a_run(tmp_path / "s" / "3")
    with pytest.raises(ConfigError, match=r"holds the runs of an earlier sweep \(.*3/run_info"):
        check_sweep_dir(tmp_path / "s")


# --------------------------------------------------------- a directory that cannot be written
@pytest.mark.parametrize(
    ("prog", "args"),
    [
        ("restorelab-train", ["hydra.run.dir=FILE/run"]),
        ("restorelab-train", ["-m", "hydra.sweep.dir=FILE/sweep"]),
        ("restorelab-eval", ["generator=bicubic", "data.test_dir=test", "hydra.run.dir=FILE/run"]),
    ],
    ids=["train", "train_multirun", "eval"],
)
def test_a_run_dir_under_a_regular_file_stops_with_one_line(
    tmp_path: Path, prog: str, args: list[str]
) -> None:
    """A path under a regular file fails for root too (``chmod`` would not stop root)."""
    (tmp_path / "FILE").write_text("not a folder\n")
    (tmp_path / "test").mkdir()
    done = run_cli(prog, *args, cwd=tmp_path)
    line = assert_one_line_error(done, prog)
    assert line == (
        f"{prog}: error: {args[-1]}: cannot write there: {tmp_path / 'FILE'}: Not a directory"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["FILE", "test"]  # nothing written


def test_a_read_only_folder_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The probe creates a file where Hydra would create the run dir, and removes it again."""
    check_writable(tmp_path / "a" / "b", "hydra.run.dir")  # a missing path under a writable one
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro" / "run").mkdir()
    make_unwritable(tmp_path / "ro", monkeypatch)
    ro = tmp_path / "ro"
    # a missing run dir is probed in its nearest existing parent, an existing one in itself
    for folder, where in ((ro / "new" / "run", ro), (ro / "run", ro / "run")):
        with pytest.raises(ConfigError) as info:
            check_writable(folder, "hydra.sweep.dir")
        assert str(info.value) == (
            f"hydra.sweep.dir={folder}: cannot write there: {where}: Permission denied"
        )
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["ro", "run"]  # no probe file left
