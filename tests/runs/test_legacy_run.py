"""A run written before the restructuring still resumes: old ``_target_`` paths, old checkpoint.

``tests/fixtures/legacy_run_v0_1`` was trained by the code of commit c255d57 (see
``tests/fixtures/make_legacy_run.py``); its saved config names ``restorelab.callbacks.*``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.helpers import LEGACY_RUN, ok, train_cli

LEGACY = LEGACY_RUN


def test_fixture_names_the_old_paths() -> None:
    saved = (LEGACY / ".hydra" / "config.yaml").read_text()
    assert "_target_: restorelab.callbacks.resume_state.PeriodicCheckpoint" in saved
    assert "_target_: restorelab.callbacks.ImageGridLogger" in saved


@pytest.mark.slow
def test_old_run_resumes_to_more_steps(tmp_path: Path) -> None:
    run = tmp_path / "legacy_run"
    shutil.copytree(LEGACY, run)
    done = ok(train_cli([f"resume={run}", "trainer.max_steps=4"], tmp_path))
    assert "resume at step 2" in done.stdout
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["step"] == 4
    assert metrics["val/psnr_y"] > 0
