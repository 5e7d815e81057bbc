"""``restorelab-export``: ship a trained generator as ONNX, TorchScript or safetensors.

Usage::

    restorelab-export --ckpt run/checkpoints/best.ckpt --format onnx -o model.onnx
    restorelab-enhance photo.jpg -o out/ --model model.onnx

ONNX has dynamic height and width; ONNX and TorchScript exports are checked against PyTorch at
other input sizes, sizes that need padding (37x53 and 48x80), before the file is written, and
refused when tracing froze a size-dependent value. The EMA weights are exported when the run
kept them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from restorelab.commands.common import report_errors
from restorelab.errors import ConfigError

PROG = "restorelab-export"


def build_parser() -> argparse.ArgumentParser:
    from restorelab.inference.export import FORMATS

    p = argparse.ArgumentParser(prog=PROG, description="Export a trained generator.")
    p.add_argument("--ckpt", required=True, type=Path, help="checkpoint (.ckpt or .safetensors)")
    p.add_argument(
        "--format",
        choices=list(FORMATS),
        help="output format (default: from the -o extension: "
        + ", ".join(f"{v} = {k}" for k, v in FORMATS.items())
        + ")",
    )
    p.add_argument("-o", "--output", required=True, type=Path, help="file to write")
    return p


def run(args: argparse.Namespace) -> int:
    from restorelab.inference.export import FORMATS, export_model

    fmt = args.format
    if fmt is None:
        by_suffix = {v: k for k, v in FORMATS.items()}
        fmt = by_suffix.get(args.output.suffix.lower())
        if fmt is None:
            raise ConfigError(
                f"-o {args.output}: cannot tell the format from the extension; "
                f"pass --format ({', '.join(FORMATS)})"
            )
    dest = export_model(args.ckpt, fmt, args.output)
    print(f"wrote {fmt} model: {dest} ({dest.stat().st_size / 1e6:.2f} MB)")
    return 0


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point: exit 0 on success, 2 with a one-line error otherwise."""
    args = build_parser().parse_args(argv)
    raise SystemExit(report_errors(PROG, run, args))


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
