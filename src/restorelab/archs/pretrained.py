"""Initialise a generator from weights on disk: ``generator.pretrained=PATH``.

Accepted files, all read without unpickling code:

* a restorelab / Lightning checkpoint (``.ckpt``): the ``generator_ema.*`` weights when the run
  kept an EMA copy (GAN fine-tuning starts from the smoothed stage-1 weights, as ESRGAN and
  Real-ESRGAN do), else ``generator.*``;
* a BasicSR / Real-ESRGAN / SwinIR release (``.pth``): ``params_ema`` before ``params``;
* a bare state dict (EDSR releases), optionally with DataParallel's ``module.`` prefix;
* a ``.safetensors`` file (what ``restorelab-export --format safetensors`` writes);
* EDSR-PyTorch's and the original ESRGAN repository's files, renamed by
  :mod:`restorelab.archs.layouts`.

A file whose weights do not fit the architecture is refused with the mismatched keys listed,
never loaded partially.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf
from torch import Tensor, nn

from restorelab.archs.layouts import to_our_layout
from restorelab.errors import ConfigError, DataError

#: The config key holding the path; popped before the architecture is instantiated.
PRETRAINED_KEY = "pretrained"
#: How many keys of each kind a mismatch error names before summarising the rest.
MAX_KEYS_SHOWN = 8


def _strip(state: Mapping[str, Any], prefix: str) -> dict[str, Tensor]:
    """The entries under ``prefix``, with the prefix removed."""
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


def _select(raw: Mapping[str, Any], path: Path, prefer_ema: bool) -> dict[str, Tensor]:
    """Pick the generator's weights out of any of the accepted checkpoint layouts."""
    if isinstance(raw.get("state_dict"), Mapping):  # Lightning / restorelab checkpoint
        state = raw["state_dict"]
        ema = _strip(state, "generator_ema.")
        if ema and prefer_ema:
            return ema
        weights = _strip(state, "generator.")
        if not weights:
            raise DataError(f"{path}: checkpoint holds no 'generator.*' weights")
        return weights
    for key in ("params_ema", "params") if prefer_ema else ("params", "params_ema"):
        if isinstance(raw.get(key), Mapping):  # BasicSR-style release
            return dict(raw[key])
    if raw and all(isinstance(v, Tensor) for v in raw.values()):  # bare state dict
        state = dict(raw)
        if all(k.startswith("module.") for k in state):
            state = _strip(state, "module.")
        if any(k.startswith("generator.") for k in state):
            state = _strip(state, "generator.")
        return state
    raise DataError(
        f"{path}: no generator weights found (expected a restorelab checkpoint, "
        "a state dict, or a dict with 'params'/'params_ema')"
    )


def read_generator_state(path: str | Path, prefer_ema: bool = True) -> dict[str, Tensor]:
    """Read the generator weights stored in ``path`` (any accepted layout) on the CPU."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"generator.pretrained: file not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return _select(load_file(str(path), device="cpu"), path, prefer_ema)
        except SafetensorError as e:
            raise DataError(f"corrupt safetensors file {path}: {e}") from e
    from restorelab.weights import load_checkpoint

    return _select(load_checkpoint(path), path, prefer_ema)


def _listed(keys: list[str]) -> str:
    """``a, b, c`` with at most ``MAX_KEYS_SHOWN`` keys, then a count of the rest."""
    shown = ", ".join(keys[:MAX_KEYS_SHOWN])
    rest = len(keys) - MAX_KEYS_SHOWN
    return f"{shown} (+{rest} more)" if rest > 0 else shown


def mismatch(model: nn.Module, state: Mapping[str, Tensor]) -> str:
    """Describe how ``state`` fails to fit ``model`` (empty when it fits exactly)."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(
        f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
        for k in set(own) & set(state)
        if tuple(state[k].shape) != tuple(own[k].shape)
    )
    parts = []
    if missing:
        parts.append(f"missing keys [{_listed(missing)}]")
    if unexpected:
        parts.append(f"unexpected keys [{_listed(unexpected)}]")
    if shapes:
        parts.append(f"shape mismatches (file vs model) [{_listed(shapes)}]")
    return "; ".join(parts)


def load_pretrained(generator: nn.Module, path: str | Path, prefer_ema: bool = True) -> None:
    """Load the weights in ``path`` into ``generator``, all or nothing.

    Raises:
        DataError: the file is missing, unreadable, or holds no generator weights.
        ConfigError: the weights do not fit the architecture; the message lists the keys.
    """
    state = read_generator_state(path, prefer_ema)
    problems = mismatch(generator, state)
    if problems:
        renamed, layout = to_our_layout(state)
        if layout is not None and not mismatch(generator, renamed):
            state, problems = renamed, ""
    if problems:
        raise ConfigError(
            f"generator.pretrained={path} does not fit {type(generator).__name__}: {problems}"
        )
    generator.load_state_dict(state, strict=True)


def architecture_config(node: DictConfig | Mapping[str, Any]) -> dict[str, Any]:
    """The generator config without ``pretrained``: what checkpoints store to rebuild it."""
    raw = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node
    return {str(k): v for k, v in dict(raw).items() if k != PRETRAINED_KEY}  # type: ignore[arg-type]


def build_generator(node: DictConfig | Mapping[str, Any]) -> nn.Module:
    """Instantiate a ``generator`` config and load ``generator.pretrained`` when it is set."""
    path = node.get(PRETRAINED_KEY)
    generator: nn.Module = hydra.utils.instantiate(architecture_config(node))
    if path:
        load_pretrained(generator, str(path))
    return generator


__all__ = [
    "architecture_config",
    "build_generator",
    "load_pretrained",
    "mismatch",
    "read_generator_state",
]
