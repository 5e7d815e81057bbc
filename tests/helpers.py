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
from collections.abc import Callable, Iterator
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


#: One-step Optuna trials (the sweep searches generator.num_feat, so it is not set here).
TINY_TRIAL = [
    "generator.num_conv=2",
    "data.batch_size=2",
    "data.patch_size=32",
    "data.val_names=[coffee]",
    "trainer.max_steps=1",
    "trainer.val_check_interval=1",
    "trainer.precision=32-true",
    "trainer.max_time=null",
    "trainer.enable_model_summary=false",
    "trainer.enable_progress_bar=false",
    "logger=csv",
    "callbacks=none",
]


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


# ------------------------------------------------------------------- fuzzing the image readers
#: Set to replay a fuzz run: its seed is printed and named in the test's assertions.
FUZZ_SEED_ENV = "RESTORELAB_FUZZ_SEED"
#: Per-call bound of a fuzzed read (seconds): a small input that takes longer counts as a hang.
FUZZ_CALL_LIMIT_S = 10.0
#: Magic numbers put before random bytes, so the decoders get past "unknown format".
FUZZ_MAGICS = (
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff\xe0",
    b"GIF89a",
    b"RIFF\x00\x10\x00\x00WEBPVP8 ",
    b"II*\x00",
    b"MM\x00*",
    b"BM",
    b"P6\n24 20\n255\n",
    b"P5\n24 20\n65535\n",
)


def fuzz_seed() -> int:
    """``$RESTORELAB_FUZZ_SEED`` when set, else a fresh one; printed either way."""
    value = os.environ.get(FUZZ_SEED_ENV)
    seed = int(value) if value else int.from_bytes(os.urandom(4), "big")
    print(f"fuzz seed: {FUZZ_SEED_ENV}={seed}")
    return seed


def _valid_encodings() -> dict[str, bytes]:
    """Small valid files of every format and mode the readers meet, as bytes."""
    import png as pypng
    import tifffile
    from PIL import Image, ImageCms

    rgb = gradient_image(20, 24)
    deep = gradient_image(20, 24, 3, np.uint16)
    out: dict[str, bytes] = {}

    def pil(name: str, img: Any, fmt: str, **options: Any) -> None:
        buffer = io.BytesIO()
        img.save(buffer, format=fmt, **options)
        out[name] = buffer.getvalue()

    pil("rgb.png", Image.fromarray(rgb), "PNG")
    pil("rgba.png", Image.fromarray(np.dstack([rgb, rgb[:, :, 0]])), "PNG")
    pil("gray16.png", Image.fromarray(deep[:, :, 0]), "PNG")
    pil("palette.png", Image.fromarray(rgb).quantize(8), "PNG", transparency=0)
    pil("rgb.jpg", Image.fromarray(rgb), "JPEG", quality=90)
    pil("progressive.jpg", Image.fromarray(rgb), "JPEG", progressive=True)
    pil("cmyk.jpg", Image.fromarray(rgb).convert("CMYK"), "JPEG")
    pil("gray.jpg", Image.fromarray(rgb[:, :, 0]), "JPEG")
    pil("lossy.webp", Image.fromarray(rgb), "WEBP")
    pil("lossless.webp", Image.fromarray(rgb), "WEBP", lossless=True)
    pil("still.gif", Image.fromarray(rgb).quantize(16), "GIF")
    pil("rgb.tif", Image.fromarray(rgb), "TIFF", compression="tiff_lzw")
    pil("rgb.bmp", Image.fromarray(rgb), "BMP")
    pil("rgb.ppm", Image.fromarray(rgb), "PPM")
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotated, so the readers' EXIF paths run
    exif[0x010F] = "restorelab"
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    pil("exif.jpg", Image.fromarray(rgb), "JPEG", exif=exif.tobytes(), icc_profile=icc)
    pil("exif.png", Image.fromarray(rgb), "PNG", exif=exif.tobytes(), icc_profile=icc)
    buffer = io.BytesIO()
    pypng.from_array(deep.reshape(20, 72), "RGB;16").write(buffer)
    out["rgb16.png"] = buffer.getvalue()
    ihdr_end = 8 + 25  # signature, then the IHDR chunk
    extra = png_chunk(b"iCCP", b"icc\x00\x00" + zlib.compress(icc)) + png_chunk(
        b"eXIf", exif.tobytes()[6:]
    )
    out["rgb16_icc.png"] = out["rgb16.png"][:ihdr_end] + extra + out["rgb16.png"][ihdr_end:]
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, deep, photometric="rgb")
    out["rgb16.tif"] = buffer.getvalue()
    return out


def _fix_png_crcs(data: bytes) -> bytes:
    """Recompute every PNG chunk's CRC, so a mutation reaches the decoder past the CRC check."""
    fixed, pos = bytearray(data[:8]), 8
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        end = pos + 8 + length
        if end + 4 > len(data):
            break
        fixed += png_chunk(data[pos + 4 : pos + 8], data[pos + 8 : end])
        pos = end + 4
    return bytes(fixed + data[pos:])


def _mutate(data: bytes, rng: Any) -> tuple[str, bytes]:
    """One random corruption of ``data``, and its name."""
    buf = bytearray(data)
    kind = rng.choice(["flip", "overwrite", "truncate", "insert", "delete", "duplicate"])
    at = rng.randrange(len(buf))
    if kind == "flip":
        for _ in range(rng.randint(1, 8)):
            buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
    elif kind == "overwrite":
        span = rng.randint(1, 16)
        buf[at : at + span] = rng.randbytes(len(buf[at : at + span]))
    elif kind == "truncate":
        del buf[at:]
    elif kind == "insert":
        buf[at:at] = rng.randbytes(rng.randint(1, 64))
    elif kind == "delete":
        del buf[at : at + rng.randint(1, 64)]
    else:
        span = rng.randint(1, 256)
        buf[at:at] = buf[at : at + span]
    return f"{kind}@{at}", bytes(buf)


def fuzz_inputs(seed: int, count: int) -> Iterator[tuple[str, str, bytes]]:
    """``count`` (name, extension, bytes): half random byte strings (most behind a format's
    magic number), half corrupted valid files (PNGs often with their CRCs made right again)."""
    import random

    rng = random.Random(seed)
    valid = _valid_encodings()
    names = sorted(valid)
    for i in range(count):
        if i % 2 == 0:
            tail = rng.randbytes(rng.randint(0, 4096))
            magic = rng.choice(FUZZ_MAGICS) if rng.random() < 0.8 else b""
            yield f"{i}:random({len(magic)}+{len(tail)})", ".png", magic + tail
            continue
        source = rng.choice(names)
        what, data = _mutate(valid[source], rng)
        for _ in range(rng.choice([0, 0, 1, 2])):
            if data:
                more, data = _mutate(data, rng)
                what += f"+{more}"
        if source.endswith(".png") and rng.random() < 0.5:
            data, what = _fix_png_crcs(data), what + "+crc"
        yield f"{i}:{source}:{what}", Path(source).suffix, data


def fuzz_main() -> None:
    """Subprocess entry: ``fuzz_main READER SEED COUNT WORKDIR``; prints a JSON summary last.

    READER: ``read_image`` (training), ``check_image`` (the data folders' start-up scan) or
    ``read_photo`` (enhancement, with restorelab-enhance's default pixel limit).

    Before each call the case's name goes to ``WORKDIR/current.txt``, so a hang or a crash of
    the process leaves behind which input did it. A reader may return an image or raise
    DataError (one line); anything else is recorded as a crash, with its input saved.
    """
    import json
    import time
    import warnings

    from restorelab.errors import DataError

    reader, seed, count, work = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
    if reader == "read_image":
        from restorelab.data.io import read_image as read
    elif reader == "check_image":  # the start-up scan of data folders
        from restorelab.data.scan import check_image

        def read(path: Path) -> Any:
            info = check_image(path)
            assert info.width > 0 and info.height > 0, info
            return np.zeros((1, 1), np.uint8)
    else:
        from restorelab.inference.enhancer import EnhanceSettings
        from restorelab.inference.image_io import read_photo

        limit = EnhanceSettings().max_pixels  # what restorelab-enhance reads with

        def read(path: Path) -> Any:
            return read_photo(path, limit).pixels

    warnings.simplefilter("ignore")  # Pillow warns about odd files; only errors count here
    summary: dict[str, Any] = {"ok": 0, "refused": 0, "crashes": [], "slowest": [0.0, ""]}
    for n, (name, ext, data) in enumerate(fuzz_inputs(seed, count)):
        path = work / f"case{ext}"
        path.write_bytes(data)
        (work / "current.txt").write_text(name)
        start = time.perf_counter()
        try:
            pixels = read(path)
            assert pixels.dtype in (np.uint8, np.uint16) and pixels.ndim in (2, 3), pixels.shape
            summary["ok"] += 1
        except DataError as e:
            assert "\n" not in str(e) and str(path) in str(e), str(e)
            summary["refused"] += 1
        except Exception as e:  # anything else is the finding
            (work / f"crash_{n}{ext}").write_bytes(data)
            summary["crashes"].append(f"{name}: {type(e).__name__}: {str(e)[:200]}")
        took = time.perf_counter() - start
        if took > summary["slowest"][0]:
            summary["slowest"] = [took, name]
    print(json.dumps(summary))


def run_fuzz(reader: str, seed: int, count: int, work: Path, timeout: float) -> dict[str, Any]:
    """Run :func:`fuzz_main` in a subprocess; a hang (``timeout``) or a dead process fails,
    naming the input it was reading."""
    import json

    work.mkdir(parents=True, exist_ok=True)
    code = "from tests.helpers import fuzz_main; fuzz_main()"
    args = [sys.executable, "-c", code, reader, str(seed), str(count), str(work)]
    path = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    current = work / "current.txt"
    try:
        done = subprocess.run(
            args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        raise AssertionError(
            f"{reader} hung (> {timeout} s) on {current.read_text()} ({FUZZ_SEED_ENV}={seed})"
        ) from None
    last = current.read_text() if current.exists() else "?"
    assert done.returncode == 0, (
        f"{reader} died (exit {done.returncode}) on {last} ({FUZZ_SEED_ENV}={seed}): "
        f"{done.stderr[-2000:]}"
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


#: Set to replay a failed randomized test: its seed is printed and named in its assertions.
TEST_SEED_ENV = "RESTORELAB_TEST_SEED"


def replayable_seed() -> int:
    """A seed for a test's random choices: ``$RESTORELAB_TEST_SEED`` when set, else from the clock.

    Printed (``RESTORELAB_TEST_SEED=<n>``; pytest shows it with a failure), so a failing draw
    can be replayed with ``RESTORELAB_TEST_SEED=<n> pytest ...``.
    """
    import time

    value = os.environ.get(TEST_SEED_ENV)
    seed = int(value) if value else time.time_ns() % 2**32
    print(f"{TEST_SEED_ENV}={seed}")
    return seed


class KillInValidation(L.Callback):
    """SIGKILL this process inside the first validation at or after training step ``step``.

    It dies after the first validation batch, before the validation ends: no metric is logged
    and no checkpoint of that validation is written (the final validation after ``fit`` too).
    """

    def __init__(self, step: int) -> None:
        self.step = int(step)

    def on_validation_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any, **kwargs: Any
    ) -> None:
        if not trainer.sanity_checking and trainer.global_step >= self.step:
            os.kill(os.getpid(), signal.SIGKILL)


class KillInCheckpointWrite(L.Callback):
    """SIGKILL this process halfway through the first checkpoint write at or after ``step``.

    The trainer's own checkpoint IO (restorelab's atomic writer) runs unchanged; only the
    ``torch.save`` inside it is swapped, for that one write, for one that writes half of the
    checkpoint's bytes into the writer's file, flushes them to disk and dies: what a pre-empted
    job or a node loss in the middle of a write leaves behind.
    """

    def __init__(self, step: int) -> None:
        self.step = int(step)

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        checkpoint_io = trainer.strategy.checkpoint_io
        save_checkpoint = checkpoint_io.save_checkpoint

        def dying_save(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
            import io

            buffer = io.BytesIO()
            torch_save(obj, buffer, *args, **kwargs)
            data = buffer.getvalue()
            f.write(data[: len(data) // 2])
            f.flush()
            os.fsync(f.fileno())
            os.kill(os.getpid(), signal.SIGKILL)

        torch_save = torch.save

        def save(checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
            if trainer.global_step >= self.step:
                torch.save = dying_save  # the process dies inside this write
            save_checkpoint(checkpoint, path, storage_options)

        checkpoint_io.save_checkpoint = save  # type: ignore[method-assign]


# ------------------------------------------------------------------- fuzzing the image readers


class RequeueAtStep(L.Callback):
    """Be pre-empted by SLURM: SIGUSR1 at the end of step ``step``, SIGKILL ``grace`` steps later.

    SLURM sends SIGUSR1 (``conf/launcher/slurm.yaml``) before it stops a job; Lightning's SLURM
    handler then saves ``hpc_ckpt_<n>.ckpt`` and asks ``scontrol`` to requeue the job, and the
    job trains on until SLURM kills it. Only at exactly ``step``: a requeued job that starts
    after it, with the same command line, is not pre-empted again.
    """

    def __init__(self, step: int, grace: int = 1) -> None:
        self.step, self.grace = int(step), int(grace)
        self._signalled = False

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, idx: int
    ) -> None:
        if trainer.global_step == self.step:
            self._signalled = True
            os.kill(os.getpid(), signal.SIGUSR1)
        elif self._signalled and trainer.global_step >= self.step + self.grace:
            os.kill(os.getpid(), signal.SIGKILL)


def fake_scontrol(folder: Path) -> Path:
    """A ``scontrol`` in ``folder`` (put it first on ``PATH``) that appends its arguments to
    ``folder/scontrol.calls`` and succeeds: Lightning's requeue call, without a cluster."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "scontrol"
    script.write_text(f'#!/bin/sh\necho "$@" >> "{folder / "scontrol.calls"}"\n')
    script.chmod(0o755)
    return folder / "scontrol.calls"
