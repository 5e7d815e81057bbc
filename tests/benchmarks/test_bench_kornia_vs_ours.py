"""benchmarks/kornia_vs_ours.py run tiny: the JSON it prints and what it measures."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.helpers import ROOT


def test_kornia_vs_ours_prints_both_measurements() -> None:
    proc = subprocess.run(
        [sys.executable, "benchmarks/kornia_vs_ours.py", "--batch", "2", "--size", "48"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(result["jpeg_ms"]) == {"kornia", "restorelab"}
    assert all(v > 0 for v in result["jpeg_ms"].values())
    closeness = result["jpeg_psnr_vs_libjpeg"]
    assert list(closeness["restorelab"]) == ["10", "30", "50", "75", "95"]
    assert all(closeness["restorelab"][q] > closeness["kornia"][q] for q in ("10", "30", "50"))
    assert result["usm_blur_max_abs_diff"] < 1e-6  # shared or per-sample kernel: same blur
    assert result["batch"] == 2 and result["size"] == 48
