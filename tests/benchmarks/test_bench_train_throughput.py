"""benchmarks/train_throughput.py: hardware-aware precision, result keys, stopping on SIGTERM."""

from __future__ import annotations

import importlib.util
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import ModuleType

import pytest
import torch

from restorelab.training.precision import choose_precision
from tests.helpers import ROOT

SCRIPT = ROOT / "benchmarks" / "train_throughput.py"
TINY = ["generator.num_feat=8", "generator.num_conv=2"]


def load_benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_train_throughput", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_defaults_are_short() -> None:
    args = load_benchmark().parse_args([])
    assert (args.steps, args.rounds, args.warmup) == (10, 10, 5)


def test_main_resolves_auto_precision(capsys: pytest.CaptureFixture[str]) -> None:
    bench = load_benchmark()
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    result = bench.main(["--steps", "2", "--rounds", "2", "--warmup", "1", "--pool", "2", *TINY])
    expected = choose_precision("auto", "auto")
    assert result["precision"] == expected.precision
    assert result["requested_precision"] == "auto"
    assert result["cpu_capability"] == str(torch.backends.cpu.get_cpu_capability())
    assert set(result) == {
        "generator",
        "precision",
        "requested_precision",
        "cpu_capability",
        "module_it_per_s",
        "raw_it_per_s",
        "ratio",
    }
    assert result["generator"] == "compact"
    assert result["module_it_per_s"] > 0 and result["raw_it_per_s"] > 0
    out = capsys.readouterr().out
    assert expected.line() in out
    assert out.strip().splitlines()[-1].startswith("{")
    # main() puts the caller's signal handlers back
    assert {s: signal.getsignal(s) for s in before} == before


def _reader(stream, lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize(
    ("phase", "warmup", "wait_for", "delay"),
    [
        # module warm-up of 100000 Lightning iterations: the signal lands inside trainer.fit
        ("lightning", "100000", "training started", 1.0),
        # right after the raw warm-up (1000 iterations, seconds) starts inside the callback
        ("raw", "1000", "raw loop started", 0.0),
    ],
)
def test_sigterm_stops_it_promptly(
    tmp_path: Path, phase: str, warmup: str, wait_for: str, delay: float
) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    # far more work than the test waits for: it can only end by the signal
    argv = ["--steps", "500", "--rounds", "100", "--warmup", warmup, "--pool", "2", *TINY]
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), *argv],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=_reader, args=(proc.stdout, lines), daemon=True).start()
        deadline = time.monotonic() + 180  # start-up (imports, composing, the pool) is slow
        while True:
            line = lines.get(timeout=max(deadline - time.monotonic(), 0.1))
            assert line is not None, f"exited early:\n{proc.stderr.read() if proc.stderr else ''}"
            if line.startswith(wait_for):
                break
        time.sleep(delay)
        assert proc.poll() is None, f"finished before the signal ({phase}); give it more work"
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        elapsed = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 143, err
    assert "train_throughput: stopped by SIGTERM; exiting with code 143" in err
    assert elapsed < 20, f"took {elapsed:.1f} s to stop ({phase})"
