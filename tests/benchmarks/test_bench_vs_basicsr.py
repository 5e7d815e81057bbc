"""benchmarks/vs_basicsr.py: its error without BasicSR, and the interleaved JSON result."""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest
from torch import nn

from tests.helpers import ROOT

SCRIPT = ROOT / "benchmarks" / "vs_basicsr.py"
TINY = ["generator.num_feat=8", "generator.num_block=1"]


def load_benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_vs_basicsr", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_without_basicsr_it_says_which_python_to_use(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bench = load_benchmark()
    monkeypatch.setattr(bench, "PEER_DIR", tmp_path)
    monkeypatch.setitem(sys.modules, "basicsr", None)  # not importable, even in the peer venv
    with pytest.raises(SystemExit, match=r"cannot import BasicSR or the peer harness from .*peer"):
        bench.BasicSRSide(8, 96)


class FixedSpeedSide:
    """Stands in for BasicSR: 50 it/s exactly (the sleep dominates on any machine)."""

    generator = nn.Conv2d(3, 3, 3)

    def __init__(self, batch: int, patch: int) -> None:
        assert (batch, patch) == (8, 96)  # the harness's defaults reach the other side

    def run(self, steps: int) -> float:
        time.sleep(steps * 0.02)
        return steps * 0.02


def test_result_compares_medians_of_interleaved_rounds(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = load_benchmark()
    monkeypatch.setattr(bench, "BasicSRSide", FixedSpeedSide)
    result = bench.main(["--steps", "2", "--rounds", "3", "--warmup", "1", "--pool", "2", *TINY])
    out = capsys.readouterr().out
    assert json.loads(out.strip().splitlines()[-1]) == result
    assert result["basicsr_it_per_s"] == pytest.approx(50.0, rel=1e-6)
    assert result["ratio"] == pytest.approx(result["restorelab_it_per_s"] / 50.0, rel=1e-2)
    assert result["target"] == (1.5 if result["precision"] == "bf16-mixed" else 1.2)
    assert result["generator"] == "msrresnet"
    assert sum(line.strip().startswith(("1 ", "2 ", "3 ")) for line in out.splitlines()) == 3
