"""benchmarks/scan_speed.py: runs tiny and reports both costs per format."""

from __future__ import annotations

import importlib.util
import json

import pytest

from tests.helpers import ROOT

SCRIPT = ROOT / "benchmarks" / "scan_speed.py"


def test_scan_speed_reports_scan_and_decode_per_format(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("bench_scan_speed", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.main(["--images", "3", "--width", "64", "--height", "48", "--rounds", "1"])
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == result
    assert set(result["ms_per_image"]) == {"png", "jpeg"}
    for costs in result["ms_per_image"].values():
        assert costs["scan"] > 0 and costs["decode"] > 0
