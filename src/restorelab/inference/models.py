"""Generators ready for inference, whatever file they come from, behind one call signature.

A :class:`Model` maps a float32 NCHW batch in [0, 1] to its output(s) as float32 NCHW numpy
arrays, so tiling and image handling never care whether PyTorch or ONNX Runtime runs it.

Files accepted by :func:`load_model`, all without unpickling code (PyTorch files are read, once,
by :mod:`restorelab.weights`):

* ``.ckpt`` (restorelab checkpoint): ``torch.load(weights_only=True)``; the architecture is
  rebuilt from the generator config stored in it (EMA weights when the run kept them).
* ``.safetensors`` (``restorelab-export --format safetensors``): the generator config is a JSON
  string in the file's metadata.
* ``.onnx`` (``restorelab-export --format onnx``): run by ONNX Runtime; scale and config are in
  the model's metadata properties.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from restorelab.errors import ConfigError, DataError
from restorelab.weights import METADATA_KEY, parse_metadata, torch_generator

DEVICES = ("cpu", "cuda", "mps")
PRECISIONS: dict[str, torch.dtype] = {
    "fp32": torch.float32,
    "fp16": torch.float16,
    "bf16": torch.bfloat16,
}


@dataclass
class Model:
    """A generator for inference: ``model(batch, steps)`` -> list of outputs (last = final).

    Attributes:
        scale: output size / input size.
        in_channels: channels the generator takes (3 for every restorelab generator).
        config: the generator config it was built from (empty when unknown).
        source: the file it was loaded from, for messages.
        has_stages: whether ``steps=True`` yields intermediate outputs.
    """

    scale: int
    in_channels: int = 3
    config: dict[str, Any] = field(default_factory=dict)
    source: str = "<memory>"
    has_stages: bool = False

    def __call__(self, batch: np.ndarray, steps: bool = False) -> list[np.ndarray]:
        raise NotImplementedError


def check_device(device: str) -> torch.device:
    """``cpu``, ``cuda`` (``cuda:N``) or ``mps``, refused clearly when absent on this machine."""
    kind = device.split(":")[0]
    if kind not in DEVICES:
        raise ConfigError(f"--device {device!r}: not one of {', '.join(DEVICES)}")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA GPU is available to this PyTorch build")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("--device mps: Apple MPS is not available on this machine")
    return torch.device(device)


class TorchModel(Model):
    """A PyTorch generator on a device, in fp32 or under fp16/bf16 autocast.

    ``channels_last`` (on CPU and CUDA) runs the convolutions in NHWC layout: 1.6x faster for
    the default compact generator on this project's CPU (2.12 s -> 1.32 s per 288 px tile), and
    the output then converts to the HWC tile without a copy.
    """

    def __init__(
        self,
        module: nn.Module,
        scale: int,
        device: str = "cpu",
        precision: str = "fp32",
        config: Mapping[str, Any] | None = None,
        source: str = "<memory>",
        channels_last: bool = True,
    ) -> None:
        if precision not in PRECISIONS:
            raise ConfigError(f"--precision {precision!r}: not one of {', '.join(PRECISIONS)}")
        self.device = check_device(device)
        self.dtype = PRECISIONS[precision]
        self.channels_last = channels_last and self.device.type in ("cpu", "cuda")
        self.module = module.eval().to(self.device)
        if self.channels_last:
            self.module.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        config = dict(config or {})
        super().__init__(
            scale=int(scale),
            in_channels=int(config.get("num_in_ch", 3)),
            config=config,
            source=source,
            has_stages=callable(getattr(module, "stages", None)),
        )

    def __call__(self, batch: np.ndarray, steps: bool = False) -> list[np.ndarray]:
        x = torch.from_numpy(batch).to(self.device)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        autocast = (
            torch.autocast(self.device.type, dtype=self.dtype)
            if self.dtype != torch.float32
            else contextlib.nullcontext()
        )
        with torch.inference_mode(), autocast:
            outs = list(self.module.stages(x)) if steps else [self.module(x)]  # type: ignore[operator]
        return [o.float().cpu().numpy() for o in outs]


class OnnxModel(Model):
    """An exported generator run by ONNX Runtime (fp32)."""

    def __init__(self, path: Path, device: str = "cpu", precision: str = "fp32") -> None:
        import onnxruntime as ort

        if precision != "fp32":
            raise ConfigError(
                f"--precision {precision}: ONNX models run in fp32 here (export a converted "
                "model for other precisions)"
            )
        kind = device.split(":")[0]
        providers = ["CPUExecutionProvider"]
        if kind == "cuda":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise ConfigError(
                    "--device cuda: this onnxruntime has no CUDAExecutionProvider "
                    "(install onnxruntime-gpu)"
                )
            providers.insert(0, "CUDAExecutionProvider")
        elif kind != "cpu":
            raise ConfigError(f"--device {device}: ONNX models run on cpu or cuda")
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only; ORT warns about unused initializers
        try:
            self.session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as e:  # onnxruntime raises its own untyped errors for bad files
            raise DataError(f"cannot load ONNX model {path}: {str(e).splitlines()[0]}") from e
        self.input_name = self.session.get_inputs()[0].name
        meta = self.session.get_modelmeta().custom_metadata_map
        info = parse_metadata(meta.get(METADATA_KEY), path)
        channels = self.session.get_inputs()[0].shape[1]
        super().__init__(
            scale=info["scale"],
            in_channels=channels if isinstance(channels, int) else 3,
            config=info.get("generator", {}),
            source=str(path),
        )

    def __call__(self, batch: np.ndarray, steps: bool = False) -> list[np.ndarray]:
        return [self.session.run(None, {self.input_name: batch})[0]]


def load_model(path: str | Path, device: str = "cpu", precision: str = "fp32") -> Model:
    """Load a ``.ckpt``, ``.safetensors`` or ``.onnx`` generator for inference.

    Raises:
        DataError: missing/corrupt file, code that would need unpickling, untrusted config.
        ConfigError: unknown device or precision, or one the backend cannot use.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"model file not found: {path}")
    if path.suffix == ".onnx":
        return OnnxModel(path, device, precision)
    if path.suffix in (".pt", ".ts", ".torchscript"):
        raise DataError(
            f"{path}: TorchScript files are for deployment elsewhere; enhance with the "
            ".ckpt, .safetensors or .onnx file (they load without running code from the file)"
        )
    module, scale, config = torch_generator(path)
    return TorchModel(module, scale, device, precision, config, str(path))
