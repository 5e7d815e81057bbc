"""Decode once: training images kept in memory as uint8, up to a memory cap.

Cutting a 96 px patch costs microseconds; decoding the 2K PNG it comes from costs tens of
milliseconds. With the decoded images in memory the loader delivers patches far faster than
any generator here trains on them (``benchmarks/data_loader.py``), without worker processes.
The images are decoded in the main process when the data module is set up, before the
DataLoader starts its workers, which (forked, on Linux) then share them rather than each
decoding its own copy. Images beyond the cap are decoded on every visit, as without a cache,
so a data set larger than memory still trains (then ``data.num_workers`` matters).
"""

from __future__ import annotations

from lightning.fabric.utilities.rank_zero import rank_zero_only

from restorelab.data.sources import Sample, Source
from restorelab.errors import ConfigError

MB = 1 << 20


def sample_bytes(sample: Sample) -> int:
    """Memory held by a decoded sample's arrays."""
    return sample.gt.nbytes + (sample.lq.nbytes if sample.lq is not None else 0)


class MemoryCache(Source):
    """``source`` with its first images (in order) held decoded, ``cap_mb`` MB at most.

    Args:
        source: the images.
        cap_mb: memory cap in MB (2**20 bytes); 0 keeps nothing.
    """

    def __init__(self, source: Source, cap_mb: float) -> None:
        if cap_mb < 0:
            raise ConfigError(f"data.cache_train_mb must be >= 0, got {cap_mb}")
        self.source = source
        self.cap_bytes = int(cap_mb * MB)
        self.names = source.names
        self.sizes = source.sizes
        self._samples: dict[int, Sample] = {}
        self.held_bytes = 0

    def label(self, index: int) -> str:
        return self.source.label(index)

    def __getitem__(self, index: int) -> Sample:
        cached = self._samples.get(index)
        return cached if cached is not None else self.source[index]

    def preload(self) -> None:
        """Decode images in order until the next one would pass the cap (once)."""
        self.source.preload()
        if self._samples or self.cap_bytes == 0:
            return
        for index in range(len(self.names)):
            sample = self.source[index]
            size = sample_bytes(sample)
            if self.held_bytes + size > self.cap_bytes:
                break
            self._samples[index] = sample
            self.held_bytes += size
        if getattr(rank_zero_only, "rank", 0) == 0:  # one line per run under DDP
            print(
                f"data: {self.cached} of {len(self.names)} training images decoded into memory "
                f"({self.held_bytes / MB:.0f} MB; data.cache_train_mb={self.cap_bytes / MB:g})"
            )

    @property
    def cached(self) -> int:
        """How many images are held."""
        return len(self._samples)


def with_cache(source: Source | None, cap_mb: float) -> Source | None:
    """``source`` behind a :class:`MemoryCache` of ``cap_mb`` MB (as it is for 0)."""
    if cap_mb < 0:
        raise ConfigError(f"data.cache_train_mb must be >= 0, got {cap_mb}")
    return MemoryCache(source, cap_mb) if source is not None and cap_mb else source
