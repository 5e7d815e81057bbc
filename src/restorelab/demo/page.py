"""The demo page: Gradio components and events around a :class:`DemoSession`.

Layout: the model (a dropdown when several are offered) and its card; the upload (drop or
pick) with the options a person would want from ``restorelab-enhance`` (tile size, precision,
output format); a status line; Gradio's own before/after ``ImageSlider`` (with zoom and
fullscreen); the result as a file to download; and, for multi-stage generators, a gallery of
the refinement stages.

Uploads are queued and run one at a time (:data:`CONCURRENCY`): the models are shared by every
visitor, and tiling bounds the memory of one job, not of several. Each visitor's results are
their own session's outputs, so two uploads at once are never mixed up.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr

from restorelab.demo.session import OUTPUT_FORMATS, DemoSession
from restorelab.errors import RestorelabError, one_line
from restorelab.inference.card import card_markdown
from restorelab.inference.models import PRECISIONS

#: Jobs run at once: one, see the module docstring.
CONCURRENCY = 1
#: Gradio's copies of shown and downloadable files: checked every hour, kept for a day.
CACHE_CHECK_S = 3600
CACHE_KEEP_S = 86400
TITLE = "restorelab demo"
INTRO = (
    "# restorelab demo\n"
    "Drop an image (or click to pick one). The result appears next to the input with a "
    "before/after slider (click it for fullscreen and zoom); download it below."
)
#: Gradio theme's error colour (its CSS variable), red where the theme has none.
ERROR_COLOUR = "var(--error-text-color, #dc2626)"
NO_UPLOAD = "Drop or pick an image first."
NO_TILE = "tile size: enter a number of pixels (0: the whole image at once)"


def status_html(message: str, error: bool = False) -> str:
    """The status line: ``message`` escaped; an error is prefixed and shown in red."""
    text = html.escape(f"error: {message}" if error else message)
    if error:
        return f'<p class="restorelab-error" style="color: {ERROR_COLOUR}">{text}</p>'
    return f'<p class="restorelab-ok">{text}</p>'


def upload_handler(session: DemoSession) -> Callable[..., tuple[Any, ...]]:
    """The page's event handler: (upload, model, tile, precision, format) -> the outputs
    (slider pair, download, stage gallery, status, upload folder); progress tile by tile."""

    def run(
        upload: str | None,
        name: str,
        tile_size: float | None,
        prec: str,
        fmt: str,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 (Gradio's way to ask for one)
    ) -> tuple[Any, ...]:
        """Enhance one upload; a bad one becomes a message on the page, nothing else."""
        if upload is None:
            return None, None, [], status_html(NO_UPLOAD, error=True), None

        def on_tile(done: int, total: int) -> None:
            progress((done, total), desc="enhancing, tile by tile", unit="tiles")

        if tile_size is None:
            return None, None, [], status_html(NO_TILE, error=True), None
        try:
            result = session.enhance(Path(upload), name, int(tile_size), prec, fmt, on_tile)
        except RestorelabError as e:
            return None, None, [], status_html(one_line(e), error=True), None
        return (
            (str(result.before), str(result.after)),
            str(result.download),
            [(str(p), caption) for p, caption in result.stages],
            status_html(result.message),
            str(result.folder),
        )

    return run


def build_page(
    session: DemoSession, tile: int, precision: str = "fp32", ext: str = "png"
) -> gr.Blocks:
    """The page for ``session``; ``tile``, ``precision`` and ``ext`` are the options' defaults."""
    names = session.names
    run = upload_handler(session)

    def show_card(name: str) -> tuple[str, Any]:
        card = session.models[name].card
        return card_markdown(card), gr.Gallery(visible=card.stages)

    with gr.Blocks(
        title=TITLE, analytics_enabled=False, delete_cache=(CACHE_CHECK_S, CACHE_KEEP_S)
    ) as page:
        gr.Markdown(INTRO)
        with gr.Row():
            with gr.Column():
                model = gr.Dropdown(
                    names,
                    value=names[0],
                    label="model",
                    interactive=len(names) > 1,
                    elem_id="model",
                )
                upload = gr.File(label="image", type="filepath", elem_id="upload")
                tile_box = gr.Number(
                    tile,
                    label="tile size (input pixels; 0: the whole image, else at least "
                    f"{2 * session.tile_overlap})",
                    precision=0,
                    minimum=0,
                    elem_id="tile",
                )
                precision_box = gr.Dropdown(
                    list(PRECISIONS), value=precision, label="precision", elem_id="precision"
                )
                ext_box = gr.Dropdown(
                    list(OUTPUT_FORMATS), value=ext, label="output format", elem_id="format"
                )
                button = gr.Button("Enhance", variant="primary", elem_id="enhance")
            with gr.Column():
                card = gr.Markdown(card_markdown(session.models[names[0]].card), elem_id="card")
        status = gr.HTML(elem_id="status")
        slider = gr.ImageSlider(
            label="before / after", type="filepath", interactive=False, elem_id="slider"
        )
        with gr.Row():
            result = gr.File(label="result", interactive=False, elem_id="result")
            stages = gr.Gallery(
                label="refinement stages",
                visible=session.models[names[0]].card.stages,
                elem_id="stages",
            )
        folder = gr.State(None)

        inputs = [upload, model, tile_box, precision_box, ext_box]
        outputs = [slider, result, stages, status, folder]
        for trigger in (upload.upload, button.click):
            trigger(run, inputs, outputs).then(session.forget, folder, None)
        model.change(show_card, model, [card, stages])
    page.queue(default_concurrency_limit=CONCURRENCY)
    return page
