"""benchmarks/degradation_throughput.py and degradation_peer_stats.py without the peer venv."""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch
from torch import Tensor

from tests.helpers import ROOT

BENCHMARKS = ROOT / "benchmarks"


def load(name: str) -> ModuleType:
    sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_without_basicsr_both_say_which_python_to_use(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bench = load("degradation_throughput")
    monkeypatch.setattr(bench, "PEER_DIR", tmp_path)
    monkeypatch.setitem(sys.modules, "basicsr_degradation_speed", None)
    with pytest.raises(SystemExit, match=r"cannot import BasicSR or the peer harness from"):
        bench.BasicSRSide(2, 96, usm=False, clock=bench.Clock())
    stats = load("degradation_peer_stats")
    monkeypatch.setattr(stats, "PEER_DIR", tmp_path)
    with pytest.raises(SystemExit, match=r"run with the peer venv's python"):
        stats.basicsr_statistics([[["astronaut", 0, 0]]], 96, seed=0)


class FixedSpeedSide:
    """Stands in for BasicSR: 0.05 s per batch (the sleep dominates on any machine)."""

    def __init__(self, batch: int, size: int, usm: bool, clock: Any) -> None:
        self.clock = clock

    def run(self, gt: Tensor) -> Tensor:
        self.clock.wrap("feed_data", time.sleep)(0.05)
        return torch.zeros(gt.shape[0], 3, gt.shape[-2] // 4, gt.shape[-1] // 4)


def test_result_reports_both_ratios_and_where_the_time_goes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = load("degradation_throughput")
    monkeypatch.setattr(bench, "BasicSRSide", FixedSpeedSide)
    monkeypatch.setattr(bench, "QUEUE_SIZE", 4)  # a small pool to fill
    args = ["--batch", "2", "--size", "96", "--rounds", "2", "--usm-rounds", "1", "--warmup", "0"]
    result = bench.main([*args, "degradation.pool_size=4"])
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == result
    assert result["basicsr_images_per_s"] == pytest.approx(40.0, rel=0.2)  # 2 images / 0.05 s
    for key in ("ratio", "ratio_with_usm"):
        assert result[key] == pytest.approx(
            result[key.replace("ratio", "restorelab_images_per_s")]
            / result[key.replace("ratio", "basicsr_images_per_s")],
            rel=0.01,
        )
    ours = result["ms_per_batch_with_usm"]["restorelab"]
    assert {"usm", "blur1", "jpeg1", "noise1", "final", "usm_of_targets"} <= set(ours)
    assert "usm" not in result["ms_per_batch"]["restorelab"]  # switched off in the first phase
    assert result["targets"] == {"ratio": 1.25, "ratio_with_usm": 3.0}
    assert result["pool_size"] == 4 and result["cpu_capability"]
