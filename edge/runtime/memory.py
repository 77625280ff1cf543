"""Keep the agent's resident memory small on a 1 GB board.

glibc gives every thread that allocates its own malloc arena; with a dozen threads that
leaves tens of MB of fragmented, never-returned heap. Two arenas are plenty for this agent.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

M_ARENA_MAX = -8
M_MMAP_THRESHOLD = -3


def limit_malloc_arenas(count: int = 2, mmap_threshold: int = 256 * 1024) -> bool:
    """Cap glibc's malloc arenas (like MALLOC_ARENA_MAX) and pin the mmap threshold, so that
    frame-sized buffers (a 640x480 float image is 3.7 MB) are always mapped and unmapped on free
    instead of fragmenting the heap (glibc otherwise raises the threshold as big blocks are freed).
    A no-op where libc is not glibc."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        return bool(libc.mallopt(M_ARENA_MAX, count)) and bool(libc.mallopt(M_MMAP_THRESHOLD, mmap_threshold))
    except (OSError, AttributeError):
        log.debug("mallopt unavailable; malloc arenas left as they are")
        return False


_libc = None


def trim_heap() -> bool:
    """Give freed heap pages back to the system (glibc malloc_trim). Frames come and go at 10 fps;
    without this, RSS stays at the high-water mark of the busiest moment."""
    global _libc
    if _libc is None:
        name = ctypes.util.find_library("c")
        if not name:
            return False
        try:
            _libc = ctypes.CDLL(name)
        except OSError:
            return False
    try:
        return bool(_libc.malloc_trim(0))
    except AttributeError:  # not glibc
        return False
