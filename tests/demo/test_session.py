"""The demo's work on one upload: the same bytes as restorelab-enhance, messages, stages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import png
import pytest
import torch
from PIL import Image

from restorelab.commands.enhance import main as enhance_main
from restorelab.demo.session import OUTPUT_FORMATS, DemoModel, DemoSession
from restorelab.errors import ConfigError, DataError
from restorelab.inference.card import model_card
from restorelab.inference.export import export_model
from restorelab.inference.models import TorchModel, load_model
from tests.helpers import (
    TINY_COMPACT,
    bomb_png,
    gradient_image,
    save_checkpoint,
    save_refine_checkpoint,
)


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("models")
    save_checkpoint(folder / "tiny.ckpt", TINY_COMPACT)
    save_refine_checkpoint(folder / "refine.ckpt")
    return {"tiny": folder / "tiny.ckpt", "refine": folder / "refine.ckpt"}


def session_of(paths: dict[str, Path], work: Path, overlap: int = 8) -> DemoSession:
    models = {}
    for name, path in paths.items():
        model = load_model(path)
        models[name] = DemoModel(model, model_card(model, name))
    work.mkdir(exist_ok=True)
    return DemoSession(models, work, overlap)


def cli_output(src: Path, ckpt: Path, out: Path, *flags: str) -> Path:
    """What ``restorelab-enhance SRC -o OUT --ckpt CKPT FLAGS`` writes (the final image)."""
    with pytest.raises(SystemExit) as done:
        enhance_main([str(src), "-o", str(out), "--ckpt", str(ckpt), "--no-progress", *flags])
    assert done.value.code == 0
    return out / f"{src.stem}.png"


def write_png16(path: Path, h: int, w: int) -> Path:
    pixels = gradient_image(h, w, 3, np.uint16)
    png.Writer(w, h, bitdepth=16, greyscale=False).write(path.open("wb"), pixels.reshape(h, -1))
    return path


def test_download_is_the_bytes_restorelab_enhance_writes(
    tmp_path: Path, ckpts: dict[str, Path]
) -> None:
    session = session_of({"tiny": ckpts["tiny"]}, tmp_path / "work")
    src8 = tmp_path / "photo.png"
    Image.fromarray(gradient_image(24, 32)).save(src8)
    src16 = write_png16(tmp_path / "deep.png", 24, 32)
    tiles: list[tuple[int, int]] = []
    for src, tile in ((src8, 512), (src16, 16)):
        result = session.enhance(
            src, "tiny", tile, "fp32", "png", lambda n, t: tiles.append((n, t))
        )
        flags = ["--tile", str(tile), "--tile-overlap", "8"]
        expected = cli_output(src, ckpts["tiny"], tmp_path / f"cli_{tile}", *flags)
        assert result.download.name == src.name
        assert result.download.read_bytes() == expected.read_bytes()
        assert result.stages == []
    # the 16-bit input stayed 16-bit, cut in 2 x 2 tiles of 16 px
    assert png.Reader(filename=str(result.download)).read()[3]["bitdepth"] == 16
    assert tiles == [(1, 1), (1, 4), (2, 4), (3, 4), (4, 4)]
    assert result.message == "deep.png: 32x24 -> 64x48 (16-bit PNG) with tiny"
    # the previews: 8 bits, both the output's size; the 16-bit result rounded to 8 bits
    with Image.open(result.before) as before, Image.open(result.after) as after:
        assert before.size == after.size == (64, 48)
        assert before.mode == after.mode == "RGB"
        shown = np.asarray(after)
    full = np.vstack(list(png.Reader(filename=str(result.download)).asDirect()[2]))
    assert np.array_equal(shown, np.rint(full.reshape(48, 64, 3) / 257).astype(np.uint8))


def test_bad_uploads_name_the_file_and_leave_nothing(
    tmp_path: Path, ckpts: dict[str, Path]
) -> None:
    session = session_of({"tiny": ckpts["tiny"]}, tmp_path / "work")
    uploads = tmp_path / "gradio" / "0123abcd"
    uploads.mkdir(parents=True)
    (uploads / "notes.txt").write_text("not an image")
    (uploads / "empty.png").write_bytes(b"")
    (uploads / "bomb.png").write_bytes(bomb_png())
    expected = {
        "notes.txt": "not a readable image: notes.txt",
        "empty.png": "image file empty.png is empty (0 bytes)",
        "bomb.png": "bomb.png: 20000x20000 = 400000000 pixels is above the limit of 50000000",
    }
    for name, message in expected.items():
        with pytest.raises(DataError) as caught:
            session.enhance(uploads / name, "tiny", 512, "fp32", "png")
        assert message in str(caught.value)
        assert str(uploads) not in str(caught.value)
    Image.fromarray(gradient_image(8, 8, 1, np.uint16)).save(uploads / "gray16.png")
    with pytest.raises(DataError, match=r"^gray16\.jpg: a 16-bit image cannot be written as JPEG"):
        session.enhance(uploads / "gray16.png", "tiny", 512, "fp32", "jpg")
    with pytest.raises(ConfigError, match="output format 'gif': not one of png, jpg, webp, tif"):
        session.enhance(uploads / "gray16.png", "tiny", 512, "fp32", "gif")
    with pytest.raises(ConfigError, match="model 'other': not one of tiny"):
        session.enhance(uploads / "gray16.png", "other", 512, "fp32", "png")
    with pytest.raises(ConfigError, match="--tile must be >= 0"):
        session.enhance(uploads / "gray16.png", "tiny", -1, "fp32", "png")
    assert list((tmp_path / "work").iterdir()) == []
    assert OUTPUT_FORMATS == ("png", "jpg", "webp", "tif", "bmp")


def test_refine_stages_are_shown_and_the_final_one_is_the_cli_output(
    tmp_path: Path, ckpts: dict[str, Path]
) -> None:
    session = session_of(ckpts, tmp_path / "work")
    src = tmp_path / "photo.png"
    Image.fromarray(gradient_image(20, 24)).save(src)
    result = session.enhance(src, "refine", 512, "fp32", "png")
    assert [caption for _, caption in result.stages] == ["stage 1", "stage 2"]
    expected = cli_output(src, ckpts["refine"], tmp_path / "cli", "--save-steps")
    assert result.download.read_bytes() == expected.read_bytes()
    stage1 = np.asarray(Image.open(result.stages[0][0]))
    assert np.array_equal(stage1, np.asarray(Image.open(tmp_path / "cli" / "photo_step1.png")))
    assert not np.array_equal(stage1, np.asarray(Image.open(result.after)))
    session.forget(result.folder)
    assert not result.folder.exists()
    session.forget(tmp_path)  # outside the work folder: left alone
    assert src.exists()


def test_precisions_share_the_weights_and_onnx_runs_fp32_only(
    tmp_path: Path, ckpts: dict[str, Path]
) -> None:
    onnx = export_model(ckpts["tiny"], "onnx", tmp_path / "tiny.onnx")
    session = session_of({"tiny": ckpts["tiny"], "onnx": onnx}, tmp_path / "work")
    bf16 = session.model("tiny", "bf16")
    assert isinstance(bf16, TorchModel) and bf16.dtype == torch.bfloat16
    assert bf16.module is session.models["tiny"].model.module  # type: ignore[attr-defined]
    assert session.model("tiny", "bf16") is bf16
    assert session.model("onnx", "fp32") is session.models["onnx"].model
    with pytest.raises(ConfigError, match=r"precision fp16: tiny\.onnx is an ONNX model"):
        session.model("onnx", "fp16")
    with pytest.raises(ConfigError, match="precision 'int8': not one of fp32, fp16, bf16"):
        session.model("tiny", "int8")
    src = tmp_path / "photo.png"
    Image.fromarray(gradient_image(16, 16)).save(src)
    onnx_out = session.enhance(src, "onnx", 512, "fp32", "png").download
    torch_out = session.enhance(src, "tiny", 512, "fp32", "png").download
    a, b = (np.asarray(Image.open(p)).astype(int) for p in (onnx_out, torch_out))
    assert np.abs(a - b).max() <= 1
    with pytest.raises(ConfigError, match="the demo needs at least one model"):
        DemoSession({}, tmp_path)
