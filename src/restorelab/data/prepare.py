"""``restorelab-data prepare``: cut large images into overlapping sub-images, optionally with
their MATLAB-bicubic low-resolution versions.

Reading a 2K PNG to cut one 96 px patch out of it wastes most of the decode; BasicSR therefore
cuts DIV2K into 480 px crops every 240 px once, before training, and samples patches from those.
This does the same: crop positions run every ``step`` pixels, and a last crop flush with the
border is added when more than ``min_remainder`` pixels would otherwise be left out. Crops are
named ``NAME_s001.png``, ``NAME_s002.png`` ... row by row. An image smaller than the crop in a
direction is kept whole in that direction.

With ``scale``, each image is first cropped to a multiple of the scale, shrunk as a whole by
``imresize`` (MATLAB's bicubic, the benchmark convention) and its low-resolution crops are cut
at the matching positions (crop, step and positions divided by the scale), under the same names
in the lq folder: ``data=paired`` pairs them by name.

Every crop is written atomically, and an image whose crops are all there is not decoded again,
so an interrupted run simply resumes. ``OUTPUT/.restorelab-prepare.json`` records the settings;
a run with other settings into the same folder is refused rather than mixing two crop grids.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from restorelab.atomic import atomic_write, atomic_write_text
from restorelab.data.io import list_images, read_image
from restorelab.data.parallel import run_parallel
from restorelab.errors import ConfigError, DataError
from restorelab.ops.imresize import imresize

#: The settings record written into the output folder.
MANIFEST = ".restorelab-prepare.json"


@dataclass(frozen=True)
class PrepareOptions:
    """How ``prepare`` cuts (the command-line options; defaults are BasicSR's for DIV2K).

    Args:
        crop: side of the sub-images in pixels.
        step: distance between neighbouring crop positions (``crop - step`` is the overlap).
        min_remainder: a last crop flush with the border is added when more than this many
            pixels would be left uncovered (BasicSR's ``thresh_size``).
        scale: with an lq folder, the factor its images are shrunk by.
        compress_level: PNG compression, 0 (fast, large) to 9 (slow, small).
    """

    crop: int = 480
    step: int = 240
    min_remainder: int = 0
    scale: int | None = None
    compress_level: int = 3

    def check(self) -> None:
        """Raise a ConfigError for a setting that cannot work."""
        for key in ("crop", "step"):
            if getattr(self, key) < 1:
                raise ConfigError(f"prepare: --{key} must be >= 1, got {getattr(self, key)}")
        if self.min_remainder < 0:
            raise ConfigError(f"prepare: --min-remainder must be >= 0, got {self.min_remainder}")
        if not 0 <= self.compress_level <= 9:
            raise ConfigError(f"prepare: --compress-level must be 0-9, got {self.compress_level}")
        if self.scale is not None:
            if self.scale < 1:
                raise ConfigError(f"prepare: --scale must be >= 1, got {self.scale}")
            for key in ("crop", "step"):
                if getattr(self, key) % self.scale:
                    raise ConfigError(
                        f"prepare: --{key} {getattr(self, key)} is not a multiple of --scale "
                        f"{self.scale} (low-resolution crops must start on whole pixels)"
                    )


def crop_positions(length: int, crop: int, step: int, min_remainder: int) -> list[int]:
    """Start offsets of the crops along one side of ``length`` pixels."""
    if length <= crop:
        return [0]
    positions = list(range(0, length - crop + 1, step))
    if length - (positions[-1] + crop) > min_remainder:
        positions.append(length - crop)
    return positions


def crop_boxes(height: int, width: int, options: PrepareOptions) -> list[tuple[int, int, int, int]]:
    """``(top, left, height, width)`` of every crop of an image, row by row."""
    ch, cw = min(options.crop, height), min(options.crop, width)
    rows = crop_positions(height, options.crop, options.step, options.min_remainder)
    cols = crop_positions(width, options.crop, options.step, options.min_remainder)
    return [(top, left, ch, cw) for top in rows for left in cols]


@dataclass(frozen=True)
class Task:
    """One source image and where its crops go (sent to a worker process)."""

    source: Path
    output: Path
    lq_output: Path | None
    options: PrepareOptions


def _names(stem: str, count: int) -> list[str]:
    return [f"{stem}_s{i:03d}.png" for i in range(1, count + 1)]


def _write_png(path: Path, array: np.ndarray, compress_level: int) -> None:
    image = Image.fromarray(np.ascontiguousarray(array))
    atomic_write(path, lambda f: image.save(f, format="PNG", compress_level=compress_level))


def shrink(gt: np.ndarray, scale: int) -> np.ndarray:
    """MATLAB ``imresize(gt, 1/scale, 'bicubic')`` of a uint8 image, rounded back to uint8."""
    planes = torch.from_numpy(np.array(gt if gt.ndim == 3 else gt[:, :, None]))  # a copy
    x = planes.permute(2, 0, 1).to(torch.float64) / 255.0
    y = imresize(x, scale=1.0 / scale)
    out = (y * 255.0).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    return out if gt.ndim == 3 else out[:, :, 0]


def _size(path: Path) -> tuple[int, int]:
    """``(height, width)`` from the file's header (no pixels decoded)."""
    try:
        with Image.open(path) as img:
            return img.height, img.width
    except (OSError, SyntaxError, ValueError) as e:
        raise DataError(f"prepare: not a readable image: {path} ({e})") from e


def prepare_one(task: Task) -> tuple[int, int]:
    """Write the missing crops of one image; returns ``(files written, crops it has)``.

    Nothing is decoded when every crop is already there (0 files written).
    """
    options = task.options
    scale = options.scale or 1
    height, width = _size(task.source)
    height, width = height - height % scale, width - width % scale
    boxes = crop_boxes(height, width, options)
    names = _names(task.source.stem, len(boxes))
    wanted = [task.output / n for n in names]
    if task.lq_output is not None:
        wanted += [task.lq_output / n for n in names]
    if all(p.is_file() for p in wanted):
        return 0, len(boxes)
    gt = read_image(task.source)[:height, :width]
    lq = shrink(gt, scale) if task.lq_output is not None else None
    written = 0
    for name, (top, left, ch, cw) in zip(names, boxes, strict=True):
        gt_path = task.output / name
        if not gt_path.is_file():
            _write_png(gt_path, gt[top : top + ch, left : left + cw], options.compress_level)
            written += 1
        if lq is not None and task.lq_output is not None:
            lq_path = task.lq_output / name
            if not lq_path.is_file():
                t, lt, h, w = top // scale, left // scale, ch // scale, cw // scale
                _write_png(lq_path, lq[t : t + h, lt : lt + w], options.compress_level)
                written += 1
    return written, len(boxes)


def _claim(output: Path, settings: dict[str, object]) -> None:
    """Record ``settings`` in ``output``, or refuse when it holds crops made with others."""
    manifest = output / MANIFEST
    if manifest.is_file():
        try:
            before = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise DataError(f"prepare: cannot read {manifest}: {e}") from e
        if before != settings:
            changed = ", ".join(
                f"{k} {before.get(k)!r} -> {v!r}" for k, v in settings.items() if before.get(k) != v
            )
            raise ConfigError(
                f"prepare: {output} holds crops made with other settings ({changed}); "
                "use another output folder or delete it"
            )
        return
    output.mkdir(parents=True, exist_ok=True)
    atomic_write_text(manifest, json.dumps(settings, indent=2, sort_keys=True) + "\n")


def prepare(
    source: str | Path,
    output: str | Path,
    options: PrepareOptions,
    lq_output: str | Path | None = None,
    workers: int = 1,
) -> dict[str, int]:
    """Cut every image of ``source`` into ``output`` (and ``lq_output`` with a scale).

    Returns:
        ``{"images", "crops", "written", "skipped_images"}`` of this run: ``written`` counts
        files (gt and lq crops), ``skipped_images`` the images that were complete already.

    Raises:
        ConfigError: bad settings, or an output folder prepared with other settings.
        DataError: a missing input folder or an unreadable image (named).
    """
    options.check()
    src, out = Path(source).expanduser(), Path(output).expanduser()
    lq = Path(lq_output).expanduser() if lq_output not in (None, "") else None
    if (lq is None) != (options.scale is None):
        raise ConfigError("prepare: --lq-output and --scale go together (the lq folder's factor)")
    files = list_images(src, "prepare INPUT")
    if out.resolve() == src.resolve() or (lq is not None and lq.resolve() == src.resolve()):
        raise ConfigError(f"prepare: the output folder must not be the input folder {src}")
    settings = {**asdict(options), "lq_output": str(lq.resolve()) if lq else None}
    settings.pop("compress_level")  # the pixels do not depend on it
    _claim(out, settings)
    if lq is not None:
        lq.mkdir(parents=True, exist_ok=True)
    tasks = [Task(f, out, lq, options) for f in files]
    totals = {"images": len(tasks), "crops": 0, "written": 0, "skipped_images": 0}
    for written, crops in run_parallel(prepare_one, tasks, workers, f"cutting {src.name}"):
        totals["crops"] += crops
        totals["written"] += written
        totals["skipped_images"] += written == 0
    return totals
