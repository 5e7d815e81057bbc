"""Several sources as one: a training set mixed from folders (T91 + BSD400 + photos, DF2K).

``data.train_dir`` may name several folders; their images are visited as one list, in the
order given, so every image counts once per ``data.repeat`` whatever folder it is in.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from itertools import accumulate

from restorelab.data.sources import Sample, Source
from restorelab.errors import DataError


class ConcatSource(Source):
    """The samples of ``sources``, one after the other.

    Args:
        sources: at least one source; names and sizes are concatenated.
    """

    def __init__(self, sources: Sequence[Source]) -> None:
        if not sources:
            raise DataError("no sources to concatenate (an empty list of folders?)")
        self.sources = list(sources)
        self.names = [n for s in self.sources for n in s.names]
        self._starts = [0, *accumulate(len(s) for s in self.sources)][:-1]
        sizes = [s.sizes for s in self.sources]
        self.sizes = None if any(z is None for z in sizes) else [x for z in sizes for x in z or ()]

    def _locate(self, index: int) -> tuple[Source, int]:
        if not 0 <= index < len(self.names):
            raise IndexError(index)
        part = bisect_right(self._starts, index) - 1
        return self.sources[part], index - self._starts[part]

    def label(self, index: int) -> str:
        source, local = self._locate(index)
        return source.label(local)

    def __getitem__(self, index: int) -> Sample:
        source, local = self._locate(index)
        return source[local]

    def preload(self) -> None:
        for source in self.sources:
            source.preload()
