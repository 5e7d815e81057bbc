"""Released weights: their authors' key names, and the settings their files cannot record.

Used by :mod:`restorelab.weights` (the one module that reads weight files); kept apart so
that module stays short.

Our modules use BasicSR's names (what Real-ESRGAN, SwinIR and BasicSR's converted model-zoo
files use). Two widely shared releases predate those names: EDSR-PyTorch's ``edsr_*.pt``
(``head``/``body``/``tail`` plus the ``sub_mean``/``add_mean`` colour shift, which our EDSR
computes from ``rgb_mean`` instead) and the original ESRGAN repository's ``RRDB_ESRGAN_x4.pth``
(``RRDB_trunk``, ``trunk_conv``, ``upconv1``, ``HRconv``). A state dict in one of those
layouts is renamed here before loading; anything else is returned unchanged.

A state dict records shapes, not every setting: SRVGGNetCompact's upsampled skip, EDSR's and
SwinIR's input range and mean shift change the output and no weight. A file without a stored
config whose weights fit one of those networks is taken to be its release, and the settings
that release was trained with are returned by :func:`implied_settings`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from torch import Tensor, nn

Rules = list[tuple[str, str]]

#: EDSR-PyTorch (Lim et al. 2017, github.com/sanghyun-son/EDSR-PyTorch) -> our EDSR.
EDSR_PYTORCH_RULES: Rules = [
    (r"^head\.0\.", "conv_first."),
    (r"^body\.(\d+)\.body\.0\.", r"body.\1.conv1."),
    (r"^body\.(\d+)\.body\.2\.", r"body.\1.conv2."),
    (r"^body\.\d+\.(weight|bias)$", r"conv_after_body.\1"),
    (r"^tail\.0\.", "upsample."),
    (r"^tail\.1\.", "conv_last."),
]
#: The colour shift EDSR-PyTorch stores as frozen 1x1 convolutions; ours is not a parameter.
EDSR_PYTORCH_DROPPED = ("sub_mean.", "add_mean.")

#: The original ESRGAN repository (Wang et al. 2018, "new arch" files) -> our RRDBNet.
ESRGAN_ORIGINAL_RULES: Rules = [
    (r"^RRDB_trunk\.(\d+)\.RDB(\d)\.", r"body.\1.rdb\2."),
    (r"^trunk_conv\.", "conv_body."),
    (r"^upconv1\.", "conv_up1."),
    (r"^upconv2\.", "conv_up2."),
    (r"^HRconv\.", "conv_hr."),
]


def _rename(
    state: Mapping[str, Tensor], rules: Rules, drop: tuple[str, ...] = ()
) -> dict[str, Tensor]:
    """Apply the first matching rule to each key; drop keys with a ``drop`` prefix."""
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        if key.startswith(drop):
            continue
        for pattern, repl in rules:
            new, n = re.subn(pattern, repl, key)
            if n:
                key = new
                break
        out[key] = value
    return out


def _is_edsr_pytorch(state: Mapping[str, Tensor]) -> bool:
    return "head.0.weight" in state and any(k.startswith("tail.1.") for k in state)


def _is_esrgan_original(state: Mapping[str, Tensor]) -> bool:
    return any(k.startswith("RRDB_trunk.") for k in state)


def _from_edsr_pytorch(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    return _rename(state, EDSR_PYTORCH_RULES, EDSR_PYTORCH_DROPPED)


def _from_esrgan_original(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    return _rename(state, ESRGAN_ORIGINAL_RULES)


Detector = Callable[[Mapping[str, Tensor]], bool]
Converter = Callable[[Mapping[str, Tensor]], dict[str, Tensor]]

#: (layout name, detector, converter) for every foreign layout we understand.
LAYOUTS: list[tuple[str, Detector, Converter]] = [
    ("EDSR-PyTorch", _is_edsr_pytorch, _from_edsr_pytorch),
    ("ESRGAN (original repository)", _is_esrgan_original, _from_esrgan_original),
]


def to_our_layout(state: Mapping[str, Tensor]) -> tuple[dict[str, Tensor], str | None]:
    """Rename a foreign release's keys to ours; also return the layout's name (None if ours)."""
    for name, detect, convert in LAYOUTS:
        if detect(state):
            return convert(state), name
    return dict(state), None


# ------------------------------------------------ settings the weights cannot record
#: The DIV2K RGB mean that BasicSR's EDSR, EDSR-PyTorch and SwinIR's releases subtract.
DIV2K_RGB_MEAN = [0.4488, 0.4371, 0.4040]
#: EDSR residual scaling by (width, blocks): the baseline has none, the full model 0.1
#: (Lim et al. 2017, section 3.2; BasicSR's EDSR_M/L and EDSR-PyTorch's edsr_baseline/edsr).
EDSR_RES_SCALE = {(64, 16): 1.0, (256, 32): 0.1}

Settings = dict[str, Any]
#: Two numeric settings are the same within this (float32 buffers against typed values).
SETTING_TOLERANCE = 1e-6
#: Decimals a numeric setting is printed with in an error's "set ..." advice.
SETTING_DIGITS = 6


def _mean(net: nn.Module) -> list[float]:
    return [float(v) for v in net.get_buffer("mean").flatten().tolist()]


def _res_scale(net: nn.Module) -> float | None:
    """The residual scaling of the network's blocks (all blocks share it)."""
    for module in net.modules():
        value: Any = getattr(module, "res_scale", None)
        if value is not None:
            return float(value)
    return None


def _activation(net: nn.Module) -> str:
    kinds = {nn.PReLU: "prelu", nn.LeakyReLU: "leakyrelu", nn.ReLU: "relu"}
    return next(kinds[type(m)] for m in net.modules() if type(m) in kinds)


#: Per architecture: the settings that change its output without changing a key or a shape
#: of its state dict, each read from a built network. Weights that fit a network may still
#: have been trained with other values of these.
SETTINGS_NOT_IN_WEIGHTS: dict[str, dict[str, Callable[[nn.Module], Any]]] = {
    "SRVGGNetCompact": {
        "upsample_skip": lambda net: net.upsample_skip,
        "act_type": _activation,  # relu vs leakyrelu: neither has weights
    },
    "EDSR": {"img_range": lambda net: net.img_range, "rgb_mean": _mean, "res_scale": _res_scale},
    "RCAN": {"img_range": lambda net: net.img_range, "rgb_mean": _mean, "res_scale": _res_scale},
    "SwinIR": {"img_range": lambda net: net.img_range, "rgb_mean": _mean},
}


def network_settings(net: nn.Module) -> Settings:
    """The values of ``net``'s settings that its state dict does not record."""
    readers = SETTINGS_NOT_IN_WEIGHTS.get(type(net).__name__, {})
    return {name: read(net) for name, read in readers.items()}


def _compact_release(state: Mapping[str, Tensor]) -> tuple[str, Settings]:
    return "Real-ESRGAN SRVGGNetCompact (realesr-general-x4v3 / realesr-animevideov3)", {
        "upsample_skip": "nearest"  # Real-ESRGAN adds the nearest-upsampled input
    }


def _edsr_release(state: Mapping[str, Tensor]) -> tuple[str, Settings]:
    settings: Settings = {"img_range": 255.0, "rgb_mean": DIV2K_RGB_MEAN}
    width = int(state["conv_first.weight"].shape[0])
    blocks = len({k.split(".")[1] for k in state if re.match(r"body\.\d+\.conv1\.", k)})
    if (width, blocks) in EDSR_RES_SCALE:
        settings["res_scale"] = EDSR_RES_SCALE[(width, blocks)]
    return "EDSR (BasicSR / EDSR-PyTorch release)", settings


def _swinir_release(state: Mapping[str, Tensor]) -> tuple[str, Settings]:
    settings: Settings = {"img_range": 1.0}
    if int(state["conv_first.weight"].shape[1]) == 3:  # the grayscale releases shift by 0
        settings["rgb_mean"] = DIV2K_RGB_MEAN
    return "SwinIR (official release)", settings


#: Per architecture: the release a file without a stored config is taken to be (its keys and
#: shapes fit the network), and the settings that release was trained with.
RELEASES: dict[str, Callable[[Mapping[str, Tensor]], tuple[str, Settings]]] = {
    "SRVGGNetCompact": _compact_release,
    "EDSR": _edsr_release,
    "SwinIR": _swinir_release,
}


def implied_settings(arch: str, state: Mapping[str, Tensor]) -> tuple[str, Settings] | None:
    """The release name and settings of a config-less file whose weights fit an ``arch``."""
    release = RELEASES.get(arch)
    return None if release is None else release(state)


def _same_setting(a: Any, b: Any) -> bool:
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same_setting(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(a, b, rel_tol=SETTING_TOLERANCE, abs_tol=SETTING_TOLERANCE)
    return bool(a == b)


def _override(value: Any) -> str:
    """A setting as a Hydra override value: ``nearest``, ``255.0``, ``[0.4488,0.4371,0.404]``."""
    if isinstance(value, list | tuple):
        return "[" + ",".join(_override(v) for v in value) + "]"
    if isinstance(value, float):
        return repr(round(value, SETTING_DIGITS))  # float32 buffers print as what was typed
    return str(value)


def settings_conflict(
    generator: nn.Module, state: Mapping[str, Tensor], trained: nn.Module | None, path: Any
) -> str | None:
    """The one-line error for weights made for other settings than ``generator``'s, or None.

    Args:
        generator: the network the weights (``state``, already fitted to it) go into.
        trained: the network built from the config stored in the file; None for a file that
            stores none, which is then taken to be the release its keys fit.
        path: the file, for the message.
    """
    have = network_settings(generator)
    if trained is None:
        found = implied_settings(type(generator).__name__, state)
        if found is None:
            return None
        release, want = found
    elif type(trained) is type(generator):
        want = network_settings(trained)
    else:
        return None
    wrong = [k for k, v in want.items() if k in have and not _same_setting(have[k], v)]
    if not wrong:
        return None
    fix = ", ".join(f"generator.{k}={_override(want[k])}" for k in wrong)
    now = ", ".join(f"generator.{k}={_override(have[k])}" for k in wrong)
    if trained is None:
        return (
            f"generator.pretrained={path} holds {release} weights, made for {fix}, which the "
            f"file cannot record (this config has {now}): set {fix}"
        )
    return (
        f"generator.pretrained={path} was trained with {fix}, this config has {now} (the "
        f"weights fit either, the outputs differ): set {fix}"
    )
