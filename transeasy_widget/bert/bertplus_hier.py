"""TransEasy's ``bertplus_hier.analyzer``: attention variants, hidden states and figures, the original's names.

    from transeasy_widget.bert import bertplus_hier
    analysis = bertplus_hier.analyzer("sentence to be analyzed", ["optional", "word", "list"])

Its code's tree (``transeasy_tree.py``), which existing scripts use::

    analysis.attentions.noclssep.scale.linear.reduced.matrices        # and .raw, .noclssep.raw, .noclssep.scale.softmax
    analysis.attentions.noclssep.scale.linear.reduced.attention_distance_mean_abs   # _directed, _abs_std, _directed_std
    analysis.hidden_states.last / .all; analysis.tokenization.bert.wordpieces.noclssep; analysis.tokenization.wordpos(w)

Its README's names::

    analysis.bert.attentions.raw / .nosep / .nosep_linscale / .nosep_softmax_scale / .reduced
    analysis.bert.attentions.reduced.attention_distance_mean_abs    # and _directed, _abs_std, _directed_std
    analysis.bert.hidden_states.last / .all
    analysis.viz.raw(layer, head); analysis.viz.nosep_linscale(layer, head); analysis.viz.nosep_linscale_reduced(layer, head)

Unlike the original, the sentence is not lower-cased first (the tokenizer does that where its model is
uncased, as bert-base-uncased's does), and words are aligned to pieces by character offsets.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

import torch

from ..analysis import Analysis, analyze
from ..attention import AttentionViews, HiddenStates
from ..headstats import distances
from ..viz import Viz
from . import transeasy_tree

_DISTANCES = {"attention_distance_mean_abs": "distance_abs", "attention_distance_mean_directed": "distance_directed",
              "attention_distance_mean_abs_std": "distance_abs_std",
              "attention_distance_mean_directed_std": "distance_directed_std"}


class Attentions:
    """``raw``, ``nosep``, ``nosep_linscale``, ``nosep_softmax_scale`` and ``reduced`` (plain torch tensors);
    ``reduced`` also carries the original's four distances (L×H) as attributes. Anything else
    (``word_rows``, ``attn_row_by_pos``, ``labels``, ...) is the package's ``AttentionViews``."""

    def __init__(self, views: AttentionViews):
        self._views = views

    @cached_property
    def reduced(self) -> torch.Tensor:
        """The word-level matrix, with ``attention_distance_mean_abs``, ``..._directed``, ``..._abs_std`` and
        ``..._directed_std`` attached (a view of ``a.attentions.reduced``: same storage, its own attributes)."""
        reduced = self._views.reduced
        tagged = reduced.view_as(reduced)
        stats = distances(reduced)
        for name, key in _DISTANCES.items():
            setattr(tagged, name, stats[key])
        return tagged

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._views, name)

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | {n for n in dir(self._views) if not n.startswith("_")})


class Bert:
    """``attentions`` and ``hidden_states``, as ``analysis.bert`` holds them in the original."""

    def __init__(self, analysis: Analysis):
        self.attentions = Attentions(analysis.attentions)
        self.hidden_states: HiddenStates = analysis.hidden_states


class analyzer:  # noqa: N801 - the original's class name
    """Analyse one sentence (optionally with your own word list, e.g. Universal Dependencies tokens)."""

    def __init__(self, sentence: str, words: Sequence[str] | None = None, model: Any = None, tokenizer: Any = None,
                 **kwargs: Any):
        self.analysis: Analysis = analyze(sentence, model=model, tokenizer=tokenizer, words=words, **kwargs)
        self.bert = Bert(self.analysis)
        self.viz: Viz = self.analysis.viz
        self.attentions = transeasy_tree.Attentions(self.analysis)
        self.tokenization = transeasy_tree.Tokenization(self.analysis)
        self.hidden_states: HiddenStates = self.analysis.hidden_states

    @property
    def words(self) -> list[str]:
        """The words of the word-level view, in order."""
        return self.analysis.alignment.labels

    @property
    def tokens(self) -> list[str]:
        return self.analysis.tokens
