"""restorelab-export of every generator: right at sizes that need padding, nothing frozen.

Export traces at 64x64, a multiple of every padding network's multiple (2 and 4 for RRDBNet
at x2 / x1, 4 for the tiny U-Net and NAFNet, 8 for SwinIR's window, 16 for the full U-Net and
NAFNet), so a graph that froze the "no padding needed" branch passes a check at another
multiple of 16 and fails at 37x53 (both sides prime) or 3x5 (smaller than the multiple, where
padding falls back from reflect to replicate).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf
from torch import Tensor, nn

from restorelab.commands.export import main as export_main
from restorelab.errors import ConfigError
from restorelab.inference.export import CHECK_SIZES, FORMATS, export_onnx, export_torchscript
from restorelab.weights import architecture_config
from tests.helpers import CONF, save_checkpoint

#: (generator config, scale, overrides): every exportable generator at its CPU size.
GENERATORS: list[tuple[str, int, dict[str, Any]]] = [
    ("compact_tiny", 4, {}),
    ("edsr_tiny", 4, {}),
    ("msrresnet_tiny", 4, {}),
    ("rcan_tiny", 4, {}),
    ("srresnet", 4, {"num_feat": 16, "num_block": 2}),
    ("espcn", 4, {}),
    ("fsrcnn", 4, {}),
    ("refine", 4, {}),
    ("rrdbnet_tiny", 1, {}),
    ("rrdbnet_tiny", 2, {}),
    ("rrdbnet_tiny", 4, {}),
    ("swinir_tiny", 4, {}),
    # trained at the export's tracing size: the stored shifted-window masks fit the trace input
    ("swinir_tiny", 2, {"img_size": 64, "upsampler": "nearest+conv", "num_feat": 16}),
    ("swinir_tiny", 1, {"upsampler": ""}),
    ("nafnet_tiny", 1, {}),
    ("nafnet_tiny", 1, {"enc_blk_nums": [1, 1, 1, 1], "dec_blk_nums": [1, 1, 1, 1]}),  # x16
    ("unet_tiny", 1, {}),
    ("unet_tiny", 1, {"depth": 4, "num_feat": 8}),  # multiple of 16
]
#: (batch, height, width) the exported graphs are run at after export.
AWKWARD_INPUTS = [(1, 37, 53), (2, 3, 5)]


def generator_config(name: str, scale: int, overrides: dict[str, Any]) -> dict[str, Any]:
    """The resolved ``conf/generator/NAME.yaml`` at ``scale``, with ``overrides`` applied."""
    node = OmegaConf.create(
        {"data": {"scale": scale}, "g": OmegaConf.load(CONF / "generator" / f"{name}.yaml")}
    ).g
    return {**architecture_config(node), **overrides}


def _checkpoint(path: Path, config: dict[str, Any], scale: int) -> nn.Module:
    """``save_checkpoint``, which reads the scale at the config's top level; RefineNet keeps
    it in its first stage, so its checkpoint is written here the same way."""
    if "scale" in config:
        return save_checkpoint(path, config, seed=5)
    torch.manual_seed(5)
    net = hydra.utils.instantiate(config)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    weights = {f"generator.{k}": v for k, v in net.state_dict().items()}
    meta = {"version": "0.1.0", "scale": scale, "generator": config, "config": {}}
    torch.save({"state_dict": weights, "restorelab": meta}, path)
    return net.eval()


def _run_export(ckpt: Path, fmt: str, dest: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", torch.jit.TracerWarning)
        with pytest.raises(SystemExit) as exit_info:
            export_main(["--ckpt", str(ckpt), "--format", fmt, "-o", str(dest)])
    assert exit_info.value.code == 0, capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
@pytest.mark.parametrize(
    ("name", "scale", "overrides"),
    [pytest.param(n, s, o, id=f"{n}-x{s}-{i}") for i, (n, s, o) in enumerate(GENERATORS)],
)
def test_export_is_right_at_sizes_that_need_padding(
    tmp_path: Path,
    name: str,
    scale: int,
    overrides: dict[str, Any],
    fmt: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ckpt = tmp_path / "g.ckpt"
    net = _checkpoint(ckpt, generator_config(name, scale, overrides), scale)
    dest = tmp_path / f"g{FORMATS[fmt]}"
    _run_export(ckpt, fmt, dest, capsys)
    if fmt == "onnx":
        session = ort.InferenceSession(str(dest), providers=["CPUExecutionProvider"])

        def exported(x: Tensor) -> np.ndarray:
            return session.run(None, {"lq": x.numpy()})[0]
    else:
        scripted = torch.jit.load(str(dest))

        def exported(x: Tensor) -> np.ndarray:
            with torch.inference_mode():
                return scripted(x).numpy()

    for b, h, w in AWKWARD_INPUTS:
        x = torch.rand(b, 3, h, w, generator=torch.Generator().manual_seed(h))
        with torch.inference_mode():
            want = net(x).numpy()
        got = exported(x)
        assert got.shape == (b, 3, h * scale, w * scale)
        assert float(np.abs(got - want).max()) <= 1e-4, (h, w)


def test_check_sizes_need_padding_for_every_multiple() -> None:
    for multiple in (2, 4, 8, 16):
        assert any(h % multiple and w % multiple for h, w in CHECK_SIZES), multiple


class FrozenPadding(nn.Module):
    """Pads the way restorelab did before: a Python branch the tracer records as taken."""

    scale = 1

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        pad_h, pad_w = (-h) % 8, (-w) % 8
        if pad_h or pad_w:  # recorded as not taken when traced at 64x64
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="reflect")
        y = F.avg_pool2d(x, 8) - 0.5  # any size-dependent work; then back to the input size
        return (F.interpolate(y, scale_factor=8.0, mode="nearest") + x)[..., :h, :w]


@pytest.mark.parametrize("exporter", [export_onnx, export_torchscript], ids=["onnx", "ts"])
def test_a_trace_that_freezes_a_branch_is_refused(tmp_path: Path, exporter: Any) -> None:
    with pytest.raises(ConfigError, match=r"froze a Python value while tracing .*test_export_pad"):
        exporter(FrozenPadding(), tmp_path / "m", "{}", 3)
