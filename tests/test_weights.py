"""restorelab.weights: every weight file is read once, and runs of earlier versions still load."""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import safetensors
import torch
from safetensors.torch import save_file

from restorelab.errors import DataError
from restorelab.inference.models import load_model
from restorelab.training.builder import build_module
from restorelab.weights import (
    METADATA_KEY,
    generator_from_file,
    load_checkpoint,
    metadata,
)
from tests.helpers import LEGACY_RUN

LEGACY_CKPT = LEGACY_RUN / "checkpoints" / "last.ckpt"
LEGACY_TINY = ["generator=compact", "generator.num_feat=4", "generator.num_conv=1"]


@pytest.fixture
def torch_reads(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Count ``torch.load`` calls per file name (the module weights.py calls it through)."""
    reads: Counter[str] = Counter()
    real: Callable[..., Any] = torch.load

    def counting(f: Any, *args: Any, **kwargs: Any) -> Any:
        reads[Path(f).name] += 1
        return real(f, *args, **kwargs)

    monkeypatch.setattr(torch, "load", counting)
    return reads


@pytest.fixture
def ckpt(tmp_path: Path) -> Path:
    """A copy of the legacy run's checkpoint, so no test can change the committed file."""
    dest = tmp_path / "run.ckpt"
    shutil.copyfile(LEGACY_CKPT, dest)
    return dest


def _generator_weights(path: Path) -> dict[str, torch.Tensor]:
    """The weights inference should use: EMA when the run kept them, else the generator's."""
    state = load_checkpoint(path)["state_dict"]
    for prefix in ("generator_ema.", "generator."):
        found = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        if found:
            return found
    raise AssertionError(f"{path}: no generator weights")


def _same_weights(module: torch.nn.Module, want: dict[str, torch.Tensor]) -> bool:
    got = module.state_dict()
    return got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in got)


def test_load_model_reads_a_ckpt_once(ckpt: Path, torch_reads: Counter[str]) -> None:
    model = load_model(ckpt)
    assert torch_reads == Counter({ckpt.name: 1})
    assert model.scale == 4


def test_pretrained_reads_a_ckpt_once(
    ckpt: Path, torch_reads: Counter[str], compose_cfg: Callable[..., Any]
) -> None:
    cfg = compose_cfg(*LEGACY_TINY, f"generator.pretrained={ckpt}")
    torch_reads.clear()  # composing the config reads nothing, but be sure
    module = build_module(cfg)
    assert torch_reads == Counter({ckpt.name: 1})
    assert _same_weights(module.generator, _generator_weights(ckpt))


def test_safetensors_file_is_opened_once(
    ckpt: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    generator, meta = generator_from_file(ckpt)
    path = tmp_path / "model.safetensors"
    meta_json = metadata(meta["generator"], meta["scale"])
    save_file(generator.state_dict(), str(path), metadata={METADATA_KEY: meta_json})
    opens: list[str] = []
    real = safetensors.safe_open

    def counting(filename: str, *args: Any, **kwargs: Any) -> Any:
        opens.append(Path(filename).name)
        return real(filename, *args, **kwargs)

    monkeypatch.setattr(safetensors, "safe_open", counting)
    model = load_model(path)
    assert opens == [path.name] and model.scale == 4


def test_legacy_run_files_are_committed_small() -> None:
    assert (LEGACY_RUN / ".hydra" / "config.yaml").is_file()
    assert 0 < LEGACY_CKPT.stat().st_size < 200_000


def test_legacy_checkpoint_enhances_with_load_model() -> None:
    model = load_model(LEGACY_CKPT)
    assert model.scale == 4 and model.config["num_feat"] == 4
    batch = np.random.default_rng(0).random((1, 3, 6, 10), dtype=np.float32)
    (out,) = model(batch)
    assert out.shape == (1, 3, 24, 40) and out.dtype == np.float32
    assert np.isfinite(out).all()
    generator, _ = generator_from_file(LEGACY_CKPT)
    assert _same_weights(generator, _generator_weights(LEGACY_CKPT))


def test_legacy_checkpoint_is_accepted_as_generator_pretrained(
    compose_cfg: Callable[..., Any],
) -> None:
    cfg = compose_cfg(*LEGACY_TINY, f"generator.pretrained={LEGACY_CKPT}")
    module = build_module(cfg)
    assert _same_weights(module.generator, _generator_weights(LEGACY_CKPT))


def test_rebuilding_names_the_file_when_it_is_not_a_restorelab_checkpoint(
    tmp_path: Path,
) -> None:
    bare = tmp_path / "bare.ckpt"
    torch.save({"state_dict": {"generator.w": torch.zeros(1)}}, bare)
    with pytest.raises(DataError, match=r"bare\.ckpt is not a restorelab checkpoint"):
        generator_from_file(bare)
