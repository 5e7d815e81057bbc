"""Enhance a photo straight into its output files, one finished row band at a time.

Tiles are run one row of tiles after another (:mod:`restorelab.inference.tiling`); when a row
of tiles is done, the output rows it finished (a *row band*: about ``tile * scale`` rows, the
whole width) are final. A :class:`~restorelab.inference.tiling.BandCanvas` rounds them to the
photo's 8 or 16 bits, the alpha rows of the band are upscaled (:class:`~restorelab.inference.
alpha.AlphaRows`), and the band goes to the file's writer (:mod:`restorelab.inference.writers`)
and is let go. PNG and TIFF writers write it at once, so their memory is one band, whatever the
image's height; JPEG, WebP and BMP writers must gather the whole image for Pillow.

Every file is written to a temporary name and renamed when the image is complete
(:func:`restorelab.atomic.atomic_path`); an error or an interrupt removes them all.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from restorelab.atomic import atomic_path
from restorelab.errors import DataError
from restorelab.inference.alpha import AlphaRows
from restorelab.inference.image_io import Photo, output_format, write_error
from restorelab.inference.tiling import BandCanvas, Canvas, CanvasFactory
from restorelab.inference.writers import Layout, WriteOptions, check_format, finishing, open_writer

#: ``run(new_canvases)`` runs the generator over the photo, making its canvases with the factory.
RunFn = Callable[[CanvasFactory], object]


@contextlib.contextmanager
def _naming(path: Path) -> Iterator[None]:
    """Failures of the file machinery for ``path`` (an OSError, a writer's ValueError) as one
    DataError naming it. A DataError passes as it is, so the error of one output is not renamed
    by another's handler; the generator's ValueErrors are ConfigErrors by the time they pass."""
    try:
        yield
    except (OSError, ValueError) as e:
        raise write_error(path, e) from e


def stream_to_files(
    photo: Photo,
    run: RunFn,
    destinations: Callable[[int], Sequence[Path]],
    options: WriteOptions,
) -> list[Path]:
    """Run ``run`` with canvases that write each output of ``photo``'s enhancement to its file.

    ``destinations(n)`` names the ``n`` outputs' files once their number is known; all of them
    are checked (extension, what the format can hold) before any is opened.
    """
    if photo.pixels.dtype not in (np.uint8, np.uint16):
        raise DataError(f"files are written from uint8 or uint16 pixels, not {photo.pixels.dtype}")
    written: list[Path] = []
    with contextlib.ExitStack() as stack:

        def new_canvases(shapes: list[tuple[int, int, int]]) -> list[Canvas]:
            paths = [Path(p) for p in destinations(len(shapes))]
            if len(paths) != len(shapes):
                raise ValueError(f"{len(paths)} destinations for {len(shapes)} outputs")
            plans = []
            for (height, width, channels), path in zip(shapes, paths, strict=True):
                planes = channels + (photo.alpha is not None)
                layout = Layout(height, width, planes, photo.pixels.dtype)
                fmt = output_format(path)
                try:
                    check_format(fmt, layout)
                except DataError as e:
                    raise write_error(path, e) from None
                plans.append((path, fmt, layout))
            canvases: list[Canvas] = []
            for path, fmt, layout in plans:
                canvases.append(_open(stack, photo, path, fmt, layout, options))
                written.append(path)
            return canvases

        run(new_canvases)
    return written


def _open(
    stack: contextlib.ExitStack,
    photo: Photo,
    path: Path,
    fmt: str,
    layout: Layout,
    options: WriteOptions,
) -> BandCanvas:
    """Open ``path`` (a temporary file until the stack closes) and a canvas that writes to it."""
    stack.enter_context(_naming(path))
    tmp = stack.enter_context(atomic_path(path, suffix=".part"))
    f = stack.enter_context(open(tmp, "wb"))  # noqa: SIM115 (closed by the stack)
    writer = open_writer(f, fmt, layout, options, photo.icc_profile, photo.exif)
    stack.enter_context(finishing(writer))
    alpha = None
    if photo.alpha is not None:
        alpha = AlphaRows(photo.alpha, layout.height // photo.pixels.shape[0])

    def emit(y: int, band: np.ndarray) -> None:
        rows = band
        if alpha is not None:
            rows = np.concatenate([band, alpha.rows(y, y + len(band))[:, :, None]], axis=2)
        try:
            writer.write(rows)
        except (OSError, ValueError) as e:  # here, not as the generator's ValueError
            raise write_error(path, e) from e

    channels = layout.planes - layout.has_alpha
    return BandCanvas(layout.width, channels, layout.dtype, emit)
