"""The seeded degradation pipeline that turns a ground-truth batch into the low-quality input."""

from __future__ import annotations

import contextlib
import operator
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn
from torch.utils.data import get_worker_info

from restorelab.degradations.base import DegradationError, Stage, clamped, prefixed
from restorelab.degradations.build import build_stage
from restorelab.degradations.context import recording, stage_name, using_gt_size
from restorelab.degradations.params import Params, concatenate, describe, per_sample, summarize
from restorelab.degradations.pool import PairPool

__all__ = ["Degradation"]


class Degradation(nn.Module):
    r"""Apply an ordered set of stages to ``gt`` and return ``lq``, with reproducible randomness.

    The pipeline owns its random generator, so degradations never read or advance the global
    RNG (model initialisation, dropout and data order stay independent of them). It draws in two
    ways:

    - training (``seeds=None``): one stream, seeded by ``seed``, created lazily on the batch's
      device (and restarted from ``seed`` if the device changes). Every call continues the stream,
      so consecutive batches get fresh degradations while the whole run is reproducible.
    - validation and test (``seeds`` given): image ``i`` is degraded alone with a fresh generator
      seeded by ``seeds[i]``. The same image therefore gets the same ``lq`` in every epoch and
      every run, whatever batch it lands in, and validating does not disturb the training stream.
      Draws are made on the batch's device, so the ``lq`` for a seed is fixed per device type.

    Each stage's output is clamped to :math:`[0, 1]`, so the next stage sees a valid image. The
    result is clamped and, with ``quantize``, rounded to 8-bit levels as if saved to a PNG, which
    is what the network will see at inference. No gradient flows through the pipeline, and an
    enclosing ``torch.autocast`` is switched off inside it: ``lq`` is an input, computed in the
    dtype of ``gt`` whatever the training precision.

    Args:
        stages: ordered mapping of name to :class:`Stage` or stage config (a mapping with
            ``_target_``; the presets set ``_recursive_: false`` so configs arrive here and
            errors name ``degradation.stages.<name>.<key>``), applied in order (Hydra keeps the
            order of a config dict). ``None`` entries are skipped, so a config can switch a stage
            off with ``degradation.stages.<name>=null``.
        seed: seed of the training stream; see :meth:`reseed`.
        quantize: round the output to multiples of 1/255.
        pool_size: pairs kept in the training-pair pool (Real-ESRGAN's ``queue_size``, 180);
            0 switches it off. Only :meth:`pairs` on the training stream uses it.

    Shape:
        - gt: :math:`(B, C, H, W)`, float in :math:`[0, 1]`
        - Output: :math:`(B, C, H / scale, W / scale)`

    Example:
        >>> from restorelab.degradations import BicubicDown, GaussianNoise
        >>> degrade = Degradation({"bicubic": BicubicDown(4), "noise": GaussianNoise()}, seed=0)
        >>> degrade(torch.rand(2, 3, 32, 48)).shape
        torch.Size([2, 3, 8, 12])
        >>> degrade.scale
        4
    """

    def __init__(
        self,
        stages: Mapping[str, Stage | None],
        seed: int = 0,
        quantize: bool = True,
        pool_size: int = 0,
    ) -> None:
        super().__init__()
        if not isinstance(stages, Mapping):
            raise DegradationError(
                f"Degradation: `stages` must be a mapping of name to stage, got {stages!r}."
            )
        kept: dict[str, Stage] = {}
        for name, spec in stages.items():
            if spec is not None and not isinstance(spec, (Stage, Mapping)):
                raise DegradationError(
                    f"Degradation: stage {name!r} must be a restorelab.degradations.Stage, "
                    f"got {type(spec).__name__}."
                )
            stage = build_stage(f"degradation.stages.{name}", spec)
            if stage is not None:
                kept[str(name)] = stage
        self.stages = nn.ModuleDict(kept)
        self.seed = _check_seed(seed)
        self.quantize = bool(quantize)
        if isinstance(pool_size, bool) or not isinstance(pool_size, int) or pool_size < 0:
            raise DegradationError(
                f"Degradation: `pool_size` must be an integer >= 0, got {pool_size!r}."
            )
        self.pool_size = pool_size
        self.pool = PairPool(pool_size) if pool_size else None
        self._generator: torch.Generator | None = None
        self._worker: int | None = None
        #: The parameters every sample of the last call drew, ``"<stage>/<parameter>"`` -> a
        #: float tensor (B,), on the device it was drawn on, or B names.
        self.last_params: Params = {}

    @property
    def scale(self) -> int:
        """How much the pipeline shrinks height and width: the product of the stage scales."""
        scale = 1
        for stage in self.stages.values():
            assert isinstance(stage, Stage)
            scale *= stage.scale
        return scale

    def check_input_size(self, height: int, width: int) -> tuple[int, int]:
        """Fail at start-up, naming the stage and key, if a stage cannot work on the patches.

        Walks the stages with the nominal size of ``height x width`` ground-truth patches (a
        kernel larger than the image, a size the scale does not divide) and returns the size of
        ``lq``.
        """
        for name, stage in self.stages.items():
            assert isinstance(stage, Stage)
            try:
                height, width = stage.check_input_size(height, width)
            except DegradationError as exc:
                raise prefixed(f"degradation.stages.{name}", exc) from None
        return height, width

    def reseed(self, seed: int) -> None:
        """Restart the training stream from ``seed``.

        The module calls this at fit start with a seed that differs per rank and worker (for
        example ``seed + rank * 1000``), so DDP processes do not all draw the same degradations.
        """
        self.seed = _check_seed(seed)
        self._generator = None

    def rng_state(self) -> Tensor | None:
        """State of the training stream (None before its first draw), for checkpoints."""
        return None if self._generator is None else self._generator.get_state()

    def set_rng_state(self, state: Tensor, device: torch.device | str = "cpu") -> None:
        """Continue the training stream from a saved :meth:`rng_state`, on ``device``."""
        generator = torch.Generator(device=device)
        generator.set_state(state)
        self._generator = generator

    def forward(self, gt: Tensor, seeds: Sequence[int] | Tensor | None = None) -> Tensor:
        """Degrade ``gt`` into ``lq``: from the training stream, or per image from ``seeds``."""
        if gt.dim() != 4 or not gt.is_floating_point():
            raise ValueError(
                "Degradation: expected a float batch of shape (B, C, H, W), got "
                f"{gt.dtype} of shape {tuple(gt.shape)}."
            )
        with torch.no_grad(), _autocast_off(gt.device.type):
            if seeds is None:
                lq, self.last_params = self._degrade(gt, self._training_generator(gt.device))
            else:
                per_image = seeds.tolist() if isinstance(seeds, Tensor) else list(seeds)
                if len(per_image) != gt.shape[0]:
                    raise ValueError(
                        f"Degradation: got {len(per_image)} seeds for a batch of {gt.shape[0]}."
                    )
                results = [
                    self._degrade(gt[i : i + 1], _seeded(_check_seed(s), gt.device))
                    for i, s in enumerate(per_image)
                ]
                lq = torch.cat([image for image, _ in results])
                self.last_params = concatenate([p for _, p in results], [1] * len(results))
            lq = lq.clamp(0.0, 1.0)
            if self.quantize:
                lq = torch.round(lq * 255.0) / 255.0
        return lq

    def pairs(
        self, gt: Tensor, seeds: Sequence[int] | Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """``(gt, lq)`` for training: :meth:`forward`, then the training-pair pool if configured.

        With a pool on the training stream (``seeds=None``), the returned pairs are random earlier
        pairs once the pool is full (see :class:`~restorelab.degradations.pool.PairPool`), so the
        caller must use the returned ``gt`` too. With ``seeds`` (validation) or no pool, ``gt`` is
        returned as given.
        """
        lq = self(gt, seeds)
        if self.pool is None or seeds is not None:
            return gt, lq
        with torch.no_grad():
            return self.pool(gt, lq, self._training_generator(gt.device))

    def summary(self) -> dict[str, float]:
        """The last call's parameters summarized for logging (see :func:`params.summarize`)."""
        return summarize(self.last_params)

    def describe(self, index: int) -> str:
        """The parameters sample ``index`` of the last call was degraded with, on one line."""
        return describe(self.last_params, index)

    def _degrade(self, x: Tensor, generator: torch.Generator) -> tuple[Tensor, Params]:
        batch = x.shape[0]
        with using_gt_size(x.shape[-2], x.shape[-1]), recording() as drawn:
            for name, stage in self.stages.items():
                with stage_name(name):
                    x = clamped(stage(x, generator), x)
        return x, per_sample(drawn, batch)

    def _training_generator(self, device: torch.device) -> torch.Generator:
        """The training stream, per device and per DataLoader worker.

        Inside a DataLoader worker (a dataset that degrades on the CPU) each worker gets its own
        stream derived from ``seed`` and its worker id, so workers never produce the same
        degradations; in the main process the stream is seeded by ``seed`` itself.
        """
        info = get_worker_info()
        worker = None if info is None else int(info.id)
        if self._generator is None or (self._generator.device, self._worker) != (device, worker):
            seed = self.seed if worker is None else _worker_seed(self.seed, worker)
            self._generator = _seeded(seed, device)
            self._worker = worker
        return self._generator

    def extra_repr(self) -> str:
        pool = f", pool_size={self.pool_size}" if self.pool_size else ""
        return f"seed={self.seed}, quantize={self.quantize}, scale={self.scale}{pool}"


def _autocast_off(device_type: str) -> contextlib.AbstractContextManager[object]:
    """Disable autocast on ``device_type`` (a no-op context where autocast does not exist)."""
    if device_type in ("cpu", "cuda"):
        return torch.autocast(device_type=device_type, enabled=False)
    return contextlib.nullcontext()


def _seeded(seed: int, device: torch.device) -> torch.Generator:
    """A fresh generator on ``device`` seeded with ``seed``."""
    return torch.Generator(device=device).manual_seed(seed)


def _worker_seed(seed: int, worker: int) -> int:
    """A seed for DataLoader worker ``worker`` that no other (seed, worker) pair shares."""
    return (seed * 1_000_003 + worker + 1) % (2**63)


def _check_seed(seed: int) -> int:
    """``seed`` as a Python int; any integer type (numpy included) is accepted, floats are not."""
    try:
        if isinstance(seed, bool):
            raise TypeError
        return operator.index(seed)
    except TypeError:
        raise DegradationError(f"Degradation: `seed` must be an integer, got {seed!r}.") from None
