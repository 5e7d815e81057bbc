"""restorelab-demo's command line: which models it offers, and the errors that stop it."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import pytest

import restorelab.inference.bundled
from restorelab.commands.demo import main, model_sources
from restorelab.inference.export import export_model
from tests.helpers import TINY_COMPACT, save_checkpoint


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "tiny.ckpt"
    save_checkpoint(path, TINY_COMPACT)
    return path


def error_of(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The one stderr line of ``restorelab-demo ARGV`` exiting 2."""
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("restorelab-demo: error: ")
    return lines[0].removeprefix("restorelab-demo: error: ")


def test_no_arguments_offers_the_installed_default_real_x4() -> None:
    """Without --ckpt or --model the page serves the wheel's default model (issue 14)."""
    [source] = model_sources([], [])
    assert source.name == "real_x4" and source.path.name == "real_x4.safetensors"
    assert source.card["scale"] == 4 and source.card["task"].startswith("blind x4")


def test_no_arguments_uses_the_bundled_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = {"default": "general", "models": {"general": {"file": "general.safetensors"}}}
    (tmp_path / "models.json").write_text(json.dumps(manifest))
    monkeypatch.setattr(restorelab.inference.bundled, "BUNDLED_DIR", tmp_path)
    [source] = model_sources([], [])
    assert (source.name, source.path) == ("general", tmp_path / "general.safetensors")
    a, b = tmp_path / "a" / "best.ckpt", tmp_path / "b" / "best.ckpt"
    names = [s.name for s in model_sources([a, b], ["general", "x.onnx"])]
    assert names == [str(a), str(b), "general", "x.onnx"]


def test_model_and_flag_errors_stop_it_before_it_serves(
    tmp_path: Path, ckpt: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "nope.ckpt"
    assert error_of(["--ckpt", str(missing)], capsys) == f"model file not found: {missing}"
    assert error_of(["--model", "general"], capsys).startswith("--model general: no such file")
    assert error_of(["--ckpt", str(ckpt), "--tile", "8"], capsys).startswith(
        "--tile-overlap (32) must be at most half of --tile (8)"
    )
    onnx = export_model(ckpt, "onnx", tmp_path / "tiny.onnx")
    assert error_of(["--model", str(onnx), "--precision", "fp16"], capsys) == (
        "precision fp16: tiny.onnx is an ONNX model, which runs in fp32 here"
    )
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert error_of(["--ckpt", str(ckpt), "--port", str(port)], capsys) == (
            f"--port {port}: cannot listen on 127.0.0.1:{port} (Cannot find empty port in "
            f"range: {port}-{port})"
        )
    monkeypatch.setitem(sys.modules, "gradio", None)  # as if Gradio were not installed
    assert error_of(["--ckpt", str(ckpt)], capsys).startswith("the demo needs Gradio (")
    assert error_of(["--ckpt", str(ckpt)], capsys).endswith(
        "install it with: pip install 'restorelab[demo]'"
    )


def test_every_bundled_model_is_offered_with_its_card() -> None:
    """What the page shows for each bundled model: its manifest card (a card whose scores
    cannot be read stopped the no-argument demo before it served)."""
    from restorelab.commands.demo import load_models
    from restorelab.inference.bundled import bundled_models

    names = sorted(bundled_models())
    models = load_models(model_sources([], names), "cpu")
    assert sorted(models) == names
    for name, offered in models.items():
        card = offered.card
        assert card.task and card.trained_on and card.command, name
        assert card.scores and all(isinstance(v, float) for v in card.scores.values()), name
        assert card.scale == offered.model.scale
