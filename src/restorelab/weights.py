"""Loading restorelab checkpoints safely: tensors and plain data only, never code.

Checkpoints are read with ``torch.load(..., weights_only=True)``; the generator is rebuilt
from the resolved generator config that training stored next to the weights
(``checkpoint["restorelab"]["generator"]``), so a checkpoint someone sent you cannot run code.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

import hydra
import torch
from torch import nn

from restorelab.errors import ConfigError, DataError


def _plain(text: str) -> str:
    """Strip the ANSI colour codes torch puts in its unpickling errors."""
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


#: Modules a stored config may name as ``_target_``: a file someone sent must not be able to
#: make ``hydra.utils.instantiate`` call ``os.system`` or any other function.
TRUSTED_TARGET_PREFIXES: tuple[str, ...] = ("restorelab.archs.",)


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


def generator_from_checkpoint(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the generator stored in a restorelab checkpoint and load its weights.

    The EMA weights (``generator_ema.*``) are used when the run kept an EMA copy.

    Returns:
        the generator (eval mode) and the checkpoint's ``restorelab`` metadata (scale, configs).
    """
    ckpt = load_checkpoint(path)
    meta = ckpt.get("restorelab")
    if not isinstance(meta, dict) or not meta.get("generator"):
        raise DataError(
            f"{path} is not a restorelab checkpoint (no stored generator config); "
            "train it with restorelab-train"
        )
    from restorelab.archs.pretrained import architecture_config, load_pretrained

    generator = hydra.utils.instantiate(architecture_config(check_targets(meta["generator"], path)))
    try:
        load_pretrained(generator, path)  # the EMA copy when the run kept one
    except ConfigError as e:
        raise DataError(f"checkpoint {path}: weights do not fit the stored generator: {e}") from e
    return generator.eval(), meta
