"""benchmarks/step_options.py: variant selection, errors and the JSON result."""

from __future__ import annotations

import importlib.util
import json
import sys
from types import ModuleType

import pytest
import torch

from tests.helpers import ROOT

SCRIPT = ROOT / "benchmarks" / "step_options.py"
TINY = ["generator.num_feat=8", "generator.num_conv=2", "data.batch_size=2", "data.patch_size=32"]


def load_benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_step_options", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_unknown_variant_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        load_benchmark().parse_args(["--variants", "fp32,fp64_turbo"])
    assert "unknown variant(s) fp64_turbo" in capsys.readouterr().err


def test_main_reports_every_variant_against_fp32(capsys: pytest.CaptureFixture[str]) -> None:
    bench = load_benchmark()
    argv = ["--variants", "fp32,fp32_cl,fp32_1thread", "--steps", "1", "--rounds", "2"]
    result = bench.main([*argv, "--warmup", "1", "--pool", "2", *TINY])
    assert set(result["it_per_s"]) == {"fp32", "fp32_cl", "fp32_1thread"}
    assert result["ratio"]["fp32"] == 1.0
    assert all(v > 0 for v in result["it_per_s"].values())
    assert (result["batch"], result["patch"]) == (2, 32)
    assert result["cpu_capability"] == str(torch.backends.cpu.get_cpu_capability())
    assert torch.get_num_threads() == result["threads"]  # the 1-thread variant restores threads
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert json.loads(last) == result
