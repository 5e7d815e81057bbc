"""Export a trained generator as ONNX, TorchScript or safetensors, with its metadata.

Every format carries the JSON ``{"generator": config, "scale": S, "version": V}`` (ONNX
``metadata_props``, TorchScript extra file ``restorelab.json``, safetensors metadata), so the
file alone is enough to rebuild or run the model: ``restorelab-enhance --model FILE`` reads it.

ONNX and TorchScript are traced once and then checked on an input of another size against the
PyTorch generator; an export whose output differs (e.g. a generator that bakes the traced size
into the graph) is refused rather than shipped.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from restorelab.atomic import atomic_path
from restorelab.errors import ConfigError, DataError
from restorelab.weights import METADATA_KEY, metadata, torch_generator

FORMATS: dict[str, str] = {"onnx": ".onnx", "torchscript": ".pt", "safetensors": ".safetensors"}
#: ONNX opset: 17 has every op the restorelab generators need and runs on any recent ORT.
ONNX_OPSET = 17
#: Sizes of the tracing input and of the check input (different, to prove dynamic H/W).
TRACE_SIZE = (64, 64)
CHECK_SIZE = (48, 80)
#: Largest max-abs difference between an export and PyTorch on the check input.
PARITY_TOLERANCE = 1e-4


def _reference(module: nn.Module, x: torch.Tensor) -> np.ndarray:
    with torch.inference_mode():
        return module(x).float().numpy()


def _check_parity(name: str, got: np.ndarray, want: np.ndarray) -> None:
    if got.shape != want.shape:
        raise ConfigError(
            f"{name} export gives shape {got.shape} on a {CHECK_SIZE} input, PyTorch "
            f"{want.shape}: this generator cannot be exported with dynamic height/width"
        )
    diff = float(np.abs(got - want).max())
    if diff > PARITY_TOLERANCE:
        raise ConfigError(
            f"{name} export differs from PyTorch by {diff:.3g} (> {PARITY_TOLERANCE}) on a "
            f"{CHECK_SIZE} input: this generator does not export faithfully"
        )


def export_onnx(module: nn.Module, dest: Path, meta: str, channels: int) -> None:
    """ONNX with dynamic batch/height/width (legacy TorchScript-based exporter: it needs no
    onnxscript and handles the generators' interpolate/pixel-shuffle ops at opset 17)."""
    import onnx
    import onnxruntime as ort

    x = torch.rand(1, channels, *TRACE_SIZE)
    axes = {0: "batch", 2: "height", 3: "width"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice
        torch.onnx.export(
            module,
            (x,),
            str(dest),
            dynamo=False,
            input_names=["lq"],
            output_names=["sr"],
            dynamic_axes={"lq": axes, "sr": axes},
            opset_version=ONNX_OPSET,
        )
    proto = onnx.load(str(dest))
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, meta
    onnx.checker.check_model(proto)
    onnx.save(proto, str(dest))
    check = torch.rand(1, channels, *CHECK_SIZE)
    session = ort.InferenceSession(str(dest), providers=["CPUExecutionProvider"])
    got = session.run(None, {"lq": check.numpy()})[0]
    _check_parity("ONNX", got, _reference(module, check))


def export_torchscript(module: nn.Module, dest: Path, meta: str, channels: int) -> None:
    """A traced TorchScript module with the metadata as extra file ``restorelab.json``."""
    x = torch.rand(1, channels, *TRACE_SIZE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings about Python ints in shapes
        traced = torch.jit.trace(module, x, check_trace=False)
    torch.jit.save(traced, str(dest), _extra_files={f"{METADATA_KEY}.json": meta})
    check = torch.rand(1, channels, *CHECK_SIZE)
    with torch.inference_mode():
        got = torch.jit.load(str(dest))(check).float().numpy()
    _check_parity("TorchScript", got, _reference(module, check))


def export_safetensors(module: nn.Module, dest: Path, meta: str) -> None:
    """The generator's state dict, metadata JSON under the ``restorelab`` key."""
    from safetensors.torch import save_file

    state = {k: v.detach().contiguous().clone() for k, v in module.state_dict().items()}
    save_file(state, str(dest), metadata={METADATA_KEY: meta})


def export_model(source: str | Path, fmt: str, dest: str | Path) -> Path:
    """Export the generator in ``source`` (``.ckpt`` or ``.safetensors``) to ``dest``.

    Raises:
        ConfigError: unknown format, or an export that does not match PyTorch.
        DataError: unreadable source, or ``dest`` is the source itself.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r}: not one of {', '.join(FORMATS)}")
    source, dest = Path(source).expanduser(), Path(dest).expanduser()
    if dest.exists() and dest.resolve() == source.resolve():
        raise DataError(f"-o {dest} is the checkpoint itself; choose another file name")
    module, scale, config = torch_generator(source)
    module = module.float().cpu().eval()
    channels = int(config.get("num_in_ch", 3))
    meta = metadata(config, scale)
    # the exporters write by name; the export appears at dest only once it passed its check
    with atomic_path(dest, suffix=".part") as tmp:
        if fmt == "onnx":
            export_onnx(module, tmp, meta, channels)
        elif fmt == "torchscript":
            export_torchscript(module, tmp, meta, channels)
        else:
            export_safetensors(module, tmp, meta)
    return dest
