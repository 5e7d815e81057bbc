"""restorelab-export: ONNX / TorchScript match PyTorch, safetensors reloads bit for bit."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from PIL import Image
from safetensors import safe_open

from restorelab.commands.enhance import main as enhance_main
from restorelab.commands.export import main as export_main
from restorelab.inference.models import load_model
from restorelab.weights import torch_generator
from tests.helpers import TINY_COMPACT, gradient_image, save_checkpoint


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, torch.nn.Module]:
    path = tmp_path_factory.mktemp("export") / "tiny.ckpt"
    return path, save_checkpoint(path, dict(TINY_COMPACT, scale=4), seed=3)


def _export(ckpt: Path, fmt: str, dest: Path, capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        export_main(["--ckpt", str(ckpt), "--format", fmt, "-o", str(dest)])
    out = capsys.readouterr()
    assert exit_info.value.code == 0, out.err
    return out.out


def test_onnx_matches_pytorch_with_dynamic_height_width(
    tmp_path: Path, trained: tuple[Path, torch.nn.Module], capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt, net = trained
    dest = tmp_path / "model.onnx"
    assert "wrote onnx model" in _export(ckpt, "onnx", dest, capsys)
    session = ort.InferenceSession(str(dest), providers=["CPUExecutionProvider"])
    shape = session.get_inputs()[0].shape
    assert isinstance(shape[2], str) and isinstance(shape[3], str)  # dynamic H, W
    for h, w in [(37, 53), (16, 90)]:
        x = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(h))
        got = session.run(None, {"lq": x.numpy()})[0]
        with torch.no_grad():
            want = net(x).numpy()
        assert got.shape == (1, 3, 4 * h, 4 * w)
        assert np.abs(got - want).max() <= 1e-4
    meta = {p.key: p.value for p in onnx.load(str(dest)).metadata_props}
    info = json.loads(meta["restorelab"])
    assert info["scale"] == 4 and info["generator"]["num_feat"] == 8


def test_torchscript_matches_pytorch(
    tmp_path: Path, trained: tuple[Path, torch.nn.Module], capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt, net = trained
    dest = tmp_path / "model.pt"
    _export(ckpt, "torchscript", dest, capsys)
    extra = {"restorelab.json": ""}
    scripted = torch.jit.load(str(dest), _extra_files=extra)
    assert json.loads(extra["restorelab.json"])["scale"] == 4
    x = torch.rand(1, 3, 29, 41, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert (scripted(x) - net(x)).abs().max().item() <= 1e-4


def test_safetensors_reloads_bit_for_bit(
    tmp_path: Path, trained: tuple[Path, torch.nn.Module], capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt, net = trained
    dest = tmp_path / "model.safetensors"
    _export(ckpt, "safetensors", dest, capsys)
    with safe_open(str(dest), framework="pt") as f:
        assert json.loads(f.metadata()["restorelab"])["generator"] == dict(TINY_COMPACT, scale=4)
    reloaded, scale, config = torch_generator(dest)
    assert scale == 4 and config["_target_"] == TINY_COMPACT["_target_"]
    want, got = net.state_dict(), reloaded.state_dict()
    assert want.keys() == got.keys()
    assert all(torch.equal(want[k], got[k]) for k in want)
    x = torch.rand(1, 3, 20, 24)
    with torch.no_grad():
        assert torch.equal(reloaded(x), net(x))


def test_enhance_with_exported_models_matches_checkpoint(
    tmp_path: Path, trained: tuple[Path, torch.nn.Module], capsys: pytest.CaptureFixture[str]
) -> None:
    """``--model FILE.onnx`` / ``.safetensors`` go through the same tiling as ``--ckpt``."""
    ckpt, _ = trained
    onnx_file, st_file = tmp_path / "m.onnx", tmp_path / "m.safetensors"
    _export(ckpt, "onnx", onnx_file, capsys)
    _export(ckpt, "safetensors", st_file, capsys)
    src = tmp_path / "in.png"
    Image.fromarray(gradient_image(30, 44)).save(src)
    outputs = {}
    for name, flag in {"ckpt": "--ckpt", "onnx": "--model", "safetensors": "--model"}.items():
        model = {"ckpt": ckpt, "onnx": onnx_file, "safetensors": st_file}[name]
        out = tmp_path / name
        args = [str(src), "-o", str(out), flag, str(model), "--tile", "16", "--tile-overlap", "8"]
        with pytest.raises(SystemExit) as exit_info:
            enhance_main([*args, "--no-progress"])
        assert exit_info.value.code == 0, capsys.readouterr().err
        outputs[name] = np.asarray(Image.open(out / "in.png")).astype(int)
    assert outputs["ckpt"].shape == (120, 176, 3)
    assert np.array_equal(outputs["safetensors"], outputs["ckpt"])
    assert np.abs(outputs["onnx"] - outputs["ckpt"]).max() <= 1
    assert load_model(onnx_file).scale == 4


def test_ema_weights_are_exported_when_present(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt = tmp_path / "ema.ckpt"
    net = save_checkpoint(ckpt, TINY_COMPACT)
    raw = torch.load(ckpt, weights_only=True)
    ema = {
        k.replace("generator.", "generator_ema.", 1): v + 1.0 for k, v in raw["state_dict"].items()
    }
    raw["state_dict"].update(ema)
    torch.save(raw, ckpt)
    dest = tmp_path / "ema.safetensors"
    _export(ckpt, "safetensors", dest, capsys)
    reloaded, _, _ = torch_generator(dest)
    for k, v in net.state_dict().items():
        assert torch.equal(reloaded.state_dict()[k], v + 1.0)


def test_export_errors_are_one_line(
    tmp_path: Path, trained: tuple[Path, torch.nn.Module], capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt, _ = trained
    cases = [
        (["--ckpt", str(ckpt), "-o", str(tmp_path / "m.bin")], "cannot tell the format"),
        (["--ckpt", str(ckpt), "--format", "onnx", "-o", str(ckpt)], "is the checkpoint itself"),
        (["--ckpt", str(tmp_path / "no.ckpt"), "-o", str(tmp_path / "m.onnx")], "not found"),
    ]
    for args, message in cases:
        with pytest.raises(SystemExit) as exit_info:
            export_main(args)
        err = capsys.readouterr().err
        assert exit_info.value.code == 2 and message in err and "Traceback" not in err
    assert sorted(os.listdir(tmp_path)) == []  # nothing half-written


def test_format_from_extension(
    tmp_path: Path, trained: tuple[Path, torch.nn.Module], capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt, _ = trained
    with pytest.raises(SystemExit) as exit_info:
        export_main(["--ckpt", str(ckpt), "-o", str(tmp_path / "auto.safetensors")])
    assert exit_info.value.code == 0
    assert "wrote safetensors model" in capsys.readouterr().out
