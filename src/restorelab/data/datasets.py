"""Torch datasets over a :class:`~restorelab.data.sources.Source`.

Items are uint8 CHW tensors ("uint8 on the wire"); the LightningModule turns them into float
on the device and synthesizes ``lq`` there when the source has none.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

import numpy as np
import torch
from torch.utils.data import Dataset

from restorelab.data.sources import Source
from restorelab.data.transforms import align_pair, augment, mod_crop, paired_random_crop, to_rgb
from restorelab.errors import DataError


def _chw(img: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 array -> (3, H, W) uint8 tensor."""
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))


# Scoring crops ``scale`` pixels from every border and SSIM needs an 11x11 window after that.
SSIM_WINDOW = 11


def image_seed(name: str) -> int:
    """A stable per-image seed, so validation inputs are degraded identically in every run."""
    # surrogateescape: a file name that is not UTF-8 (its undecodable bytes arrive as lone
    # surrogates) hashes its bytes on disk; a UTF-8 name hashes exactly as before
    return zlib.crc32(name.encode("utf-8", "surrogateescape")) & 0x7FFFFFFF


def _refuse_small(source: Source, problem: Callable[[int, int], str | None]) -> None:
    """Raise for the first image whose known size ``problem`` objects to, counting the rest.

    Runs when a dataset is built (before the first step), from the sizes the start-up scan
    read, so a too-small file does not fail mid-epoch inside a DataLoader worker.
    """
    found = [
        f"image {source.label(i)} is {message}"
        for i, (w, h) in enumerate(source.sizes or ())
        if (message := problem(w, h)) is not None
    ]
    if found:
        more = f" (and {len(found) - 1} more such images)" if len(found) > 1 else ""
        raise DataError(found[0] + more)


def _too_small_to_score(w: int, h: int, scale: int) -> str | None:
    """Why a w x h ground truth cannot be scored at ``scale`` (None: it can)."""
    w, h = w - w % scale, h - h % scale
    min_side = 2 * scale + SSIM_WINDOW
    if min(w, h) >= min_side:
        return None
    return (
        f"{w}x{h} after cropping to a multiple of scale {scale}: too small to score, it needs "
        f"at least {min_side}x{min_side} ({scale} px border crop, {SSIM_WINDOW}x{SSIM_WINDOW} "
        "SSIM window)"
    )


class PatchDataset(Dataset[dict[str, torch.Tensor]]):
    """Random aligned patches with flips/rot90, for training.

    One pass visits every image ``repeat`` times, so an epoch is long enough to be a useful
    unit with a handful of large images.

    Args:
        source: where the images come from.
        patch_size: ground-truth patch size in pixels (a multiple of ``scale``).
        scale: super-resolution factor (1 for restoration).
        repeat: how many patches per image per epoch.
        hflip: random horizontal flips.
        rot90: random vertical flips and transposes (with hflip: all 8 orientations).
        seed: seed of the ``(epoch, index)``-addressed patches (see ``__getitem__``).
    """

    def __init__(
        self,
        source: Source,
        patch_size: int,
        scale: int,
        repeat: int = 1,
        hflip: bool = True,
        rot90: bool = True,
        seed: int = 0,
    ) -> None:
        self.source = source
        self.seed = int(seed)
        self.patch_size = patch_size
        self.scale = scale
        self.repeat = max(1, int(repeat))
        self.hflip = hflip
        self.rot90 = rot90
        self._rng: np.random.Generator | None = None
        self._rng_seed: int | None = None
        _refuse_small(
            source,
            lambda w, h: (
                f"{w}x{h}, smaller than data.patch_size={patch_size}"
                if min(w, h) < patch_size
                else None
            ),
        )

    def __len__(self) -> int:
        return len(self.source) * self.repeat

    @property
    def rng(self) -> np.random.Generator:
        """Per-process generator seeded from torch's seed (Lightning seeds each worker).

        Re-created whenever torch's seed changes, so DataLoader workers never share a stream
        copied from the main process (each worker, each epoch, has its own torch seed).
        """
        seed = torch.initial_seed()
        if self._rng is None or self._rng_seed != seed:
            self._rng = np.random.default_rng(seed)
            self._rng_seed = seed
        return self._rng

    def __getitem__(self, index: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        """One patch. ``index`` is an int (patches from this process's stream) or an
        ``(epoch, index)`` pair from :class:`~restorelab.data.sampling.EpochSampler`, whose
        patch is a pure function of ``(seed, epoch, index)``: the same on every rank and
        worker and after a resume, which DDP equivalence and bit-identical resume rely on.
        """
        if isinstance(index, tuple | list):
            epoch, index = int(index[0]), int(index[1])
            rng = np.random.default_rng([self.seed, epoch, index])
        else:
            rng = self.rng
        sample = self.source[index % len(self.source)]
        gt, lq = paired_random_crop(
            sample.gt, sample.lq, self.patch_size, self.scale, rng, sample.name
        )
        images = [to_rgb(gt)] + ([to_rgb(lq)] if lq is not None else [])
        images = augment(images, rng, self.hflip, self.rot90)
        item = {"gt": _chw(images[0])}
        if lq is not None:
            item["lq"] = _chw(images[1])
        return item


class ImageDataset(Dataset[dict[str, object]]):
    """Whole images, mod-cropped to the scale, for validation and testing.

    Each item carries its ``name``, a stable ``seed`` for the degradation and ``gray`` (the
    ground truth had a single channel, so metrics score it on that channel).
    """

    def __init__(self, source: Source, scale: int) -> None:
        self.source = source
        self.scale = scale
        _refuse_small(source, lambda w, h: _too_small_to_score(w, h, scale))

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int) -> dict[str, object]:
        sample = self.source[index]
        if sample.lq is None:
            gt, lq = mod_crop(sample.gt, self.scale), None
        else:
            gt, lq = align_pair(sample.gt, sample.lq, self.scale, sample.name)
        problem = _too_small_to_score(gt.shape[1], gt.shape[0], self.scale)
        if problem is not None:  # a source without sizes, or a paired lq that crops smaller
            raise DataError(f"image {sample.name} is {problem}")
        item: dict[str, object] = {
            "gt": _chw(to_rgb(gt)),
            "name": sample.name,
            "seed": image_seed(sample.name),
            "gray": sample.gt.ndim == 2,
        }
        if lq is not None:
            item["lq"] = _chw(to_rgb(lq))
        return item
