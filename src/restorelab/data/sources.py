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

from restorelab.data.io import read_image
from restorelab.data.scan import scan_folder
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
    """Base class: ``len(source)`` samples, ``source[i]`` loads one.

    ``sizes`` holds each ground truth's (width, height) when the source knows it without
    decoding (from the start-up scan), so the datasets can refuse an image that is too small
    before training starts; None when unknown.
    """

    names: list[str]
    sizes: list[tuple[int, int]] | None = None

    def __len__(self) -> int:
        return len(self.names)

    def label(self, index: int) -> str:
        """How errors name sample ``index``: its file where it has one, else its name."""
        return self.names[index]

    def __getitem__(self, index: int) -> Sample:
        raise NotImplementedError

    def preload(self) -> None:
        """Decode what this source caches now, in the calling process (default: nothing).

        Called by the data module in the main process before validation or testing, so a
        corrupt file fails there with its own message, before any work is spent.
        """


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
        self.sizes = [(img.shape[1], img.shape[0]) for img in self._images.values()]

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
        scanned = scan_folder(root, key)
        self.files = [f.path for f in scanned]
        self.sizes = [f.size for f in scanned]
        self.names = [p.stem for p in self.files]
        self.cache = cache
        self._cache: dict[int, np.ndarray] = {}

    def label(self, index: int) -> str:
        return str(self.files[index])

    def __getitem__(self, index: int) -> Sample:
        if index in self._cache:
            return Sample(name=self.names[index], gt=self._cache[index])
        gt = read_image(self.files[index])
        if self.cache:
            self._cache[index] = gt
        return Sample(name=self.names[index], gt=gt)

    def preload(self) -> None:
        """With ``cache``, decode every image now (a no-op without it)."""
        if self.cache:
            for index in range(len(self.names)):
                self[index]


class PairedSource(Source):
    """Low-quality and ground-truth folders matched by file name (stem).

    Args:
        lq_root: folder of low-quality inputs.
        gt_root: folder of ground truths.
        key: config key prefix quoted in errors: the folders are ``{key}_lq_dir`` and
            ``{key}_gt_dir`` (e.g. ``data.train`` -> ``data.train_lq_dir``).
    """

    def __init__(self, lq_root: str | Path, gt_root: str | Path, key: str = "data.train") -> None:
        gt_scan = scan_folder(gt_root, f"{key}_gt_dir")
        gt_files = [f.path for f in gt_scan]
        lq_files = [f.path for f in scan_folder(lq_root, f"{key}_lq_dir")]
        for files, folder_key in ((gt_files, f"{key}_gt_dir"), (lq_files, f"{key}_lq_dir")):
            stems = [p.stem for p in files]
            dupes = sorted({s for s in stems if stems.count(s) > 1})
            if dupes:
                raise DataError(
                    f"{folder_key}: several files share the name(s) {dupes} in "
                    f"{Path(files[0]).parent}; pairs are matched by name, keep one of each"
                )
        lq_by_stem = {p.stem: p for p in lq_files}
        missing = [p.name for p in gt_files if p.stem not in lq_by_stem]
        if missing:
            shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
            raise DataError(
                f"{key}_lq_dir: {len(missing)} ground-truth image(s) of {gt_root} have no "
                f"low-quality input of the same name in {lq_root}: {shown}"
            )
        self.gt_files = gt_files
        self.lq_files = [lq_by_stem[p.stem] for p in gt_files]
        self.names = [p.stem for p in gt_files]
        self.sizes = [f.size for f in gt_scan]

    def label(self, index: int) -> str:
        return str(self.gt_files[index])

    def __getitem__(self, index: int) -> Sample:
        return Sample(
            name=self.names[index],
            gt=read_image(self.gt_files[index]),
            lq=read_image(self.lq_files[index]),
        )
