"""Export a trained generator as ONNX, TorchScript or safetensors, with its metadata.

Every format carries the JSON ``{"generator": config, "scale": S, "version": V}`` (ONNX
``metadata_props``, TorchScript extra file ``restorelab.json``, safetensors metadata), so the
file alone is enough to rebuild or run the model: ``restorelab-enhance --model FILE`` reads it.

ONNX and TorchScript are traced once and then checked, on inputs of other sizes, against the
PyTorch generator. An export is refused rather than shipped when tracing froze a Python value
(a ``TracerWarning``: a branch or size taken as a constant, e.g. "no padding needed" at the
tracing size) or when its output differs from PyTorch's at a check size; the check sizes need
padding for every multiple a generator pads to (2, 4, 8, 16).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
#: Size of the tracing input: a multiple of 16, so every padding branch is "no padding" here.
TRACE_SIZE = (64, 64)
#: Sizes of the check inputs: odd primes (padding for every multiple: RRDBNet's 2 and 4,
#: SwinIR's window 8, U-Net's and NAFNet's 16), and a multiple of 16 of another aspect.
CHECK_SIZES = ((37, 53), (48, 80))
#: Largest max-abs difference between an export and PyTorch on a check input.
PARITY_TOLERANCE = 1e-4
#: The warning the legacy (TorchScript-based) ONNX exporter gives on every call.
LEGACY_EXPORTER_NOTICE = "You are using the legacy TorchScript-based ONNX export"


def _reference(module: nn.Module, x: torch.Tensor) -> np.ndarray:
    with torch.inference_mode():
        return module(x).float().numpy()


@contextmanager
def _tracing(name: str) -> Iterator[None]:
    """Refuse a trace that froze a Python value: it would be wrong at other input sizes."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", LEGACY_EXPORTER_NOTICE, DeprecationWarning)
        yield
    for w in caught:
        if issubclass(w.category, torch.jit.TracerWarning):
            first = str(w.message).split(". ")[0]  # torch's advice follows the first sentence
            raise ConfigError(
                f"{name} export froze a Python value while tracing ({w.filename}:{w.lineno}: "
                f"{first}): the graph would be wrong at other input sizes"
            )
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _check_parity(
    name: str, run: Callable[[torch.Tensor], np.ndarray], module: nn.Module, channels: int
) -> None:
    """Run the export at every check size and compare with PyTorch."""
    for size in CHECK_SIZES:
        x = torch.rand(1, channels, *size, generator=torch.Generator().manual_seed(size[0]))
        want = _reference(module, x)
        try:
            got = run(x)
        except Exception as e:  # ORT and the TorchScript interpreter raise their own errors
            raise ConfigError(
                f"{name} export fails on a {size[0]}x{size[1]} input ({type(e).__name__}: "
                f"{str(e).strip().splitlines()[-1][:200]}): this generator does not export "
                "with dynamic height/width"
            ) from e
        if got.shape != want.shape:
            raise ConfigError(
                f"{name} export gives shape {got.shape} on a {size[0]}x{size[1]} input, "
                f"PyTorch {want.shape}: this generator cannot be exported with dynamic "
                "height/width"
            )
        diff = float(np.abs(got - want).max())
        if diff > PARITY_TOLERANCE:
            raise ConfigError(
                f"{name} export differs from PyTorch by {diff:.3g} (> {PARITY_TOLERANCE}) on a "
                f"{size[0]}x{size[1]} input: this generator does not export faithfully"
            )


def export_onnx(module: nn.Module, dest: Path, meta: str, channels: int) -> None:
    """ONNX with dynamic batch/height/width (legacy TorchScript-based exporter: it needs no
    onnxscript and handles the generators' interpolate/pixel-shuffle ops at opset 17)."""
    import onnx
    import onnxruntime as ort

    x = torch.rand(1, channels, *TRACE_SIZE)
    axes = {0: "batch", 2: "height", 3: "width"}
    with _tracing("ONNX"):
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
    session = ort.InferenceSession(str(dest), providers=["CPUExecutionProvider"])
    _check_parity("ONNX", lambda x: session.run(None, {"lq": x.numpy()})[0], module, channels)


def export_torchscript(module: nn.Module, dest: Path, meta: str, channels: int) -> None:
    """A traced TorchScript module with the metadata as extra file ``restorelab.json``."""
    x = torch.rand(1, channels, *TRACE_SIZE)
    with _tracing("TorchScript"):
        traced = torch.jit.trace(module, x, check_trace=False)
    torch.jit.save(traced, str(dest), _extra_files={f"{METADATA_KEY}.json": meta})
    loaded = torch.jit.load(str(dest))

    def run(check: torch.Tensor) -> np.ndarray:
        with torch.inference_mode():
            return loaded(check).float().numpy()

    _check_parity("TorchScript", run, module, channels)


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
