"""Models that ship with restorelab, found by name; and which model a command uses by default.

A bundled model is a weights file (``.safetensors`` or ``.onnx``, loadable by
:func:`~restorelab.inference.models.load_model`) in :data:`BUNDLED_DIR`, listed in its manifest
``models.json``::

    {
      "default": "NAME",
      "models": {
        "NAME": {"file": "NAME.safetensors",
                 "card": {"task": "...", "trained_on": "...", "scores": {"Set5/psnr_y": 0.0}}}
      }
    }

``card`` holds what the weights file cannot say about itself (see
:class:`~restorelab.inference.card.ModelCard`): task, training data and command, measured
scores, and a ``selfcheck`` (a PSNR on a scikit-image photograph the tests recompute, so a
changed file or loader cannot pass silently). Without a manifest (a folder of one's own)
:func:`bundled_models` is empty and :func:`default_model` asks for ``--ckpt`` or ``--model``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from restorelab.errors import ConfigError

#: Where bundled weights and their manifest live: ``restorelab/models/`` inside the package.
BUNDLED_DIR = Path(__file__).resolve().parents[1] / "models"
MANIFEST = "models.json"
#: File suffixes that name a weights file rather than a bundled model.
MODEL_SUFFIXES = (".ckpt", ".safetensors", ".onnx")
#: What to tell a user who has no bundled model to fall back on.
PASS_A_MODEL = "pass --ckpt RUN/checkpoints/best.ckpt or --model FILE.onnx|FILE.safetensors"


@dataclass(frozen=True)
class ModelSource:
    """A model file to load, the name to show it under, and what its manifest says of it."""

    name: str
    path: Path
    card: dict[str, Any] = field(default_factory=dict)


def _manifest(folder: Path) -> dict[str, Any]:
    """The parsed manifest of ``folder`` ({} when there is none)."""
    path = folder / MANIFEST
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path}: unreadable bundled-model manifest: {e}") from e
    if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
        raise ConfigError(f"{path}: a bundled-model manifest needs a 'models' mapping")
    return data


def bundled_models(folder: Path | None = None) -> dict[str, ModelSource]:
    """The bundled models by name, as listed in the manifest of ``folder`` (default
    :data:`BUNDLED_DIR`).

    Raises:
        ConfigError: a malformed manifest, or an entry without a ``file``, naming the manifest.
    """
    folder = BUNDLED_DIR if folder is None else folder
    found: dict[str, ModelSource] = {}
    for name, entry in _manifest(folder).get("models", {}).items():
        if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
            raise ConfigError(f"{folder / MANIFEST}: model {name!r} names no 'file'")
        card = entry.get("card") or {}
        found[name] = ModelSource(name, folder / entry["file"], dict(card))
    return found


def default_model(folder: Path | None = None) -> ModelSource:
    """The bundled model a command uses when given none.

    Raises:
        ConfigError: no bundled model is installed (the message says to pass ``--ckpt`` or
            ``--model``), or the manifest's ``default`` is not one of its models.
    """
    folder = BUNDLED_DIR if folder is None else folder
    models = bundled_models(folder)
    if not models:
        raise ConfigError(f"no bundled model is installed; {PASS_A_MODEL}")
    name = _manifest(folder).get("default")
    if name not in models:
        raise ConfigError(
            f"{folder / MANIFEST}: default {name!r} is not one of its models "
            f"({', '.join(sorted(models))})"
        )
    return models[name]


def default_model_name(folder: Path | None = None) -> str | None:
    """The manifest's ``default`` entry (None without a manifest)."""
    name = _manifest(BUNDLED_DIR if folder is None else folder).get("default")
    return name if isinstance(name, str) else None


def resolve_model(spec: str, folder: Path | None = None) -> ModelSource:
    """``--model NAME|FILE``: an existing file, a path with a model suffix, or a bundled name.

    A path with a model suffix is returned even when missing, so loading it names the file.

    Raises:
        ConfigError: ``spec`` is neither a file nor a bundled model's name.
    """
    path = Path(spec).expanduser()
    if path.is_file() or path.suffix in MODEL_SUFFIXES:
        return ModelSource(path.name, path)
    models = bundled_models(folder)
    if spec in models:
        return models[spec]
    known = ", ".join(sorted(models)) or "none installed"
    raise ConfigError(
        f"--model {spec}: no such file, and no bundled model of that name (bundled: {known})"
    )
