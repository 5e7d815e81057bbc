"""Constructor checks shared by the architectures: one clear line naming the config key.

Architectures are built from ``generator.*`` config values, so a value that cannot work is
reported with the key it came from (``generator.scale``, ``generator.embed_dim``...). The error
is both a :class:`~restorelab.errors.ConfigError` (the entry points print it as one line, even
through Hydra's ``InstantiationException``) and a ``ValueError`` (what plain-PyTorch callers
expect from a bad constructor argument).
"""

from __future__ import annotations

from collections.abc import Iterable

from restorelab.errors import ConfigError


class ArchConfigError(ConfigError, ValueError):
    """An architecture hyperparameter that cannot work; the message names the key."""


def check_scale(name: str, scale: int, supported: Iterable[int]) -> int:
    """Return ``scale`` when ``name`` supports it, else raise naming ``generator.scale``."""
    allowed = tuple(supported)
    if scale not in allowed:
        listed = ", ".join(map(str, allowed))
        raise ArchConfigError(
            f"{name}: scale {scale} not supported (generator.scale; supported: {listed})"
        )
    return int(scale)


def check_choice(name: str, key: str, value: object, choices: Iterable[object]) -> None:
    """Raise naming ``generator.<key>`` when ``value`` is not one of ``choices``."""
    allowed = tuple(choices)
    if value not in allowed:
        raise ArchConfigError(
            f"{name}: generator.{key}={value!r} is not one of {', '.join(map(repr, allowed))}"
        )


def check_positive(name: str, **values: int | float) -> None:
    """Raise naming ``generator.<key>`` for the first value that is not > 0."""
    for key, value in values.items():
        if not value > 0:
            raise ArchConfigError(f"{name}: generator.{key}={value} must be > 0")
