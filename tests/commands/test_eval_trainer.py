"""``restorelab-eval`` builds its Trainer from the ``trainer`` group, on one device.

``device=`` and ``precision=`` are eval.yaml's older spellings of ``trainer.accelerator`` and
``trainer.precision``; precision ``auto`` is resolved as in training.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import pytest

from restorelab.training import precision as precision_probes
from restorelab.training.evaluate import evaluate
from tests.helpers import copy_reference_gt


@pytest.fixture
def images(tmp_path: Path) -> Path:
    return copy_reference_gt(tmp_path / "images")


class Built(Exception):
    """Raised by the patched ``Trainer.test``: the Trainer is built, nothing needs to run."""


def built_trainer(compose_cfg: Any, monkeypatch: Any, test_dir: Path, *args: str) -> L.Trainer:
    seen: list[L.Trainer] = []

    def test(self: L.Trainer, *a: Any, **k: Any) -> None:
        seen.append(self)
        raise Built

    monkeypatch.setattr(L.Trainer, "test", test)
    cfg = compose_cfg(
        "generator=bicubic",
        f"data.test_dir={test_dir}",
        "data.num_workers=0",
        *args,
        config_name="eval",
    )
    with pytest.raises(Built):
        evaluate(cfg)
    return seen[0]


def test_eval_trainer_comes_from_the_trainer_group(compose_cfg, monkeypatch, images) -> None:
    trainer = built_trainer(compose_cfg, monkeypatch, images, "trainer=cpu")
    assert trainer.precision == "32-true"  # eval's default: the published tables' numbers
    assert type(trainer.accelerator).__name__ == "CPUAccelerator"
    assert trainer.num_devices == 1 and trainer.logger is None
    assert not trainer.checkpoint_callbacks

    # trainer=ddp_sim asks for 2 processes; evaluation stays on one
    assert built_trainer(compose_cfg, monkeypatch, images, "trainer=ddp_sim").num_devices == 1

    monkeypatch.setattr(precision_probes, "cpu_native_bf16", lambda: True)
    auto = built_trainer(compose_cfg, monkeypatch, images, "trainer=cpu", "trainer.precision=auto")
    assert auto.precision == "bf16-mixed"


def test_device_and_precision_are_aliases_that_win(compose_cfg, monkeypatch, images) -> None:
    trainer = built_trainer(compose_cfg, monkeypatch, images, "device=cpu", "precision=bf16-mixed")
    assert trainer.precision == "bf16-mixed"
    assert type(trainer.accelerator).__name__ == "CPUAccelerator"
