"""Per-head statistics (L×H tensors): TransEasy's attention distances and Clark et al. 2019's attention shares.

With A the raw piece-level attention (L×H×n×n, rows sum to 1) and rows i = 0..n-1 (special tokens included):

- ``entropy``: mean over rows of -Σ_j A[i,j] log A[i,j] (natural log; 0 log 0 = 0). Uniform rows: log n.
- ``cls``: mean over rows of the attention to the [CLS] piece (``<s>`` for RoBERTa-like tokenizers).
- ``sep``: mean over rows of the attention to every other special piece ([SEP]s, ``</s>``s) together.
- ``punct``: mean over rows of the attention to punctuation pieces (the characters a piece covers in the
  text are all Unicode punctuation, category P*).
- ``bos``: mean over rows i = 1..n-1 of A[i, 0], the attention to the first piece (BOS: the sink of causal
  models; [CLS] in encoders). See ``induction.bos_share``.
- ``self``: mean over rows of A[i, i].
- ``prev``: mean over rows i = 1..n-1 of A[i, i-1] (the rows that have a previous token).
- ``next``: mean over rows i = 0..n-2 of A[i, i+1].

Special tokens come from the tokenizer (``Encoding.special``; [CLS] is the special piece whose id is the
tokenizer's ``cls_token_id``, else the first piece when it is special), never from the literal text.

TransEasy's four distances, on the word-level ``reduced`` matrix R (m words, rows i = 0..m-1):

- ``distance_abs``: mean over i of |argmax_j R[i, j] - i| (``attention_distance_mean_abs``).
- ``distance_directed``: mean over i of argmax_j R[i, j] - i; negative: the head looks left.
- ``distance_abs_std``, ``distance_directed_std``: the two above divided by m, the number of words
  (TransEasy's "standardised" distances, comparable across sentence lengths).
  Ties in the argmax go to the first (leftmost) word.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from typing import Any

import torch

from .attention import AttentionViews
from .errors import InputError
from .induction import bos_share
from .tokens import Encoding

DESCRIPTIONS: dict[str, str] = {
    "entropy": "mean entropy of a row (nats): low = focused, log n = uniform",
    "cls": "mean share of attention to [CLS] (<s>)",
    "sep": "mean share of attention to [SEP] (</s>) pieces",
    "punct": "mean share of attention to punctuation pieces",
    "bos": "mean share of attention to the first piece (BOS, the sink of causal models), rows 1..n-1",
    "self": "mean share of attention to the token itself",
    "prev": "mean share of attention to the previous token",
    "next": "mean share of attention to the next token",
    "distance_abs": "mean |argmax word - word| on the word-level matrix (attention_distance_mean_abs)",
    "distance_directed": "mean argmax word - word; negative looks left (attention_distance_mean_directed)",
    "distance_abs_std": "distance_abs divided by the number of words",
    "distance_directed_std": "distance_directed divided by the number of words",
}
# how "notable" reads for each statistic in HeadStats.top: the largest values, or the largest magnitudes
_ORDER = {"distance_directed": "abs", "distance_directed_std": "abs", "entropy": "smallest"}
ORDERS = ("largest", "smallest", "abs")
_OF_RAW = ("entropy", "cls", "sep", "punct", "bos", "self", "prev", "next")  # the rest come from the word-level matrix


def special_roles(enc: Encoding, cls_token_id: int | None) -> tuple[list[int], list[int]]:
    """Positions of the [CLS]-like piece(s) and of the other special pieces ([SEP]-like)."""
    special = [p for p, s in enumerate(enc.special) if s]
    cls = [p for p in special if cls_token_id is not None and enc.ids[p] == cls_token_id]
    if not cls and special and special[0] == 0:
        cls = [0]
    return cls, [p for p in special if p not in cls]


def punctuation_pieces(enc: Encoding) -> list[int]:
    """Positions of the non-special pieces whose characters in the text are all Unicode punctuation."""
    out = []
    for p in range(enc.n):
        if enc.special[p]:
            continue
        if enc.offsets is not None:
            lo, hi = enc.offsets[p]
            text = enc.text if (enc.sequence[p] or 0) == 0 else (enc.text_pair or "")
            chars = text[lo:hi].strip()
        else:  # no offsets: the piece string without its family's word markers
            chars = enc.tokens[p].removeprefix("##").lstrip("Ġ▁").strip()
        if chars and all(unicodedata.category(c).startswith("P") for c in chars):
            out.append(p)
    return out


def entropy(attn: torch.Tensor) -> torch.Tensor:
    return -torch.special.xlogy(attn, attn).sum(-1).mean(-1)


def share_to(attn: torch.Tensor, columns: list[int]) -> torch.Tensor:
    """Mean over rows of the attention to the given columns together (0 where there are none)."""
    if not columns:
        return attn.new_zeros(attn.shape[:-2])
    return attn[..., torch.tensor(columns, device=attn.device)].sum(-1).mean(-1)


def diagonal_share(attn: torch.Tensor, offset: int) -> torch.Tensor:
    """Mean of A[i, i + offset] over the rows where that column exists (0 for a single piece)."""
    diag = torch.diagonal(attn, offset=offset, dim1=-2, dim2=-1)
    return diag.mean(-1) if diag.shape[-1] else attn.new_zeros(attn.shape[:-2])


def distances(reduced: torch.Tensor) -> dict[str, torch.Tensor]:
    """TransEasy's four attention distances of a word-level matrix (L×H×m×m) → four L×H tensors."""
    m = reduced.shape[-1]
    steps = (reduced.argmax(-1) - torch.arange(m, device=reduced.device)).to(reduced.dtype)
    directed, absolute = steps.mean(-1), steps.abs().mean(-1)
    return {"distance_abs": absolute, "distance_directed": directed,
            "distance_abs_std": absolute / m, "distance_directed_std": directed / m}


class HeadStats:
    """Per-head statistics by name, each an L×H tensor, computed on first use layer by layer (one layer's
    attention at a time, then dropped): ``stats["prev"]``, ``stats.prev``,
    ``dict(stats.items())``; ``stats.top("prev", k=3)`` → [(layer, head, value)]; ``DESCRIPTIONS`` says what each is.
    """

    NAMES: tuple[str, ...] = tuple(DESCRIPTIONS)
    DESCRIPTIONS = DESCRIPTIONS

    def __init__(self, views: AttentionViews, cls_token_id: int | None = None):
        self.views = views
        self._cls_token_id = cls_token_id
        self._cache: dict[str, torch.Tensor] = {}
        self.added: dict[str, tuple[torch.Tensor, str]] = {}  # name → (L×H values, description): ``add``

    def add(self, name: str, values: torch.Tensor, description: str) -> None:
        """Keep another per-head statistic (an L×H tensor computed elsewhere, e.g. ``a.ablation_importance()``)
        under ``name``, so that ``stats[name]`` and the dashboard's grid (``a.dashboard(name)``) show it."""
        shape = (self.views.n_layers, self.views.n_heads)
        if name in DESCRIPTIONS:
            raise InputError(f"{name!r} is a built-in head statistic: give the added one another name.")
        if not isinstance(values, torch.Tensor) or tuple(values.shape) != shape:
            raise InputError(f"A head statistic is an L×H tensor ({shape[0]}×{shape[1]} here), got "
                             f"{getattr(values, 'shape', type(values).__name__)}.")
        self.added[name] = (values, description)

    def describe(self, name: str) -> str:
        """What a statistic is: the built-in ones' ``DESCRIPTIONS``, or an added one's description."""
        if name in self.added:
            return self.added[name][1]
        self[name]  # unknown names raise
        return DESCRIPTIONS[name]

    def _shares(self) -> dict[str, torch.Tensor]:
        """The seven statistics of the raw attention, layer by layer (each layer's attention dropped after use)."""
        enc = self.views.encoding
        cls, sep = special_roles(enc, self._cls_token_id)
        punct = punctuation_pieces(enc)
        per_layer: dict[str, list[torch.Tensor]] = {name: [] for name in _OF_RAW}
        for layer in range(self.views.n_layers):
            attn = self.views.layer("raw", layer)
            values = {"entropy": entropy(attn), "cls": share_to(attn, cls), "sep": share_to(attn, sep),
                      "punct": share_to(attn, punct), "bos": bos_share(attn), "self": diagonal_share(attn, 0),
                      "prev": diagonal_share(attn, -1), "next": diagonal_share(attn, 1)}
            for name in _OF_RAW:
                per_layer[name].append(values[name])
        return {name: torch.stack(values) for name, values in per_layer.items()}

    def _distances(self) -> dict[str, torch.Tensor]:
        """The four distances of the word-level attention, layer by layer."""
        per_layer = [distances(self.views.layer("reduced", layer)) for layer in range(self.views.n_layers)]
        return {name: torch.stack([d[name] for d in per_layer]) for name in per_layer[0]}

    def __getitem__(self, name: str) -> torch.Tensor:
        if name in self.added:
            return self.added[name][0]
        if name not in DESCRIPTIONS:
            raise InputError(f"No head statistic {name!r}: choose one of {', '.join([*DESCRIPTIONS, *self.added])}.")
        if name not in self._cache:  # one sweep over the layers computes its whole family of statistics
            self._cache.update(self._shares() if name in _OF_RAW else self._distances())
        return self._cache[name]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name == "added" or name not in DESCRIPTIONS:
            raise AttributeError(name)
        return self[name]

    def __iter__(self) -> Iterator[str]:
        return iter(DESCRIPTIONS)

    def __len__(self) -> int:
        return len(DESCRIPTIONS)

    def __contains__(self, name: object) -> bool:
        return name in DESCRIPTIONS or name in self.added

    def keys(self) -> list[str]:
        return list(DESCRIPTIONS)

    def items(self) -> Iterator[tuple[str, torch.Tensor]]:
        return ((name, self[name]) for name in DESCRIPTIONS)

    def top(self, name: str, k: int = 3, order: str | None = None) -> list[tuple[int, int, float]]:
        """The k most notable heads for a statistic, as (layer, head, value), most notable first.

        ``order``: "largest", "smallest" or "abs" (largest magnitude); by default "largest", but "smallest" for
        entropy (the most focused heads) and "abs" for the directed distances.
        """
        values = self[name].detach().float().cpu()
        order = order or _ORDER.get(name, "largest")
        if order not in ORDERS:
            raise InputError(f"order must be one of {', '.join(ORDERS)}, got {order!r}.")
        flat = values.flatten()
        key = {"largest": flat, "smallest": -flat, "abs": flat.abs()}[order]
        best = torch.argsort(key, descending=True, stable=True)
        best = best[~flat[best].isnan()][:max(0, int(k))]  # NaN: not computed (an added statistic's left-out layers)
        heads = values.shape[1]
        return [(int(i) // heads, int(i) % heads, float(flat[i])) for i in best]

    def summary(self, k: int = 1) -> str:
        """One line per statistic: its k most notable heads as "(layer, head) value" (0-based, as in ``viz.raw(layer, head)``)."""
        lines = []
        for name in DESCRIPTIONS:
            try:
                best = self.top(name, k)
            except InputError as err:  # no word alignment (slow tokenizer): the distances cannot be computed
                lines.append(f"{name:<22} — ({err})")
                continue
            heads = ", ".join(f"({layer}, {head}) {value:.3f}" for layer, head, value in best)
            lines.append(f"{name:<22} {heads}   {DESCRIPTIONS[name]}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"<HeadStats: {len(self)} statistics per head ({self.views.n_layers}×{self.views.n_heads}): "
                f"{', '.join(DESCRIPTIONS)}>")
