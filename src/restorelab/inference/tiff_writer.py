"""TIFF written strip by strip as rows come, by tifffile in a writer thread.

tifffile writes the strips of an image from an iterator that it pulls itself, while enhancement
pushes rows as its tiles finish; so tifffile runs in a thread of its own and this side hands it
finished strips through a small bounded queue (the producer waits when the queue is full). The
strips are deflate-compressed here, before they are queued, so the queue holds little.
"""

from __future__ import annotations

import queue
import threading
import zlib
from collections.abc import Iterator
from typing import IO, Any

import numpy as np
from PIL import Image

from restorelab.inference.row_writer import TIFF_ZLIB_LEVEL, Layout, RowCount

#: uncompressed bytes per TIFF strip (tifffile's own choice for compressed strips)
_TIFF_STRIP_BYTES = 256 * 1024
#: strips waiting for the TIFF writer thread; the queue blocks the producer beyond this
_TIFF_QUEUE_STRIPS = 16
#: seconds between checks that the writer thread is still alive while the queue is full
_TIFF_POLL_S = 0.1
#: a classic TIFF addresses 4 GiB; above this much pixel data (less a margin for the
#: directory and for deflate's worst-case growth) the file is a BigTIFF
_CLASSIC_TIFF_BYTES = 2**32 - 2**25
#: TIFF's type code of text (ASCII) tags
_TIFF_ASCII = 2


class _Aborted(Exception):
    """Raised inside the TIFF writer thread to stop tifffile."""


class TiffWriter:
    """A TIFF in deflate-compressed strips (``level`` 0: uncompressed), written by tifffile in
    a writer thread as the strips come (see the module docstring).

    EXIF: TIFF has no EXIF block; the EXIF's text tags (make, model, date, artist, copyright,
    ...) are written as TIFF tags, its sub-directories (Exif, GPS) are not.
    """

    def __init__(
        self,
        f: IO[bytes],
        layout: Layout,
        icc_profile: bytes | None = None,
        exif: bytes | None = None,
        level: int = TIFF_ZLIB_LEVEL,
    ) -> None:
        self.count = RowCount(layout)
        self.level = level
        self.file_dtype = np.dtype(layout.dtype).newbyteorder("<")
        row_bytes = layout.width * layout.planes * self.file_dtype.itemsize
        self.rows_per_strip = max(1, _TIFF_STRIP_BYTES // row_bytes)
        self.carry: np.ndarray | None = None  # rows short of a whole strip
        self.queue: queue.Queue[bytes | None] = queue.Queue(maxsize=_TIFF_QUEUE_STRIPS)
        self.stop = threading.Event()
        self.error: BaseException | None = None
        shape = (layout.height, layout.width, layout.planes)
        options: dict[str, Any] = {
            "shape": shape if layout.planes > 1 else shape[:2],
            "dtype": self.file_dtype,
            "photometric": "rgb" if layout.planes >= 3 else "minisblack",
            "extrasamples": ("unassalpha",) if layout.has_alpha else None,
            "rowsperstrip": self.rows_per_strip,
            "compression": "zlib" if level else None,
            "iccprofile": icc_profile,
            "extratags": exif_text_tags(exif),
            "metadata": None,  # no tifffile JSON description
            "software": False,
        }
        bigtiff = row_bytes * layout.height > _CLASSIC_TIFF_BYTES
        self.thread = threading.Thread(
            target=self._run, args=(f, bigtiff, options), name="tiff-writer", daemon=True
        )
        self.thread.start()

    def _run(self, f: IO[bytes], bigtiff: bool, options: dict[str, Any]) -> None:
        import tifffile

        try:
            with tifffile.TiffWriter(f, bigtiff=bigtiff, byteorder="<") as tif:
                tif.write(self._strips(), **options)
        except BaseException as e:  # handed to the producer, which raises it
            self.error = e

    def _strips(self) -> Iterator[bytes]:
        while True:
            strip = self.queue.get()
            if self.stop.is_set():
                raise _Aborted
            if strip is None:
                return
            yield strip

    def _put(self, item: bytes | None) -> None:
        while True:
            self._raise_thread_error()
            try:
                self.queue.put(item, timeout=_TIFF_POLL_S)
                return
            except queue.Full:
                if not self.thread.is_alive():
                    self._raise_thread_error()
                    raise RuntimeError("the TIFF writer thread stopped") from None

    def _raise_thread_error(self) -> None:
        if self.error is not None:
            raise self.error

    def _encode(self, strip: np.ndarray) -> bytes:
        data = np.ascontiguousarray(strip, dtype=self.file_dtype).tobytes()
        return zlib.compress(data, self.level) if self.level else data

    def write(self, rows: np.ndarray) -> None:
        planes = self.count.add(rows)
        n, start = self.rows_per_strip, 0
        if self.carry is not None:  # complete the strip begun by the previous rows
            start = min(n - len(self.carry), len(planes))
            self.carry = np.concatenate([self.carry, planes[:start]])
            if len(self.carry) < n:
                return
            self._put(self._encode(self.carry))
            self.carry = None
        end = start + (len(planes) - start) // n * n
        for y in range(start, end, n):
            self._put(self._encode(planes[y : y + n]))
        if end < len(planes):
            self.carry = planes[end:].copy()

    def close(self) -> None:
        try:
            self.count.check_complete()
            if self.carry is not None:
                self._put(self._encode(self.carry))
                self.carry = None
            self._put(None)
        except BaseException:
            self.abort()
            raise
        self.thread.join()
        self._raise_thread_error()

    def abort(self) -> None:
        self.stop.set()
        while True:  # make room, so the thread's next get() sees the stop at once
            try:
                self.queue.get_nowait()
            except queue.Empty:
                break
        self.queue.put(None)
        self.thread.join()


def exif_text_tags(exif: bytes | None) -> list[tuple[int, int, int, bytes, bool]]:
    """tifffile ``extratags`` for the text (ASCII) tags of EXIF's first directory."""
    if not exif:
        return []
    tags = Image.Exif()
    tags.load(exif)
    return [
        (code, _TIFF_ASCII, 0, value.encode("utf-8", "replace"), True)
        for code, value in sorted(tags.items())
        if isinstance(value, str)
    ]
