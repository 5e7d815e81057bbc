"""benchmarks/data_loader.py run tiny: its JSON, loader variants and consumers."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
from PIL import Image

from tests.helpers import ROOT, gradient_image

SCRIPT = ROOT / "benchmarks" / "data_loader.py"


def load_benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_data_loader", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tiny_run_reports_loader_and_consumer_rates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.roll(gradient_image(40, 48), i, axis=0)).save(folder / f"{i}.png")
    result = load_benchmark().main(
        [
            "--train-dir", str(folder), "--batches", "3", "--steps", "2", "--warmup", "1",
            "--generators", "espcn,fsrcnn", "--variants", "memory:0,disk:0",
            "data.batch_size=2", "data.patch_size=32", "trainer.precision=32-true",
        ]
    )  # fmt: skip
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == result
    assert result["cpu_capability"] == str(torch.backends.cpu.get_cpu_capability())
    assert (result["images"], result["megapixels"]) == (3, round(3 * 40 * 48 / 1e6, 1))
    assert (result["batch_size"], result["patch_size"]) == (2, 32)
    assert set(result["loader"]) == set(result["fed"]) == {"memory:0", "disk:0"}
    assert set(result["consumers"]) == {"espcn", "fsrcnn"}
    rates = [*result["loader"].values(), *result["consumers"].values(), *result["fed"].values()]
    assert all(v > 0 for v in rates)
    fastest = result["consumers"][result["fastest"]]
    assert result["fed_ratio"] == pytest.approx(result["fed"]["memory:0"] / fastest, rel=0.01)
    assert result["cache_mb"] == round(3 * 40 * 48 * 3 / 2**20, 1)
    assert result["fastest"] == max(result["consumers"], key=result["consumers"].get)
    assert result["keeps_up"] == (
        result["loader"]["memory:0"] > result["consumers"][result["fastest"]]
    )


def test_bad_variants_are_refused() -> None:
    with pytest.raises(SystemExit):
        load_benchmark().parse_args(["--variants", "ram:2"])
