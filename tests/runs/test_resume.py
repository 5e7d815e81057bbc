"""Resume: a run killed with SIGKILL and resumed ends bit-identical to an uninterrupted one.

Training runs in subprocesses through the real CLI (``python -m restorelab.commands.train``),
which is what a user or a SLURM requeue does; the kill is a real SIGKILL at a step drawn anew
on every run (printed; ``RESTORELAB_TEST_SEED=<n>`` replays a draw), at the end of a training
step, inside a validation or halfway through a checkpoint write.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import signal
from pathlib import Path

import numpy as np
import pytest
import torch

from restorelab.data.datamodule import RestorationDataModule
from restorelab.data.sampling import ResumableDataLoader
from restorelab.data.sources import Sample, Source
from restorelab.degradations import Degradation, GaussianNoise
from restorelab.errors import ConfigError
from restorelab.runs.resume import remove_cut_writes, resolve_run_dir, resume_argv
from restorelab.runs.wandb_offline import find_run_files, iter_records
from restorelab.training.callbacks.resume_state import capture_global_rng, restore_global_rng
from restorelab.training.fit import train
from restorelab.weights import load_checkpoint
from tests.helpers import COMMON, TINY, ok, replayable_seed, train_cli
from tests.helpers import RESUME_STEPS as MAX_STEPS


def wandb_run_ids(run: Path) -> list[str]:
    """The run id of every W&B run file under ``run`` (an ``offline-run-*`` directory)."""
    ids = []
    for path in find_run_files(run):
        for record in iter_records(path, allow_truncated=True):
            if record.WhichOneof("record_type") == "run":
                ids.append(record.run.run_id)
                break
    return ids


#: The kill tests' runs: every CSV row is written as soon as it is logged, so the log of a
#: resumed run can be compared byte for byte with the uninterrupted run's.
KILL_RUN = [*COMMON, "+logger.csv.flush_logs_every_n_steps=1"]
#: Where a run is killed: the test-only callback, and the steps it may be drawn at.
KILL_POINTS = {
    # at the end of a training step, before that step's checkpoints: 3..MAX_STEPS puts the last
    # checkpoint anywhere from step 2 (inside the first epoch of 3 batches) to step 8
    "step": ("tests.helpers.KillAtStep", list(range(3, MAX_STEPS + 1))),
    # inside the validation after step 4 or 8, or the final one after fit
    "validation": ("tests.helpers.KillInValidation", [4, 8, MAX_STEPS]),
    # halfway through writing the first checkpoint at or after the step
    "checkpoint": ("tests.helpers.KillInCheckpointWrite", list(range(3, MAX_STEPS + 1))),
}


def checkpoint_before_kill(where: str, step: int) -> int:
    """The step of the ``last.ckpt`` a run killed at ``where``/``step`` leaves behind.

    ``last.ckpt`` is written every 2 steps (COMMON) and after each validation, and a step's own
    checkpoint replaces the previous one only once no validation of it can be cut short (see
    ``PeriodicCheckpoint``). So a kill at the end of step k (before that step's write), in the
    write at or after step k, or in the validation after step k, leaves the one before k; a
    kill in the final validation after ``fit`` leaves the last step's.
    """
    if where == "validation" and step == MAX_STEPS:
        return MAX_STEPS
    return 2 * ((step - 1) // 2)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run the killed-and-resumed runs must end identical to, trained once per module."""
    root = tmp_path_factory.mktemp("uninterrupted")
    ok(train_cli([*KILL_RUN, "logger=csv", f"hydra.run.dir={root / 'full'}"], root / "other"))
    return root / "full"


@pytest.mark.slow
@pytest.mark.parametrize("where", list(KILL_POINTS))
def test_sigkill_then_resume_is_bit_identical(
    where: str, uninterrupted: Path, tmp_path: Path
) -> None:
    # a new draw each run, printed and in every message: RESTORELAB_TEST_SEED=<n> replays it
    seed = replayable_seed()
    callback, steps = KILL_POINTS[where]
    kill_step = random.Random(f"{seed}:{where}").choice(steps)
    replay = f"killed in {where} at step {kill_step} (RESTORELAB_TEST_SEED={seed})"
    print(replay)

    outputs = tmp_path / "outputs"
    killed = train_cli(
        [*KILL_RUN, f"+callbacks.kill._target_={callback}", f"+callbacks.kill.step={kill_step}"],
        outputs,
    )
    assert killed.returncode == -signal.SIGKILL, f"{replay}\n{killed.stderr[-3000:]}"
    (run,) = (outputs / "train" / "runs").iterdir()
    step_at_kill = load_checkpoint(run / "checkpoints" / "last.ckpt")["global_step"]
    assert step_at_kill == checkpoint_before_kill(where, kill_step), replay
    assert not (run / "metrics.json").exists(), replay
    if where == "checkpoint":  # the write cut short is a temporary file, last.ckpt intact
        assert list((run / "checkpoints").glob(".*last.ckpt*.tmp")), replay

    resumed = train_cli(["resume=latest", "~callbacks.kill"], outputs)
    assert resumed.returncode == 0, f"{replay}\n{resumed.stderr[-3000:]}"
    assert f"Run directory: {run}" in resumed.stdout, replay
    assert [p.name for p in (outputs / "train" / "runs").iterdir()] == [run.name], replay
    assert len(list((run / ".hydra").glob("resume-*/overrides.yaml"))) == 1, replay
    assert not list((run / "checkpoints").glob(".*.tmp")), replay  # the dead write removed
    # the resume continued the same W&B run: a second offline dir with the same id (the killed
    # run's own file lost its unflushed records with the process)
    dirs = sorted((run / "wandb").glob("offline-run-*"))
    assert len(dirs) == 2 and len({d.name.rsplit("-", 1)[1] for d in dirs}) == 1, replay
    assert wandb_run_ids(dirs[1]) == [dirs[0].name.rsplit("-", 1)[1]], replay

    a = load_checkpoint(uninterrupted / "checkpoints" / "last.ckpt")
    b = load_checkpoint(run / "checkpoints" / "last.ckpt")
    assert a["global_step"] == b["global_step"] == MAX_STEPS, replay
    gen_a = {k: v for k, v in a["state_dict"].items() if k.startswith("generator.")}
    gen_b = {k: v for k, v in b["state_dict"].items() if k.startswith("generator.")}
    assert gen_a.keys() == gen_b.keys() and gen_a, replay
    for key in gen_a:
        assert torch.equal(gen_a[key], gen_b[key]), (replay, key)
    for sa, sb in zip(
        a["optimizer_states"][0]["state"].values(),
        b["optimizer_states"][0]["state"].values(),
        strict=True,
    ):
        assert torch.equal(sa["exp_avg"], sb["exp_avg"]), replay
        assert torch.equal(sa["exp_avg_sq"], sb["exp_avg_sq"]), replay
    metrics_a = json.loads((uninterrupted / "metrics.json").read_text())
    metrics_b = json.loads((run / "metrics.json").read_text())
    assert metrics_a == metrics_b, replay  # exactly equal floats, not approximately
    # the CSV log too: every step once, the killed run's rows up to its checkpoint kept
    log_a = (uninterrupted / "csv" / "metrics.csv").read_bytes()
    assert (run / "csv" / "metrics.csv").read_bytes() == log_a, replay


# ------------------------------------------------------------------ what may change on resume
def test_checkpoint_for_another_architecture_is_refused_showing_the_difference(
    compose_cfg, tmp_path: Path
) -> None:

    first = tmp_path / "first"
    train(compose_cfg(*TINY, "logger=none", "callbacks=none", run_dir=first))
    ckpt = first / "checkpoints" / "last.ckpt"

    changed = compose_cfg(
        *TINY,
        "logger=none",
        "callbacks=none",
        f"ckpt_path={ckpt}",
        "generator.num_feat=16",
        "degradation.quantize=false",
        run_dir=tmp_path / "second",
    )
    with pytest.raises(ConfigError) as err:
        train(changed)
    assert str(err.value) == (
        f"cannot resume from {ckpt}: the config differs from the checkpoint's in keys that "
        "must match (resume_must_match): generator.num_feat: checkpoint 8, now 16; "
        "degradation.quantize: checkpoint True, now False"
    )

    # what does not change the model may change: here, train on to step 4
    allowed = compose_cfg(
        *TINY,
        "logger=none",
        "callbacks=none",
        f"ckpt_path={ckpt}",
        "trainer.max_steps=4",
        "optimizer.generator.lr=1e-4",
        run_dir=tmp_path / "third",
    )
    train(allowed)
    assert json.loads((tmp_path / "third" / "metrics.json").read_text())["step"] == 4


def make_run(path: Path) -> Path:
    (path / ".hydra").mkdir(parents=True)
    (path / ".hydra" / "config.yaml").write_text("seed: 1\n")
    (path / "checkpoints").mkdir()
    (path / "checkpoints" / "last.ckpt").write_bytes(b"")
    return path


def test_resume_argv_composes_the_run_config_into_the_run_dir(tmp_path: Path) -> None:
    run = make_run(tmp_path / "r")
    now = dt.datetime(2026, 11, 25, 12, 0, 0)
    argv = resume_argv(["restorelab-train", f"resume={run}", "trainer.max_steps=9"], now)
    assert argv == [
        "restorelab-train",
        "--config-dir",
        str(run / ".hydra"),
        "--config-name",
        "config",
        "trainer.max_steps=9",
        f"++resume={run}",
        f"hydra.run.dir={run}",
        "hydra.output_subdir=.hydra/resume-2026-11-25_12-00-00",
    ]
    assert resume_argv(argv) == argv  # DDP children re-run the rewritten command line
    assert resume_argv(["restorelab-train", "seed=1"]) == ["restorelab-train", "seed=1"]


def test_resume_latest_picks_the_newest_last_ckpt(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("RESTORELAB_OUTPUTS", str(tmp_path))
    old = make_run(tmp_path / "train" / "runs" / "b_old")
    new = make_run(tmp_path / "train" / "multiruns" / "s" / "0")
    os.utime(old / "checkpoints" / "last.ckpt", (1_000, 1_000))
    assert resolve_run_dir("latest") == new.resolve()
    os.utime(new / "checkpoints" / "last.ckpt", (500, 500))
    assert resolve_run_dir("latest") == old.resolve()


def test_bad_resume_requests_fail_with_one_line(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("RESTORELAB_OUTPUTS", str(tmp_path))
    with pytest.raises(ConfigError, match=r"^resume=latest: no run with checkpoints/last.ckpt"):
        resolve_run_dir("latest")
    with pytest.raises(ConfigError, match=r"^resume=/nope: run directory does not exist: /nope$"):
        resolve_run_dir("/nope")
    run = make_run(tmp_path / "r")
    (run / "checkpoints" / "last.ckpt").unlink()
    with pytest.raises(ConfigError, match=r"last.ckpt not found \(is .* a run directory\?\)$"):
        resolve_run_dir(str(run))
    with pytest.raises(ConfigError, match=r"cannot be combined with -m/--multirun"):
        resume_argv(["restorelab-train", "-m", f"resume={run}"])


def test_cli_reports_a_missing_run_in_one_line(tmp_path: Path) -> None:
    proc = train_cli([f"resume={tmp_path / 'missing'}"], tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"restorelab-train: error: resume={tmp_path / 'missing'}: run directory does not "
        f"exist: {tmp_path / 'missing'}"
    ]


# ------------------------------------------------------------- the pieces of an exact resume
def test_global_rng_states_survive_a_weights_only_checkpoint(tmp_path: Path) -> None:
    torch.manual_seed(1)
    np.random.seed(2)
    random.seed(3)
    torch.save({"rng": capture_global_rng()}, tmp_path / "s.ckpt")
    expected = (torch.rand(3), np.random.rand(3), random.random())
    torch.manual_seed(9)
    np.random.seed(9)
    random.seed(9)
    restore_global_rng(torch.load(tmp_path / "s.ckpt", weights_only=True)["rng"])
    assert torch.equal(torch.rand(3), expected[0])
    assert np.array_equal(np.random.rand(3), expected[1])
    assert random.random() == expected[2]


def test_degradation_stream_continues_from_a_saved_state() -> None:
    degrade = Degradation({"noise": GaussianNoise(sigma=(5.0, 5.0))}, seed=4)
    gt = torch.full((1, 3, 8, 8), 0.5)
    assert degrade.rng_state() is None  # no draw yet
    degrade(gt)
    saved = degrade.rng_state()
    assert saved is not None
    expected = degrade(gt)
    degrade.reseed(4)  # what the module's on_fit_start does in the resumed run
    degrade.set_rng_state(saved)
    assert torch.equal(degrade(gt), expected)


class BlankImages(Source):
    """``n`` black 16x16 images in memory."""

    def __init__(self, n: int) -> None:
        self.names = [f"i{i}" for i in range(n)]

    def __getitem__(self, index: int) -> Sample:
        return Sample(self.names[index], np.zeros((16, 16, 3), np.uint8))


def test_train_loader_resumes_at_the_next_batch_of_the_saved_epoch() -> None:
    source = BlankImages(7)
    module = RestorationDataModule(
        train=source, val=None, scale=4, patch_size=8, batch_size=2, seed=1
    )

    def order(loader: ResumableDataLoader) -> list[list[tuple[int, int]]]:
        return [list(b) for b in loader.batch_sampler]  # type: ignore[union-attr]

    fresh = module.train_dataloader()
    fresh.sampler.set_epoch(1)  # type: ignore[attr-defined]
    full = order(fresh)
    assert len(full) == 3 and all(e == 1 for b in full for e, _ in b)

    resumed = module.train_dataloader()
    resumed.load_state_dict({"epoch": 1, "batches": 2})
    assert order(resumed) == full[2:]  # continues with the third batch of epoch 1
    assert order(resumed)[0][0][0] == 1 and len(order(resumed)) == 3  # then whole epochs

    at_end = module.train_dataloader()
    at_end.load_state_dict({"epoch": 1, "batches": 3})  # saved after the epoch's last batch
    assert at_end.sampler.epoch == 2  # type: ignore[attr-defined]


def test_remove_cut_writes_deletes_only_the_temporary_files_of_unfinished_writes(
    tmp_path: Path,
) -> None:
    run = make_run(tmp_path / "r")
    cut = [run / ".run_info.json.k2j4l9x0.tmp", run / "checkpoints" / ".last.ckpt.pending.tmp"]
    for path in cut:
        path.write_bytes(b"half")
    (run / "notes.tmp").write_text("a file of the user's")
    assert remove_cut_writes(run) == sorted(cut[:1]) + cut[1:]
    assert not any(p.exists() for p in cut)
    assert (run / "notes.tmp").exists() and (run / "checkpoints" / "last.ckpt").exists()
