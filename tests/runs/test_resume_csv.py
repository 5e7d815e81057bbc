"""Resume with the CSV logger: the run's ``csv/metrics.csv`` keeps every row logged before.

Lightning's own ``CSVLogger`` deletes an existing ``metrics.csv`` when it opens its directory
again, so every resume lost the run's history (and a later header change could raise after the
file was reopened for writing). These run the real CLI in subprocesses, as a user resumes.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tests.helpers import COMMON, ok, train_cli


def csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def steps_with(rows: list[dict[str, str]], key: str) -> list[int]:
    """The ``step`` of every row that has a value for ``key``, in file order."""
    return [int(r["step"]) for r in rows if r.get(key)]


@pytest.mark.slow
def test_resume_keeps_training_and_validation_rows(tmp_path: Path) -> None:
    run = tmp_path / "run"
    ok(train_cli([*COMMON, "logger=csv", "trainer.max_steps=6", f"hydra.run.dir={run}"], tmp_path))
    log = run / "csv" / "metrics.csv"
    before_text = log.read_text()
    before = csv_rows(log)
    # 6 steps: training rows at steps 0..5, validation after step 4 (logged at 3) and at the end
    assert steps_with(before, "train/loss") == list(range(6))
    assert steps_with(before, "val/psnr_y") == [3, 6]

    ok(train_cli([f"resume={run}", "trainer.max_steps=10"], tmp_path))
    after = csv_rows(log)
    assert log.read_text().startswith(before_text), "the earlier rows were rewritten"
    assert after[: len(before)] == before
    assert steps_with(after, "train/loss") == list(range(10))  # each step once, none lost
    assert steps_with(after, "val/psnr_y") == [3, 6, 7, 10]
    assert steps_with(after, "lr/generator") == list(range(10))
