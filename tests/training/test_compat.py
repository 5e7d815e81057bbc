"""Every reach into a library's internals, exercised against the installed torch, Lightning, W&B.

A release that renames one of these attributes fails a test here, by name, instead of making
a run hang (DDP), log every step, lose a checkpoint or resume on the wrong batches.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.demos.boring_classes import BoringModel
from lightning.pytorch.strategies import DDPStrategy
from lightning.pytorch.utilities.exceptions import MisconfigurationException

from restorelab.data.datamodule import RestorationDataModule
from restorelab.runs.job import close_loggers, offline_run_file
from restorelab.training import compat, steps
from restorelab.training.callbacks.metric_checkpoint import OptionalMetricCheckpoint


def trainer(tmp_path: Path, **kwargs: Any) -> L.Trainer:
    """A quiet CPU trainer that writes only under ``tmp_path``."""
    options: dict[str, Any] = {
        "accelerator": "cpu",
        "devices": 1,
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "default_root_dir": tmp_path,
        **kwargs,
    }
    return L.Trainer(**options)


class LoggedVal(BoringModel):
    """BoringModel that logs ``val/psnr`` (the metric a checkpoint callback monitors)."""

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self.log("val/psnr", self.step(batch))


def fit_quietly(t: L.Trainer, model: L.LightningModule) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # num_workers hints and the like
        t.fit(model)


# --- torch ------------------------------------------------------------------------------


def test_torch_cpu_probes_exist_and_answer_bools() -> None:
    assert callable(getattr(torch.cpu, "_is_avx512_bf16_supported", None))
    assert callable(getattr(torch.cpu, "_is_amx_tile_supported", None))
    assert callable(getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None))
    for probe in (compat.cpu_has_avx512_bf16, compat.cpu_has_amx, compat.onednn_bf16_allowed):
        assert isinstance(probe(), bool)


# --- Lightning --------------------------------------------------------------------------


def test_set_find_unused_parameters_on_a_real_ddp_strategy() -> None:
    strategy = DDPStrategy()
    assert strategy._ddp_kwargs.get("find_unused_parameters") is not True
    compat.set_find_unused_parameters(strategy)
    assert strategy._ddp_kwargs["find_unused_parameters"] is True


def test_set_find_unused_parameters_refuses_what_it_cannot_set() -> None:
    with pytest.raises(RuntimeError, match="_ddp_kwargs"):
        compat.set_find_unused_parameters(SimpleNamespace())


class Record(Callback):
    """What the compat readers say at the start of each training batch of a real fit."""

    def __init__(self) -> None:
        self.logs: list[bool] = []
        self.consumed: list[int] = []

    def on_train_batch_start(self, trainer: L.Trainer, *args: Any) -> None:
        self.logs.append(compat.should_update_logs(trainer))
        assert steps.logs_this_batch(trainer) == self.logs[-1]
        # the datamodule's own reader (data/ may not import compat), on the real trainer
        self.consumed.append(
            RestorationDataModule._batches_consumed(SimpleNamespace(trainer=trainer))
        )  # type: ignore[arg-type]


def test_logger_connector_and_batch_progress_on_a_real_fit(tmp_path: Path) -> None:
    record = Record()
    t = trainer(
        tmp_path,
        max_steps=5,
        log_every_n_steps=2,
        limit_val_batches=0,
        callbacks=[record],
    )
    assert hasattr(t, "_logger_connector")
    fit_quietly(t, BoringModel())
    # Lightning logs on every 2nd batch; a missing connector would answer True every time
    assert record.logs[:4] == [False, True, False, True]
    assert record.consumed == [0, 1, 2, 3, 4]


def test_should_update_logs_falls_back_to_logging() -> None:
    assert compat.should_update_logs(SimpleNamespace()) is True


def test_model_checkpoint_still_has_the_topk_hook() -> None:
    assert callable(getattr(ModelCheckpoint, compat.TOPK_HOOK, None))
    assert OptionalMetricCheckpoint._save_topk_checkpoint.__name__ == compat.TOPK_HOOK


def test_optional_metric_checkpoint_on_a_real_fit(tmp_path: Path) -> None:
    """The metric that is logged gets its checkpoint; the one that is not is skipped, once."""
    by_psnr = OptionalMetricCheckpoint(dirpath=tmp_path / "psnr", monitor="val/psnr", mode="max")
    by_lpips = OptionalMetricCheckpoint(dirpath=tmp_path / "lpips", monitor="val/lpips")
    t = trainer(
        tmp_path,
        enable_checkpointing=True,
        max_epochs=2,
        limit_train_batches=2,
        limit_val_batches=1,
        callbacks=[by_psnr, by_lpips],
    )
    with pytest.warns(UserWarning, match=r"checkpoint by val/lpips skipped") as caught:
        t.fit(LoggedVal())
    assert sum("val/lpips skipped" in str(w.message) for w in caught) == 1
    assert list((tmp_path / "psnr").glob("*.ckpt"))
    assert not (tmp_path / "lpips").exists() or not list((tmp_path / "lpips").iterdir())


def test_plain_model_checkpoint_raises_where_the_guard_skips(tmp_path: Path) -> None:
    """Without the guard Lightning refuses the missing metric: the hook is what we rely on."""
    t = trainer(
        tmp_path,
        enable_checkpointing=True,
        max_epochs=1,
        limit_train_batches=1,
        limit_val_batches=1,
        callbacks=[ModelCheckpoint(dirpath=tmp_path / "c", monitor="val/lpips")],
    )
    with pytest.raises(MisconfigurationException, match="val/lpips"):
        fit_quietly(t, LoggedVal())


def test_guard_topk_save_checks_what_it_decorates(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(TypeError, match="skip_topk"):
        compat.guard_topk_save(type("NoSkip", (ModelCheckpoint,), {}))
    monkeypatch.delattr(ModelCheckpoint, compat.TOPK_HOOK)
    with pytest.raises(RuntimeError, match=compat.TOPK_HOOK):
        compat.guard_topk_save(type("Skip", (ModelCheckpoint,), {"skip_topk": lambda *a: True}))


# --- W&B --------------------------------------------------------------------------------


def test_offline_run_file_of_a_real_offline_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import wandb

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    run = wandb.init(project="compat", dir=tmp_path)
    try:
        run_file = offline_run_file(run)
        assert run_file is not None and run_file.name == f"run-{run.id}.wandb"
        assert tmp_path in run_file.parents
    finally:
        close_loggers()
    assert wandb.run is None
    assert run_file.is_file() and run_file.stat().st_size > 0


def test_offline_run_file_is_none_online() -> None:
    import wandb

    assert offline_run_file(SimpleNamespace(settings=wandb.Settings(mode="online"))) is None


def test_drop_unset_wandb_anonymous_on_a_real_logger(tmp_path: Path) -> None:
    from lightning.pytorch.loggers import WandbLogger

    logger = WandbLogger(project="compat", save_dir=str(tmp_path), offline=True)
    assert "anonymous" in logger._wandb_init and logger._wandb_init["anonymous"] is None
    compat.drop_unset_wandb_anonymous(logger)
    assert "anonymous" not in logger._wandb_init
