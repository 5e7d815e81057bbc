"""benchmarks/enhance_memory.py: the child-process measurement and its JSON, run tiny."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.helpers import ROOT

SCRIPT = ROOT / "benchmarks" / "enhance_memory.py"


def load_benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_enhance_memory", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_reports_peak_time_and_sizes_for_each_depth(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--size", "96", "--scale", "2", "--generator", "compact_tiny", "--ext", "tiff"]
    result = load_benchmark().main([*argv, "--tile", "32", "--tile-overlap", "8"])
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == result
    assert [run["depth"] for run in result["runs"]] == [8, 16]
    for run in result["runs"]:
        # a child that imported torch and ran the command: more than 50 MiB, under 2 GiB
        assert 50 < run["peak_rss_mib"] < 2048 and run["seconds"] > 0
        assert run["output_mib"] == round(192**2 * 3 * run["depth"] / 8 / 2**20, 1)
        assert run["output_file_mib"] > 0
    assert result["cpu_capability"] and result["ext"] == "tiff" and result["scale"] == 2


def test_bad_depths_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        load_benchmark().main(["--depths", "8,12"])
    assert "--depths takes 8 and/or 16, got 8,12" in capsys.readouterr().err
