"""Run a generator over an image of any size in overlapping tiles, without seams.

The image is cut into a grid of *cores* (about ``tile`` pixels square, balanced so no sliver is
left at the border); each core is run with ``overlap`` extra input pixels of context on every
side. Where two cores meet, the two tiles' outputs are cross-faded with linear weights over a
band ``overlap`` input pixels wide centred on the boundary (the weights of all tiles sum to 1
everywhere). Inside that band each tile still has at least ``overlap / 2`` pixels of real
context, so when ``overlap`` is at least the generator's receptive field (its width, e.g.
``2 * n + 1`` for ``n`` 3x3 convolutions) both tiles are exact there and the tiled output equals
the untiled one up to float rounding; with smaller overlaps the cross-fade hides the seam.

Output is assembled tile by tile: a tile's pixels are handed to a :class:`Canvas` as soon as no
later tile touches them, and the canvas is told when a row band (the output rows of one row of
tiles) is final. Only two float buffers outlive a tile: the band to the right of the current tile
and the cross-fade band below the current row of tiles, so memory is bounded by the tile and the
band, never by a float copy of the whole output. :class:`BandCanvas` keeps only the current row
band, in 8/16 bits, and hands it on (to a file writer) when it is final; :class:`IntCanvas`
keeps the whole output.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from restorelab.errors import ConfigError


class Canvas(Protocol):
    """Receives finished float pixels of one output, block by block, row band by row band.

    The blocks of one row band all start at the same row and have the same height; they come
    left to right, and :meth:`rows_done` follows the band's last block.
    """

    def write(self, y: int, x: int, block: np.ndarray) -> None:
        """Store ``block`` (h, w, C) float32, values nominally in [0, 1], at row y, column x.

        The block is the canvas's to modify: the assembler does not reuse it."""

    def rows_done(self, end: int) -> None:
        """Every row above ``end`` is final: no later block touches it."""


class FloatCanvas:
    """A float32 (H, W, C) output: exact values, for tests and further processing."""

    def __init__(self, height: int, width: int, channels: int) -> None:
        self.array = np.zeros((height, width, channels), dtype=np.float32)

    def write(self, y: int, x: int, block: np.ndarray) -> None:
        self.array[y : y + block.shape[0], x : x + block.shape[1]] = block

    def rows_done(self, end: int) -> None:
        """Nothing to do: the whole output is kept."""


def to_int(block: np.ndarray, max_value: float) -> np.ndarray:
    """``block`` (float, nominally [0, 1]) clamped, scaled to ``max_value`` and rounded, in
    place: the caller no longer needs the float values."""
    np.clip(block, 0.0, 1.0, out=block)
    block *= max_value
    np.rint(block, out=block)
    return block


class IntCanvas:
    """A uint8 or uint16 (H, W, C) output: each block is clamped to [0, 1] and rounded."""

    def __init__(self, height: int, width: int, channels: int, dtype: np.dtype) -> None:
        self.array = np.empty((height, width, channels), dtype=dtype)
        self.max_value = float(np.iinfo(self.array.dtype).max)

    def write(self, y: int, x: int, block: np.ndarray) -> None:
        # in place: the assembler hands over a block it no longer needs
        self.array[y : y + block.shape[0], x : x + block.shape[1]] = to_int(block, self.max_value)

    def rows_done(self, end: int) -> None:
        """Nothing to do: the whole output is kept."""


#: ``emit(y, rows)``: rows ``y .. y + len(rows)`` of an output are final (``rows``: (n, W, C)).
RowsFn = Callable[[int, np.ndarray], None]


class BandCanvas:
    """A uint8 or uint16 output that keeps only the current row band and hands it to ``emit``
    when it is final, then lets it go: memory is one band (the output rows of one row of tiles,
    the whole width), whatever the image's height."""

    def __init__(self, width: int, channels: int, dtype: np.dtype, emit: RowsFn) -> None:
        self.width, self.channels, self.dtype = width, channels, np.dtype(dtype)
        self.max_value = float(np.iinfo(self.dtype).max)
        self.emit = emit
        self.band: np.ndarray | None = None  # the current band: a view of ``buffer``
        self.buffer: np.ndarray | None = None  # reused from band to band (less heap churn)
        self.top = 0  # first row of the band

    def write(self, y: int, x: int, block: np.ndarray) -> None:
        if self.band is None:
            rows = block.shape[0]
            if self.buffer is None or len(self.buffer) < rows:
                self.buffer = None  # let the smaller one go first
                self.buffer = np.empty((rows, self.width, self.channels), self.dtype)
            self.band = self.buffer[:rows]
            self.top = y
        if y != self.top or block.shape[0] != self.band.shape[0]:
            raise ValueError(
                f"block at row {y} ({block.shape[0]} rows) is outside the row band at "
                f"row {self.top} ({self.band.shape[0]} rows)"
            )
        self.band[:, x : x + block.shape[1]] = to_int(block, self.max_value)

    def rows_done(self, end: int) -> None:
        if self.band is None:
            return
        band, self.band = self.band, None
        if end != self.top + band.shape[0]:
            raise ValueError(f"rows up to {end} finished, but the band ends at {self.top}")
        self.emit(self.top, band)


def check_tiling(tile: int, overlap: int) -> None:
    """Validate ``tile``/``overlap`` (0 tile = the whole image at once)."""
    if tile < 0:
        raise ConfigError(f"--tile must be >= 0 (0: no tiling), got {tile}")
    if overlap < 0:
        raise ConfigError(f"--tile-overlap must be >= 0, got {overlap}")
    if tile and 2 * overlap > tile:
        raise ConfigError(
            f"--tile-overlap ({overlap}) must be at most half of --tile ({tile}): the "
            "cross-fade bands of a tile's two sides must not meet"
        )


def core_bounds(size: int, tile: int) -> list[int]:
    """Boundaries of the cores along one axis: ``ceil(size / tile)`` nearly equal parts."""
    if tile <= 0 or size <= tile:
        return [0, size]
    parts = -(-size // tile)
    return [j * size // parts for j in range(parts + 1)]


def _ramp(lo: int, hi: int, centre: int, half: int) -> np.ndarray:
    """Weights in [0, 1] over output pixels [lo, hi): 0 before the band around ``centre``,
    rising linearly across ``[centre - half, centre + half)``, 1 after it."""
    q = np.arange(lo, hi, dtype=np.float64) + 0.5
    if half == 0:
        return (q >= centre).astype(np.float32)
    return np.clip((q - (centre - half)) / (2 * half), 0.0, 1.0).astype(np.float32)


class _Assembler:
    """Blends the tiles of one output (one scale) and hands finished pixels to a canvas."""

    def __init__(
        self, canvas: Canvas, scale: int, rows: list[int], cols: list[int], overlap: int
    ) -> None:
        self.canvas = canvas
        self.scale = scale
        self.rows = [scale * r for r in rows]
        self.cols = [scale * c for c in cols]
        self.half = (scale * overlap) // 2  # half-width of the cross-fade band, output pixels
        self.below: np.ndarray | None = None  # band under the previous row of tiles
        self.next_below: np.ndarray | None = None
        self.spare: np.ndarray | None = None  # the band before ``below``, reused
        self.right: np.ndarray | None = None  # band right of the previous tile in this row

    def _support(self, bounds: list[int], k: int) -> tuple[int, int, np.ndarray]:
        """Output range a tile contributes to along one axis, and its weights there."""
        first, last = k == 0, k == len(bounds) - 2
        lo = bounds[k] if first else bounds[k] - self.half
        hi = bounds[k + 1] if last else bounds[k + 1] + self.half
        weight = np.ones(hi - lo, dtype=np.float32)
        if not first:
            weight *= _ramp(lo, hi, bounds[k], self.half)
        if not last:
            weight *= 1.0 - _ramp(lo, hi, bounds[k + 1], self.half)
        return lo, hi, weight

    def add(self, i: int, j: int, out: np.ndarray, origin: tuple[int, int]) -> None:
        """Blend tile (i, j), whose output ``out`` (h, w, C) starts at output ``origin``."""
        band = 2 * self.half
        last_row, last_col = i == len(self.rows) - 2, j == len(self.cols) - 2
        r0, r1, wy = self._support(self.rows, i)
        c0, c1, wx = self._support(self.cols, j)
        oy, ox = origin
        part = out[r0 - oy : r1 - oy, c0 - ox : c1 - ox] * wy[:, None, None] * wx[None, :, None]
        if j > 0 and band:
            assert self.right is not None
            part[:, :band] += self.right
        done_cols = part.shape[1] if last_col else part.shape[1] - band
        if not last_col:
            self.right = part[:, done_cols:].copy()
        block = part[:, :done_cols]
        if i > 0 and band:
            assert self.below is not None
            block[:band] += self.below[:, c0 : c0 + done_cols]
        done_rows = block.shape[0] if last_row else block.shape[0] - band
        if not last_row and band:
            if self.next_below is None:
                shape = (band, self.cols[-1], out.shape[2])
                spare, self.spare = self.spare, None
                self.next_below = spare if spare is not None else np.zeros(shape, np.float32)
            self.next_below[:, c0 : c0 + done_cols] = block[done_rows:]
        self.canvas.write(r0, c0, block[:done_rows])
        if last_col:
            # the row's tiles cover every column of next_below, so a spare needs no clearing
            self.spare, self.below = self.below, self.next_below
            self.next_below, self.right = None, None
            self.canvas.rows_done(r0 + done_rows)


#: ``run(tile)`` maps an input tile (h, w, C) to one or more float32 outputs (h*s, w*s, C').
TileFn = Callable[[np.ndarray], Sequence[np.ndarray]]
#: ``new_canvases([(height, width, channels), ...])`` makes the canvas of each output.
CanvasFactory = Callable[[list[tuple[int, int, int]]], list[Canvas]]


def run_tiled(
    image: np.ndarray,
    run: TileFn,
    new_canvases: CanvasFactory,
    tile: int = 0,
    overlap: int = 0,
    on_tile: Callable[[int, int], None] | None = None,
) -> list[Canvas]:
    """Apply ``run`` to ``image`` (H, W, C) tile by tile and assemble each of its outputs.

    Each output's scale is read from the first tile (an integer factor of the tile's size), so a
    multi-stage generator whose stages differ in resolution works too.

    Args:
        image: the input, any dtype ``run`` accepts, (H, W, C).
        run: the generator on one tile; returns a list of float32 (h*s, w*s, C') arrays.
        new_canvases: makes the destinations of all outputs, once, after the first tile (when
            their sizes are known) and before any pixel is handed over.
        tile: core size in input pixels (0: the whole image in one piece).
        overlap: context around each core, in input pixels (see the module docstring).
        on_tile: called with (tiles done, tiles total) after each tile, e.g. a progress bar.

    Returns:
        the canvases, one per output of ``run``.
    """
    check_tiling(tile, overlap)
    height, width = image.shape[:2]
    rows, cols = core_bounds(height, tile), core_bounds(width, tile)
    total = (len(rows) - 1) * (len(cols) - 1)
    assemblers: list[_Assembler] = []
    canvases: list[Canvas] = []
    done = 0
    for i in range(len(rows) - 1):
        y0, y1 = max(0, rows[i] - overlap), min(height, rows[i + 1] + overlap)
        for j in range(len(cols) - 1):
            x0, x1 = max(0, cols[j] - overlap), min(width, cols[j + 1] + overlap)
            outs = run(image[y0:y1, x0:x1])
            if not assemblers:
                scales = [_scale_of(out, y1 - y0, x1 - x0) for out in outs]
                shapes = [
                    (height * s, width * s, o.shape[2]) for s, o in zip(scales, outs, strict=True)
                ]
                canvases = new_canvases(shapes)
                for canvas, scale in zip(canvases, scales, strict=True):
                    assemblers.append(_Assembler(canvas, scale, rows, cols, overlap))
            if len(outs) != len(assemblers):
                raise ValueError(
                    f"the generator returned {len(assemblers)} outputs, then {len(outs)}"
                )
            for asm, out in zip(assemblers, outs, strict=True):
                s = asm.scale
                if out.shape[:2] != (s * (y1 - y0), s * (x1 - x0)):
                    raise ValueError(
                        f"tile {y1 - y0}x{x1 - x0} gave output {out.shape[0]}x{out.shape[1]}, "
                        f"not x{s} like the first tile"
                    )
                asm.add(i, j, out, (s * y0, s * x0))
            done += 1
            if on_tile is not None:
                on_tile(done, total)
    return canvases


def _scale_of(out: np.ndarray, h: int, w: int) -> int:
    """The integer factor between a tile's input size (h, w) and its output."""
    scale = out.shape[0] // h
    if scale < 1 or out.shape[0] != scale * h or out.shape[1] != scale * w:
        raise ValueError(
            f"generator output {out.shape[0]}x{out.shape[1]} is not an integer multiple of "
            f"its input {h}x{w}"
        )
    return scale
