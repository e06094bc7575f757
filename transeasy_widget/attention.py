"""Attention matrices for analysis (TransEasy's bertplus variants, word-level merging) and the hidden states.

With A the model's attention (L×H×n×n, ``trace.selfattn_attention``):

- ``raw``: A itself.
- ``nosep``: A without the rows and columns of the special tokens. For one sentence that is exactly
  TransEasy's ``A[..., 1:-1, 1:-1]`` (a view); for a pair every special token goes ([CLS] and both [SEP]s).
  Special tokens are the tokenizer's own (``Encoding.special``), so ``<s>``/``</s>`` go too.
- ``nosep_linscale``: nosep with each row divided by its sum (rows sum to 1 again). A row whose nosep part
  is exactly 0 (all its attention on special tokens, underflowed) becomes uniform, never NaN.
- ``nosep_softmax_scale``: softmax over the last axis of nosep (TransEasy's second rescaling); a causal model's
  masked keys (after the query, or outside its window) stay out of it, at 0.
- ``reduced``: nosep_linscale merged to words (Clark et al. 2019): the row of a word is the MEAN of the rows
  of its pieces, then the column of a word is the SUM of the columns of its pieces; rows still sum to 1.
  That is ``P @ nosep_linscale @ Q`` with P the m×k row-averaging and Q the k×m column-summing assignment
  matrices; it is computed as two scatter-adds over the piece→word index (the same sums, without the
  k×k×m multiply-adds by zero of a dense product).

Each variant is computed per layer from that layer's attention: ``views.layer(variant, l)`` (H×m×m) computes
one layer only (the trace recomputes its attention from X_l, or takes it from its cache). The full-shape
properties (``views.raw``, ``views.reduced``, ``views.get(variant)``, L×H×m×m) compute every layer and stack
them into a new tensor on each call: for a loop over layers, ask ``layer`` instead. Nothing is cached here
(the trace's cache holds the layers).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any

import torch

from .errors import InputError, check_index
from .tokens import Encoding
from .words import Alignment

if TYPE_CHECKING:
    from .contributions import Contributions

VARIANTS: tuple[str, ...] = ("raw", "nosep", "nosep_linscale", "nosep_softmax_scale", "reduced")


class AttentionViews:
    """The five attention variants of one analysis, their labels and segments: one layer with ``layer(variant, l)``,
    every layer with ``get(variant)`` or the variant's property.

    ``attention`` is either the L×H×n×n tensor itself, or a function giving layer l's H×n×n attention (then
    ``layers`` says how many there are): ``AttentionViews.of_trace`` builds the latter from a trace.
    """

    VARIANTS = VARIANTS

    def __init__(self, attention: torch.Tensor | Callable[[int], torch.Tensor], encoding: Encoding,
                 alignment: Callable[[], Alignment], layers: int | None = None, heads: int | None = None,
                 inputs: Any = None, mask: Callable[[int], torch.Tensor] | None = None):
        if isinstance(attention, torch.Tensor):
            self._whole: torch.Tensor | None = attention
            self._layer_attention: Callable[[int], torch.Tensor] = attention.__getitem__
            layers, heads = attention.shape[0], attention.shape[1]
        elif layers is None:
            raise TypeError("AttentionViews of a per-layer function needs layers=")
        else:
            self._whole, self._layer_attention = None, attention
        self.n_layers: int = layers
        self.n_heads = heads
        self.encoding = encoding
        self._alignment = alignment
        self._inputs = inputs  # analysis.Inputs, for the views beyond attention weights (None: not available)
        self._mask = mask  # a causal model's layer l mask (n×n, True where a query may attend); None: none

    @classmethod
    def of_trace(cls, trace: object, encoding: Encoding, alignment: Callable[[], Alignment],
                 inputs: Any = None) -> AttentionViews:
        """The views of a trace's attention, read one layer at a time (``trace["selfattn_attention", l]``)."""
        sizes = trace.sizes  # type: ignore[attr-defined]
        mask = (lambda layer: trace["selfattn_mask", layer]) if "selfattn_mask" in trace else None  # type: ignore[operator,index]
        return cls(lambda layer: trace["selfattn_attention", layer],  # type: ignore[index]
                   encoding, alignment, layers=sizes["L"], heads=sizes["H"], inputs=inputs, mask=mask)

    # -- one layer ----------------------------------------------------------------------------------------------
    def layer(self, variant: str, layer: int) -> torch.Tensor:
        """Layer ``layer`` of a variant, H×m×m, computed from that layer's attention only."""
        variant = check_variant(variant)
        layer = check_index("layer", layer, self.n_layers)
        return self._variant(variant, self._layer_attention(layer), layer)

    def _variant(self, variant: str, attention: torch.Tensor, layer: int | None = None) -> torch.Tensor:
        """A variant of attention matrices with any leading dims (layer, head) before the last two; ``layer``: the
        layer they are (for a causal model's mask)."""
        if variant == "raw":
            return attention
        nosep = self._nosep(attention)
        if variant == "nosep":
            return nosep
        if variant == "nosep_softmax_scale":
            if self._mask is not None and layer is not None:  # a masked key is no weight of 0: it stays out
                allowed = self._nosep(self._mask(layer).to(nosep.device))
                return torch.softmax(nosep.masked_fill(~allowed, float("-inf")), dim=-1)
            return torch.softmax(nosep, dim=-1)
        linscale = _linscale(nosep)
        return linscale if variant == "nosep_linscale" else self._reduce(linscale)

    # -- every layer --------------------------------------------------------------------------------------------
    def get(self, variant: str) -> torch.Tensor:
        """The L×H×m×m tensor of a variant (one of ``VARIANTS``): every layer computed and stacked."""
        variant = check_variant(variant)
        if self._whole is not None and self._mask is None:
            return self._variant(variant, self._whole)
        return torch.stack([self.layer(variant, layer) for layer in range(self.n_layers)])

    @property
    def raw(self) -> torch.Tensor:
        """A, L×H×n×n (every layer, stacked)."""
        return self.get("raw")

    @property
    def nosep(self) -> torch.Tensor:
        """A without special-token rows and columns, L×H×k×k (one sentence: ``A[..., 1:-1, 1:-1]``)."""
        return self.get("nosep")

    @property
    def nosep_linscale(self) -> torch.Tensor:
        """nosep with every row divided by its sum (an all-zero row becomes uniform), L×H×k×k."""
        return self.get("nosep_linscale")

    @property
    def nosep_softmax_scale(self) -> torch.Tensor:
        """softmax over the last axis of nosep, L×H×k×k."""
        return self.get("nosep_softmax_scale")

    @property
    def reduced(self) -> torch.Tensor:
        """Word-level attention, L×H×m×m: mean over the attending word's pieces, sum over the attended word's."""
        return self.get("reduced")

    # -- how the variants are made ------------------------------------------------------------------------------
    @cached_property
    def kept(self) -> list[int]:
        """Positions of the pieces that are not special tokens (the rows and columns of nosep)."""
        return [p for p, special in enumerate(self.encoding.special) if not special]

    def _nosep(self, attention: torch.Tensor) -> torch.Tensor:
        kept = self.kept
        if kept == list(range(kept[0], kept[-1] + 1)):  # one sentence: a view
            return attention[..., kept[0]:kept[-1] + 1, kept[0]:kept[-1] + 1]
        index = torch.tensor(kept, device=attention.device)
        return attention.index_select(-2, index).index_select(-1, index)

    @cached_property
    def alignment(self) -> Alignment:
        """The words and their pieces (see ``transeasy_widget.words``)."""
        return self._alignment()

    def _reduce(self, linscale: torch.Tensor) -> torch.Tensor:
        """Rows: the mean over a word's pieces; then columns: the sum over a word's pieces (two scatter-adds)."""
        word = self.alignment.word_of_pieces(self.kept).to(linscale.device)
        m = len(self.alignment.words)
        counts = torch.bincount(word, minlength=m).to(linscale.dtype)
        rows = torch.zeros(*linscale.shape[:-2], m, linscale.shape[-1], dtype=linscale.dtype, device=linscale.device)
        rows.index_add_(-2, word, linscale).div_(counts[:, None])
        out = torch.zeros(*linscale.shape[:-2], m, m, dtype=linscale.dtype, device=linscale.device)
        return out.index_add_(-1, word, rows)

    # -- for tools (the widget, the CLI) ------------------------------------------------------------------------
    def labels(self, variant: str) -> list[str]:
        """The m row/column labels of a variant: pieces for the piece-level ones, words for ``reduced``."""
        variant = check_variant(variant)
        if variant == "reduced":
            return self.alignment.labels
        tokens = list(self.encoding.tokens)
        return tokens if variant == "raw" else [tokens[p] for p in self.kept]

    def segments(self, variant: str) -> list[int]:
        """Which text of a pair (0 or 1) each label comes from; a special token counts with the text before it."""
        variant = check_variant(variant)
        if variant == "reduced":
            return self.alignment.segments
        segments = piece_segments(self.encoding)
        return segments if variant == "raw" else [segments[p] for p in self.kept]

    def _rows(self, variant: str, rows: list[int]) -> torch.Tensor:
        """Some rows of a variant for every layer and head, L×H×r×m, computed layer by layer."""
        out = []
        for layer in range(self.n_layers):
            matrix = self.layer(variant, layer)
            out.append(matrix.index_select(-2, torch.tensor(rows, device=matrix.device)))
        return torch.stack(out)

    # -- TransEasy's row look-ups -------------------------------------------------------------------------------
    def word_rows(self, word: str, variant: str = "reduced") -> torch.Tensor:
        """The rows of every position labelled ``word`` (words for ``reduced``, pieces otherwise): L×H×r×m.

        An exact match first; where there is none, a case-insensitive one; then one that ignores punctuation
        at either end (TransEasy's default words keep it attached: ``"course."`` answers ``"course"``).
        """
        labels = self.labels(variant)
        where: list[int] = []
        for key in (str, str.casefold, _bare):
            where = where or [i for i, label in enumerate(labels) if key(label) == key(str(word))]
        if not where:
            shown = ", ".join(repr(label) for label in labels[:30]) + (", …" if len(labels) > 30 else "")
            kind = "words" if variant == "reduced" else "pieces"
            raise InputError(f"No {kind} labelled {word!r} in the {variant} view; its {len(labels)} labels are: {shown}.")
        return self._rows(variant, where)

    def attn_row_by_pos(self, pos: int, variant: str = "reduced") -> torch.Tensor:
        """The row at one position of a variant, for every layer and head: L×H×m."""
        return self._rows(variant, [check_index("position", pos, len(self.labels(variant)))])[..., 0, :]

    def __repr__(self) -> str:
        heads = f" × {self.n_heads} heads" if self.n_heads is not None else ""
        return (f"<AttentionViews: {self.n_layers} layers{heads}, {self.encoding.n} pieces; variants "
                f"{', '.join(VARIANTS)} (layer(variant, l): one layer)>")


    # -- beyond attention weights (transeasy_widget.contributions and .propagation) -----------------------------
    @cached_property
    def contributions(self) -> Contributions:
        """Every view beyond attention weights, per layer on first use (``.layer(view, l)``, ``.VIEWS``)."""
        from .contributions import Contributions

        if self._inputs is None:
            raise InputError("These attention views were built from a bare tensor: norm, ALTI, rollout and flow need "
                             "the analysis (use tw.analyze(...).attentions).")
        return Contributions(self._inputs)

    @property
    def norm(self) -> torch.Tensor:
        """‖α^h_ij f_h(x_j)‖ per head (Kobayashi et al. 2020), L×H×n×n."""
        return self.contributions.get("norm")

    @property
    def norm_summed(self) -> torch.Tensor:
        """‖Σ_h α^h_ij f_h(x_j)‖, the whole multi-head attention of each layer (Kobayashi et al. 2020), L×n×n."""
        return self.contributions.get("norm_summed")[:, 0]

    @property
    def alti(self) -> torch.Tensor:
        """ALTI contributions of each layer's attention block, residual and LayerNorm (Ferrando et al. 2022), L×n×n."""
        return self.contributions.get("alti")[:, 0]

    @property
    def alti_rollout(self) -> torch.Tensor:
        """ALTI aggregated through the layers: layer l is C^l ⋯ C^0 (0-based) (Ferrando et al. 2022), L×n×n."""
        return self.contributions.get("alti_rollout")[:, 0]

    @property
    def rollout(self) -> torch.Tensor:
        """Attention rollout (Abnar & Zuidema 2020): layer l is the rollout through layers 0..l, L×n×n."""
        return self.contributions.get("rollout")[:, 0]

    @property
    def flow(self) -> torch.Tensor:
        """Attention flow (Abnar & Zuidema 2020), L×n×n; short inputs only (``propagation.flow_limit``)."""
        return self.contributions.get("flow")[:, 0]


def _linscale(nosep: torch.Tensor) -> torch.Tensor:
    """nosep with every row divided by its sum (an all-zero row becomes uniform)."""
    total = nosep.sum(-1, keepdim=True)
    empty = total == 0
    if bool(empty.any()):
        return torch.where(empty, torch.full_like(nosep, 1.0 / nosep.shape[-1]), nosep / total)
    return nosep / total


def _bare(label: str) -> str:
    """A label without punctuation at either end, case-folded."""
    chars = label.casefold()
    while chars and unicodedata.category(chars[0]).startswith("P"):
        chars = chars[1:]
    while chars and unicodedata.category(chars[-1]).startswith("P"):
        chars = chars[:-1]
    return chars


def check_variant(variant: str) -> str:
    if variant not in VARIANTS:
        raise InputError(f"Unknown attention variant {variant!r}: choose one of {', '.join(VARIANTS)}.")
    return variant


def piece_segments(enc: Encoding) -> list[int]:
    """0/1 per piece: its text; a special token belongs with the text before it ([CLS] and <s> with the first)."""
    out: list[int] = []
    for p in range(enc.n):
        seq = enc.sequence[p]
        out.append(int(seq) if seq is not None and not enc.special[p] else (out[-1] if out else 0))
    return out


class HiddenStates:
    """TransEasy's hidden states: ``last`` (n×d) and ``all`` (the L layer outputs, L×n×d, embeddings left out)."""

    def __init__(self, manual_hiddens: torch.Tensor):
        self._hiddens = manual_hiddens

    @property
    def last(self) -> torch.Tensor:
        return self._hiddens[-1]

    @property
    def all(self) -> torch.Tensor:
        return self._hiddens[1:]

    def __repr__(self) -> str:
        layers, n, d = self.all.shape
        return f"<HiddenStates: {layers} layers × {n} pieces × {d}>"
