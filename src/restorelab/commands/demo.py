"""``restorelab-demo``: a local web page to enhance photos with a before/after slider.

Usage::

    restorelab-demo                                    # the bundled default model
    restorelab-demo --ckpt RUN/checkpoints/best.ckpt   # a trained run's model
    restorelab-demo --model a.onnx --model b.safetensors --port 8080   # a dropdown of two

The page runs on this machine (``--host 127.0.0.1`` by default: nobody else can reach it) and
the address is printed once it listens. Problems with the models or the flags stop it before it
starts (exit 2, one line); problems with an upload are shown on the page.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from restorelab.commands.common import report_errors
from restorelab.errors import ConfigError

PROG = "restorelab-demo"
#: Only this machine can open the page unless ``--host`` says otherwise.
DEFAULT_HOST = "127.0.0.1"
#: Gradio's customary port.
DEFAULT_PORT = 7860


def build_parser() -> argparse.ArgumentParser:
    from restorelab.demo.session import OUTPUT_FORMATS
    from restorelab.inference.enhancer import EnhanceSettings
    from restorelab.inference.models import DEVICES, PRECISIONS

    defaults = EnhanceSettings()
    p = argparse.ArgumentParser(
        prog=PROG,
        description="A local web page that enhances images with a trained model, showing the "
        "result next to the input with a before/after slider.",
    )
    p.add_argument(
        "--ckpt", type=Path, action="append", default=[], help="restorelab checkpoint (repeatable)"
    )
    p.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="NAME|FILE",
        help="bundled model name, or exported .onnx / .safetensors file (repeatable)",
    )
    p.add_argument("--host", default=DEFAULT_HOST, help="address to listen on")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="port to listen on")
    p.add_argument("--device", default="cpu", help=f"one of {', '.join(DEVICES)} (cuda:N too)")
    p.add_argument(
        "--tile", type=int, default=defaults.tile, help="default tile size, 0: no tiling"
    )
    p.add_argument(
        "--tile-overlap",
        type=int,
        default=defaults.tile_overlap,
        help="context pixels around each tile (>= the receptive field: exact result)",
    )
    p.add_argument(
        "--precision", default="fp32", choices=list(PRECISIONS), help="default precision"
    )
    p.add_argument(
        "--ext", default="png", choices=list(OUTPUT_FORMATS), help="default output format"
    )
    p.add_argument(
        "--max-pixels",
        type=int,
        default=defaults.max_pixels,
        help="refuse larger uploads (decompression-bomb guard; 0: no limit)",
    )
    return p


def model_sources(ckpts: Sequence[Path], specs: Sequence[str]) -> list[Any]:
    """The models to offer, in command-line order (``--ckpt`` first); the bundled default
    when none is given. Names shown on the page are file names, made unique by the path."""
    from restorelab.inference.bundled import ModelSource, default_model, resolve_model

    sources = [ModelSource(p.name, p) for p in ckpts] + [resolve_model(s) for s in specs]
    if not sources:
        return [default_model()]
    names = [s.name for s in sources]
    return [
        ModelSource(str(s.path), s.path, s.card) if names.count(s.name) > 1 else s for s in sources
    ]


def load_models(sources: Sequence[Any], device: str) -> dict[str, Any]:
    """Load each model once (fp32; the page derives other precisions) with its card."""
    from restorelab.demo.session import DemoModel
    from restorelab.inference.card import model_card
    from restorelab.inference.models import load_model

    models: dict[str, DemoModel] = {}
    for source in sources:
        model = load_model(source.path, device, "fp32")
        models[source.name] = DemoModel(model, model_card(model, source.name, source.card))
    return models


def _import_gradio() -> None:
    try:
        import gradio  # noqa: F401
    except ImportError as e:
        raise ConfigError(
            f"the demo needs Gradio ({e}); install it with: pip install 'restorelab[demo]'"
        ) from e


def run(args: argparse.Namespace) -> int:
    """Load the models, then serve the page until interrupted."""
    from restorelab.inference.enhancer import EnhanceSettings

    EnhanceSettings(args.tile, args.tile_overlap, args.max_pixels)  # checks the flags
    sources = model_sources(args.ckpt, args.model)
    _import_gradio()
    from restorelab.demo.page import build_page
    from restorelab.demo.session import DemoSession

    models = load_models(sources, args.device)
    with tempfile.TemporaryDirectory(prefix="restorelab-demo-") as work:
        session = DemoSession(models, Path(work), args.tile_overlap, args.max_pixels)
        session.model(session.names[0], args.precision)  # refuse --precision it cannot run
        page = build_page(session, args.tile, args.precision, args.ext)
        try:
            page.launch(
                server_name=args.host,
                server_port=args.port,
                quiet=True,
                prevent_thread_lock=True,
                ssr_mode=False,
            )
        except OSError as e:  # Gradio: "Cannot find empty port in range: ... You can ..."
            reason = str(e).split(". ")[0]
            raise ConfigError(
                f"--port {args.port}: cannot listen on {args.host}:{args.port} ({reason})"
            ) from e
        print(f"{PROG}: serving {page.local_url} (Ctrl+C to stop)", flush=True)
        try:
            page.block_thread()
        finally:
            page.close()
    return 0


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point: serves until interrupted; exit 2 on a model or flag error."""
    args = build_parser().parse_args(argv)
    raise SystemExit(report_errors(PROG, run, args))


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
