"""Stage buffers: the large CPU tensors a trace keeps, from a small pool of memory regions that dead traces give back.

A trace writes every stage once into buffers it keeps (hundreds of MB at 512 tokens). Fresh memory is costly to
touch the first time (page faults; on virtual machines the host backs each page on first use), while the model's
own pass reuses the memory of its temporaries. So large buffers come from anonymous memory regions advised for
transparent huge pages, and a region goes back to a pool when the storage of its tensor dies (every view included,
checked with torch's storage weak references); the next trace reuses it warm. The pool keeps at most
``keep_bytes`` of free regions; ``release_memory()`` returns them all to the system.
"""

from __future__ import annotations

import contextlib
import math
import mmap
import threading
from dataclasses import dataclass
from typing import Any

import torch
from torch.multiprocessing.reductions import StorageWeakRef

HUGE_PAGE = 2 << 20  # buffers from this size on come from the pool
_RESERVED = object()  # a region being handed out, before its tensor exists


@dataclass(eq=False)
class _Region:
    memory: mmap.mmap
    size: int
    owner: Any = None  # StorageWeakRef of the tensor living in it; _RESERVED while being handed out; None: free

    def free(self) -> bool:
        return self.owner is None or (self.owner is not _RESERVED and self.owner.expired())


class RegionPool:
    def __init__(self, keep_bytes: int = 2 << 30):
        self.keep_bytes = keep_bytes
        self._regions: list[_Region] = []
        self._lock = threading.Lock()

    def tensor(self, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        """An uninitialised CPU tensor in a pooled region (a warm one where a dead trace left one that fits)."""
        numel = math.prod(shape)
        nbytes = numel * torch.empty((), dtype=dtype).element_size()
        region = self._take(nbytes)
        t = torch.frombuffer(region.memory, dtype=dtype, count=numel).view(shape)  # keeps the region's memory alive
        region.owner = StorageWeakRef(t.untyped_storage())
        return t

    def _take(self, nbytes: int) -> _Region:
        with self._lock:
            free = [r for r in self._regions if r.free()]
            # the smallest free region that fits without wasting more than half of it
            fits = [r for r in free if nbytes <= r.size <= 2 * nbytes + HUGE_PAGE]
            region = min(fits, key=lambda r: r.size) if fits else None
            if region is None:
                # sized to the page, not to a huge page: a partly touched huge page at the end would be resident whole
                size = -(-nbytes // mmap.PAGESIZE) * mmap.PAGESIZE
                memory = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
                with contextlib.suppress(OSError, AttributeError):  # advice only: without THP, ordinary pages
                    memory.madvise(mmap.MADV_HUGEPAGE)
                region = _Region(memory, size)
                self._regions.append(region)
            region.owner = _RESERVED
            self._trim([r for r in free if r is not region])
            return region

    def _trim(self, free: list[_Region]) -> None:
        """Unmap free regions, the largest first, until at most keep_bytes stay pooled."""
        kept = sum(r.size for r in free)
        for region in sorted(free, key=lambda r: -r.size):
            if kept <= self.keep_bytes:
                break
            self._regions.remove(region)
            region.memory.close()
            kept -= region.size

    def release(self) -> int:
        """Unmap every free region; returns the bytes given back."""
        with self._lock:
            free = [r for r in self._regions if r.free()]
            for region in free:
                self._regions.remove(region)
                region.memory.close()
            return sum(r.size for r in free)

    @property
    def pooled_bytes(self) -> int:
        """Bytes of free regions waiting for the next trace."""
        with self._lock:
            return sum(r.size for r in self._regions if r.free())


POOL = RegionPool()


def stage_buffer(shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """An uninitialised buffer for one stage: large CPU ones from the pool, the rest from torch (whose CUDA
    allocator caches on its own)."""
    nbytes = math.prod(shape) * torch.empty((), dtype=dtype).element_size()
    if device.type != "cpu" or nbytes < HUGE_PAGE:
        return torch.empty(shape, dtype=dtype, device=device)
    return POOL.tensor(shape, dtype)


def release_memory() -> int:
    """Give the memory that dropped traces left in the pool back to the system; returns the bytes freed."""
    return POOL.release()
