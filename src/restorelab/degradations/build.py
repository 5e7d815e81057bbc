"""Build stages from their configs, with errors that name the config key at fault.

Degradation configs set ``_recursive_: false``, so :class:`Degradation` (and :class:`RandomOrder`
for its groups) receive each stage's config and build it here. That is what lets a typo such as
``degradation.stages.blur2.sigmaa`` or a probability of 1.5 fail at start-up with one line naming
the stage and the key, instead of a Hydra traceback that names neither.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf
from torch import nn

from restorelab.degradations.base import DegradationError, Stage, prefixed

__all__ = ["build_stage"]


def build_stage(key: str, spec: Any) -> Stage | None:
    """Return the stage for ``spec``: a built :class:`Stage`, a config mapping, or ``None``.

    Args:
        key: the config key of the stage, e.g. ``degradation.stages.blur``, used in errors.
        spec: a :class:`Stage` (returned as is), ``None`` (the stage is switched off), or a
            mapping with ``_target_`` naming a :class:`Stage` subclass and its keyword arguments.

    Raises:
        DegradationError: unknown stage type, unknown or missing parameter, or a bad value; the
            message starts with ``key``.
    """
    if spec is None or isinstance(spec, Stage):
        return spec
    if isinstance(spec, nn.Module):
        raise DegradationError(
            f"{key}: must be a restorelab.degradations.Stage, got {type(spec).__name__}."
        )
    if not isinstance(spec, Mapping) or "_target_" not in spec:
        raise DegradationError(
            f"{key}: must be a stage config with a `_target_` (a restorelab.degradations "
            f"stage), got {spec!r}."
        )
    target = str(spec["_target_"])
    cls = _locate(target)
    if cls is None:
        raise DegradationError(f"{key}: unknown stage type `_target_: {target}`.")
    if not (isinstance(cls, type) and issubclass(cls, Stage)):
        raise DegradationError(
            f"{key}: `_target_: {target}` is not a restorelab.degradations.Stage."
        )
    params = inspect.signature(cls).parameters
    kwargs = {str(k): _plain(v) for k, v in spec.items() if not str(k).startswith("_")}
    unknown = [k for k in kwargs if k not in params]
    if unknown:
        known = ", ".join(p for p in params if p != "self")
        raise DegradationError(
            f"{key}.{unknown[0]}: {cls.__name__} has no parameter `{unknown[0]}` (known: {known})."
        )
    missing = [
        name
        for name, p in params.items()
        if p.default is inspect.Parameter.empty
        and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        and name not in kwargs
    ]
    if missing:
        raise DegradationError(f"{key}: {cls.__name__} needs parameter `{missing[0]}`.")
    try:
        return cls(**kwargs)
    except DegradationError as exc:
        raise prefixed(key, exc) from None


def _locate(target: str) -> Any:
    """The object named by a dotted path, or ``None`` when it cannot be imported."""
    module_name, _, attr = target.rpartition(".")
    if not module_name:
        return None
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    return getattr(module, attr, None)


def _plain(value: Any) -> Any:
    """Resolve a config value to plain Python (lists, dicts), leaving stage configs as dicts."""
    if isinstance(value, (DictConfig, ListConfig)):
        return OmegaConf.to_container(value, resolve=True)
    return value
