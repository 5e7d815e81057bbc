"""``restorelab-archs``: the architecture table (scales, parameters, GFLOPs, CPU latency)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from restorelab.commands.archs import generator_options, main


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict]:
    main([*args, "--format", "json"])
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_known_values_without_latency(capsys: pytest.CaptureFixture[str]) -> None:
    rows = run_json(capsys, "--no-latency", "--only", "espcn,fsrcnn", "--only", "swinir")
    by_name = {r["name"]: r for r in rows}
    assert list(by_name) == ["espcn", "fsrcnn", "swinir"]
    espcn = by_name["espcn"]
    assert (espcn["arch"], espcn["scales"], espcn["scale"]) == ("ESPCN", [2, 3, 4], 4)
    assert espcn["params"] == 37_200
    # multiply-adds per input pixel: 5*5*3*64 + 3*3*64*32 + 3*3*32*48, two FLOPs each
    assert espcn["gflops"] == pytest.approx(2 * 37_056 * 256 * 256 / 1e9)
    assert espcn["latency_ms"] is None
    assert by_name["swinir"]["params"] == 11_900_199
    assert by_name["swinir"]["scales"] == [2, 3, 4, 8]
    assert by_name["fsrcnn"]["scales"] == [2, 3, 4]


def test_scale_falls_back_to_a_supported_one(capsys: pytest.CaptureFixture[str]) -> None:
    (row,) = run_json(capsys, "--no-latency", "--only", "rrdbnet_tiny", "--scale", "3")
    assert row["scales"] == [1, 2, 4] and row["scale"] == 4
    (row,) = run_json(capsys, "--no-latency", "--only", "compact_tiny", "--scale", "2")
    assert row["scale"] == 2


def test_latency_is_measured(capsys: pytest.CaptureFixture[str]) -> None:
    (row,) = run_json(capsys, "--only", "compact_tiny", "--size", "64", "--repeats", "2")
    assert row["latency_ms"] > 0
    (row,) = run_json(capsys, "--only", "compact_tiny", "--size", "64", "--max-gflops", "0.01")
    assert row["latency_ms"] is None  # above the timing limit


def test_table_and_markdown(capsys: pytest.CaptureFixture[str]) -> None:
    main(["--no-latency", "--only", "espcn", "--format", "markdown"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "| name | class | scales | at | params | GFLOPs@256 | CPU ms@256 |"
    assert lines[2] == "| espcn | ESPCN | 2,3,4 | x4 | 37.2K | 4.86 | - |"
    main(["--no-latency", "--only", "espcn", "--size", "128"])
    header, row = capsys.readouterr().out.strip().splitlines()
    assert header.split() == [
        "name",
        "class",
        "scales",
        "at",
        "params",
        "GFLOPs@128",
        "CPU",
        "ms@128",
    ]
    assert row.split() == ["espcn", "ESPCN", "2,3,4", "x4", "37.2K", "1.21", "-"]


def test_every_generator_option_is_listed(capsys: pytest.CaptureFixture[str]) -> None:
    rows = run_json(capsys, "--no-latency")
    assert [r["name"] for r in rows] == generator_options()
    assert {"swinir", "swinir_light", "rcan", "espcn", "fsrcnn", "refine"} <= {
        r["name"] for r in rows
    }
    assert all(r["scales"] and r["gflops"] > 0 for r in rows)


def test_unknown_name_is_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--only", "nope", "--no-latency"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("restorelab-archs: error: --only: unknown generator 'nope' (known: ")
    assert len(err.splitlines()) == 1


def test_console_script() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "restorelab.commands.archs", "--only", "fsrcnn", "--no-latency"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert out.stdout.splitlines()[1].split()[:5] == ["fsrcnn", "FSRCNN", "2,3,4", "x4", "24.7K"]
