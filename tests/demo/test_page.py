"""The demo page's handler and layout, without a browser (the browser test is in commands/)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
from PIL import Image

from restorelab.demo.page import NO_TILE, NO_UPLOAD, build_page, status_html, upload_handler
from restorelab.demo.session import DemoModel, DemoSession
from restorelab.inference.card import model_card
from restorelab.inference.models import load_model
from tests.helpers import TINY_COMPACT, gradient_image, save_checkpoint


class RecordProgress:
    """Stands in for ``gr.Progress``: records every update the handler makes."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, str | None, str]] = []

    def __call__(self, progress: Any, desc: str | None = None, unit: str = "steps") -> None:
        self.calls.append((progress, desc, unit))


def tiny_session(tmp_path: Path) -> DemoSession:
    save_checkpoint(tmp_path / "tiny.ckpt", TINY_COMPACT)
    model = load_model(tmp_path / "tiny.ckpt")
    (tmp_path / "work").mkdir()
    return DemoSession({"tiny": DemoModel(model, model_card(model, "tiny"))}, tmp_path / "work", 4)


def test_handler_reports_tiles_and_turns_errors_into_the_status_line(tmp_path: Path) -> None:
    session = tiny_session(tmp_path)
    run = upload_handler(session)
    src = tmp_path / "a<b>.png"
    Image.fromarray(gradient_image(20, 30)).save(src)
    progress = RecordProgress()
    pair, download, stages, status, folder = run(str(src), "tiny", 10, "fp32", "png", progress)
    assert [c[0] for c in progress.calls] == [(k, 6) for k in range(1, 7)]
    assert progress.calls[0][1:] == ("enhancing, tile by tile", "tiles")
    assert (
        status
        == '<p class="restorelab-ok">a&lt;b&gt;.png: 30x20 -&gt; 60x40 (8-bit PNG) with tiny</p>'
    )
    assert Path(download).name == "a<b>.png" and Path(folder).parent == session.work_dir
    with Image.open(pair[0]) as before, Image.open(pair[1]) as after:
        assert before.size == after.size == (60, 40)
        assert np.array_equal(np.asarray(after), np.asarray(Image.open(download)))
    assert stages == []
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    out = run(str(bad), "tiny", 10, "fp32", "png", RecordProgress())
    assert out[:3] == (None, None, []) and out[4] is None
    assert (
        out[3].startswith(
            '<p class="restorelab-error" style="color: var(--error-text-color, #dc2626)">error: '
        )
        and "bad.png" in out[3]
    )
    no_upload = run(None, "tiny", 10, "fp32", "png", RecordProgress())
    assert no_upload[3] == status_html(NO_UPLOAD, error=True)
    no_tile = run(str(src), "tiny", None, "fp32", "png", RecordProgress())
    assert no_tile[3] == status_html(NO_TILE, error=True)


def test_page_offers_the_models_and_the_enhance_options(tmp_path: Path) -> None:
    page = build_page(tiny_session(tmp_path), 256, "bf16", "webp")
    assert isinstance(page, gr.Blocks)
    by_id = {b.elem_id: b for b in page.blocks.values() if getattr(b, "elem_id", None)}
    assert by_id["model"].value == "tiny" and by_id["model"].interactive is False
    assert by_id["tile"].value == 256 and "at least 8" in by_id["tile"].label
    assert by_id["precision"].value == "bf16" and by_id["format"].value == "webp"
    assert isinstance(by_id["slider"], gr.ImageSlider)
    assert by_id["stages"].visible is False
    assert "SRVGGNetCompact" in by_id["card"].value
