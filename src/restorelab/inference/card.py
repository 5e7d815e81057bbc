"""A model's card: what it does, how it was made and how well it scores, in a few lines.

Model hubs show a card next to every model; the demo page does too. The card is built from
what is known without reading the weights file again:

* the loaded :class:`~restorelab.inference.models.Model`: its generator config (architecture
  and options), scale, whether it has refinement stages, the file it came from;
* for a ``.ckpt`` inside a run directory (``RUN/checkpoints/*.ckpt``): the run's Hydra choices
  (``.hydra/hydra.yaml``: degradation, data, experiment), its data config
  (``.hydra/config.yaml``), the training command (``run_info.json``) and the final validation
  scores (``metrics.json``);
* for a bundled model, the manifest's ``card`` entry (:mod:`restorelab.inference.bundled`),
  whose ``task``, ``trained_on``, ``command`` and ``scores`` win over what was found.

A run file that cannot be read leaves its fields empty and adds a note; the card is information,
never a reason to refuse a model.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from restorelab.inference.models import Model

#: Files of a run directory the card reads (written by restorelab-train; see docs/architecture.md).
RUN_INFO = "run_info.json"
RUN_METRICS = "metrics.json"
HYDRA_CHOICES = ".hydra/hydra.yaml"
RUN_CONFIG = ".hydra/config.yaml"
#: Keys of a data config that say what the model was trained on, most specific first.
DATA_KEYS = ("train_dir", "train_names", "name")


@dataclass(frozen=True)
class ModelCard:
    """What the demo page (and anything else) shows about a model.

    Attributes:
        name: the name the model is offered under.
        source: the file it was loaded from.
        architecture: the generator's class (from its config's ``_target_``), or ``unknown``.
        scale: output size / input size.
        stages: whether the generator yields refinement stages.
        generator: the generator config, without ``_target_``.
        task: what it restores, e.g. ``degradation=bicubic_x4, experiment=sr_x4_default``.
        trained_on: its training data, e.g. ``data=folder, train_dir=/data/DIV2K``.
        command: the training command line.
        scores: measured scores by name (``val/psnr_y`` ...), plus ``step`` when recorded.
        notes: run files that were there but could not be read.
    """

    name: str
    source: str
    architecture: str
    scale: int
    stages: bool = False
    generator: dict[str, Any] = field(default_factory=dict)
    task: str | None = None
    trained_on: str | None = None
    command: str | None = None
    scores: dict[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


def run_dir_of(path: Path) -> Path | None:
    """The run directory of a checkpoint at ``RUN/checkpoints/NAME.ckpt``, or None."""
    path = Path(path)
    if path.suffix != ".ckpt" or path.parent.name != "checkpoints":
        return None
    run = path.parent.parent
    markers = (RUN_INFO, RUN_METRICS, HYDRA_CHOICES)
    return run if any((run / m).is_file() for m in markers) else None


def _read(path: Path, notes: list[str]) -> Any:
    """JSON or YAML content of ``path``; None (and a note) when it cannot be read."""
    if not path.is_file():
        return None
    try:
        text = path.read_text()
        return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as e:
        notes.append(f"{path.name}: unreadable ({str(e).splitlines()[0]})")
        return None


def _run_fields(run: Path, notes: list[str]) -> dict[str, Any]:
    """task, trained_on, command and scores of a run directory (those it records)."""
    found: dict[str, Any] = {}
    hydra_cfg = _read(run / HYDRA_CHOICES, notes)
    choices = ((hydra_cfg or {}).get("hydra") or {}).get("runtime", {}).get("choices") or {}
    task = [f"{k}={choices[k]}" for k in ("degradation", "experiment") if choices.get(k)]
    if task:
        found["task"] = ", ".join(task)
    data = (_read(run / RUN_CONFIG, notes) or {}).get("data") or {}
    trained = [f"data={choices['data']}"] if choices.get("data") else []
    key = next((k for k in DATA_KEYS if data.get(k)), None)
    if key is not None:
        value = data[key]
        shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        trained.append(f"{key}={shown}")
    if trained:
        found["trained_on"] = ", ".join(trained)
    info = _read(run / RUN_INFO, notes) or {}
    if isinstance(info.get("command"), list):
        found["command"] = shlex.join(str(a) for a in info["command"])
    metrics = _read(run / RUN_METRICS, notes) or {}
    scores = {k: float(v) for k, v in metrics.items() if isinstance(v, int | float)}
    if scores:
        found["scores"] = scores
    return found


def model_card(model: Model, name: str, known: Mapping[str, Any] | None = None) -> ModelCard:
    """The card of a loaded ``model`` offered as ``name``; ``known`` (a bundled model's
    manifest ``card``) fills or overrides ``task``, ``trained_on``, ``command``, ``scores``."""
    config = dict(model.config)
    target = str(config.pop("_target_", "")) or "unknown"
    notes: list[str] = []
    run = run_dir_of(Path(model.source))
    found = _run_fields(run, notes) if run is not None else {}
    for key in ("task", "trained_on", "command"):
        if (known or {}).get(key):
            found[key] = str(known[key])  # type: ignore[index]
    if (known or {}).get("scores"):
        found["scores"] = {k: float(v) for k, v in known["scores"].items()}  # type: ignore[index]
    return ModelCard(
        name=name,
        source=model.source,
        architecture=target.rsplit(".", 1)[-1],
        scale=model.scale,
        stages=model.has_stages,
        generator=config,
        notes=tuple(notes),
        **found,
    )


def _cell(text: str) -> str:
    """``text`` safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def card_markdown(card: ModelCard) -> str:
    """The card as a Markdown table (what the demo page shows)."""
    options = ", ".join(f"{k}={v}" for k, v in card.generator.items())
    rows = [
        ("task", card.task or f"x{card.scale} restoration"),
        ("scale", f"x{card.scale}"),
        ("architecture", f"{card.architecture} ({options})" if options else card.architecture),
        ("refinement stages", "yes" if card.stages else "no"),
        ("trained on", card.trained_on or "not recorded"),
        ("training command", f"`{card.command}`" if card.command else "not recorded"),
        (
            "scores",
            ", ".join(f"{k} {v:.4g}" for k, v in card.scores.items()) or "not recorded",
        ),
        ("file", card.source),
        *(("note", n) for n in card.notes),
    ]
    body = "\n".join(f"| {k} | {_cell(v)} |" for k, v in rows)
    return f"| model | {_cell(card.name)} |\n|---|---|\n{body}\n"
