"""``restorelab-data``: get, prepare, check and look at the data a run will train on.

``download``, ``prepare`` and ``check`` are in :mod:`restorelab.commands.data_tools`.

``restorelab-data preview [overrides...] [-o OUT.png] [n=N] [image=NAME|PATH] [size=PX]`` composes
the same Hydra config as ``restorelab-train`` (so ``degradation=realesrgan`` or
``experiment=deblur_gopro_style`` mean what they mean there), degrades one ground-truth crop ``n``
times with different seeds, and writes a grid: the ground truth, then each low-quality version
(enlarged with nearest-neighbour to the ground truth's size, so every pixel the network will see
stays visible). Deciding on a degradation by looking at it is cheaper than by training with it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from hydra.utils import instantiate
from omegaconf import DictConfig
from PIL import Image, ImageDraw, ImageFont

from restorelab.commands.common import report_errors
from restorelab.commands.data_tools import RUNNERS, add_parsers
from restorelab.config import config_dir, register_resolvers
from restorelab.data.io import read_image
from restorelab.data.sources import EMBEDDED_PHOTOS, EmbeddedSource
from restorelab.degradations import Degradation
from restorelab.errors import ConfigError, DataError

PROG = "restorelab-data"
#: Preview options given as ``key=value`` beside the Hydra overrides, with their defaults.
PREVIEW_DEFAULTS = {"n": "7", "image": "astronaut", "size": "256", "cols": "4"}
#: Pixels of white between tiles, and the caption strip's height.
GAP = 4
CAPTION = 14


def split_options(args: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """Separate the preview's own ``key=value`` options from the Hydra overrides."""
    options = dict(PREVIEW_DEFAULTS)
    overrides = []
    for arg in args:
        key, sep, value = arg.partition("=")
        if sep and key in PREVIEW_DEFAULTS:
            options[key] = value
        else:
            overrides.append(arg)
    return options, overrides


def _positive_int(options: dict[str, str], key: str) -> int:
    try:
        value = int(options[key])
    except ValueError:
        raise ConfigError(f"preview: {key}={options[key]!r} is not an integer") from None
    if value < 1:
        raise ConfigError(f"preview: {key}={value} must be >= 1")
    return value


def compose_config(overrides: Sequence[str]) -> DictConfig:
    """The ``restorelab-train`` config with ``overrides``; a bad override is a one-line error."""
    register_resolvers()
    try:
        with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
            return compose(config_name="train", overrides=list(overrides))
    except HydraException as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"bad override ({' '.join(overrides)}): {message}") from None


def load_gt(image: str, size: int, scale: int) -> torch.Tensor:
    """A centred ``size`` crop (mod-cropped to ``scale``) of an embedded photo or an image file.

    Returns a float :math:`(1, 3, H, W)` tensor in :math:`[0, 1]`.
    """
    if image in EMBEDDED_PHOTOS:
        array = EmbeddedSource([image])[0].gt
    else:
        path = Path(image)
        if not path.is_file():
            raise DataError(
                f"preview: image={image!r} is neither a file nor an embedded photo "
                f"({', '.join(EMBEDDED_PHOTOS)})"
            )
        array = read_image(path)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=-1)
    h, w = array.shape[:2]
    side_h = min(size, h) // scale * scale
    side_w = min(size, w) // scale * scale
    if side_h == 0 or side_w == 0:
        raise DataError(f"preview: image {image!r} ({h}x{w}) is smaller than the scale {scale}")
    top, left = (h - side_h) // 2, (w - side_w) // 2
    crop = array[top : top + side_h, left : left + side_w]
    return torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1)[None].float() / 255.0


def degrade_many(degradation: Degradation, gt: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """``n`` low-quality versions of ``gt`` (one image), with seeds ``seed .. seed + n - 1``."""
    return degradation(gt.expand(n, -1, -1, -1), seeds=[seed + i for i in range(n)])


def make_grid(gt: torch.Tensor, lq: torch.Tensor, cols: int) -> Image.Image:
    """Tile ``gt`` and each ``lq`` (enlarged by nearest neighbour) with captions, row by row."""
    height, width = gt.shape[-2:]
    factor_h, factor_w = height // lq.shape[-2], width // lq.shape[-1]
    big = lq.repeat_interleave(factor_h, dim=-2).repeat_interleave(factor_w, dim=-1)
    tiles = [("ground truth", gt[0])] + [
        (f"lq seed +{i}" + (f" (1/{factor_h})" if factor_h > 1 else ""), big[i])
        for i in range(big.shape[0])
    ]
    cols = min(cols, len(tiles))
    rows = -(-len(tiles) // cols)
    tile_h = height + CAPTION
    canvas = Image.new(
        "RGB", (cols * width + (cols - 1) * GAP, rows * tile_h + (rows - 1) * GAP), "white"
    )
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    for index, (label, tile) in enumerate(tiles):
        r, c = divmod(index, cols)
        x, y = c * (width + GAP), r * (tile_h + GAP)
        pixels = (tile.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
        canvas.paste(Image.fromarray(pixels), (x, y + CAPTION))
        draw.text((x + 2, y + 1), label, fill="black", font=font)
    return canvas


def preview(output: str, args: Sequence[str]) -> Path:
    """Write the preview grid for ``args`` (options and overrides) to ``output``."""
    options, overrides = split_options(args)
    n = _positive_int(options, "n")
    size = _positive_int(options, "size")
    cols = _positive_int(options, "cols")
    cfg = compose_config(overrides)
    if not cfg.get("degradation"):
        raise ConfigError("preview: the config has no degradation (degradation=null?)")
    degradation = instantiate(cfg.degradation)
    if not isinstance(degradation, Degradation):
        raise ConfigError(
            f"preview: degradation builds a {type(degradation).__name__}, not a Degradation"
        )
    gt = load_gt(options["image"], size, degradation.scale)
    degradation.check_input_size(gt.shape[-2], gt.shape[-1])
    seed = int(cfg.get("seed") or 0)
    lq = degrade_many(degradation, gt, n, seed)
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    make_grid(gt, lq, cols).save(path)
    chosen = [o for o in overrides if o.startswith(("degradation=", "experiment="))]
    label = f" ({', '.join(chosen)})" if chosen else ""
    print(f"wrote {path}: ground truth + {n} degradations{label}, lq {tuple(lq.shape[-2:])}")
    for i in range(n):  # what each tile was drawn with (kernels, sigmas, noise, JPEG quality)
        print(f"lq seed +{i}: {degradation.describe(i) or '(no random parameters)'}")
    return path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Download, prepare, check and preview data."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser(
        "preview",
        help="write a grid of a ground-truth crop and several random degradations of it",
        description=(
            "Compose the restorelab-train config with OVERRIDES (e.g. degradation=realesrgan) "
            "and write the ground truth next to n degradations of it. Options as key=value: "
            + ", ".join(f"{k} (default {v})" for k, v in PREVIEW_DEFAULTS.items())
            + "; image is an embedded photo name or an image file."
        ),
    )
    p.add_argument("-o", "--output", default="preview.png", help="PNG to write")
    p.add_argument("args", nargs="*", metavar="OVERRIDE", help="key=value options and overrides")
    add_parsers(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point of ``restorelab-data``."""
    args = build_parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    if args.command == "preview":
        report_errors(PROG, preview, args.output, args.args)
    else:
        raise SystemExit(report_errors(PROG, RUNNERS[args.command], args))


if __name__ == "__main__":
    main()
