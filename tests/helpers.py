"""The one helpers module of the tests: paths, tiny overrides, CLI runners, tiny checkpoints.

Test files import from here (``from tests.helpers import TINY, train_cli``) rather than from
each other, so moving or deleting one test file never breaks another.
"""

from __future__ import annotations

import errno
import io
import os
import shutil
import signal
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable
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


# ------------------------------------------------------------------------- odd input files
#: Side of the odd-but-valid images: above the tiny runs' 32 px patch and x4 scoring minimum.
ODD_SIDE = 48
#: A decompression bomb's claimed size: 20000 x 20000 (400 MP) from a file of a few bytes.
BOMB_SIDE = 20000
#: The odd files of issue 13 that ``write_odd_input`` makes, each named for what it is.
ODD_INPUTS = (
    "empty",
    "one_pixel",
    "bomb",
    "truncated_jpeg",
    "cmyk_jpeg",
    "palette_alpha",
    "gray16_tiff",
    "animated_gif",
    "animated_webp",
    "symlink_loop",
    "dangling_link",
    "unicode_name",
    "undecodable_name",
)
#: The file name of each odd input (``undecodable_name`` holds a Latin-1 byte, not UTF-8).
ODD_NAMES = {
    "empty": "empty.png",
    "one_pixel": "one_pixel.png",
    "bomb": "bomb.png",
    "truncated_jpeg": "truncated.jpg",
    "cmyk_jpeg": "cmyk.jpg",
    "palette_alpha": "palette_alpha.png",
    "gray16_tiff": "gray16.tif",
    "animated_gif": "animated.gif",
    "animated_webp": "animated.webp",
    "symlink_loop": "loop.png",
    "dangling_link": "dangling.png",
    "unicode_name": "café photo ✓.png",
    "undecodable_name": os.fsdecode(b"caf\xe9 raw.png"),
}


def png_chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC."""
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def bomb_png(side: int = BOMB_SIDE) -> bytes:
    """A valid-looking 8-bit RGB PNG whose header claims ``side`` x ``side`` pixels."""
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\x00" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", rows)
        + png_chunk(b"IEND", b"")
    )


def write_odd_input(kind: str, folder: Path) -> Path:
    """Write the odd input ``kind`` (one of ``ODD_INPUTS``) into ``folder``; return its path."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ODD_NAMES[kind]
    rgb = gradient_image(ODD_SIDE, ODD_SIDE)
    frames = [Image.fromarray(rgb // k) for k in (1, 2, 3)]
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "one_pixel":
        Image.fromarray(rgb[:1, :1]).save(path)
    elif kind == "bomb":
        path.write_bytes(bomb_png())
    elif kind == "truncated_jpeg":
        buffer = io.BytesIO()
        Image.fromarray(rgb).save(buffer, format="JPEG", quality=95)
        path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    elif kind == "cmyk_jpeg":
        Image.fromarray(rgb).convert("CMYK").save(path, quality=100)
    elif kind == "palette_alpha":
        palette = Image.fromarray(rgb).quantize(colors=16)
        palette.save(path, transparency=0)  # palette entry 0 is fully transparent
    elif kind == "gray16_tiff":
        Image.fromarray(gradient_image(ODD_SIDE, ODD_SIDE, 1, np.uint16)).save(path)
    elif kind in ("animated_gif", "animated_webp"):
        frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)
    elif kind == "symlink_loop":
        os.symlink(path.name, path)
    elif kind == "dangling_link":
        os.symlink("missing.png", path)
    elif kind in ("unicode_name", "undecodable_name"):
        Image.fromarray(rgb).save(path, format="PNG")
    else:
        raise KeyError(kind)
    return path


def is_root() -> bool:
    """True when file permissions do not apply to this process (root reads and writes all)."""
    return getattr(os, "geteuid", lambda: -1)() == 0


def _refuse_paths(monkeypatch: Any, refused: Callable[[str, str], bool]) -> None:
    """Make ``open``/``os.open``/``os.mkdir`` raise EACCES where ``refused(path, mode)`` says,
    the way the kernel refuses a process without permission (for tests that run as root)."""
    import builtins

    real_open, real_os_open, real_mkdir = builtins.open, os.open, os.mkdir

    def denied(file: Any) -> PermissionError:
        return PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(file))

    def guarded_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if isinstance(file, str | bytes | os.PathLike) and refused(os.fsdecode(file), mode):
            raise denied(file)
        return real_open(file, mode, *args, **kwargs)

    def guarded_os_open(file: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        writing = flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
        if refused(os.fsdecode(file), "w" if writing else "r"):
            raise denied(file)
        return real_os_open(file, flags, *args, **kwargs)

    def guarded_mkdir(file: Any, *args: Any, **kwargs: Any) -> None:
        if refused(os.fsdecode(file), "w"):
            raise denied(file)
        real_mkdir(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded_open)
    monkeypatch.setattr(io, "open", guarded_open)
    monkeypatch.setattr(os, "open", guarded_os_open)
    monkeypatch.setattr(os, "mkdir", guarded_mkdir)


def make_unreadable(path: Path, monkeypatch: Any) -> None:
    """Make the file ``path`` unreadable: ``chmod 0`` for a normal user; as root, where
    permissions do not apply, ``open`` refuses it with EACCES as the kernel would."""
    if not is_root():
        path.chmod(0)
        return
    target = os.path.realpath(path)
    _refuse_paths(monkeypatch, lambda p, mode: os.path.realpath(p) == target)


def make_unwritable(folder: Path, monkeypatch: Any) -> None:
    """Make ``folder`` read-only: ``chmod 0o555`` for a normal user; as root, creating or
    writing anything inside it raises EACCES as the kernel would for a read-only folder."""
    if not is_root():
        folder.chmod(0o555)
        return
    root = os.path.realpath(folder)

    def inside(p: str, mode: str) -> bool:
        writing = any(c in mode for c in "wax+")
        real = os.path.realpath(p)
        return writing and (real == root or real.startswith(root + os.sep))

    _refuse_paths(monkeypatch, inside)


def assert_one_line_error(done: subprocess.CompletedProcess[str], prog: str, code: int = 2) -> str:
    """Exit ``code``, no traceback, exactly one ``prog: error: ...`` line, the last one."""
    assert done.returncode == code, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    assert errors == [lines[-1]], done.stderr[-3000:]
    assert lines[-1].startswith(f"{prog}: error: ")
    return lines[-1]


def seeded_perceptual_metric(crop: int = 64, seed: int = 0) -> L.Callback:
    """``val/lpips`` with a random VGG16 drawn from ``seed``: the same network in every process.

    Tests have no VGG weights file, and a random backbone drawn from each process's own RNG
    state would differ between DDP ranks. The network is built here, under a fixed seed, with
    torch's global RNG left as it was. Training subprocesses load it with
    ``+callbacks.lpips._target_=tests.helpers.seeded_perceptual_metric``.
    """
    from restorelab.training.callbacks import PerceptualMetricLogger

    metric = PerceptualMetricLogger(backbone_weights="random", crop=crop)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        metric.setup(None, None, "validate")  # type: ignore[arg-type]
    return metric


class NaNOnRank(L.Callback):
    """Give DDP rank ``rank`` a non-finite batch at ``batch`` (epoch 0); report every rank's run.

    The ground truth of that batch becomes NaN (before ``prepare_batch``, so the synthesized
    ``lq``, the output and the loss are NaN on that rank only). At the end of training each
    rank writes ``<out>/rank<r>.json``: its skipped updates, its ``global_step`` and a hash of
    its generator weights. Loaded by training subprocesses through ``+callbacks.nan._target_``.
    """

    def __init__(self, rank: int, batch: int, out: str) -> None:
        self.rank, self.batch, self.out = int(rank), int(batch), Path(out)

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        first_epoch = trainer.current_epoch == 0
        if trainer.global_rank == self.rank and first_epoch and batch_idx == self.batch:
            batch["gt"] = torch.full(batch["gt"].shape, float("nan"))

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        import hashlib
        import json

        digest = hashlib.sha256()
        for name, value in sorted(pl_module.generator.state_dict().items()):  # type: ignore[union-attr]
            digest.update(name.encode() + value.detach().cpu().numpy().tobytes())
        record = {
            "skipped": int(getattr(pl_module, "skipped_batches", -1)),
            "global_step": trainer.global_step,
            "weights": digest.hexdigest(),
        }
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / f"rank{trainer.global_rank}.json").write_text(json.dumps(record))


# ------------------------------------------------------------------------- multi-stage model
#: A two-stage RefineNet around ``TINY_COMPACT`` (x2): ``stages()`` yields two images.
TINY_REFINE: dict[str, Any] = {
    "_target_": "restorelab.archs.RefineNet",
    "first": TINY_COMPACT,
    "num_stages": 2,
    "num_feat": 4,
    "num_conv": 1,
}


def save_refine_checkpoint(path: Path, seed: int = 0) -> nn.Module:
    """A ``TINY_REFINE`` checkpoint as training writes it, every weight (the correction stage's
    zero-initialised last conv too) moved off its start so the stages differ."""
    import hydra

    torch.manual_seed(seed)
    generator = hydra.utils.instantiate(TINY_REFINE)
    with torch.no_grad():
        for p in generator.parameters():
            p.add_(0.05 * torch.randn_like(p))
    meta = {"version": "0.1.0", "scale": 2, "generator": TINY_REFINE, "config": {}}
    state = {f"generator.{k}": v for k, v in generator.state_dict().items()}
    torch.save({"state_dict": state, "restorelab": meta}, path)
    return generator.eval()
