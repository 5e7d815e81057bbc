"""The one helpers module of the tests: paths, tiny overrides, CLI runners, tiny checkpoints.

Test files import from here (``from tests.helpers import TINY, train_cli``) rather than from
each other, so moving or deleting one test file never breaks another.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import Tensor, nn

#: The repository root and the folders the tests read.
ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
SRC = ROOT / "src"
FIXTURES = ROOT / "tests" / "fixtures"
#: Images and figures computed by independent implementations (see its README).
REFERENCE = FIXTURES / "reference"
#: A run trained by restorelab 0.1 (``tests/fixtures/make_legacy_run.py``): compact, 4 features, x4.
LEGACY_RUN = FIXTURES / "legacy_run_v0_1"

#: A 2-conv, 8-feature generator: the network of every tiny training run.
TINY_NET = ["generator.num_feat=8", "generator.num_conv=2"]
#: Overrides that make any training config run in seconds on a CPU.
TINY = [
    *TINY_NET,
    "data.batch_size=2",
    "data.patch_size=32",
    "data.val_names=[coffee]",
    "trainer.max_steps=2",
    "trainer.val_check_interval=2",
    "trainer.precision=32-true",
    "trainer.max_time=null",
    "trainer.enable_model_summary=false",
    "trainer.log_every_n_steps=1",
]


#: Tiny, deterministic resumable runs of ``RESUME_STEPS`` steps: 7 training images in batches of
#: 2 (3 batches per epoch, so runs cross epoch boundaries), noise so the degradation's own random
#: stream matters, a ``last.ckpt`` every 2 steps.
RESUME_STEPS = 10
COMMON = [
    *TINY_NET,
    "data.batch_size=2",
    "data.patch_size=32",
    "data.repeat=1",
    "data.val_names=[coffee]",
    "+degradation.stages.noise._target_=restorelab.degradations.GaussianNoise",
    "+degradation.stages.noise.sigma=[1,10]",
    f"trainer.max_steps={RESUME_STEPS}",
    "trainer.val_check_interval=4",
    "trainer.precision=32-true",
    "trainer.max_time=null",
    "trainer.deterministic=true",
    "trainer.enable_model_summary=false",
    "trainer.enable_progress_bar=false",
    "trainer.log_every_n_steps=1",
    "~callbacks.rich_progress_bar",
    "~callbacks.image_grid",
    "callbacks.last_checkpoint.every_n_train_steps=2",
]

#: The reference ground truths of ``REFERENCE``: one colour, one grayscale (benchmark sets mix).
REFERENCE_GT = ("gt_astronaut_96", "gt_camera_96_gray")


def copy_reference_gt(folder: Path) -> Path:
    """``folder`` (created) holding the ``REFERENCE_GT`` images as PNG files."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in REFERENCE_GT:
        shutil.copy(REFERENCE / f"{name}.png", folder / f"{name}.png")
    return folder


def train_cli(
    args: list[str], outputs: Path, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """``python -m restorelab.commands.train ARGS`` from the repository root.

    Runs without a ``hydra.run.dir`` go under ``outputs``; the repository root is on
    ``PYTHONPATH`` so configs may name test-only classes (``tests.helpers.KillAtStep``).
    """
    full_env = {
        **os.environ,
        "RESTORELAB_OUTPUTS": str(outputs),
        "PYTHONPATH": str(ROOT),
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "restorelab.commands.train", *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    """``proc`` if it exited 0; otherwise fail with the end of its stderr."""
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def cli_env(root: Path) -> dict[str, str]:
    """Environment of a CLI subprocess: W&B offline and every output inside ``root``."""
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    for var in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_ARTIFACT_DIR"):
        env[var] = str(root / "wandb_home" / var.lower())
    env["RESTORELAB_OUTPUTS"] = str(root / "outputs")
    for var in ("WANDB_RUN_ID", "WANDB_RESUME", "WANDB_SWEEP_ID"):
        env.pop(var, None)
    return env


def run_cli(
    name: str, *args: str, cwd: Path, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run a console script of this environment (``restorelab-train`` ...) in ``cwd``."""
    exe = Path(sys.executable).with_name(name)
    return subprocess.run(
        [str(exe) if exe.exists() else name, *args],
        cwd=cwd,
        env=cli_env(cwd),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def n_params(net: nn.Module) -> int:
    """Number of parameters (what papers report; buffers excluded)."""
    return sum(p.numel() for p in net.parameters())


class KillAtStep(L.Callback):
    """SIGKILL this process at the end of training step ``step``: no cleanup, no last write.

    Loaded by training subprocesses through a Hydra override. It runs before the checkpoint
    callbacks of that batch, so the run loses the steps since the last periodic ``last.ckpt``,
    as a pre-empted or crashed job would.
    """

    def __init__(self, step: int) -> None:
        self.step = int(step)

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, idx: int
    ) -> None:
        if trainer.global_step >= self.step:
            os.kill(os.getpid(), signal.SIGKILL)


#: A tiny SRVGGNetCompact: 5 convolutions (receptive field 11 input pixels), x2.
TINY_COMPACT: dict[str, Any] = {
    "_target_": "restorelab.archs.SRVGGNetCompact",
    "num_in_ch": 3,
    "num_out_ch": 3,
    "num_feat": 8,
    "num_conv": 3,
    "act_type": "prelu",
    "upsample_skip": "bilinear",
    "scale": 2,
}
TINY_RECEPTIVE_FIELD = 2 * (TINY_COMPACT["num_conv"] + 2) + 1


def save_checkpoint(path: Path, config: dict[str, Any], seed: int = 0, **extra: Any) -> nn.Module:
    """Build the generator of ``config`` with random weights and save it the way training
    does (``state_dict`` with ``generator.*`` keys, configs under ``restorelab``)."""
    import hydra

    torch.manual_seed(seed)
    generator = hydra.utils.instantiate(config)
    with torch.no_grad():  # PReLU slopes and biases away from their defaults
        for p in generator.parameters():
            p.add_(0.05 * torch.randn_like(p))
    ckpt = {
        "state_dict": {f"generator.{k}": v for k, v in generator.state_dict().items()},
        "restorelab": {
            "version": "0.1.0",
            "scale": int(config["scale"]),
            "generator": dict(config),
            "config": {},
        },
        **extra,
    }
    torch.save(ckpt, path)
    return generator.eval()


class TinyStages(nn.Module):
    """A two-stage x2 generator with ``stages()``: nearest upsampling, then a 3x3 refinement."""

    def __init__(self, scale: int = 2) -> None:
        super().__init__()
        self.scale = scale
        self.refine = nn.Conv2d(3, 3, 3, padding=1)
        with torch.no_grad():
            self.refine.weight.zero_()
            self.refine.weight[:, :, 1, 1] = torch.eye(3) * 0.5
            self.refine.bias.fill_(0.25)

    def stages(self, lq: Tensor) -> list[Tensor]:
        up = nn.functional.interpolate(lq, scale_factor=float(self.scale), mode="nearest")
        return [up, self.refine(up)]

    def forward(self, lq: Tensor) -> Tensor:
        return self.stages(lq)[-1]


def gradient_image(h: int, w: int, channels: int = 3, dtype: type = np.uint8) -> np.ndarray:
    """A smooth, deterministic test image (no flat regions, every channel different)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    planes = [
        0.5 + 0.5 * np.sin(xx / (5 + 2 * c) + yy / (7 + c) + c) for c in range(max(channels, 1))
    ]
    img = np.stack(planes, axis=2)
    top = np.iinfo(dtype).max
    arr = np.rint(img * top).astype(dtype)
    return arr[:, :, 0] if channels == 1 else arr
