"""Array-level crops and augmentations shared by every dataset (uint8 in, uint8 out)."""

from __future__ import annotations

import numpy as np

from restorelab.errors import DataError


def to_rgb(img: np.ndarray) -> np.ndarray:
    """Return an (H, W, 3) view of an (H, W) grayscale or (H, W, 3) colour image."""
    if img.ndim == 2:
        return np.repeat(img[:, :, None], 3, axis=2)
    return img


def mod_crop(img: np.ndarray, scale: int) -> np.ndarray:
    """Crop the bottom/right so height and width are multiples of ``scale`` (the convention)."""
    h, w = img.shape[:2]
    return img[: h - h % scale, : w - w % scale]


def align_pair(
    gt: np.ndarray, lq: np.ndarray, scale: int, name: str
) -> tuple[np.ndarray, np.ndarray]:
    """Crop a paired (gt, lq) to sizes that agree exactly: lq (h, w) and gt (h*scale, w*scale).

    Each side of ``lq`` must be ``floor`` or ``ceil`` of the gt side over ``scale``: floor is
    the low-quality image of a mod-cropped ground truth, ceil is MATLAB's ``imresize`` of one
    that was not mod-cropped. Both share the pixel grid of the gt's top-left corner, so the
    bottom/right remainder is dropped from both.

    Raises:
        DataError: naming the image when the sizes do not agree with ``scale``.
    """
    h, w = gt.shape[:2]
    lh, lw = lq.shape[:2]
    if lh not in (h // scale, -(-h // scale)) or lw not in (w // scale, -(-w // scale)):
        raise DataError(
            f"image {name}: lq is {lw}x{lh} and gt is {w}x{h}, which do not agree with "
            f"scale {scale} (lq should be {w // scale}x{h // scale})"
        )
    lh, lw = min(lh, h // scale), min(lw, w // scale)
    return gt[: lh * scale, : lw * scale], lq[:lh, :lw]


def paired_random_crop(
    gt: np.ndarray,
    lq: np.ndarray | None,
    patch_size: int,
    scale: int,
    rng: np.random.Generator,
    name: str,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Cut aligned random patches: ``patch_size`` from gt and ``patch_size // scale`` from lq.

    The lq patch covers exactly the gt patch: the gt offset is a multiple of ``scale``.

    Raises:
        DataError: naming the image when it is smaller than the patch, or when its lq/gt sizes
            do not agree with the scale.
    """
    h, w = gt.shape[:2]
    if h < patch_size or w < patch_size:
        raise DataError(f"image {name} is {w}x{h}, smaller than data.patch_size={patch_size}")
    if lq is None:
        top = int(rng.integers(0, h - patch_size + 1))
        left = int(rng.integers(0, w - patch_size + 1))
        return gt[top : top + patch_size, left : left + patch_size], None
    gt, lq = align_pair(gt, lq, scale, name)
    lh, lw = lq.shape[:2]
    lp = patch_size // scale
    top = int(rng.integers(0, lh - lp + 1))
    left = int(rng.integers(0, lw - lp + 1))
    gt_patch = gt[top * scale : (top + lp) * scale, left * scale : (left + lp) * scale]
    return gt_patch, lq[top : top + lp, left : left + lp]


def augment(
    images: list[np.ndarray], rng: np.random.Generator, hflip: bool, rot90: bool
) -> list[np.ndarray]:
    """Apply the same random horizontal flip, vertical flip and transpose to every image.

    Flips plus transpose give all eight dihedral transforms (the usual x8 augmentation).
    """
    do_h = hflip and rng.random() < 0.5
    do_v = rot90 and rng.random() < 0.5
    do_t = rot90 and rng.random() < 0.5
    out = []
    for img in images:
        if do_h:
            img = img[:, ::-1]
        if do_v:
            img = img[::-1]
        if do_t:
            img = img.transpose(1, 0, 2) if img.ndim == 3 else img.T
        out.append(np.ascontiguousarray(img))
    return out
