"""GAN training under DDP (2 CPU processes, gloo) equals the one-process run, G and D alike.

Each iteration runs two backward passes through one DDP-wrapped module; if either network's
gradients were not averaged across ranks (or DDP waited for the other network's), the
2-process weights would differ from the 1-process weights or the run would hang or fail.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from restorelab.weights import load_checkpoint
from tests.helpers import ROOT

# a critic without batch norm (per-rank batch statistics would legitimately differ)
COMMON = [
    "experiment=gan_x4",
    "discriminator=unet_sn",
    "discriminator.num_feat=8",
    "generator.num_feat=8",
    "generator.num_conv=2",
    "module.ema_decay=0.5",
    "data.batch_size=4",
    "data.patch_size=32",
    "data.repeat=4",
    "data.val_names=[coffee]",
    "trainer.max_steps=3",
    "trainer.val_check_interval=3",
    "trainer.precision=32-true",
    "trainer.max_time=null",
    "trainer.enable_model_summary=false",
    "trainer.enable_progress_bar=false",
    "logger=none",
    "callbacks=none",
]


def _train(args: list[str], run: Path) -> None:
    env = {**os.environ, "RESTORELAB_OUTPUTS": str(run.parent)}
    proc = subprocess.run(
        [sys.executable, "-m", "restorelab.commands.train", *COMMON, *args, f"hydra.run.dir={run}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.mark.slow
def test_gan_under_ddp_matches_one_process(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    _train([], one)
    _train(["trainer=ddp_sim"], two)
    a = load_checkpoint(one / "checkpoints" / "last.ckpt")["state_dict"]
    b = load_checkpoint(two / "checkpoints" / "last.ckpt")["state_dict"]
    for prefix in ("generator.", "generator_ema.", "discriminator."):
        keys = [k for k in a if k.startswith(prefix)]
        assert keys and set(keys) == {k for k in b if k.startswith(prefix)}
        for k in keys:
            torch.testing.assert_close(a[k], b[k], atol=1e-5, rtol=1e-4, msg=k)
