"""The parameters a pipeline drew, per sample: collected, summarized for logging, described.

Stages :func:`~restorelab.degradations.context.record` what they draw (kernel kind and size,
sigma, resize scale and mode, noise kind and level, JPEG quality, ...). A call of
:class:`~restorelab.degradations.Degradation` gathers those records into one mapping of
``"<stage>/<parameter>"`` to a value per sample (:func:`per_sample`, :func:`concatenate`):
a float tensor :math:`(B,)` (``nan`` where a sample has no such value) or a list of ``B`` names.
:func:`summarize` turns it into the few numbers worth logging; :func:`describe` into one line
per sample for ``restorelab-data preview``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import Tensor

from restorelab.degradations.context import Recorded

__all__ = ["Params", "concatenate", "describe", "per_sample", "summarize"]

#: ``"<stage>/<parameter>"`` -> a float tensor (B,) or B names.
Params = dict[str, Tensor | list[str]]
#: The per-sample flag a stage records when some samples skip it.
APPLIED = "applied"


def per_sample(record: Mapping[str, Recorded], batch: int) -> Params:
    """One call's record with every value spread to the ``batch`` samples (detached floats)."""
    out: Params = {}
    for key, value in record.items():
        if isinstance(value, Tensor):
            out[key] = value.detach().to(torch.float32).reshape(-1).expand(batch).clone()
        elif isinstance(value, str):
            out[key] = [value] * batch
        elif isinstance(value, list):
            out[key] = [str(v) for v in value]
        else:
            out[key] = torch.full((batch,), float(value))
    return out


def concatenate(parts: Sequence[Params], sizes: Sequence[int]) -> Params:
    """Per-image records (validation seeds) joined into one; keys missing in a part are blank."""
    keys: list[str] = []
    for part in parts:
        keys.extend(k for k in part if k not in keys)
    out: Params = {}
    for key in keys:
        names = any(isinstance(part.get(key), list) for part in parts)
        if names:
            out[key] = [
                name
                for part, size in zip(parts, sizes, strict=True)
                for name in _names(part.get(key), size)
            ]
        else:
            out[key] = torch.cat(
                [_floats(part.get(key), size) for part, size in zip(parts, sizes, strict=True)]
            )
    return out


def _names(value: Tensor | list[str] | None, size: int) -> list[str]:
    return value if isinstance(value, list) else [""] * size


def _floats(value: Tensor | list[str] | None, size: int) -> Tensor:
    return value.cpu() if isinstance(value, Tensor) else torch.full((size,), float("nan"))


def _applied(params: Params, key: str) -> Tensor | None:
    """The ``applied`` mask of the stage ``key`` belongs to, if it records one."""
    stage = key.rsplit("/", 1)[0]
    mask = params.get(f"{stage}/{APPLIED}")
    return mask.cpu() > 0.5 if isinstance(mask, Tensor) else None


def summarize(params: Params) -> dict[str, float]:
    """The numbers worth logging: means over the samples a stage applied to, and fractions.

    ``<stage>/applied`` becomes the fraction of samples degraded; a number its mean over those
    samples (``nan`` values, such as a Gaussian-noise sigma of a Poisson sample, left out); a
    name one fraction per value, ``<stage>/<parameter>/<name>``. Keys of nothing measurable (a
    stage applied to no sample) are left out.
    """
    out: dict[str, float] = {}
    for key, value in params.items():
        mask = _applied(params, key)
        if key.endswith(f"/{APPLIED}") and isinstance(value, Tensor):
            out[key] = float(value.float().mean())
            continue
        if isinstance(value, list):
            names = (
                value
                if mask is None
                else [n for n, m in zip(value, mask.tolist(), strict=True) if m]
            )
            for name in sorted(set(names)):
                out[f"{key}/{name}"] = names.count(name) / len(names)
            continue
        v = value.cpu()
        if mask is not None:
            v = v[mask]
        v = v[~torch.isnan(v)]
        if v.numel():
            out[key] = float(v.mean())
    return out


def describe(params: Params, index: int) -> str:
    """Sample ``index``'s parameters on one line: ``stage: key=value ...; stage: off; ...``."""
    stages: dict[str, list[str]] = {}
    for key, value in sorted(params.items(), key=_describe_order(params)):
        stage, name = key.rsplit("/", 1) if "/" in key else ("", key)
        parts = stages.setdefault(stage, [])
        if name == APPLIED:
            if isinstance(value, Tensor) and float(value[index]) < 0.5:
                parts.insert(0, "off")
            continue
        shown = _format(value[index])
        if shown:
            parts.append(f"{name}={shown}")
    lines = []
    for stage, parts in stages.items():
        if parts and parts[0] == "off":
            parts = ["off"]
        lines.append(f"{stage}: {' '.join(parts)}" if stage else " ".join(parts))
    return "; ".join(lines)


def _describe_order(params: Params) -> Callable[[tuple[str, object]], tuple[int, int, str]]:
    """Sort key: pipeline stages in their order; inside one (``RandomOrder``'s groups, whose
    order varies per sample and is shown by its ``order`` value), its own values first, then the
    nested stages by name, so a sample's line does not depend on the batch it was in."""
    tops: list[str] = []
    for key in params:
        top = key.split("/", 1)[0]
        if top not in tops:
            tops.append(top)

    def order(item: tuple[str, object]) -> tuple[int, int, str]:
        top, _, rest = item[0].partition("/")
        return tops.index(top), rest.count("/"), rest.rsplit("/", 1)[0] if "/" in rest else ""

    return order


def _format(value: Tensor | str) -> str:
    if isinstance(value, str):
        return value
    number = float(value)
    if math.isnan(number):
        return ""
    if number == int(number) and abs(number) < 1e6:
        return str(int(number))
    return f"{number:.3g}"
