"""restorelab-demo end to end, in a real headless Chromium driven by Playwright.

The test starts the installed ``restorelab-demo`` on a free local port with two tiny models,
opens the page, uploads generated images, waits for the results, downloads them through the
browser and compares them byte for byte with what ``restorelab-enhance`` writes for the same
input and model. Bad uploads must leave a message on the page and the server running; two
uploads at once must each get their own result. The page's screenshot is kept in the test's
folder and, when ``$RESTORELAB_ARTIFACTS`` is set, there too.

Chromium is Debian's ``chromium`` package (``.ci/run`` installs it); without it the test fails.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import png
import pytest
from PIL import Image

from restorelab.commands.enhance import main as enhance_main
from tests.helpers import (
    TINY_COMPACT,
    bomb_png,
    cli_env,
    gradient_image,
    save_checkpoint,
    save_refine_checkpoint,
    write_odd_input,
)

#: Where a CI run collects test artefacts (the page's screenshot).
ARTIFACTS_ENV = "RESTORELAB_ARTIFACTS"
#: Seconds the server may take to start (imports, two models) and a result to appear.
START_S = 180
WAIT_MS = 90_000
#: The server's tile overlap: small, so a 16 px tile is allowed.
OVERLAP = 8


@dataclass
class Server:
    """A running ``restorelab-demo`` and what it prints."""

    url: str
    proc: subprocess.Popen[str]
    models: dict[str, Path]
    tmp: Path  # the server's TMPDIR: its work folder, one folder per upload inside
    lines: list[str] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("demo")
    models = {"tiny.ckpt": root / "tiny.ckpt", "refine.ckpt": root / "refine.ckpt"}
    save_checkpoint(models["tiny.ckpt"], TINY_COMPACT)
    save_refine_checkpoint(models["refine.ckpt"])
    env = {
        **cli_env(root),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "GRADIO_TEMP_DIR": str(root / "gradio"),
        "TMPDIR": str(root / "tmp"),
    }
    (root / "tmp").mkdir()
    exe = Path(sys.executable).with_name("restorelab-demo")
    args = [str(exe), "--port", str(free_port()), "--tile-overlap", str(OVERLAP)]
    for path in models.values():
        args += ["--ckpt", str(path)]
    proc = subprocess.Popen(
        args, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: list[str] = []
    assert proc.stdout is not None
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)  # type: ignore[arg-type]
    reader.start()
    deadline = time.monotonic() + START_S
    url = None
    while url is None and time.monotonic() < deadline and proc.poll() is None:
        found = [m for line in lines if (m := re.search(r"serving (http://\S+)", line))]
        url = found[0].group(1) if found else None
        time.sleep(0.2)
    assert url is not None, f"restorelab-demo did not start: {''.join(lines)[-3000:]}"
    assert url.startswith("http://127.0.0.1:")  # local only by default
    yield Server(url, proc, models, root / "tmp", lines)
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail(
            "chromium not found on PATH: install Debian's chromium package "
            "(apt-get install -y chromium; .ci/run does it)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium)
        yield launched
        launched.close()


def open_page(browser: Any, server: Server) -> Any:
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(server.url)
    page.wait_for_selector("#upload input[type=file]", state="attached")
    return page


def upload(page: Any, path: Path) -> None:
    """Put ``path`` in the upload box (clearing the previous file first)."""
    clear = page.locator("#upload button[aria-label=Clear]")
    if clear.count():
        clear.click()
    page.locator("#upload input[type=file]").set_input_files(str(path))


def wait_status(page: Any, text: str) -> str:
    page.locator("#status", has_text=text).wait_for()
    return str(page.inner_text("#status"))


def download(page: Any, dest: Path) -> Path:
    """Click the result's download link and save what the browser receives."""
    with page.expect_download() as info:
        page.locator("#result a.download-link").click()
    dest.parent.mkdir(parents=True, exist_ok=True)
    info.value.save_as(dest)
    assert info.value.suggested_filename == dest.name
    return dest


def cli_bytes(src: Path, model: Path, out: Path, *flags: str) -> bytes:
    """The bytes ``restorelab-enhance SRC -o OUT --ckpt MODEL FLAGS`` writes for ``src``."""
    with pytest.raises(SystemExit) as done:
        enhance_main([str(src), "-o", str(out), "--ckpt", str(model), "--no-progress", *flags])
    assert done.value.code == 0
    return (out / f"{src.stem}.png").read_bytes()


def write_png16(path: Path, h: int, w: int) -> Path:
    pixels = gradient_image(h, w, 3, np.uint16)
    with path.open("wb") as f:
        png.Writer(w, h, bitdepth=16, greyscale=False).write(f, pixels.reshape(h, -1))
    return path


def keep_screenshot(page: Any, tmp_path: Path, name: str) -> Path:
    shot = tmp_path / name
    page.screenshot(path=str(shot), full_page=True)
    if os.environ.get(ARTIFACTS_ENV):
        folder = Path(os.environ[ARTIFACTS_ENV])
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, folder / name)
    return shot


def test_upload_shows_before_after_and_downloads_the_cli_bytes(
    browser: Any, server: Server, tmp_path: Path
) -> None:
    page = open_page(browser, server)
    card = page.inner_text("#card")
    assert "SRVGGNetCompact" in card and "x2" in card and "tiny.ckpt" in card
    tiny = server.models["tiny.ckpt"]
    photo = tmp_path / "photo.png"
    Image.fromarray(gradient_image(24, 32)).save(photo)
    upload(page, photo)
    assert (
        wait_status(page, "photo.png: 32x24")
        == "photo.png: 32x24 -> 64x48 (8-bit PNG) with tiny.ckpt"
    )
    page.locator("#slider img").nth(1).wait_for()
    assert page.locator("#slider img").count() == 2
    got = download(page, tmp_path / "browser" / "photo.png").read_bytes()
    assert got == cli_bytes(photo, tiny, tmp_path / "cli", "--tile-overlap", str(OVERLAP))
    # the upload's own files are gone once Gradio has its copies (the page still serves them)
    # (deleting them is the event after the result's: give it a moment)
    [work] = server.tmp.glob("restorelab-demo-*")
    deadline = time.monotonic() + WAIT_MS / 1000
    while list(work.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert list(work.iterdir()) == []
    shot = keep_screenshot(page, tmp_path, "demo.png")
    with Image.open(shot) as img:
        assert img.width == 1280 and img.height > 900
    # 16-bit in, 16-bit out, tile by tile (2 x 2 tiles of 16 px), as restorelab-enhance does it
    deep = write_png16(tmp_path / "deep.png", 24, 32)
    page.locator("#tile input").fill("16")
    page.locator("#tile input").press("Tab")
    upload(page, deep)
    assert "(16-bit PNG)" in wait_status(page, "deep.png: 32x24 -> 64x48")
    got = download(page, tmp_path / "browser" / "deep.png").read_bytes()
    flags = ["--tile", "16", "--tile-overlap", str(OVERLAP)]
    assert got == cli_bytes(deep, tiny, tmp_path / "cli16", *flags)
    assert png.Reader(bytes=got).read()[3]["bitdepth"] == 16


def test_bad_uploads_leave_a_message_and_the_server_running(
    browser: Any, server: Server, tmp_path: Path
) -> None:
    page = open_page(browser, server)
    (tmp_path / "notes.txt").write_text("a shopping list, not a photo")
    (tmp_path / "bomb.png").write_bytes(bomb_png())
    bad = {
        tmp_path / "notes.txt": "error: not a readable image: notes.txt",
        write_odd_input(
            "truncated_jpeg", tmp_path
        ): "error: corrupt or truncated image truncated.jpg",
        tmp_path / "bomb.png": "error: bomb.png: 20000x20000 = 400000000 pixels is above the limit",
        write_odd_input("empty", tmp_path): "error: image file empty.png is empty (0 bytes)",
    }
    for path, message in bad.items():
        upload(page, path)
        assert wait_status(page, message).startswith(message)
        assert page.locator("#result a.download-link").count() == 0
        assert server.proc.poll() is None
    keep_screenshot(page, tmp_path, "demo_error.png")
    good = tmp_path / "good.png"
    Image.fromarray(gradient_image(10, 12)).save(good)
    upload(page, good)
    wait_status(page, "good.png: 12x10 -> 24x20 (8-bit PNG)")
    assert download(page, tmp_path / "browser" / "good.png").read_bytes() == cli_bytes(
        good, server.models["tiny.ckpt"], tmp_path / "cli", "--tile-overlap", str(OVERLAP)
    )


def test_two_uploads_at_once_each_get_their_own_result(
    browser: Any, server: Server, tmp_path: Path
) -> None:
    pages = [open_page(browser, server), open_page(browser, server)]
    photos = [tmp_path / "first.png", tmp_path / "second.png"]
    Image.fromarray(gradient_image(40, 48)).save(photos[0])
    Image.fromarray(255 - gradient_image(36, 44)).save(photos[1])
    for page, photo in zip(pages, photos, strict=True):
        upload(page, photo)
    for page, photo in zip(pages, photos, strict=True):
        wait_status(page, f"{photo.name}: ")
        got = download(page, tmp_path / "browser" / photo.name).read_bytes()
        flags = ["--tile-overlap", str(OVERLAP)]
        assert got == cli_bytes(photo, server.models["tiny.ckpt"], tmp_path / "cli", *flags)


def test_a_refine_model_shows_each_stage(browser: Any, server: Server, tmp_path: Path) -> None:
    page = open_page(browser, server)
    assert not page.locator("#stages").is_visible()
    page.locator("#model input").click()
    page.get_by_role("option", name="refine.ckpt").click()
    page.locator("#card", has_text="RefineNet").wait_for()
    assert re.search(r"refinement stages\s+yes", page.inner_text("#card"))
    photo = tmp_path / "photo.png"
    Image.fromarray(gradient_image(20, 24)).save(photo)
    upload(page, photo)
    wait_status(page, "photo.png: 24x20 -> 48x40 (8-bit PNG) with refine.ckpt")
    page.locator("#stages img").nth(1).wait_for()
    assert page.locator("#stages img").count() == 2
    got = download(page, tmp_path / "browser" / "photo.png").read_bytes()
    refine = server.models["refine.ckpt"]
    flags = ["--save-steps", "--tile-overlap", str(OVERLAP)]
    assert got == cli_bytes(photo, refine, tmp_path / "cli", *flags)
