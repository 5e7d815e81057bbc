"""Model cards: what a loaded model, its run directory and a bundle manifest say of it."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from restorelab.inference.card import card_markdown, model_card, run_dir_of
from restorelab.inference.models import load_model
from tests.helpers import TINY_COMPACT, save_checkpoint


def make_run(run: Path) -> Path:
    """A run directory laid out as restorelab-train writes one, with a checkpoint in it."""
    (run / "checkpoints").mkdir(parents=True)
    (run / ".hydra").mkdir()
    ckpt = run / "checkpoints" / "best_0000002.ckpt"
    save_checkpoint(ckpt, TINY_COMPACT)
    choices = {"degradation": "bicubic_x4", "experiment": "sr_x4_default", "data": "folder"}
    hydra_cfg = {"hydra": {"runtime": {"choices": {**choices, "launcher": None}}}}
    (run / ".hydra" / "hydra.yaml").write_text(yaml.safe_dump(hydra_cfg))
    config = {"data": {"train_dir": "/data/DIV2K_train_HR", "scale": 2}, "seed": 0}
    (run / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    command = ["restorelab-train", "data=folder", "data.train_dir=/data/DIV2K_train_HR", "a b"]
    (run / "run_info.json").write_text(json.dumps({"command": command, "host": "vm"}))
    metrics = {"val/psnr_y": 24.53298, "val/ssim_y": 0.42148, "step": 2, "note": "x"}
    (run / "metrics.json").write_text(json.dumps(metrics))
    return ckpt


def test_card_of_a_run_checkpoint(tmp_path: Path) -> None:
    ckpt = make_run(tmp_path / "run")
    assert run_dir_of(ckpt) == tmp_path / "run"
    card = model_card(load_model(ckpt), "best")
    assert card.architecture == "SRVGGNetCompact" and card.scale == 2 and not card.stages
    assert card.generator["num_feat"] == 8 and "_target_" not in card.generator
    assert card.task == "degradation=bicubic_x4, experiment=sr_x4_default"
    assert card.trained_on == "data=folder, train_dir=/data/DIV2K_train_HR"
    assert card.command == (
        "restorelab-train data=folder data.train_dir=/data/DIV2K_train_HR 'a b'"
    )
    assert card.scores == {"val/psnr_y": 24.53298, "val/ssim_y": 0.42148, "step": 2.0}
    assert card.notes == ()
    text = card_markdown(card)
    assert text.startswith("| model | best |\n|---|---|\n| task | ")
    assert "| task | degradation=bicubic_x4, experiment=sr_x4_default |" in text
    assert "| scores | val/psnr_y 24.53, val/ssim_y 0.4215, step 2 |" in text
    assert "| architecture | SRVGGNetCompact (num_in_ch=3, num_out_ch=3, num_feat=8," in text
    assert f"| file | {ckpt} |" in text


def test_card_without_a_run_bundle_fields_win_and_bad_files_become_notes(tmp_path: Path) -> None:
    lone = tmp_path / "lone.ckpt"
    save_checkpoint(lone, TINY_COMPACT)
    assert run_dir_of(lone) is None
    card = model_card(load_model(lone), "lone|x")
    assert (card.task, card.trained_on, card.command, card.scores) == (None, None, None, {})
    text = card_markdown(card)
    assert text.startswith("| model | lone\\|x |\n")
    assert "| task | x2 restoration |" in text and "| trained on | not recorded |" in text
    ckpt = make_run(tmp_path / "run")
    (tmp_path / "run" / "metrics.json").write_text("{half")
    known = {"trained_on": "DIV2K + Flickr2K", "scores": {"Set5/psnr_y": 30.1}}
    card = model_card(load_model(ckpt), "bundled", known)
    assert card.trained_on == "DIV2K + Flickr2K" and card.scores == {"Set5/psnr_y": 30.1}
    assert card.task == "degradation=bicubic_x4, experiment=sr_x4_default"
    assert len(card.notes) == 1 and card.notes[0].startswith("metrics.json: unreadable (")
    assert "| note | metrics.json: unreadable (" in card_markdown(card)
