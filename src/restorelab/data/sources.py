"""Image sources: where ground-truth (and, for paired data, low-quality) images come from.

A source is an indexable list of named samples. Datasets (random patches for training, whole
images for validation) are built on top of any source, so the embedded photos, a folder of
ground truths and paired folders share one cropping/augmentation code path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from restorelab.data.io import list_images, read_image
from restorelab.errors import DataError

EMBEDDED_PHOTOS: tuple[str, ...] = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "motorcycle_left",
    "motorcycle_right",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
)


@dataclass
class Sample:
    """One image pair as uint8 arrays, (H, W) grayscale or (H, W, 3) RGB."""

    name: str
    gt: np.ndarray
    lq: np.ndarray | None = None


class Source:
    """Base class: ``len(source)`` samples, ``source[i]`` loads one."""

    names: list[str]

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> Sample:
        raise NotImplementedError


def _load_embedded(name: str) -> np.ndarray:
    """Load one of scikit-image's bundled colour photographs by name (no download)."""
    import skimage.data

    if name in ("motorcycle_left", "motorcycle_right"):
        left, right, _ = skimage.data.stereo_motorcycle()
        return np.asarray(left if name == "motorcycle_left" else right, dtype=np.uint8)
    return np.asarray(getattr(skimage.data, name)(), dtype=np.uint8)


class EmbeddedSource(Source):
    """The colour photographs that ship inside scikit-image, held in memory.

    Args:
        names: which photographs (see ``EMBEDDED_PHOTOS``); the default split puts
            ``chelsea`` and ``coffee`` aside for validation.
    """

    def __init__(self, names: Sequence[str]) -> None:
        unknown = [n for n in names if n not in EMBEDDED_PHOTOS]
        if unknown:
            raise DataError(
                f"unknown embedded image(s) {unknown}; choose from {list(EMBEDDED_PHOTOS)}"
            )
        if not names:
            raise DataError("embedded data: the list of image names is empty")
        self.names = list(names)
        self._images = {n: _load_embedded(n) for n in self.names}

    def __getitem__(self, index: int) -> Sample:
        name = self.names[index]
        return Sample(name=name, gt=self._images[name])


class FolderSource(Source):
    """Ground-truth images in a folder; low-quality inputs are synthesized on the fly.

    Args:
        root: the folder.
        key: the config key that named it, quoted in errors.
        cache: keep decoded images in memory (for small validation sets).
    """

    def __init__(self, root: str | Path, key: str = "data folder", cache: bool = False) -> None:
        self.files = list_images(root, key)
        self.names = [p.stem for p in self.files]
        self.cache = cache
        self._cache: dict[int, np.ndarray] = {}

    def __getitem__(self, index: int) -> Sample:
        if index in self._cache:
            return Sample(name=self.names[index], gt=self._cache[index])
        gt = read_image(self.files[index])
        if self.cache:
            self._cache[index] = gt
        return Sample(name=self.names[index], gt=gt)


class PairedSource(Source):
    """Low-quality and ground-truth folders matched by file name (stem).

    Args:
        lq_root: folder of low-quality inputs.
        gt_root: folder of ground truths.
        key: config key prefix quoted in errors.
    """

    def __init__(self, lq_root: str | Path, gt_root: str | Path, key: str = "data") -> None:
        gt_files = list_images(gt_root, f"{key} gt folder")
        lq_files = list_images(lq_root, f"{key} lq folder")
        lq_by_stem = {p.stem: p for p in lq_files}
        missing = [p.name for p in gt_files if p.stem not in lq_by_stem]
        if missing:
            shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
            raise DataError(
                f"{key}: {len(missing)} ground-truth image(s) have no low-quality input "
                f"of the same name in {lq_root}: {shown}"
            )
        self.gt_files = gt_files
        self.lq_files = [lq_by_stem[p.stem] for p in gt_files]
        self.names = [p.stem for p in gt_files]

    def __getitem__(self, index: int) -> Sample:
        return Sample(
            name=self.names[index],
            gt=read_image(self.gt_files[index]),
            lq=read_image(self.lq_files[index]),
        )
