"""Write ``tests/data/legacy_run_v0_1/``: a tiny run trained by this version of restorelab.

The committed ``legacy_run_v0_1`` was written by the code before the issue-12 restructuring
(commit c255d57, entry point ``python -m restorelab.train`` with ``PYTHONPATH`` at that
checkout's ``src``), so its saved config names the old ``_target_`` paths
(``restorelab.callbacks.*``) that the thin re-exports keep working.

The committed files (``checkpoints/last.ckpt`` and ``.hydra/config.yaml``, in a run
directory's own layout) prove that later versions still load old runs: ``tests/test_weights.py``
enhances with the checkpoint and uses it as ``generator.pretrained``; ``tests/test_legacy_run.py``
resumes it. Rerun this script only
when a new fixture version is wanted (into a new folder), never to "fix" a failing test:

    python tests/data/make_legacy_run.py [DEST]

It trains through ``restorelab-train`` (``restorelab.training.fit.train`` under Hydra, so the
saved config is exactly what a real run writes) for 2 steps on CPU, with a compact generator
of 4 features and 1 convolution so the checkpoint stays far below 200 KB.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEST = Path(__file__).resolve().parent / "legacy_run_v0_1"
#: The run's overrides: tiny, deterministic, offline, CPU, full precision.
OVERRIDES = [
    "generator=compact",
    "generator.num_feat=4",
    "generator.num_conv=1",
    "data.batch_size=2",
    "data.patch_size=32",
    "data.val_names=[coffee]",
    "trainer.max_steps=2",
    "trainer.val_check_interval=2",
    "trainer.accelerator=cpu",
    "trainer.precision=32-true",
    "trainer.max_time=null",
    "trainer.enable_model_summary=false",
    "logger=csv",
    "seed=0",
]
#: The files copied out of the run, relative to the run directory.
KEPT = (Path("checkpoints") / "last.ckpt", Path(".hydra") / "config.yaml")


def make(dest: Path = DEST) -> Path:
    """Train the tiny run in a temp dir and copy its :data:`KEPT` files into ``dest``."""
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        env = {**os.environ, "RESTORELAB_OUTPUTS": tmp, "WANDB_MODE": "offline"}
        cmd = [sys.executable, "-m", "restorelab.commands.train", *OVERRIDES]
        subprocess.run([*cmd, f"hydra.run.dir={run}"], cwd=ROOT, env=env, check=True)
        for rel in KEPT:
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(run / rel, dest / rel)
    return dest


if __name__ == "__main__":
    out = make(Path(sys.argv[1]) if len(sys.argv) > 1 else DEST)
    for rel in KEPT:
        print(f"{out / rel}: {(out / rel).stat().st_size} bytes")
