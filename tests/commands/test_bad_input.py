"""Bad input fails early with one line naming the folder, key or value; checkpoints stay safe."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

from restorelab.errors import ConfigError, DataError, RestorelabError, root_cause
from restorelab.training.evaluate import evaluate
from restorelab.training.fit import train
from restorelab.weights import generator_from_checkpoint, load_checkpoint
from tests.helpers import REFERENCE, assert_one_line_error

FAST = ["debug=fast", "data.batch_size=2", "data.patch_size=32", "data.val_names=[coffee]"]


def run_cli(name: str, *overrides: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name(name)
    env = {**os.environ, "WANDB_MODE": "offline"}
    return subprocess.run(
        [str(exe) if exe.exists() else name, *overrides],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@contextmanager
def user_error(kind: type[RestorelabError], match: str) -> Iterator[None]:
    """Expect ``kind`` as the entry points see it: possibly wrapped by Hydra's instantiate."""
    with pytest.raises(Exception) as info:  # the cause is checked below
        yield
    cause = root_cause(info.value)
    assert isinstance(cause, kind), repr(info.value)
    assert re.search(match, str(cause)), str(cause)
    assert "\n" not in str(cause)


# ------------------------------------------------------------------- through the real CLI
def test_cli_missing_folders(tmp_path: Path) -> None:
    done = run_cli(
        "restorelab-train",
        "data=folder",
        "data.train_dir=/nonexistent",
        "data.val_dir=/nonexistent",
        cwd=tmp_path,
    )
    line = assert_one_line_error(done, "restorelab-train")
    assert "data.train_dir" in line and "/nonexistent" in line and "does not exist" in line


def test_cli_patch_size_not_divisible_by_scale(tmp_path: Path) -> None:
    done = run_cli("restorelab-train", "data.patch_size=90", "debug=fast", cwd=tmp_path)
    line = assert_one_line_error(done, "restorelab-train")
    assert "data.patch_size=90" in line and "data.scale=4" in line


def test_cli_unknown_config_option(tmp_path: Path) -> None:
    done = run_cli("restorelab-train", "generator=nope", cwd=tmp_path)
    # Hydra's own message: "In 'train': Could not find 'generator/nope'" + the options
    assert done.returncode != 0
    assert "Could not find 'generator/nope'" in done.stderr, done.stderr[-3000:]
    assert "Available options in 'generator'" in done.stderr and "compact" in done.stderr


# ------------------------------------------------------------------------- in-process
def test_generator_scale_disagreeing_with_data_scale(compose_cfg) -> None:
    cfg = compose_cfg(*FAST, "generator.scale=2")
    with user_error(ConfigError, r"generator\.scale=2 \(.*\) disagrees with data\.scale=4"):
        train(cfg)


def test_degradation_scale_disagreeing_with_data_scale(compose_cfg) -> None:
    cfg = compose_cfg(*FAST, "degradation=noise_sigma25")
    with user_error(ConfigError, r"degradation shrinks by 1 but data\.scale=4"):
        train(cfg)


def test_empty_training_folder(compose_cfg, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    cfg = compose_cfg(
        "debug=fast", "data=folder", f"data.train_dir={empty}", f"data.val_dir={REFERENCE}"
    )
    with user_error(DataError, rf"data\.train_dir: no image files .*{re.escape(str(empty))}"):
        train(cfg)


def test_one_corrupt_image_among_good_ones_is_named_at_load_time(
    compose_cfg, tmp_path: Path
) -> None:
    folder = tmp_path / "test_set"
    folder.mkdir()
    for name in ("gt_astronaut_96.png", "gt_camera_96_gray.png"):
        shutil.copy(REFERENCE / name, folder / name)
    data = (REFERENCE / "gt_astronaut_96.png").read_bytes()
    bad = folder / "half_written.png"
    bad.write_bytes(data[: len(data) // 2])  # the header reads: it fails when decoded
    cfg = compose_cfg(
        "generator=bicubic",
        f"data.test_dir={folder}",
        "data.scale=4",
        f"report={tmp_path / 'r.json'}",
        config_name="eval",
    )
    with user_error(DataError, rf"corrupt or truncated image {re.escape(str(bad))}"):
        evaluate(cfg)
    assert not (tmp_path / "r.json").exists()


# ------------------------------------------------------------------------ checkpoints
class Payload:
    """A custom class: unpickling it would need (and run) this module's code."""

    def __init__(self) -> None:
        self.weights = torch.zeros(2)


def test_truncated_checkpoint_names_the_file(tmp_path: Path) -> None:
    good = tmp_path / "good.ckpt"
    torch.save({"state_dict": {"w": torch.randn(64, 64)}}, good)
    bad = tmp_path / "cut.ckpt"
    data = good.read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=rf"corrupt or truncated checkpoint {re.escape(str(bad))}"):
        load_checkpoint(bad)


def test_checkpoint_that_needs_code_to_unpickle_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "custom.ckpt"
    torch.save({"state_dict": {}, "extra": Payload()}, path)
    with pytest.raises(DataError, match=r"needs arbitrary code to unpickle") as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("content", [b"junk\n", b"not a checkpoint at all", b"\x80\x02}q\x00."])
def test_garbage_checkpoint_is_a_one_line_data_error(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "garbage.ckpt"
    bad.write_bytes(content)
    with pytest.raises(DataError) as err:
        generator_from_checkpoint(bad)
    assert str(bad) in str(err.value) and "\n" not in str(err.value)
