"""``CorpusStats``: per layer and head, the mean, variance and histogram of each head statistic over a corpus, its
most extreme texts, and (with a CoNLL-U corpus) the dependency-head counts. A partial result of any part of a
corpus is a CorpusStats too; ``merge`` adds them exactly: float64 sums, integer counts, and top-k lists kept in a
fixed order (value, then the text's index), so the result depends on neither order nor sharding beyond float64
rounding of the sums.

The per-text value of a statistic is the one ``tw.analyze(text).head_stats`` gives (``headstats.py`` defines them);
the corpus mean is the mean over texts of those values. ``norm_<stat>`` (entropy and the shares) is the same
statistic on the norm-based shares ‖α_ij f(x_j)‖ / Σ_j ‖α_ij f(x_j)‖ instead of the attention weights α_ij: the
per-text value ``tw.analyze(text).attentions.contributions.head_stats_by_norm[stat]`` gives (Kobayashi et al. 2020).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import torch

from ..errors import InputError, check_index
from ..headstats import DESCRIPTIONS
from .dependencies import DependencyCounts
from .inputs import Item

STATS: tuple[str, ...] = ("entropy", "cls", "sep", "punct", "self", "prev", "next",
                          "distance_abs", "distance_directed", "distance_abs_std", "distance_directed_std")
ROW_STATS = STATS[:7]  # the statistics of each row of a matrix; the rest are of the word-level matrix's argmax
# by norm: the statistics of the rows only; the word-level distances are left out, as their word-level matrix and
# argmax are about half the cost of a layer's reduction
NORM_STATS: tuple[str, ...] = tuple(f"norm_{name}" for name in ROW_STATS)
# which texts are a head's "most extreme" for a statistic: the largest values, the smallest, or the largest magnitudes
EXTREME = {"entropy": "smallest", "distance_directed": "abs", "distance_directed_std": "abs"}
ORDERS = ("largest", "smallest", "abs")
BINS = 40
FORMAT = 2  # of saved partials; 2 adds "stats" (format 1 held STATS only, and still loads)
STAT_DESCRIPTIONS: dict[str, str] = {
    **{name: DESCRIPTIONS[name] for name in STATS},
    **{f"norm_{name}": f"{DESCRIPTIONS[name]}; by norm: on the shares of ‖α_ij f(x_j)‖ (Kobayashi et al. 2020)"
       for name in ROW_STATS}}


def base_stat(name: str) -> str:
    """The statistic a norm-based one is the reading of (``norm_sep`` → ``sep``)."""
    return name.removeprefix("norm_")


def ranges_for(max_tokens: int, stats: tuple[str, ...] = STATS) -> dict[str, tuple[float, float]]:
    """Fixed histogram ranges per statistic (every partial of a run bins alike, so counts add exactly); a statistic
    by norm has the range of its reading by weight."""
    shares = dict.fromkeys(("cls", "sep", "punct", "self", "prev", "next"), (0.0, 1.0))
    by_weight = {"entropy": (0.0, math.log(max_tokens)), **shares, "distance_abs": (0.0, float(max_tokens)),
                 "distance_directed": (-float(max_tokens), float(max_tokens)), "distance_abs_std": (0.0, 1.0),
                 "distance_directed_std": (-1.0, 1.0)}
    return {name: by_weight[base_stat(name)] for name in stats}


def extreme_key(values: torch.Tensor, order: str) -> torch.Tensor:
    """A key whose largest entries are the most extreme values."""
    return {"largest": values, "smallest": -values, "abs": values.abs()}[order]


@dataclass
class CorpusStats:
    """Corpus-level head statistics. ``cs.mean("prev")`` → L×H; ``cs.var``, ``cs.histogram``; ``cs.top("prev")``
    → the heads with the largest mean; ``cs.examples("prev", layer, head)`` → the texts where that head is most
    extreme, and ``cs.example("prev", layer, head)`` opens the first as ``tw.analyze`` would. ``cs.stats`` names the
    statistics held: ``STATS`` (by attention weight), and ``NORM_STATS`` (``"norm_prev"``, …) unless run with
    ``norm=False``."""

    model_name: str
    layers: int
    heads: int
    k: int
    ranges: dict[str, tuple[float, float]]
    bins: int = BINS
    n_texts: int = 0
    n_tokens: int = 0  # pieces, special tokens included
    n_words: int = 0
    n_seen: int = 0  # texts of the corpus consumed (skipped ones included): where a resumed run goes on
    skipped: int = 0
    skip_notes: list[str] = field(default_factory=list)
    sums: torch.Tensor = field(default=None)  # type: ignore[assignment]  # S×L×H float64
    sumsq: torch.Tensor = field(default=None)  # type: ignore[assignment]
    hist: torch.Tensor = field(default=None)  # type: ignore[assignment]  # S×L×H×bins int64
    top_key: torch.Tensor = field(default=None)  # type: ignore[assignment]  # S×L×H×k float64, -inf: empty slot
    top_value: torch.Tensor = field(default=None)  # type: ignore[assignment]
    top_index: torch.Tensor = field(default=None)  # type: ignore[assignment]  # S×L×H×k int64, -1: empty slot
    texts: dict[int, Item] = field(default_factory=dict)  # the texts some top-k slot holds
    dependencies: DependencyCounts | None = None
    stats: tuple[str, ...] = STATS  # the statistics held, in the order of the first axis of sums, hist, top_*
    resolved: Any = field(default=None, repr=False, compare=False)  # the model, to open examples (not saved)

    STATS = STATS
    DESCRIPTIONS = STAT_DESCRIPTIONS

    def __post_init__(self) -> None:
        self.stats = tuple(self.stats)
        shape = (len(self.stats), self.layers, self.heads)
        if self.sums is None:
            self.sums = torch.zeros(shape, dtype=torch.float64)
            self.sumsq = torch.zeros(shape, dtype=torch.float64)
            self.hist = torch.zeros((*shape, self.bins), dtype=torch.int64)
            self.top_key = torch.full((*shape, self.k), -math.inf, dtype=torch.float64)
            self.top_value = torch.full((*shape, self.k), math.nan, dtype=torch.float64)
            self.top_index = torch.full((*shape, self.k), -1, dtype=torch.int64)

    # -- accumulating ---------------------------------------------------------------------------------------------
    def add_texts(self, values: torch.Tensor, items: list[Item], n_tokens: int, n_words: int) -> None:
        """Add the per-text values (S×L×H×B, one column per item) of one batch."""
        values = values.to(torch.float64)
        self.n_texts += len(items)
        self.n_tokens += n_tokens
        self.n_words += n_words
        self.sums += values.sum(-1)
        self.sumsq += values.square().sum(-1)
        self.hist += self._histogram(values)
        index = torch.tensor([it.index for it in items], dtype=torch.int64).expand(*values.shape[:-1], len(items))
        self._keep_top(self._keys(values), values, index)
        self.texts.update({it.index: it for it in items})
        self._prune_texts()

    def _keys(self, values: torch.Tensor) -> torch.Tensor:
        return torch.stack([extreme_key(values[s], EXTREME.get(base_stat(name), "largest"))
                            for s, name in enumerate(self.stats)])

    def _histogram(self, values: torch.Tensor) -> torch.Tensor:
        lo = torch.tensor([self.ranges[s][0] for s in self.stats], dtype=torch.float64)[:, None, None, None]
        hi = torch.tensor([self.ranges[s][1] for s in self.stats], dtype=torch.float64)[:, None, None, None]
        where = ((values - lo) / (hi - lo) * self.bins).floor().clamp(0, self.bins - 1).long()
        out = torch.zeros_like(self.hist)
        return out.scatter_add_(-1, where, torch.ones_like(where))

    def _keep_top(self, key: torch.Tensor, value: torch.Tensor, index: torch.Tensor) -> None:
        """The k best of the kept slots and the candidates: larger key first, ties to the smaller text index."""
        key = torch.cat([self.top_key, key], -1)
        value = torch.cat([self.top_value, value], -1)
        index = torch.cat([self.top_index, index], -1)
        by_index = torch.argsort(torch.where(index < 0, torch.iinfo(torch.int64).max, index), dim=-1, stable=True)
        key, value, index = (t.gather(-1, by_index) for t in (key, value, index))
        best = torch.argsort(key, dim=-1, descending=True, stable=True)[..., :self.k]
        self.top_key, self.top_value, self.top_index = (t.gather(-1, best) for t in (key, value, index))

    def _prune_texts(self) -> None:
        keep = set(self.top_index.unique().tolist())
        self.texts = {i: t for i, t in self.texts.items() if i in keep}

    def skip(self, note: str) -> None:
        self.skipped += 1
        if len(self.skip_notes) < 20:
            self.skip_notes.append(note)

    def merge(self, other: CorpusStats) -> CorpusStats:
        """This partial and another (of other texts of the same corpus and model) added: a new CorpusStats."""
        if self.stats != other.stats and (self.layers, self.heads) == (other.layers, other.heads):
            raise InputError(f"Cannot merge corpus statistics run with norm={NORM_STATS[0] in other.stats} into ones "
                             f"run with norm={NORM_STATS[0] in self.stats}: run every part with the same norm= "
                             "(resume a saved partial with the norm= it was run with).")
        if (self.layers, self.heads, self.k, self.ranges, self.bins) != (other.layers, other.heads, other.k,
                                                                          other.ranges, other.bins):
            raise InputError(f"Cannot merge corpus statistics of {other.model_name} ({other.layers}×{other.heads}, "
                             f"k={other.k}) into those of {self.model_name} ({self.layers}×{self.heads}, k={self.k}): "
                             "they come from different models or settings.")
        out = CorpusStats(self.model_name, self.layers, self.heads, self.k, dict(self.ranges), self.bins,
                          self.n_texts + other.n_texts, self.n_tokens + other.n_tokens, self.n_words + other.n_words,
                          self.n_seen + other.n_seen, self.skipped + other.skipped,
                          (self.skip_notes + other.skip_notes)[:20], self.sums + other.sums, self.sumsq + other.sumsq,
                          self.hist + other.hist, self.top_key.clone(), self.top_value.clone(), self.top_index.clone(),
                          {**self.texts, **other.texts}, stats=self.stats, resolved=self.resolved or other.resolved)
        out._keep_top(other.top_key, other.top_value, other.top_index)
        out._prune_texts()
        if self.dependencies is not None or other.dependencies is not None:
            deps = [d for d in (self.dependencies, other.dependencies) if d is not None]
            out.dependencies = deps[0].merge(deps[1]) if len(deps) == 2 else deps[0].copy()
        return out

    @classmethod
    def merged(cls, parts: list[CorpusStats]) -> CorpusStats:
        if not parts:
            raise InputError("Nothing to merge: pass at least one CorpusStats.")
        out = parts[0]
        for part in parts[1:]:
            out = out.merge(part)
        return out

    # -- saving and resuming --------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str] | BinaryIO) -> None:
        """Write this (partial) result; ``CorpusStats.load`` reads it, ``corpus_stats(..., resume=path)`` goes on."""
        state = {"format": FORMAT, "model_name": self.model_name, "layers": self.layers, "heads": self.heads,
                 "k": self.k, "ranges": {k: list(v) for k, v in self.ranges.items()}, "bins": self.bins,
                 "counts": [self.n_texts, self.n_tokens, self.n_words, self.n_seen, self.skipped],
                 "skip_notes": self.skip_notes, "sums": self.sums, "sumsq": self.sumsq, "hist": self.hist,
                 "top_key": self.top_key, "top_value": self.top_value, "top_index": self.top_index,
                 "texts": [t.to_dict() for t in self.texts.values()],
                 "dependencies": None if self.dependencies is None else self.dependencies.state(),
                 "stats": list(self.stats)}
        if not isinstance(path, (str, os.PathLike)):  # a file object (Ray sends partials as bytes)
            torch.save(state, path)
            return
        tmp = f"{os.fspath(path)}.tmp"
        torch.save(state, tmp)
        os.replace(tmp, path)  # a run stopped while saving leaves the previous partial whole

    @classmethod
    def load(cls, path: str | os.PathLike[str] | BinaryIO) -> CorpusStats:
        name = os.fspath(path) if isinstance(path, (str, os.PathLike)) else "the file object"
        try:
            state = torch.load(path, weights_only=True)
        except (OSError, RuntimeError, EOFError) as err:
            raise InputError(f"Cannot read saved corpus statistics from {name!r}: {err}") from err
        if not isinstance(state, dict) or state.get("format") not in (1, FORMAT):
            raise InputError(f"{name!r} does not hold corpus statistics saved by CorpusStats.save.")
        n_texts, n_tokens, n_words, n_seen, skipped = state["counts"]
        deps = state["dependencies"]
        return cls(state["model_name"], state["layers"], state["heads"], state["k"],
                   {k: (float(v[0]), float(v[1])) for k, v in state["ranges"].items()}, state["bins"], n_texts,
                   n_tokens, n_words, n_seen, skipped, list(state["skip_notes"]), state["sums"], state["sumsq"],
                   state["hist"], state["top_key"], state["top_value"], state["top_index"],
                   {int(d["index"]): Item.from_dict(d) for d in state["texts"]},
                   None if deps is None else DependencyCounts.from_state(deps), tuple(state.get("stats", STATS)))

    # -- reading the result ---------------------------------------------------------------------------------------
    def _stat(self, name: str) -> int:
        if name in NORM_STATS and name not in self.stats:
            raise InputError(f"{name!r} is a statistic by norm: these corpus statistics were run with norm=False. "
                             "Run tw.corpus_stats(..., norm=True) for it.")
        if name not in self.stats:
            raise InputError(f"No corpus statistic {name!r}: choose one of {', '.join(self.stats)}.")
        if self.n_texts == 0:
            raise InputError("No text was analysed (every text was skipped): there are no statistics.")
        return self.stats.index(name)

    def mean(self, name: str) -> torch.Tensor:
        """L×H: the mean over texts of the per-text value (float64)."""
        return self.sums[self._stat(name)] / self.n_texts

    def var(self, name: str) -> torch.Tensor:
        """L×H: the variance over texts of the per-text value (population variance, float64)."""
        s = self._stat(name)
        mean = self.sums[s] / self.n_texts
        return (self.sumsq[s] / self.n_texts - mean.square()).clamp_min(0.0)

    def std(self, name: str) -> torch.Tensor:
        return self.var(name).sqrt()

    def histogram(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(counts L×H×bins, the bins+1 edges): how many texts' values fall in each bin (the ends take the rest)."""
        s = self._stat(name)
        lo, hi = self.ranges[name]
        return self.hist[s], torch.linspace(lo, hi, self.bins + 1, dtype=torch.float64)

    def per_layer(self, name: str) -> torch.Tensor:
        """L: the mean over heads of each layer's mean."""
        return self.mean(name).mean(-1)

    def top(self, name: str, k: int = 3, order: str | None = None) -> list[tuple[int, int, float]]:
        """The k heads with the most notable corpus mean, as (layer, head, mean), most notable first."""
        values = self.mean(name)
        order = order or EXTREME.get(base_stat(name), "largest")
        if order not in ORDERS:
            raise InputError(f"order must be one of {', '.join(ORDERS)}, got {order!r}.")
        flat = values.flatten()
        best = torch.argsort(extreme_key(flat, order), descending=True, stable=True)[:max(0, int(k))]
        return [(int(i) // self.heads, int(i) % self.heads, float(flat[i])) for i in best]

    def examples(self, name: str, layer: int, head: int) -> list[tuple[float, Item]]:
        """The texts where this head is most extreme for the statistic, as (the text's value, the text), best first."""
        s = self._stat(name)
        layer, head = check_index("layer", layer, self.layers), check_index("head", head, self.heads)
        return [(float(v), self.texts[int(i)]) for v, i in zip(self.top_value[s, layer, head].tolist(),
                                                               self.top_index[s, layer, head].tolist(), strict=True)
                if i >= 0]

    def example(self, name: str, layer: int, head: int, rank: int = 0, model: Any = None, tokenizer: Any = None) -> Any:
        """``tw.analyze`` of the head's rank-th most extreme text (its CoNLL-U words as ``words=``).

        The model is the one the statistics came from; after ``CorpusStats.load`` pass ``model=`` (its name is
        ``cs.model_name``)."""
        from ..analysis import analyze

        found = self.examples(name, layer, head)
        rank = check_index("rank", rank, len(found)) if found else 0
        if not found:
            raise InputError(f"No example text is kept for {name} at layer {layer}, head {head}.")
        item = found[rank][1]
        if model is None:
            if self.resolved is None:
                raise InputError(f"These statistics were loaded from a file: pass model= (they come from {self.model_name}).")
            model, tokenizer = self.resolved.model, self.resolved.tokenizer
        return analyze(item.text, model=model, tokenizer=tokenizer, words=item.words)

    def dashboard(self, stat: str = "prev") -> Any:
        """The layer×head grid of a statistic's corpus mean (bqplot), linked to the widget of the selected head's
        most extreme text."""
        from .dashboard import CorpusDashboard

        return CorpusDashboard(self, stat)

    def summary(self, k: int = 1) -> str:
        lines = [f"{self.model_name}: {self.n_texts} texts, {self.n_tokens} tokens, {self.n_words} words"
                 + (f"; {self.skipped} skipped" if self.skipped else "")]
        for name in self.stats:
            heads = ", ".join(f"({layer}, {head}) {value:.3f}" for layer, head, value in self.top(name, k))
            lines.append(f"{name:<27} {heads}   {STAT_DESCRIPTIONS[name]}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        deps = ", dependency heads" if self.dependencies is not None else ""
        return (f"<CorpusStats of {self.model_name}: {self.n_texts} texts, {self.n_tokens} tokens, "
                f"{self.layers}×{self.heads} heads, {len(self.stats)} statistics{deps}>")
