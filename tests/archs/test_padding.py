"""pad_to_multiple: reflect (replicate for tiny sides), eager and traced alike at every size."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from restorelab.archs.padding import pad_to_multiple

MULTIPLES = (2, 4, 8, 16)
#: Sizes with no padding, padding below the side (reflect) and above it (replicate).
SIZES = [(1, 1), (2, 3), (3, 5), (7, 16), (16, 1), (37, 53), (64, 64)]


def expected(x: Tensor, multiple: int) -> Tensor:
    """What ``F.pad`` gives: reflect when both sides are longer than their padding."""
    h, w = x.shape[-2:]
    pad_h, pad_w = (-h) % multiple, (-w) % multiple
    mode = "reflect" if pad_h < h and pad_w < w else "replicate"
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode)


class Padder(nn.Module):
    def __init__(self, multiple: int) -> None:
        super().__init__()
        self.multiple = multiple

    def forward(self, x: Tensor) -> Tensor:
        return pad_to_multiple(x, self.multiple)


@pytest.mark.parametrize("multiple", MULTIPLES)
def test_eager_padding_reflects_or_replicates(multiple: int) -> None:
    for h, w in SIZES:
        x = torch.rand(2, 3, h, w)
        got = pad_to_multiple(x, multiple)
        assert got.shape[-2] % multiple == 0 and got.shape[-1] % multiple == 0
        assert torch.equal(got, expected(x, multiple)), (h, w)
    x = torch.rand(1, 3, 32, 48)
    assert pad_to_multiple(x, 16) is x  # nothing to pad: no copy


@pytest.mark.parametrize("multiple", MULTIPLES)
def test_graphs_traced_without_padding_still_pad(multiple: int, tmp_path: Path) -> None:
    """Traced at 64x64 (no padding needed) and run at every size: TorchScript and ONNX."""
    padder, trace_input = Padder(multiple), torch.rand(1, 3, 64, 64)
    with warnings.catch_warnings():
        warnings.simplefilter("error", torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", "You are using the legacy", DeprecationWarning)
        traced = torch.jit.trace(padder, trace_input, check_trace=False)
        axes = {0: "batch", 2: "height", 3: "width"}
        torch.onnx.export(
            padder,
            (trace_input,),
            str(tmp_path / "pad.onnx"),
            dynamo=False,
            input_names=["x"],
            output_names=["y"],
            dynamic_axes={"x": axes, "y": axes},
            opset_version=17,
        )
    session = ort.InferenceSession(str(tmp_path / "pad.onnx"), providers=["CPUExecutionProvider"])
    for h, w in SIZES:
        x = torch.rand(2, 3, h, w)
        want = expected(x, multiple)
        assert torch.equal(traced(x), want), (h, w)
        assert np.array_equal(session.run(None, {"x": x.numpy()})[0], want.numpy()), (h, w)
