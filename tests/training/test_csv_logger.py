"""restorelab's CSV logger: Lightning's file format, the history kept, whole-file atomic writes."""

from __future__ import annotations

import csv
from pathlib import Path

import lightning as L
import pytest
import torch
from lightning.pytorch.demos.boring_classes import BoringModel

from restorelab.runs.resume import resume_argv
from restorelab.training.csv_logger import CSVLogger, MetricsTable


def rows_of(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_writes_lightnings_format_sorted_keys_and_empty_cells(tmp_path: Path) -> None:
    logger = CSVLogger(tmp_path, name="csv", version="")
    logger.log_metrics({"train/loss": torch.tensor(0.25)}, step=0)
    logger.log_metrics({"val/psnr_y": 24.5, "epoch": 0}, step=0)
    logger.finalize("success")
    assert (tmp_path / "csv" / "metrics.csv").read_bytes().decode() == (
        "epoch,step,train/loss,val/psnr_y\r\n,0,0.25,\r\n0,0,,24.5\r\n"
    )


def test_an_existing_file_is_kept_and_its_header_grows(tmp_path: Path) -> None:
    log = tmp_path / "metrics.csv"
    log.write_bytes(b"step,train/loss\r\n0,0.1\r\n1,0.30000000000000004\r\n")
    table = MetricsTable(tmp_path)
    table.log_metrics({"val/psnr_y": 20.0}, step=2)
    table.save()
    assert log.read_bytes().decode() == (
        "step,train/loss,val/psnr_y\r\n0,0.1,\r\n1,0.30000000000000004,\r\n2,,20.0\r\n"
    )
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.csv"]  # no temporary file left


def test_continue_from_drops_only_what_the_resumed_run_logs_again(tmp_path: Path) -> None:
    # a killed run: 4 rows were logged when its checkpoint (global step 2) was written, then the
    # checkpoint's own training row (step 1) and two more steps it did before it died
    (tmp_path / "metrics.csv").write_bytes(
        b"step,x\r\n0,a\r\n0,b\r\n1,c\r\n2,d\r\n1,e\r\n2,f\r\n3,g\r\n"
    )
    table = MetricsTable(tmp_path)
    assert table.continue_from(rows=4, step=2) == 2
    assert [r["x"] for r in table.rows] == ["a", "b", "c", "d", "e"]
    # a checkpoint without a row count (written before it existed): by step alone
    fresh = MetricsTable(tmp_path)
    assert fresh.continue_from(rows=0, step=2) == 3
    assert [r["x"] for r in fresh.rows] == ["a", "b", "c", "e"]


def test_flushes_every_n_steps_and_refuses_zero(tmp_path: Path) -> None:
    logger = CSVLogger(tmp_path, name="", version="", flush_logs_every_n_steps=2)
    logger.log_metrics({"a": 1.0}, step=0)
    assert not (tmp_path / "metrics.csv").exists()
    logger.log_metrics({"a": 2.0}, step=1)
    assert [r["a"] for r in rows_of(tmp_path / "metrics.csv")] == ["1.0", "2.0"]
    with pytest.raises(ValueError, match="flush_logs_every_n_steps must be >= 1, got 0"):
        CSVLogger(tmp_path, flush_logs_every_n_steps=0)


def test_versions_like_lightning_when_version_is_none(tmp_path: Path) -> None:
    (tmp_path / "logs" / "version_0").mkdir(parents=True)
    (tmp_path / "logs" / "version_3").mkdir()
    logger = CSVLogger(tmp_path, name="logs")
    assert logger.version == 4 and logger.log_dir == str(tmp_path / "logs" / "version_4")


class LoggingModel(BoringModel):
    """Lightning's BoringModel, logging its training loss."""

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> dict[str, torch.Tensor]:
        out = super().training_step(batch, batch_idx)
        self.log("train_loss", out["loss"])
        return out


def test_a_real_fit_logs_rows_and_hparams(tmp_path: Path) -> None:
    logger = CSVLogger(tmp_path, name="csv", version="", flush_logs_every_n_steps=1)
    logger.log_hyperparams({"lr": 0.1})
    trainer = L.Trainer(
        max_steps=3,
        logger=logger,
        log_every_n_steps=1,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
    )
    trainer.fit(LoggingModel())
    rows = rows_of(tmp_path / "csv" / "metrics.csv")
    assert [r["step"] for r in rows if r.get("train_loss")] == ["0", "1", "2"]
    assert "lr: 0.1" in (tmp_path / "csv" / "hparams.yaml").read_text()


def test_resume_of_a_run_saved_with_lightnings_logger_switches_to_ours(tmp_path: Path) -> None:
    run = tmp_path / "r"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "config.yaml").write_text(
        "ckpt_path: null\nlogger:\n  csv:\n    _target_: lightning.pytorch.loggers.CSVLogger\n"
    )
    (run / "checkpoints").mkdir()
    (run / "checkpoints" / "last.ckpt").write_bytes(b"")
    argv = resume_argv(["restorelab-train", f"resume={run}"])
    assert "logger.csv._target_=restorelab.training.csv_logger.CSVLogger" in argv
    argv = resume_argv(["restorelab-train", f"resume={run}", "logger=none"])
    assert not any(a.startswith("logger.csv._target_") for a in argv)  # the user's choice wins
