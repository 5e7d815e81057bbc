"""Fuzzing the enhancement reader: random and corrupted files never crash or hang read_photo.

A few hundred inputs (random byte strings, most behind a format's magic number, and corrupted
valid PNG/JPEG/WebP/GIF/TIFF/BMP/PPM files, 16-bit PNG and TIFF too) are read in a subprocess
with restorelab-enhance's pixel limit: each must give an image or one DataError naming the
file. The subprocess has a time limit (a hang fails the test, naming the input) and each call
a time bound; the seed is printed and named in failures (``RESTORELAB_FUZZ_SEED=<n>`` replays
a run).
"""

from __future__ import annotations

from pathlib import Path

from tests.helpers import FUZZ_CALL_LIMIT_S, FUZZ_SEED_ENV, fuzz_seed, run_fuzz

CASES = 600
TIMEOUT_S = 300


def test_read_photo_survives_random_and_corrupted_files(tmp_path: Path) -> None:
    seed = fuzz_seed()
    summary = run_fuzz("read_photo", seed, CASES, tmp_path, TIMEOUT_S)
    replay = f"{FUZZ_SEED_ENV}={seed}"
    assert summary["crashes"] == [], f"{replay}: {summary['crashes']}"
    assert summary["ok"] + summary["refused"] == CASES
    assert summary["ok"] > 0 and summary["refused"] > CASES // 2, (replay, summary)
    took, case = summary["slowest"]
    assert took < FUZZ_CALL_LIMIT_S, f"{replay}: {case} took {took:.1f} s"
