"""A crash while writing a checkpoint never leaves a broken file in place."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from restorelab.training.callbacks import AtomicCheckpointIO, atomic_torch_save
from restorelab.training.callbacks.checkpoint_io import atomic_write_text


def test_crash_mid_write_keeps_the_previous_checkpoint(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"step": 1, "w": torch.ones(3)}, path)
    before = path.read_bytes()

    real_save = torch.save

    def crashing_save(obj, f, *args, **kwargs):  # writes part of the file, then dies
        f.write(b"partial bytes of a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crashing_save)
    with pytest.raises(OSError, match="disk full"):
        AtomicCheckpointIO().save_checkpoint({"step": 2, "w": torch.zeros(3)}, path)
    monkeypatch.setattr(torch, "save", real_save)

    assert path.read_bytes() == before
    assert torch.load(path, weights_only=True)["step"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]  # no temp files left


def test_interrupt_mid_write_is_cleaned_up_too(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "x.pt"
    monkeypatch.setattr(torch, "save", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        atomic_torch_save({"a": 1}, path)
    assert list(tmp_path.iterdir()) == []


def test_successful_write_replaces_and_text_helper(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "ckpt.pt"
    atomic_torch_save({"v": 1}, path)
    atomic_torch_save({"v": 2}, path)
    assert torch.load(path, weights_only=True) == {"v": 2}
    atomic_write_text(tmp_path / "m.json", "{}\n")
    assert (tmp_path / "m.json").read_text() == "{}\n"
