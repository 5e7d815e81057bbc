"""Give freed buffers back to the system at once, so enhancement's peak memory is its live memory.

glibc's ``malloc`` serves a request above a threshold with its own ``mmap`` and unmaps it on
``free``. But the threshold moves: each time such a buffer is freed it rises to that buffer's
size (up to 32 MiB), and from then on buffers of tile size (a few MB: a tile's activations, its
float output, the blending bands) come from the heap, where freed space stays resident and
fragments. Over a large image the peak then creeps up band after band by tens of MB, differing
from run to run (with the default generator at x4 on a 512x1536 input, 300-323 MiB for the same
command; with the threshold fixed at 1 MiB, 281 MiB every time). Setting the threshold
(``mallopt(M_MMAP_THRESHOLD)``) also stops it from moving. Cost: a page fault per 4 KiB of each
large buffer when it is first touched, which is small beside the convolutions that fill it.

``restorelab-enhance`` calls :func:`return_large_buffers` once; it is process-wide, so library
code (``Enhancer``) leaves the decision to its caller. On other C libraries (macOS, Windows,
musl) it does nothing and says so.
"""

from __future__ import annotations

import ctypes
import sys

#: glibc's ``mallopt`` parameter number of the mmap threshold (``M_MMAP_THRESHOLD``)
_M_MMAP_THRESHOLD = -3
#: from this size up, buffers are mapped and unmapped on their own: tile-sized arrays are,
#: Python's small objects are not
MMAP_THRESHOLD_BYTES = 1 << 20


def return_large_buffers(threshold: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Fix glibc's mmap threshold at ``threshold`` bytes; True if the C library took it."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this process already runs on
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, threshold))
