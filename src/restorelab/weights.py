"""The one place that reads weight files: checkpoints, releases and exports, never code.

Accepted files, each read once and without unpickling code:

* a restorelab / Lightning checkpoint (``.ckpt``), read with ``torch.load(weights_only=True)``:
  the ``generator_ema.*`` weights when the run kept an EMA copy (GAN fine-tuning starts from the
  smoothed stage-1 weights, as ESRGAN and Real-ESRGAN do), else ``generator.*``; the generator
  is rebuilt from the config training stored next to them (``checkpoint["restorelab"]``);
* a BasicSR / Real-ESRGAN / SwinIR release (``.pth``): ``params_ema`` before ``params``;
* a bare state dict (EDSR releases), optionally with DataParallel's ``module.`` prefix;
* a ``.safetensors`` file (``restorelab-export --format safetensors``), its generator config a
  JSON string in the file's metadata;
* EDSR-PyTorch's and the original ESRGAN repository's files, renamed by
  :mod:`restorelab.weights_layouts`.

Every ``_target_`` of a stored config is checked against :data:`TRUSTED_TARGET_PREFIXES` before
``hydra.utils.instantiate`` sees it, so a file someone sent you cannot run code. Weights that do
not fit the architecture are refused with the mismatched keys listed, never loaded partially;
weights made for settings no key records (a nearest skip, an input range) name the value to set.
"""

from __future__ import annotations

import json
import pickle
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import DictConfig, OmegaConf
from torch import Tensor, nn

from restorelab.errors import ConfigError, DataError
from restorelab.weights_layouts import network_settings, settings_conflict, to_our_layout

#: Modules a stored config may name as ``_target_``: a file someone sent must not be able to
#: make ``hydra.utils.instantiate`` call ``os.system`` or any other function.
TRUSTED_TARGET_PREFIXES: tuple[str, ...] = ("restorelab.archs.",)
#: The metadata key (safetensors metadata, ONNX metadata_props, TorchScript extra file) that
#: holds the JSON ``{"generator": config, "scale": S, "version": V}``.
METADATA_KEY = "restorelab"
#: The generator config key holding the ``generator.pretrained`` path; never instantiated.
PRETRAINED_KEY = "pretrained"
#: How many keys of each kind a mismatch error names before summarising the rest.
MAX_KEYS_SHOWN = 8


def _plain(text: str) -> str:
    """Strip the ANSI colour codes torch puts in its unpickling errors."""
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def check_targets(config: Any, source: str | Path) -> Any:
    """Return ``config`` after checking every ``_target_`` in it is a restorelab architecture.

    Raises:
        DataError: naming ``source`` and the untrusted target.
    """
    if isinstance(config, dict):
        target = config.get("_target_")
        if target is not None and not (
            isinstance(target, str) and target.startswith(TRUSTED_TARGET_PREFIXES)
        ):
            raise DataError(
                f"refusing to load {source}: its generator config names _target_ {target!r}, "
                f"outside {', '.join(TRUSTED_TARGET_PREFIXES)} (only restorelab architectures "
                "are built from a stored config)"
            )
        for value in config.values():
            check_targets(value, source)
    elif isinstance(config, list):
        for value in config:
            check_targets(value, source)
    return config


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint as plain data (``weights_only=True``) on the CPU.

    Raises:
        DataError: naming the file when it is missing, truncated, or needs code to unpickle.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise DataError(
            f"refusing to load checkpoint {path}: it needs arbitrary code to unpickle "
            f"(only tensors and plain data are accepted): {_plain(str(e).splitlines()[0])}"
        ) from e
    except Exception as e:  # any other failure of the unpickler means a damaged file
        raise DataError(f"corrupt or truncated checkpoint {path}: {type(e).__name__}: {e}") from e
    if not isinstance(ckpt, dict):
        raise DataError(f"checkpoint {path} does not hold a dict of tensors")
    return ckpt


def _read_safetensors(path: Path) -> tuple[dict[str, Tensor], dict[str, str]]:
    """The tensors (CPU) and the string metadata of a ``.safetensors`` file, in one open."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = dict(f.metadata() or {})
            tensors = {key: f.get_tensor(key) for key in f.keys()}  # noqa: SIM118 (no __iter__)
    except (SafetensorError, OSError) as e:
        raise DataError(f"corrupt safetensors file {path}: {e}") from e
    return tensors, meta


def parse_metadata(raw: str | None, path: str | Path) -> dict[str, Any]:
    """The restorelab metadata JSON of an exported file, checked (``scale`` made an int)."""
    if not raw:
        raise DataError(
            f"{path} has no restorelab metadata (scale and generator config); "
            "export it with restorelab-export"
        )
    try:
        info = json.loads(raw)
        info["scale"] = int(info["scale"])
    except (ValueError, KeyError, TypeError) as e:
        raise DataError(f"{path}: unreadable restorelab metadata: {e}") from e
    return info


def metadata(config: Mapping[str, Any], scale: int) -> str:
    """The JSON stored in exported files: generator config, scale and restorelab version."""
    from restorelab import __version__

    return json.dumps({"generator": dict(config), "scale": int(scale), "version": __version__})


def _strip(state: Mapping[str, Any], prefix: str) -> dict[str, Tensor]:
    """The entries under ``prefix``, with the prefix removed."""
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


def _select(raw: Mapping[str, Any], path: str | Path, prefer_ema: bool) -> dict[str, Tensor]:
    """Pick the generator's weights out of any of the accepted, already-read file layouts."""
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


def read_generator_file(
    path: str | Path, prefer_ema: bool = True
) -> tuple[dict[str, Tensor], dict[str, Any] | None]:
    """Read the generator weights in ``path`` (any accepted layout) on the CPU, once.

    Returns:
        the weights, and the generator config stored with them (a restorelab checkpoint's or
        export's), or None for a file that stores none (a release).
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"generator.pretrained: file not found: {path}")
    stored: Any
    if path.suffix == ".safetensors":
        raw, strings = _read_safetensors(path)
        raw_meta = strings.get(METADATA_KEY)
        stored = parse_metadata(raw_meta, path).get("generator") if raw_meta else None
    else:
        raw = load_checkpoint(path)
        meta = raw.get("restorelab")
        stored = meta.get("generator") if isinstance(meta, dict) else None
    return _select(raw, path, prefer_ema), (dict(stored) if stored else None)


def read_generator_state(path: str | Path, prefer_ema: bool = True) -> dict[str, Tensor]:
    """Read the generator weights stored in ``path`` (any accepted layout) on the CPU."""
    return read_generator_file(path, prefer_ema)[0]


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


def fitted_state(
    generator: nn.Module, state: Mapping[str, Tensor], path: str | Path
) -> dict[str, Tensor]:
    """``state`` under the keys of ``generator`` (a foreign layout renamed), checked to fit.

    Raises:
        ConfigError: the weights do not fit the architecture; the message lists the keys.
    """
    problems = mismatch(generator, state)
    if problems:
        renamed, layout = to_our_layout(state)
        if layout is not None and not mismatch(generator, renamed):
            return renamed
        raise ConfigError(
            f"generator.pretrained={path} does not fit {type(generator).__name__}: {problems}"
        )
    return dict(state)


def load_state(generator: nn.Module, state: Mapping[str, Tensor], path: str | Path) -> None:
    """Load already-read weights into ``generator``, all or nothing (foreign layouts renamed).

    Raises:
        ConfigError: the weights do not fit the architecture; the message lists the keys.
    """
    generator.load_state_dict(fitted_state(generator, state, path), strict=True)


def check_settings(
    generator: nn.Module,
    state: Mapping[str, Tensor],
    stored: Mapping[str, Any] | None,
    path: str | Path,
) -> None:
    """Refuse weights made for other values of the settings a state dict does not record.

    ``stored`` is the generator config the file keeps (restorelab checkpoints and exports),
    built here to read its settings; a file without one is taken to be the release its keys
    fit (:func:`restorelab.weights_layouts.settings_conflict`).

    Raises:
        ConfigError: naming each setting and the value to set.
    """
    trained = None
    if stored is not None:
        if not network_settings(generator):
            return  # an architecture whose weights record all its settings
        with torch.random.fork_rng(devices=[]):  # building it must not move the training seed
            trained = hydra.utils.instantiate(architecture_config(check_targets(stored, path)))
    problem = settings_conflict(generator, state, trained, path)
    if problem:
        raise ConfigError(problem)


def load_pretrained(generator: nn.Module, path: str | Path, prefer_ema: bool = True) -> None:
    """Load the weights in ``path`` into ``generator``, all or nothing.

    Weights that fit but were made for other values of settings the state dict does not
    record (e.g. a Real-ESRGAN compact release, whose skip is nearest upsampling, in a
    ``generator.upsample_skip=bilinear`` network) are refused: see :func:`check_settings`.

    Raises:
        DataError: the file is missing, unreadable, or holds no generator weights.
        ConfigError: the weights do not fit the architecture (the message lists the keys), or
            were made for other settings (the message names them and the values to set).
    """
    state, stored = read_generator_file(path, prefer_ema)
    state = fitted_state(generator, state, path)
    check_settings(generator, state, stored, path)
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


def generator_from_file(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the generator stored in a ``.ckpt`` or ``.safetensors`` file, reading it once.

    The stored config's ``_target_``s are checked, the architecture instantiated, and the
    weights (EMA when the run kept them) picked from the contents already read and loaded all
    or nothing.

    Returns:
        the generator (eval mode, CPU) and the file's restorelab metadata: ``generator``
        (config) and, when stored, ``scale``.

    Raises:
        DataError: naming the file when it is missing, unreadable, not a restorelab file, names
            an untrusted ``_target_``, or holds weights that do not fit its config.
    """
    path = Path(path).expanduser()
    raw: Mapping[str, Any]
    meta: Any
    if path.suffix == ".safetensors":
        if not path.is_file():
            raise DataError(f"model file not found: {path}")
        raw, strings = _read_safetensors(path)
        meta = parse_metadata(strings.get(METADATA_KEY), path)
        config = check_targets(meta.get("generator") or {}, path)
        if not config:
            raise DataError(f"{path}: metadata holds no generator config")
        where = f"{path}"
    else:
        raw = load_checkpoint(path)
        meta = raw.get("restorelab")
        if not isinstance(meta, dict) or not meta.get("generator"):
            raise DataError(
                f"{path} is not a restorelab checkpoint (no stored generator config); "
                "train it with restorelab-train"
            )
        config = architecture_config(check_targets(meta["generator"], path))
        where = f"checkpoint {path}"
    generator: nn.Module = hydra.utils.instantiate(config)
    try:
        load_state(generator, _select(raw, path, prefer_ema=True), path)
    except ConfigError as e:
        raise DataError(f"{where}: weights do not fit the stored generator: {e}") from e
    return generator.eval(), meta


def generator_from_checkpoint(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the generator stored in a restorelab checkpoint: :func:`generator_from_file`."""
    return generator_from_file(path)


def torch_generator(path: str | Path) -> tuple[nn.Module, int, dict[str, Any]]:
    """Rebuild a PyTorch generator from a ``.ckpt`` or ``.safetensors`` file (one read).

    Returns:
        the generator (eval mode, CPU), its scale, and its config.

    Raises:
        DataError: as :func:`generator_from_file`, or when the file stores no scale.
    """
    module, meta = generator_from_file(path)
    scale = meta.get("scale", getattr(module, "scale", None))
    if scale is None:
        raise DataError(f"{path}: checkpoint stores no scale")
    return module, int(scale), dict(meta["generator"])


__all__ = [
    "METADATA_KEY",
    "TRUSTED_TARGET_PREFIXES",
    "architecture_config",
    "build_generator",
    "check_settings",
    "check_targets",
    "fitted_state",
    "generator_from_checkpoint",
    "generator_from_file",
    "load_checkpoint",
    "load_pretrained",
    "load_state",
    "metadata",
    "mismatch",
    "parse_metadata",
    "read_generator_file",
    "read_generator_state",
    "torch_generator",
]
