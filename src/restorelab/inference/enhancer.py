"""The Python API of enhancement: ``Enhancer.from_checkpoint(path).enhance(image)``.

An :class:`Enhancer` holds a loaded generator and the tiling settings. It takes a PIL image, a
numpy array or a :class:`~restorelab.inference.image_io.Photo` and gives back the same kind:
grayscale stays grayscale (the network sees it as three equal channels; the output's channels
are averaged back to one), an alpha channel is upscaled on its own with bicubic interpolation
and re-attached, 16-bit stays 16-bit. The tiles' outputs are blended and rounded to 8/16 bits
as they finish (see :mod:`restorelab.inference.tiling`): :meth:`Enhancer.enhance_pixels` keeps the
whole output in memory, :meth:`Enhancer.enhance_to_files` writes each finished row band to its
files and lets it go, so memory follows the tile and the band, not the image (PNG and TIFF; see
:mod:`restorelab.inference.streaming`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from restorelab.errors import ConfigError, DataError
from restorelab.inference.alpha import upscale_alpha
from restorelab.inference.image_io import Photo, _split_pil
from restorelab.inference.models import Model, TorchModel, load_model
from restorelab.inference.streaming import stream_to_files
from restorelab.inference.tiling import (
    Canvas,
    CanvasFactory,
    FloatCanvas,
    IntCanvas,
    check_tiling,
    run_tiled,
)
from restorelab.inference.writers import WriteOptions

__all__ = ["EnhanceSettings", "Enhancer", "TileProgress", "to_pil", "upscale_alpha"]

#: Progress callback: (tiles done, tiles total).
TileProgress = Callable[[int, int], None]


@dataclass(frozen=True)
class EnhanceSettings:
    """How an image is cut and guarded; the CLI flags of the same names set them.

    Attributes:
        tile: core size of a tile in input pixels (0: the whole image at once). 512 keeps the
            default compact generator under ~1 GB of activations on a CPU.
        tile_overlap: context added around each tile, in input pixels; at least the
            generator's receptive field makes the result equal to untiled inference (32 covers
            the default compact generator's 14 convolutions, receptive field 29).
        max_pixels: refuse inputs with more pixels than this (0: no limit): a guard against
            decompression bombs. 50 MP covers any camera photo.
    """

    tile: int = 512
    tile_overlap: int = 32
    max_pixels: int = 50_000_000

    def __post_init__(self) -> None:
        check_tiling(self.tile, self.tile_overlap)
        if self.max_pixels < 0:
            raise ConfigError(f"--max-pixels must be >= 0 (0: no limit), got {self.max_pixels}")


class Enhancer:
    """Enhance images with a generator, in overlapping tiles.

    Args:
        model: a loaded generator (:func:`~restorelab.inference.models.load_model`), or a plain
            ``nn.Module`` with a ``scale`` attribute.
        settings: tiling and the pixel limit.
        device: ``cpu``, ``cuda`` or ``mps`` (for an ``nn.Module``).
        precision: ``fp32``, ``fp16`` or ``bf16`` (for an ``nn.Module``).

    Example:
        >>> from restorelab import Enhancer  # doctest: +SKIP
        >>> out = Enhancer.from_checkpoint("run/checkpoints/best.ckpt").enhance(photo)  # +SKIP
    """

    def __init__(
        self,
        model: Model | Any,
        settings: EnhanceSettings | None = None,
        device: str = "cpu",
        precision: str = "fp32",
    ) -> None:
        if not isinstance(model, Model):
            scale = getattr(model, "scale", None)
            if scale is None:
                raise ConfigError(f"{type(model).__name__} has no 'scale' attribute")
            model = TorchModel(model, int(scale), device, precision)
        self.model = model
        self.settings = settings or EnhanceSettings()

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path | None = None,
        device: str = "cpu",
        precision: str = "fp32",
        settings: EnhanceSettings | None = None,
        **overrides: Any,
    ) -> Enhancer:
        """Load a ``.ckpt``, ``.safetensors`` or ``.onnx`` file (safely, no code unpickled), a
        bundled model by name (``"sr_x4"``, see ``restorelab-enhance --list-models``), or with
        ``path=None`` the bundled default model.

        ``overrides`` set fields of :class:`EnhanceSettings`, e.g. ``tile=256``.
        """
        from restorelab.inference.bundled import default_model, resolve_model

        source = default_model() if path is None else resolve_model(str(path))
        settings = replace(settings or EnhanceSettings(), **overrides)
        return cls(load_model(source.path, device, precision), settings)

    @property
    def scale(self) -> int:
        return self.model.scale

    # ----------------------------------------------------------------- core
    def _tile_fn(
        self, gray: bool, max_value: int, steps: bool
    ) -> Callable[[np.ndarray], list[np.ndarray]]:
        """The function run on each tile: integers or floats in, float32 HWC outputs."""
        channels = self.model.in_channels

        def run(tile: np.ndarray) -> list[np.ndarray]:
            x = tile.astype(np.float32)
            if max_value != 1:
                x /= max_value
            x = x.transpose(2, 0, 1)[None]
            if x.shape[1] != channels:
                if x.shape[1] == 1:
                    x = np.repeat(x, channels, axis=1)
                else:
                    raise DataError(
                        f"the model takes {channels}-channel images, this one has {x.shape[1]}"
                    )
            outs = self.model(np.ascontiguousarray(x), steps=steps)
            result = []
            for out in outs:
                o = out[0]
                if gray and o.shape[0] != 1:
                    o = o.mean(axis=0, keepdims=True)
                result.append(o.transpose(1, 2, 0))
            return result

        return run

    def enhance_into(
        self,
        pixels: np.ndarray,
        new_canvases: CanvasFactory,
        steps: bool = False,
        on_tile: TileProgress | None = None,
    ) -> list[Canvas]:
        """Run the generator over an (H, W) or (H, W, C) array (uint8, uint16, or float in
        [0, 1]) tile by tile, handing every output to the canvases ``new_canvases`` makes
        (one per output: every stage's when ``steps``, last = final; gray has one channel).
        The final output's size is checked against the model's scale before any canvas is
        made."""
        if steps and not self.model.has_stages:
            raise ConfigError(
                f"--save-steps: the generator in {self.model.source} has no intermediate "
                "steps (it is not a multi-stage generator with a stages() method)"
            )
        if pixels.ndim not in (2, 3):
            raise DataError(f"expected an (H, W) or (H, W, C) image, got shape {pixels.shape}")
        if np.issubdtype(pixels.dtype, np.floating):
            max_value = 1
        elif pixels.dtype in (np.uint8, np.uint16):
            max_value = int(np.iinfo(pixels.dtype).max)
        else:
            raise DataError(f"unsupported pixel dtype {pixels.dtype} (uint8, uint16 or float)")
        gray = pixels.ndim == 2
        h, w = pixels.shape[:2]

        def checked(shapes: list[tuple[int, int, int]]) -> list[Canvas]:
            final = shapes[-1]
            if final[:2] != (h * self.scale, w * self.scale):
                raise ConfigError(
                    f"{self.model.source}: the generator upscales {h}x{w} to "
                    f"{final[0]}x{final[1]}, not x{self.scale} as its metadata says"
                )
            return new_canvases(shapes)

        try:
            return run_tiled(
                pixels[:, :, None] if gray else pixels,
                self._tile_fn(gray, max_value, steps),
                checked,
                self.settings.tile,
                self.settings.tile_overlap,
                on_tile,
            )
        except ValueError as e:
            raise ConfigError(f"{self.model.source}: {e}") from e

    def enhance_pixels(
        self,
        pixels: np.ndarray,
        steps: bool = False,
        on_tile: TileProgress | None = None,
    ) -> list[np.ndarray]:
        """Enhance an (H, W) or (H, W, C) array in memory; uint8/uint16 out as the same dtype,
        floats (values in [0, 1]) as float32. Returns every stage's output when ``steps``
        (last = final), else just the final one, each in the input's layout."""
        floats = np.issubdtype(pixels.dtype, np.floating)

        def new_canvases(shapes: list[tuple[int, int, int]]) -> list[Canvas]:
            if floats:
                return [FloatCanvas(*shape) for shape in shapes]
            return [IntCanvas(*shape, pixels.dtype) for shape in shapes]

        canvases = self.enhance_into(pixels, new_canvases, steps, on_tile)
        outs = [c.array for c in canvases]  # type: ignore[attr-defined]
        return [o[:, :, 0] if pixels.ndim == 2 else o for o in outs]

    def enhance_to_files(
        self,
        photo: Photo,
        destinations: Callable[[int], Sequence[Path]],
        options: WriteOptions | None = None,
        steps: bool = False,
        on_tile: TileProgress | None = None,
    ) -> list[Path]:
        """Enhance ``photo`` straight into files, one row band at a time (PNG and TIFF never
        hold the whole output; see :mod:`restorelab.inference.streaming`).

        Args:
            photo: the input (uint8 or uint16; alpha upscaled apart, profile and EXIF kept).
            destinations: ``destinations(n)`` names the files of the ``n`` outputs (last =
                final), asked once the generator's first tile shows how many there are; each
                extension picks its format. Existing files are replaced.
            options: quality and compression levels.
            steps: also write every stage of a multi-stage generator.
            on_tile: progress callback.

        Returns:
            the paths written, in output order.
        """

        def run(new_canvases: CanvasFactory) -> None:
            self.enhance_into(photo.pixels, new_canvases, steps, on_tile)

        return stream_to_files(photo, run, destinations, options or WriteOptions())

    def enhance_photo(
        self, photo: Photo, steps: bool = False, on_tile: TileProgress | None = None
    ) -> list[Photo]:
        """Enhance a :class:`Photo`; alpha is upscaled apart (bicubic), metadata carried over.
        Returns the stages when ``steps``, else a one-element list."""
        outs = self.enhance_pixels(photo.pixels, steps, on_tile)
        results = []
        for out in outs:
            alpha = None
            if photo.alpha is not None:
                factor = out.shape[0] // photo.pixels.shape[0]
                alpha = upscale_alpha(photo.alpha, factor)
            results.append(replace(photo, pixels=out, alpha=alpha))
        return results

    def enhance(self, image: Image.Image | np.ndarray) -> Image.Image | np.ndarray:
        """Enhance a PIL image (EXIF orientation applied) or a numpy array; same kind back.

        Arrays are (H, W), (H, W, 3) or (H, W, 4) (the 4th channel is alpha), uint8, uint16 or
        float in [0, 1].
        """
        if isinstance(image, Image.Image):
            oriented = ImageOps.exif_transpose(image)
            pixels, alpha, _ = _split_pil(oriented)
            photo = Photo(pixels, alpha, oriented.info.get("icc_profile"))
            out = self.enhance_photo(photo)[-1]
            return to_pil(out)
        if not isinstance(image, np.ndarray):
            raise DataError(f"enhance() takes a PIL image or a numpy array, not {type(image)}")
        if image.ndim == 3 and image.shape[2] in (2, 4):  # gray + alpha, RGB + alpha
            colour = image[:, :, 0] if image.shape[2] == 2 else image[:, :, :3]
            photo = Photo(np.ascontiguousarray(colour), image[:, :, -1].copy())
            out = self.enhance_photo(photo)[-1]
            assert out.alpha is not None
            planes = out.pixels[:, :, None] if out.pixels.ndim == 2 else out.pixels
            return np.concatenate([planes, out.alpha[:, :, None]], axis=2)
        return self.enhance_pixels(image)[-1]


def to_pil(photo: Photo) -> Image.Image:
    """A PIL image of ``photo`` (L, LA, RGB, RGBA, or I;16 for 16-bit grayscale)."""
    pixels = photo.pixels
    if pixels.dtype == np.uint16 and (pixels.ndim == 3 or photo.alpha is not None):
        raise DataError("Pillow cannot hold a 16-bit colour image; use enhance_pixels()")
    if photo.alpha is None:
        img = Image.fromarray(pixels)
    else:
        colour = pixels[:, :, None] if pixels.ndim == 2 else pixels
        img = Image.fromarray(np.concatenate([colour, photo.alpha[:, :, None]], axis=2))
    if photo.icc_profile:
        img.info["icc_profile"] = photo.icc_profile
    return img
