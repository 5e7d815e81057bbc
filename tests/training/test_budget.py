"""Hardware-aware precision, time budgets that anneal, and resumes that follow the new plan."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from restorelab.errors import ConfigError
from restorelab.runs.wandb_offline import find_run_files, read_history
from restorelab.training import compat, precision
from restorelab.training.budget import BudgetPlan, max_time_seconds, plan_steps
from restorelab.training.precision import choose_precision
from tests.helpers import COMMON, CONF, ok, train_cli

LR = 5e-4
ETA_MIN = 1e-7


# ----------------------------------------------------------------------------- precision
def fake_cpu(monkeypatch: pytest.MonkeyPatch, capability: str, bf16: bool, amx: bool) -> None:
    monkeypatch.setattr(precision, "cuda_capability", lambda: None)
    monkeypatch.setattr(precision, "mps_available", lambda: False)
    monkeypatch.setattr(precision, "cpu_capability", lambda: capability)
    monkeypatch.setattr(compat, "cpu_has_avx512_bf16", lambda: bf16)
    monkeypatch.setattr(compat, "cpu_has_amx", lambda: amx)
    monkeypatch.setattr(compat, "onednn_bf16_allowed", lambda: capability == "AVX512")


@pytest.mark.parametrize(
    ("capability", "bf16", "amx", "expected"),
    [
        ("AVX2", False, False, "32-true"),  # most laptops and cloud CPUs
        ("AVX512", False, False, "32-true"),  # Skylake-X: AVX-512 but bf16 emulated
        ("AVX512", True, False, "bf16-mixed"),  # Cooper Lake / Zen 4
        ("AVX512", False, True, "bf16-mixed"),  # Sapphire Rapids AMX
        ("AVX2", True, True, "32-true"),  # ATEN_CPU_CAPABILITY=avx2 on a bf16 CPU
    ],
)
def test_auto_precision_on_cpus(monkeypatch, capability, bf16, amx, expected) -> None:
    fake_cpu(monkeypatch, capability, bf16, amx)
    choice = choose_precision("auto", "auto")
    assert (choice.device, choice.precision) == ("cpu", expected)
    assert choice.line().startswith(f"precision: {expected} (auto; CPU {capability}")


@pytest.mark.parametrize(
    ("cap", "expected"), [((8, 0), "bf16-mixed"), ((9, 0), "bf16-mixed"), ((7, 5), "16-mixed")]
)
def test_auto_precision_on_cuda(monkeypatch, cap, expected) -> None:
    monkeypatch.setattr(precision, "cuda_capability", lambda: cap)
    for accelerator in ("auto", "gpu", "cuda"):
        choice = choose_precision("auto", accelerator)
        assert (choice.device, choice.precision) == ("cuda", expected)
        assert f"compute capability {cap[0]}.{cap[1]}" in choice.reason


def test_auto_precision_elsewhere_and_explicit_values(monkeypatch) -> None:
    monkeypatch.setattr(precision, "cuda_capability", lambda: None)
    monkeypatch.setattr(precision, "mps_available", lambda: True)
    assert choose_precision("auto", "auto").precision == "32-true"  # Apple MPS
    assert choose_precision("auto", "auto").device == "mps"
    fake_cpu(monkeypatch, "AVX2", False, False)
    explicit = choose_precision("bf16-mixed", "cpu")
    assert explicit.precision == "bf16-mixed"
    assert explicit.line() == "precision: bf16-mixed (set in the config; on cpu)"


def test_real_probes_answer_and_env_caps_them() -> None:
    """The probes behind the decision run on this machine (what the fakes above replace)."""
    assert isinstance(compat.cpu_has_avx512_bf16(), bool)
    assert isinstance(compat.cpu_has_amx(), bool)
    assert isinstance(compat.onednn_bf16_allowed(), bool)
    assert precision.cpu_capability() == torch.backends.cpu.get_cpu_capability()
    if precision.cpu_native_bf16():
        assert precision.cpu_capability().startswith("AVX512")


def test_every_shipped_config_defaults_to_auto() -> None:
    conf = CONF
    fixed = [
        str(p.relative_to(conf))
        for group in ("trainer", "experiment")
        for p in (conf / group).glob("*.yaml")
        if "precision:" in p.read_text() and "precision: auto" not in p.read_text()
    ]
    assert fixed == []
    assert "precision: auto" in (conf / "trainer" / "default.yaml").read_text()


# ----------------------------------------------------------------------------- planning
#: A 9-minute budget on a slow CPU: 20 s spent, 5 it/s, 2 s per validation.
SLOW = {
    "budget_s": 540,
    "elapsed_s": 20,
    "it_per_s": 5.0,
    "val_s": 2.0,
    "cap": 12000,
    "start_step": 0,
    "val_count": 10,
    "safety": 0.9,
    "reserve_s": 15,
}


def test_plan_fits_the_remaining_time() -> None:
    steps, interval = plan_steps(**SLOW)
    # (540 - 20 - 15) * 0.9 - 10 * 2 = 434.5 s of training at 5 it/s
    assert steps == math.floor(434.5 * 5.0) == 2172
    assert interval == math.ceil(2172 / 10) == 218
    fast = plan_steps(**{**SLOW, "it_per_s": 500.0})
    assert fast == (12000, 1200)  # trainer.max_steps caps a fast machine
    resumed = plan_steps(
        **SLOW
        | {"budget_s": 100, "elapsed_s": 0, "it_per_s": 10.0, "val_s": 0.0, "cap": 5000}
        | {"start_step": 3000, "val_count": 4, "safety": 1.0, "reserve_s": 0}
    )
    assert resumed == (4000, 250)  # 1000 more steps from the resumed step


def test_plan_refuses_a_budget_with_no_time_left() -> None:
    with pytest.raises(ConfigError, match=r"trainer.max_time \(30 s\) leaves no time to train"):
        plan_steps(**{**SLOW, "budget_s": 30, "cap": 100})


def test_an_inherited_plan_is_for_ddp_workers_only(compose_cfg, monkeypatch) -> None:
    """A sweep's next job in the same process must not reuse the previous job's plan."""
    from restorelab.training.budget import PLAN_ENV, saved_plan

    cfg = compose_cfg("trainer.max_time=00:00:09:00")
    plan = BudgetPlan(50, 5, 12000, "00:00:09:00", 540.0, 0, 10.0, 1.0, 2.0)
    monkeypatch.setenv(PLAN_ENV, json.dumps(plan.__dict__))
    for var in ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID"):
        monkeypatch.delenv(var, raising=False)
    assert saved_plan(cfg) is None  # rank zero plans itself
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert saved_plan(cfg) == plan  # a DDP worker follows its parent


def test_max_time_formats() -> None:
    assert max_time_seconds("00:00:09:00") == 540.0
    assert max_time_seconds({"minutes": 2, "seconds": 3}) == 123.0
    assert max_time_seconds(None) is None
    with pytest.raises(ConfigError, match=r"trainer.max_time='9 minutes'"):
        max_time_seconds("9 minutes")


# ----------------------------------------------------------------------------- end to end
BUDGET = [
    *[
        c
        for c in COMMON
        if not c.startswith(
            (
                "trainer.max_steps",
                "trainer.max_time",
                "trainer.precision",
                "callbacks.last_checkpoint",
            )
        )
    ],
    "trainer.max_steps=100000",
    "trainer.max_time=00:00:00:25",
    "budget.warmup_steps=2",
    "budget.measure_steps=5",
    "budget.val_count=3",
    "budget.reserve_s=8",  # W&B start-up and shut-down take seconds of the 25
    "budget.safety=0.8",
    # the measurement leaves out logging and periodic checkpoints: logging every step of a 4 ms
    # step would cost 50%, a checkpoint every 2 steps (COMMON's) more than the step itself
    "trainer.log_every_n_steps=50",
    "callbacks.last_checkpoint.every_n_train_steps=500",
]


def run_dir_of(outputs: Path) -> Path:
    (run,) = sorted((outputs / "train" / "runs").iterdir())
    return run


def lr_by_step(run: Path) -> dict[int, float]:
    """``lr/generator`` the LR monitor logged at each step (the LR that step trained with).

    Read from the W&B offline files of every invocation of the run (a resume appends one);
    steps are the ones where the loggers write (``trainer.log_every_n_steps``).
    """
    lrs: dict[int, float] = {}
    for path in find_run_files(run):
        for row in read_history(path):
            if "lr/generator" in row:
                lrs[int(row["trainer/global_step"])] = float(row["lr/generator"])
    return lrs


@pytest.mark.slow
def test_budgeted_run_anneals_and_rerun_repeats_it(tmp_path: Path) -> None:
    first = ok(train_cli(BUDGET, tmp_path / "a"))
    run = run_dir_of(tmp_path / "a")
    info = json.loads((run / "run_info.json").read_text())
    plan = BudgetPlan.from_mapping(info["budget"])
    assert info["precision"]["requested"] == "auto"
    assert f"precision: {info['precision']['precision']} (auto;" in first.stdout
    assert plan.line(reused=False) in first.stdout
    # sized by the clock, not the cap (the count follows the machine: ~1,500 idle, ~170 on a
    # 2-core machine loaded 5x; the checks below hold for any plan of more than 100 steps)
    assert 100 < plan.max_steps < plan.cap
    assert plan.val_check_interval == math.ceil(plan.max_steps / 3)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["step"] == plan.max_steps  # the schedule ran to its end...
    lrs = lr_by_step(run)
    last = max(lrs)
    assert last >= plan.max_steps - 50
    expected_last = ETA_MIN + (LR - ETA_MIN) * (1 + math.cos(math.pi * last / plan.max_steps)) / 2
    assert lrs[last] == pytest.approx(expected_last, rel=1e-6)  # ...annealed to ~eta_min
    # the last logged step is at most 50 before the end: the LR is below that point's cosine
    lag = 50 / plan.max_steps
    assert lrs[last] <= ETA_MIN + (LR - ETA_MIN) * (1 + math.cos(math.pi * (1 - lag))) / 2
    assert lrs[last] < LR * 0.2  # 50 steps before the end of 100 is at 14.6%

    # a rerun from the saved config reuses the plan: same steps, same numbers
    again = ok(
        train_cli(["--config-dir", str(run / ".hydra"), "--config-name", "config"], tmp_path / "b")
    )
    assert plan.line(reused=True) in again.stdout
    rerun = run_dir_of(tmp_path / "b")
    assert json.loads((rerun / "metrics.json").read_text()) == metrics


@pytest.mark.slow
def test_resume_with_more_steps_follows_the_longer_schedule(tmp_path: Path) -> None:
    """LR after ``resume=RUN trainer.max_steps=20`` is a 20-step cosine's, not the old one's."""
    ok(train_cli(COMMON, tmp_path))  # 10 steps, cosine T_max=10
    run = run_dir_of(tmp_path)
    done = ok(train_cli([f"resume={run}", "trainer.max_steps=20"], tmp_path))
    assert f"resume at step {10}: generator learning rate" in done.stdout
    lrs = lr_by_step(run)

    def cosine(step: int, total: int) -> float:
        return ETA_MIN + (LR - ETA_MIN) * (1 + math.cos(math.pi * step / total)) / 2

    for step in (5, 9):  # before the resume: the 10-step plan
        assert lrs[step] == pytest.approx(cosine(step, 10), rel=1e-6)
    for step in (10, 15, 19):  # after it: the 20-step plan, not climbing back up
        assert lrs[step] == pytest.approx(cosine(step, 20), rel=1e-6)
    assert json.loads((run / "metrics.json").read_text())["step"] == 20


@pytest.mark.slow
def test_resume_applies_an_overridden_learning_rate(tmp_path: Path) -> None:
    ok(train_cli(COMMON, tmp_path))
    run = run_dir_of(tmp_path)
    done = ok(
        train_cli(
            [f"resume={run}", "trainer.max_steps=16", "optimizer.generator.lr=1e-4"], tmp_path
        )
    )
    assert "optimizer.generator changed: lr 0.0005 -> 0.0001" in done.stdout
    lrs = lr_by_step(run)
    for step in (10, 13, 15):
        expected = ETA_MIN + (1e-4 - ETA_MIN) * (1 + math.cos(math.pi * step / 16)) / 2
        assert lrs[step] == pytest.approx(expected, rel=1e-6)
