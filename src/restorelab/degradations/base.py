"""The :class:`Stage` interface and the small helpers every stage shares.

A stage is one degradation idea (blur, noise, resize, compression) as an ``nn.Module`` that takes
a batch and an explicit :class:`torch.Generator`. Drawing every random parameter from that
generator, never from the global RNG, is what lets :class:`~restorelab.degradations.Degradation`
make training draws reproducible from one seed and validation inputs fixed per image.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from restorelab.errors import ConfigError

__all__ = [
    "CHOOSE_PER",
    "DegradationError",
    "Stage",
    "apply_selected",
    "check_choices",
    "check_choose_per",
    "check_odd",
    "check_prob",
    "check_range",
    "check_weights",
    "clamped",
    "prefixed",
    "select_samples",
    "selected_mask",
    "uniform",
]


class DegradationError(ConfigError, ValueError):
    """A degradation argument that cannot work; names the argument and the value.

    A :class:`ValueError` for callers, and a :class:`~restorelab.errors.ConfigError` so that the
    entry points report a bad override such as ``degradation.stages.noise.sigma=[30,1]`` in one
    line instead of a traceback.
    """


class Stage(nn.Module, ABC):
    """One step of a degradation pipeline.

    Subclasses draw their random parameters per sample from the ``generator`` they are given, so
    the pipeline alone decides how randomness is seeded (training stream or per-image seeds).

    Attributes:
        scale: how much the stage shrinks height and width (1 for stages that keep the size).
    """

    scale: int = 1

    @abstractmethod
    def forward(self, x: Tensor, generator: torch.Generator) -> Tensor:
        """Degrade ``x`` of shape :math:`(B, C, H, W)` with parameters drawn from ``generator``."""

    def check_input_size(self, height: int, width: int) -> tuple[int, int]:
        """Check the stage can work on ``height x width`` images; return its output size.

        Called once at start-up with the training patch size, so that a kernel larger than the
        patch or a size the scale does not divide fails before any training. Stages with random
        resizes report their nominal (unscaled) output size.
        """
        if height % self.scale or width % self.scale:
            raise DegradationError(
                f"{type(self).__name__}: patch size {height}x{width} is not divisible by "
                f"its scale {self.scale}."
            )
        return height // self.scale, width // self.scale


def check_kernel_fits(
    owner: str, kernel_size: int, height: int, width: int, action: str
) -> tuple[int, int]:
    """Fail at start-up when a ``kernel_size`` filter cannot fit ``height x width`` images.

    Returns the unchanged size, so filtering stages' ``check_input_size`` is this one call.
    ``action`` ends the message, e.g. ``"it blurs."``.
    """
    if kernel_size > min(height, width):
        raise DegradationError(
            f"{owner}: `kernel_size`={kernel_size} is larger than the {height}x{width} images "
            f"{action}"
        )
    return height, width


def check_prob(owner: str, name: str, value: float) -> float:
    """Return ``value`` as a float after checking it is a probability in ``[0, 1]``."""
    prob = _as_float(owner, name, value)
    if not 0.0 <= prob <= 1.0:
        raise DegradationError(f"{owner}: `{name}` must be in [0, 1], got {value!r}.")
    return prob


def check_range(
    owner: str,
    name: str,
    value: Sequence[float],
    minimum: float | None = None,
    maximum: float | None = None,
    strict_minimum: bool = False,
) -> tuple[float, float]:
    """Return ``(low, high)`` after checking ``value`` is a valid closed interval.

    ``value`` may be any two-element sequence (Hydra passes a ``ListConfig``). The interval must
    have ``low <= high`` and lie within ``[minimum, maximum]`` (``minimum`` excluded if
    ``strict_minimum``), so that a bad override fails when the pipeline is built, not mid-run.
    """
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 2:
        raise DegradationError(f"{owner}: `{name}` must be a pair [low, high], got {value!r}.")
    low, high = (_as_float(owner, name, v) for v in value)
    if low > high:
        raise DegradationError(
            f"{owner}: `{name}` must have low <= high, got {list(value)!r} (low > high)."
        )
    if minimum is not None and (low <= minimum if strict_minimum else low < minimum):
        bound = ">" if strict_minimum else ">="
        raise DegradationError(
            f"{owner}: `{name}` must be {bound} {minimum:g}, got {list(value)!r}."
        )
    if maximum is not None and high > maximum:
        raise DegradationError(f"{owner}: `{name}` must be <= {maximum:g}, got {list(value)!r}.")
    return low, high


def prefixed(key: str, error: Exception) -> DegradationError:
    """``error`` with the config ``key`` of the stage put in front of its message.

    A nested stage (:class:`RandomOrder`'s groups) already starts its message with its own
    ``groups.<group>.<name>`` key, which is appended to ``key`` with a dot so the message names
    one full config path.
    """
    message = str(error)
    sep = "." if message.startswith("groups.") else ": "
    return DegradationError(f"{key}{sep}{message}")


def check_odd(owner: str, name: str, value: int, minimum: int = 1) -> int:
    """Return ``value`` after checking it is an odd integer of at least ``minimum``.

    Kernels are centred on a pixel, so their side must be odd; an even one would shift the image
    by half a pixel.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum or value % 2 == 0:
        raise DegradationError(
            f"{owner}: `{name}` must be an odd integer >= {minimum}, got {value!r}."
        )
    return value


#: How a stage's random choice is drawn: once for each sample, or once for the whole batch.
CHOOSE_PER = ("sample", "batch")


def check_choose_per(owner: str, value: str) -> str:
    """Return ``value`` after checking it is one of :data:`CHOOSE_PER` (``choose_per`` key)."""
    if value not in CHOOSE_PER:
        raise DegradationError(
            f"{owner}: `choose_per` must be one of {', '.join(CHOOSE_PER)}, got {value!r}."
        )
    return str(value)


def check_choices(owner: str, name: str, value: Sequence[str], known: Sequence[str]) -> list[str]:
    """Return ``value`` as a non-empty list of names after checking each is one of ``known``."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not value:
        raise DegradationError(
            f"{owner}: `{name}` must be a non-empty list of names, got {value!r}."
        )
    names = [str(v) for v in value]
    for item in names:
        if item not in known:
            raise DegradationError(
                f"{owner}: `{name}` has unknown entry {item!r} (known: {', '.join(known)})."
            )
    return names


def check_weights(owner: str, name: str, value: Sequence[float], count: int) -> list[float]:
    """Return ``count`` non-negative weights normalised to sum to one.

    Each weight must lie in ``[0, 1]`` (they are probabilities) and at least one must be positive.
    """
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != count:
        raise DegradationError(
            f"{owner}: `{name}` must be a list of {count} probabilities, got {value!r}."
        )
    weights = [check_prob(owner, name, v) for v in value]
    total = sum(weights)
    if total <= 0:
        raise DegradationError(f"{owner}: `{name}` must not be all zero, got {list(value)!r}.")
    return [w / total for w in weights]


def _as_float(owner: str, name: str, value: object) -> float:
    """``float(value)`` for real numbers, else a :class:`DegradationError` naming the argument."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DegradationError(f"{owner}: `{name}` must be a number, got {value!r}.")
    number = float(value)
    if not math.isfinite(number):
        raise DegradationError(f"{owner}: `{name}` must be finite, got {value!r}.")
    return number


def uniform(
    batch: int,
    bounds: tuple[float, float],
    generator: torch.Generator,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Draw ``batch`` values uniformly from ``[low, high]`` on ``device`` with ``generator``.

    Always consumes the generator, even for ``low == high``, so the random stream of later stages
    does not depend on whether an earlier range was collapsed to a fixed value.
    """
    low, high = bounds
    u = torch.rand(batch, generator=generator, device=device, dtype=dtype)
    return low + (high - low) * u


def select_samples(
    batch: int,
    prob: float,
    generator: torch.Generator,
    device: torch.device,
    choose_per: str = "sample",
) -> Tensor | None:
    """Flip one coin per sample (or one for the batch) and return the indices to degrade.

    Returns ``None`` when every sample is selected (``prob == 1``, or the batch's coin says
    yes), which lets the caller skip the indexing; otherwise a 1-D ``long`` tensor of indices,
    possibly empty. Finding the indices reads the coin flips back to the host; that is the price
    of not computing skipped samples. ``choose_per="batch"`` is Real-ESRGAN's way for its second
    blur (``second_blur_prob``): the whole batch is blurred or none of it.
    """
    if prob >= 1.0:
        return None
    if prob <= 0.0:
        return torch.empty(0, dtype=torch.long, device=device)
    if choose_per == "batch":
        if bool(torch.rand(1, generator=generator, device=device) < prob):
            return None
        return torch.empty(0, dtype=torch.long, device=device)
    flips = torch.rand(batch, generator=generator, device=device) < prob
    return flips.nonzero().squeeze(1)


def clamped(out: Tensor, x: Tensor) -> Tensor:
    """A stage's output ``out`` of input ``x`` clamped to :math:`[0, 1]` for the next stage.

    In place, since every stage returns a new tensor or ``x`` itself: a stage that left the
    batch untouched (a skipped branch) returns its already valid input, which costs nothing.
    """
    return out if out is x else out.clamp_(0.0, 1.0)


def selected_mask(batch: int, index: Tensor | None, device: torch.device) -> Tensor:
    """The :func:`select_samples` result as a :math:`(B,)` bool mask (``None``: all selected)."""
    if index is None:
        return torch.ones(batch, dtype=torch.bool, device=device)
    mask = torch.zeros(batch, dtype=torch.bool, device=device)
    mask[index] = True
    return mask


def apply_selected(
    x: Tensor, index: Tensor | None, fn: Callable[..., Tensor], *params: Tensor
) -> Tensor:
    """Apply ``fn(x_subset, *params_subset)`` to the samples in ``index`` only.

    ``index`` comes from :func:`select_samples`: ``None`` applies ``fn`` to the whole batch, an
    empty index returns ``x`` untouched, and otherwise only the selected samples (and their rows
    of each per-sample ``params`` tensor) are computed and written back into a copy of ``x``.
    """
    if index is None:
        return fn(x, *params)
    if index.numel() == 0:
        return x
    picked = [p.index_select(0, index) for p in params]
    return x.index_copy(0, index, fn(x.index_select(0, index), *picked))
