"""The per-image validation table and model artifacts, read back from the offline W&B run."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from restorelab.runs.wandb_offline import (
    find_run_files,
    iter_records,
    read_history,
    read_tables,
    wait_until_complete,
)
from restorelab.training.fit import train
from tests.helpers import TINY

VAL = ["coffee", "immunohistochemistry"]


def run_file(run: Path) -> Path:
    (path,) = {p.resolve() for p in find_run_files(run / "wandb")}  # latest-run is a link
    return wait_until_complete(path)  # wandb.finish() may return before the last records


def test_validation_logs_one_row_per_image_matching_the_mean(compose_cfg, tmp_path: Path) -> None:
    run = tmp_path / "run"
    cfg = compose_cfg(
        *TINY,
        f"data.val_names=[{','.join(VAL)}]",
        "trainer.max_steps=4",
        "trainer.val_check_interval=2",
        "logger=wandb",
        "callbacks=val_table",
        "callbacks.val_table.crop=48",
        run_dir=run,
    )
    metrics = train(cfg)

    path = run_file(run)
    tables = read_tables(path, "val/images")
    assert [t["step"] for t in tables] == [2, 4]  # one table per validation
    # in validation order (Lightning logs val/psnr_y at its own lagging step counter)
    means = [h["val/psnr_y"] for h in read_history(path) if "val/psnr_y" in h]
    assert len(means) == len(tables)
    for table, mean in zip(tables, means, strict=True):
        assert table["columns"] == ["name", "psnr_y", "ssim_y", "output"]
        assert [r["name"] for r in table["rows"]] == VAL
        psnrs = [r["psnr_y"] for r in table["rows"]]
        assert all(15 < p < 40 for p in psnrs) and all(0 < r["ssim_y"] < 1 for r in table["rows"])
        # val/psnr_y is the mean over images of exactly these values
        assert sum(psnrs) / len(psnrs) == pytest.approx(mean, abs=1e-4)
        for row in table["rows"]:
            assert row["output"]["_type"] == "image-file"
            with Image.open(row["output"]["file"]) as img:
                assert img.size == (48, 48) and img.mode == "RGB"
    last = tables[-1]["rows"]
    assert sum(r["ssim_y"] for r in last) / 2 == pytest.approx(metrics["val/ssim_y"], abs=1e-5)


def test_table_reader_names_a_missing_table_file(compose_cfg, tmp_path: Path) -> None:
    run = tmp_path / "run"
    cfg = compose_cfg(*TINY, "logger=wandb", "callbacks=val_table", run_dir=run)
    train(cfg)
    path = run_file(run)
    staged = [
        Path(e.local_path)
        for r in iter_records(path)
        if r.WhichOneof("record_type") == "artifact"
        for e in r.artifact.manifest.contents
        if e.path == "val/images.table.json"
    ]
    assert len(staged) == 1
    staged[0].unlink()  # e.g. the staging area was cleaned by `wandb sync`
    with pytest.raises(ValueError, match=rf"table 'val/images' points to {staged[0]}, which is"):
        read_tables(path, "val/images")


@pytest.mark.parametrize("log_model", [False, True])
def test_best_checkpoint_is_a_wandb_artifact_only_with_log_model(
    compose_cfg, tmp_path: Path, log_model: bool
) -> None:
    run = tmp_path / "run"
    cfg = compose_cfg(
        *TINY,
        "logger=wandb",
        f"logger.wandb.log_model={str(log_model).lower()}",
        # Lightning refuses log_model with offline=True; WANDB_MODE=offline (set for every
        # test) still keeps the run offline, and W&B stages the artifact for `wandb sync`
        "logger.wandb.offline=false",
        "callbacks=model_checkpoint",
        run_dir=run,
    )
    train(cfg)
    artifacts = [
        r.artifact for r in iter_records(run_file(run)) if r.WhichOneof("record_type") == "artifact"
    ]
    models = [a for a in artifacts if a.type == "model"]
    if not log_model:
        assert models == []
        return
    assert models, [a.type for a in artifacts]
    files = {entry.path for a in models for entry in a.manifest.contents}
    assert "model.ckpt" in files
    assert any("best" in a.aliases for a in models)  # the best checkpoint by val/psnr_y
