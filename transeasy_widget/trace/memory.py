"""Giving a dropped trace's memory back to the system, not only to the allocator.

glibc's malloc keeps freed heap memory in the process: after analyses of varying length, each dropped, the
process held hundreds of MB it no longer used (MiniLM, 16 to 512 tokens: +298 MB after 120 analyses), which
looks like a leak on a laptop or in Colab. When a trace dies, ``release`` drops what it held and asks malloc
to return its free pages (``malloc_trim``, about 10 ms); elsewhere than glibc it only drops the references.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Any


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(None).malloc_trim  # type: ignore[no-any-return]
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl without it)
        return None


_TRIM = _malloc_trim()


def release(*held: Any) -> None:
    """Clear the containers a dead trace held (its stages, its cache), then return free heap pages to the system.

    Tensors a user still holds stay alive: only the trace's references go.
    """
    for container in held:
        container.clear()
    if _TRIM is not None:
        _TRIM(0)
