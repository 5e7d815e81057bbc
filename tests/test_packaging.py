"""The configs travel inside the wheel, so a plain `pip install .` can train."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from tests.helpers import ROOT


def test_wheel_ships_the_configs_and_finds_them(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(ROOT),
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            "-q",
        ],
        check=True,
    )
    wheel = next(tmp_path.glob("restorelab-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in (
        "restorelab/conf/train.yaml",
        "restorelab/conf/eval.yaml",
        "restorelab/conf/experiment/sr_x4_default.yaml",
        "restorelab/commands/train.py",
        "restorelab/data/registry.yaml",  # restorelab-data download's table of data sets
    ):
        assert required in names
    target = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(target)
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; sys.path.insert(0, sys.argv[1]); "
            "from restorelab.config import config_dir; print(config_dir())",
            str(target),
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    ).stdout.strip()
    assert Path(out) == target / "restorelab" / "conf"
