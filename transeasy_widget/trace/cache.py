"""A bounded cache of computed layers: each analysis's own, least recently used out, gone with its trace.

A layer's stages are recomputed from X_l on first access; the cache keeps the most recently used layers up
to a budget in MB, so that asking for several stages of one layer, or going back to a layer just seen,
does not compute it again. There is no pool shared between analyses: dropping an analysis frees its cache.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping

import torch

from ..errors import InputError

DEFAULT_MB = 512.0  # bert-base at 512 tokens: 8 of its 12 layers (64 MB each); MiniLM at 512 tokens: all 6


def nbytes(stages: Mapping[str, torch.Tensor]) -> int:
    """Bytes of the distinct storages behind a layer's stages (views and aliases counted once)."""
    storages = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in stages.values()}
    return sum(storages.values())


def check_budget(value: object) -> float:
    """A cache budget in MB: a finite number, 0 or more."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
        raise InputError(f"cache_mb is the MB of computed layers to keep, a number ≥ 0 (0 keeps none), got {value!r}.")
    return float(value)


class LayerCache:
    """Layer index → that layer's stages, at most ``budget_mb`` of them, least recently used out.

    One layer larger than the whole budget is still kept alone (as the last one computed), so that asking for
    two stages of one layer never computes it twice; ``budget_mb=0`` keeps nothing.
    """

    def __init__(self, budget_mb: float = DEFAULT_MB):
        self._layers: OrderedDict[int, tuple[dict[str, torch.Tensor], int]] = OrderedDict()
        self._lock = threading.Lock()
        self.budget_mb = budget_mb

    @property
    def budget_mb(self) -> float:
        return self._budget / 2**20

    @budget_mb.setter
    def budget_mb(self, value: float) -> None:
        budget = int(check_budget(value) * 2**20)
        with self._lock:
            self._budget = budget
            self._evict()

    def get(self, layer: int) -> dict[str, torch.Tensor] | None:
        with self._lock:
            entry = self._layers.get(layer)
            if entry is None:
                return None
            self._layers.move_to_end(layer)
            return entry[0]

    def put(self, layer: int, stages: dict[str, torch.Tensor]) -> None:
        if self._budget == 0:
            return
        with self._lock:
            self._layers[layer] = (stages, nbytes(stages))
            self._layers.move_to_end(layer)
            self._evict()

    def _evict(self) -> None:
        while self._layers and ((self.nbytes > self._budget and len(self._layers) > 1) or self._budget == 0):
            self._layers.popitem(last=False)

    @property
    def nbytes(self) -> int:
        """Bytes held now."""
        return sum(size for _, size in self._layers.values())

    @property
    def layers(self) -> list[int]:
        """The layers held, least recently used first."""
        return list(self._layers)

    def clear(self) -> None:
        with self._lock:
            self._layers.clear()

    def __repr__(self) -> str:
        return (f"<LayerCache: layers {self.layers} held, {self.nbytes / 2**20:.1f} of {self.budget_mb:g} MB "
                "(least recently used out)>")
