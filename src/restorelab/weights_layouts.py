"""Key renaming for released weights saved under their authors' original module names.

Used by :mod:`restorelab.weights` (the one module that reads weight files); kept apart so
that module stays short.

Our modules use BasicSR's names (what Real-ESRGAN, SwinIR and BasicSR's converted model-zoo
files use). Two widely shared releases predate those names: EDSR-PyTorch's ``edsr_*.pt``
(``head``/``body``/``tail`` plus the ``sub_mean``/``add_mean`` colour shift, which our EDSR
computes from ``rgb_mean`` instead) and the original ESRGAN repository's ``RRDB_ESRGAN_x4.pth``
(``RRDB_trunk``, ``trunk_conv``, ``upconv1``, ``HRconv``). A state dict in one of those
layouts is renamed here before loading; anything else is returned unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from torch import Tensor

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
