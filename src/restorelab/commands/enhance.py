"""``restorelab-enhance``: enhance photos, folders or globs with a trained model.

Usage::

    restorelab-enhance photo.jpg -o out/                  # the bundled default model (real_x4)
    restorelab-enhance photo.jpg -o out/ --model denoise  # another bundled model
    restorelab-enhance --list-models
    restorelab-enhance photo.jpg -o out/ --ckpt run/checkpoints/best.ckpt
    restorelab-enhance shots/ "scans/*.tif" -o out/ --model model.onnx --tile 256 --tile-overlap 16

A bad file in a batch is reported by name and skipped; the others are still enhanced and the
exit code is 1 at the end. Problems with the model or the flags stop the run at once (exit 2).
Plain argparse rather than Hydra: this is the command for people who never train.
"""

from __future__ import annotations

import argparse
import glob
import sys
from collections.abc import Sequence
from pathlib import Path

from restorelab.commands.common import report_errors
from restorelab.errors import ConfigError, DataError, RestorelabError, one_line

PROG = "restorelab-enhance"
_GLOB_CHARS = set("*?[")


def build_parser() -> argparse.ArgumentParser:
    from restorelab.inference.enhancer import EnhanceSettings
    from restorelab.inference.image_io import FORMATS
    from restorelab.inference.models import DEVICES, PRECISIONS

    defaults = EnhanceSettings()
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Enhance images (files, folders or glob patterns) with a trained model.",
    )
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="image files, folders or globs")
    p.add_argument("-o", "--output", type=Path, help="output folder (required with inputs)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--ckpt", type=Path, help="restorelab checkpoint (.ckpt)")
    src.add_argument(
        "--model",
        help="bundled model name (see --list-models) or exported .onnx / .safetensors file; "
        "default: the bundled default model",
    )
    p.add_argument(
        "--list-models",
        action="store_true",
        help="list the bundled models (task, scale, size, training command, scores) and exit",
    )
    p.add_argument("--tile", type=int, default=defaults.tile, help="tile size, 0: no tiling")
    p.add_argument(
        "--tile-overlap",
        type=int,
        default=defaults.tile_overlap,
        help="context pixels around each tile (>= the receptive field: exact result)",
    )
    p.add_argument("--device", default="cpu", help=f"one of {', '.join(DEVICES)} (cuda:N too)")
    p.add_argument("--precision", default="fp32", choices=list(PRECISIONS))
    p.add_argument("--suffix", default="", help="appended to each output's file name")
    p.add_argument(
        "--ext",
        default="auto",
        choices=["auto", *FORMATS],
        help="output format (auto: the input's own; PNG for formats we do not write)",
    )
    p.add_argument("--quality", type=int, default=95, help="JPEG/WebP quality (1-100)")
    p.add_argument(
        "--png-compression",
        type=int,
        default=6,
        help="zlib level of PNG output, 0 (fastest) to 9 (smallest)",
    )
    p.add_argument(
        "--tiff-compression",
        type=int,
        default=6,
        help="zlib (deflate) level of TIFF output, 0 (uncompressed) to 9 (smallest)",
    )
    p.add_argument(
        "--save-steps",
        action="store_true",
        help="also write each intermediate output of a multi-stage generator",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="allow replacing input files (earlier outputs are always replaced)",
    )
    p.add_argument(
        "--max-pixels",
        type=int,
        default=defaults.max_pixels,
        help="refuse larger inputs (decompression-bomb guard; 0: no limit)",
    )
    p.add_argument("--scale", type=int, help="expected scale: refuse a model with another")
    p.add_argument(
        "--arch",
        help="expected architecture (class like SRVGGNetCompact, or generator config name "
        "like compact): refuse a model built otherwise",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def expand_inputs(items: Sequence[str]) -> tuple[list[Path], list[str]]:
    """Files to enhance from files, folders and globs; plus errors for items that match none."""
    from restorelab.inference.image_io import INPUT_EXTENSIONS

    files: list[Path] = []
    errors: list[str] = []
    for item in items:
        path = Path(item).expanduser()
        if path.is_dir():
            # not is_file(): a link loop or broken link is kept, and the reader names it
            found = sorted(
                p for p in path.iterdir() if p.suffix.lower() in INPUT_EXTENSIONS and not p.is_dir()
            )
            if not found:
                errors.append(f"no image files in folder {path}")
            files.extend(found)
        elif path.exists() or path.is_symlink():  # a loop or broken link: the reader names it
            files.append(path)
        elif _GLOB_CHARS & set(item):
            found = sorted(Path(p) for p in glob.glob(str(path), recursive=True))
            found = [p for p in found if not p.is_dir()]
            if not found:
                errors.append(f"no files match {item}")
            files.extend(found)
        else:
            errors.append(f"image file not found: {path}")
    unique: dict[Path, Path] = {}
    for f in files:
        unique.setdefault(_resolved(f), f)
    return list(unique.values()), errors


def _resolved(path: Path) -> Path:
    """``path`` resolved; a symbolic link loop (which cannot be) stays as it is, absolute."""
    try:
        return path.resolve()
    except (RuntimeError, OSError):
        return path.absolute()


def output_path(src: Path, out_dir: Path, suffix: str, ext: str, step: int | None = None) -> Path:
    """``OUT/<name>[_step<k>]<suffix>.<ext>``; ``auto`` keeps the input's format."""
    from restorelab.inference.image_io import FORMATS

    if ext == "auto":
        ext = src.suffix.lower().lstrip(".")
        ext = ext if ext in FORMATS else "png"
    step_part = "" if step is None else f"_step{step}"
    return out_dir / f"{src.stem}{step_part}{suffix}.{ext}"


def check_model(model: object, scale: int | None, arch: str | None, source: Path) -> None:
    """Refuse a model whose scale or architecture disagrees with ``--scale`` / ``--arch``."""
    from restorelab.inference.models import Model

    assert isinstance(model, Model)
    if scale is not None and scale != model.scale:
        raise ConfigError(f"--scale {scale}, but {source} is a x{model.scale} model")
    if arch is None:
        return
    target = str(model.config.get("_target_", ""))
    if not target:
        raise ConfigError(f"--arch {arch}: {source} does not record its architecture")
    wanted = {arch.lower()}
    named = Path(_config_dir()) / "generator" / f"{arch}.yaml"
    if named.is_file():
        import yaml

        wanted.add(str((yaml.safe_load(named.read_text()) or {}).get("_target_", "")).lower())
    if target.lower() not in wanted and target.rsplit(".", 1)[-1].lower() not in wanted:
        raise ConfigError(f"--arch {arch}, but {source} holds a {target.rsplit('.', 1)[-1]}")


def _config_dir() -> str:
    from restorelab.config import config_dir

    return config_dir()


def run(args: argparse.Namespace) -> int:
    """Enhance every input; returns the exit code (0 all done, 1 some images failed)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from restorelab.atomic import check_writable
    from restorelab.inference.enhancer import Enhancer, EnhanceSettings
    from restorelab.inference.image_io import read_photo
    from restorelab.inference.malloc import return_large_buffers
    from restorelab.inference.writers import WriteOptions

    settings = EnhanceSettings(args.tile, args.tile_overlap, args.max_pixels)
    if not 1 <= args.quality <= 100:
        raise ConfigError(f"--quality must be within 1-100, got {args.quality}")
    if not 0 <= args.png_compression <= 9:
        raise ConfigError(f"--png-compression must be within 0-9, got {args.png_compression}")
    if not 0 <= args.tiff_compression <= 9:
        raise ConfigError(f"--tiff-compression must be within 0-9, got {args.tiff_compression}")
    options = WriteOptions(args.quality, args.png_compression, args.tiff_compression)
    return_large_buffers()  # freed tile buffers leave the process: peak = live memory
    if args.output.exists() and not args.output.is_dir():
        raise ConfigError(f"-o {args.output}: exists and is not a folder")
    source = model_path(args.ckpt, args.model)
    enhancer = Enhancer.from_checkpoint(source, args.device, args.precision, settings)
    check_model(enhancer.model, args.scale, args.arch, source)
    if args.save_steps and not enhancer.model.has_stages:
        raise ConfigError(
            f"--save-steps: the generator in {source} has no intermediate steps (not a "
            "multi-stage generator with a stages() method)"
        )
    try:  # once, before any image, rather than once per image after enhancing it
        check_writable(args.output)
    except OSError as e:
        raise ConfigError(f"-o {args.output}: cannot write there: {e.strerror or e}") from e
    files, failures = expand_inputs(args.inputs)
    for message in failures:
        print(f"{PROG}: error: {message}", file=sys.stderr)
    inputs = {_resolved(f) for f in files}
    written: dict[Path, Path] = {}
    done = 0
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=Console(stderr=True),
        disable=args.no_progress,
        transient=False,
    ) as progress:
        images = progress.add_task("images", total=len(files))
        tiles = progress.add_task("tiles", total=1, visible=False)

        def on_tile(n: int, total: int) -> None:
            progress.update(tiles, completed=n, total=total, visible=total > 1)

        for src in files:
            progress.update(images, description=f"images ({src.name})")
            try:
                final = output_path(src, args.output, args.suffix, args.ext)
                _check_destination(final, src, inputs, written, args.overwrite)
                photo = read_photo(src, settings.max_pixels)

                def destinations(n: int, src: Path = src, final: Path = final) -> list[Path]:
                    """The files of the generator's n outputs (stages first), checked."""
                    steps = [
                        output_path(src, args.output, args.suffix, args.ext, k + 1)
                        for k in range(n - 1)
                    ]
                    for dest in [*steps, final]:
                        _check_destination(dest, src, inputs, written, args.overwrite)
                    return [*steps, final]

                # written band by band as the tiles finish: PNG/TIFF never hold the whole image
                for dest in enhancer.enhance_to_files(
                    photo, destinations, options, args.save_steps, on_tile
                ):
                    written[dest.resolve()] = src
                del photo  # not held while the next image is read
                done += 1
            except RestorelabError as e:
                failures.append(str(e))
                progress.console.print(
                    f"{PROG}: error: {one_line(e)}", markup=False, highlight=False, soft_wrap=True
                )
            progress.advance(images)
            progress.update(tiles, visible=False)
    print(f"enhanced {done} of {len(files)} image(s) into {args.output}", file=sys.stderr)
    return 1 if failures else 0


def _check_destination(
    dest: Path, src: Path, inputs: set[Path], written: dict[Path, Path], overwrite: bool
) -> None:
    """Refuse to replace an input file (without --overwrite) or an output of this run."""
    resolved = dest.resolve()
    if resolved in written:
        raise DataError(
            f"{src}: output {dest} would replace the output of {written[resolved]}; "
            "use --suffix or separate runs"
        )
    if resolved in inputs and not overwrite:
        raise DataError(
            f"{src}: output {dest} is an input file; not overwriting it "
            "(use another -o folder, --suffix, or pass --overwrite)"
        )


def model_path(ckpt: Path | None, model: str | None) -> Path:
    """The weights file to load: ``--ckpt``, ``--model NAME|FILE``, else the bundled default."""
    from restorelab.inference.bundled import default_model, resolve_model

    if ckpt is not None:
        return ckpt
    return (resolve_model(model) if model is not None else default_model()).path


def list_models() -> int:
    """Print the bundled models, one block each; the default is marked."""
    from restorelab.inference.bundled import bundled_models, default_model_name

    models = bundled_models()
    if not models:
        print("no bundled model is installed")
        return 0
    default = default_model_name()
    for name, source in models.items():
        card = source.card
        size = source.path.stat().st_size / 1e6 if source.path.is_file() else 0.0
        mark = " (default)" if name == default else ""
        print(f"{name}{mark}: {card.get('task', '?')}")
        print(
            f"  scale x{card.get('scale', '?')}, {card.get('architecture', '?')}, "
            f"{card.get('parameters', '?')} parameters, {size:.1f} MB ({source.path.name})"
        )
        if card.get("trained_on"):
            print(f"  trained on: {card['trained_on']}")
        if card.get("command"):
            print(f"  training command: {card['command']}")
        for key, value in (card.get("scores") or {}).items():
            print(f"  {key}: {value}")
    return 0


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point: exit 0 when every image was enhanced, 1 if some failed, 2 on a
    model or flag error."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list_models:
        raise SystemExit(report_errors(PROG, lambda _: list_models(), args))
    if not args.inputs:
        parser.error("give at least one INPUT (or --list-models)")
    if args.output is None:
        parser.error("the following arguments are required: -o/--output")
    code = report_errors(PROG, run, args)
    raise SystemExit(code)


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
