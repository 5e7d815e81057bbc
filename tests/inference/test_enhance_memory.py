"""Peak memory is bounded by the tile: 4096x4096 at x4 (a 16384x16384 PNG) within 3 GB.

Measured in a child process (its own ``ru_maxrss``), running the real command line on a
proper restorelab checkpoint of a tiny x4 generator (2 convolutions + pixel shuffle).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from restorelab.inference.image_io import _png_header
from tests.helpers import TINY_COMPACT, save_checkpoint

SIDE = 4096
SCALE = 4
LIMIT_MB = 3 * 1024

CHILD = """
import json, resource, sys
from restorelab.commands.enhance import main
try:
    main(sys.argv[1:])
except SystemExit as e:
    code = e.code
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
print(json.dumps({"rc": code, "peak_rss_mb": peak}))
"""


@pytest.mark.slow
def test_4096px_at_x4_stays_within_3gb(tmp_path: Path) -> None:
    ckpt = tmp_path / "x4.ckpt"
    save_checkpoint(ckpt, dict(TINY_COMPACT, num_feat=4, num_conv=0, scale=SCALE))
    yy, xx = np.mgrid[0:SIDE, 0:SIDE].astype(np.float32)
    image = np.stack([np.sin(xx / 40), np.cos(yy / 30), np.sin((xx + yy) / 50)], axis=2)
    src = tmp_path / "big.bmp"  # BMP: quick to write and read; the output is the point
    Image.fromarray(np.rint(127.5 + 127.5 * image).astype(np.uint8)).save(src)
    del yy, xx, image
    out = tmp_path / "out"
    args = [str(src), "-o", str(out), "--ckpt", str(ckpt), "--ext", "png"]
    args += ["--tile", "512", "--tile-overlap", "8", "--png-compression", "1", "--no-progress"]
    result = subprocess.run(
        [sys.executable, "-c", CHILD, *args], capture_output=True, text=True, timeout=600
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["rc"] == 0, result.stderr
    assert report["peak_rss_mb"] < LIMIT_MB, report
    # the header only: Pillow's own bomb guard refuses to open a 268-megapixel image
    width, height, depth, colour_type = _png_header(out / "big.png")  # type: ignore[misc]
    assert (width, height, depth, colour_type) == (SIDE * SCALE, SIDE * SCALE, 8, 2)  # RGB
    print(f"peak RSS {report['peak_rss_mb']:.0f} MB")
    (out / "big.png").unlink()  # ~0.5 GB; pytest keeps the last runs' tmp dirs
    src.unlink()
