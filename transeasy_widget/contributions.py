"""Beyond attention weights: how much each input token contributes to each output token, per layer, decomposed exactly.

Per layer l, with X the layer's input (n×d, ``manual_hiddens[l]``), H heads of size dh, α^h the attention of head h
(``selfattn_attention[l]``, H×n×n), W_V^h and b_V^h the value projection of head h and W_O^h the rows h·dh..(h+1)·dh
of W_O.T (``addnorm1_dense_weight``):

- f_h(x) = (x W_V^h + b_V^h) W_O^h is the vector head h makes of token x (Kobayashi et al. 2020, "Attention is Not
  Only a Weight"; value bias included, as in the authors' code). The attention block's output is
  Σ_h Σ_j α^h_ij f_h(x_j) + b_O = ``addnorm1_dense_hidden`` (the tests check this identity).
- ``norm`` (per head): ‖α^h_ij f_h(x_j)‖ (L2), the paper's ‖αf(x)‖. As α ≥ 0 it is α^h_ij ‖f_h(x_j)‖: one H×n×d
  product and n·H norms per layer, never an n×n×d tensor.
- ``norm_summed`` (per layer): ‖Σ_h α^h_ij f_h(x_j)‖, the paper's view of the whole multi-head attention
  (‖Σαf(x)‖ in the authors' code, used for its word alignments). Computed through the H×H Gram matrix of each
  token's head vectors, ‖Σ_h a_h v_h‖² = Σ_hg a_h a_g ⟨v_h, v_g⟩: n²H² work instead of n²d.
- ``alti`` (per layer): ALTI (Ferrando, Gállego & Costa-jussà 2022, "Measuring the Mixing of Contextual Information
  in the Transformer"). In a post-norm layer (every encoder family here) the attention block's output is
  y_i = LN(u_i), u_i = Σ_h Σ_j α^h_ij f_h(x_j) + b_O + x_i  (= ``addnorm1_norm_hidden``).
  For row i, σ_i = sqrt(Var(u_i) + ε) is one number, so LN is affine in that row: LN(u) = L_i(u) + β with the
  LINEAR map L_i(u) = γ ⊙ (u − mean(u)) / σ_i. Hence, exactly (tested):
      y_i = Σ_j T_i(x_j) + L_i(b_O) + β,    T_i(x_j) = L_i(Σ_h α^h_ij f_h(x_j) + [i = j] x_i).
  The contribution of token j to token i is c_ij = max(0, ‖y_i‖₁ − ‖y_i − T_i(x_j)‖₁), each row divided by its
  sum (a row whose every c_ij is 0 stays 0: no token is closer to y_i than the origin; never NaN).
  The paper defines contributions for the whole block only: the residual and the LayerNorm belong to no head,
  and the L1 measure against the layer's y_i does not split over heads. So ALTI is per layer (1×n×n); the
  per-head view is ``norm``.
- ``alti_rollout``: ALTI's aggregation through the layers (the paper's rollout of the contribution matrices,
  C^l ⋯ C^0, no identity added: the residual is already inside C); ``rollout`` and ``flow`` (Abnar & Zuidema 2020)
  are in ``transeasy_widget.propagation``.

Memory is streamed layer by layer: a layer needs its H×n×d head vectors f_h(x_j) (19 MB at n = 512, d = 768) and,
for ALTI, the T_i(x_j) of a block of rows i and input tokens j at a time (``CHUNK_ELEMENTS`` floats: 1 MB), never L×H×n×n×d nor n×n×d.

A pre-norm decoder (GPT-2 and the Llama family: X_l + Attn(norm(X_l))) plugs in through ``Block``: its head
vectors are f_h(x̃_j) of the normalised token x̃_j = norm(x_j) (``selfattn_value_hidden`` reads it; with
grouped-query attention query head h uses value head ``selfattn_kv_head[h]``), its residual is x_i, and no
LayerNorm follows the block (``gamma`` None), so the parts add up to the block's output:
    X_l,i + attention output_i = Σ_j T_i(x_j) + b_O,    T_i(x_j) = Σ_h α^h_ij f_h(x̃_j) + [i = j] x_i
(``addnorm1_add_hidden``; tested). The norm before the block is not linearised: as in ALTI's own treatment of the
pre-norm case, the token j's part is what the block does with x̃_j, and its residual carries x_j itself. ``norm``
and ``norm_summed`` read the same f_h(x̃_j).

Every stage is read one layer at a time through ``_stage`` (``trace[name, layer]``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import torch

from .errors import InputError, check_index
from .stages import DECODERS

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .headstats import HeadStats

CHUNK_ELEMENTS = 1 << 18  # floats of T_i(x_j) held at once by ALTI (1 MB in float32), in blocks of ROWS rows i:
ROWS = 128  # a block and its rows of y (1.1 MB at d = 768) stay in one core's cache for the three passes over it


def _stage(a: Any, name: str, layer: int) -> Any:
    """Stage ``name`` of one layer, computed for that layer only: the only place this module reads the trace."""
    return a.trace[name, layer]


def _norm1_eps(a: Any, layer: int) -> float:
    """ε of the LayerNorm after the attention block (not a stage: read off the model's module)."""
    from .trace import FAMILIES

    return float(FAMILIES[a.family].layer_parts(a.model)[layer].norm1.eps)


def head_vectors(a: Any, layer: int) -> torch.Tensor:
    """f_h(x_j) = (x_j W_V^h + b_V^h) W_O^h for every head and token of a layer: H×n×d (x_j normalised first in a
    pre-norm decoder; a value head shared by several query heads, grouped-query attention, serves each of them)."""
    values = _stage(a, "selfattn_value_hidden", layer)  # Hkv×n×dh, value bias included
    dh = values.shape[-1]
    w_out = _stage(a, "addnorm1_dense_weight", layer)  # a×d_out = W_O.T; rows h·dh.. belong to query head h
    heads = w_out.shape[0] // dh
    if values.shape[0] != heads:  # grouped-query attention: query head h reads value head h // (H / Hkv)
        values = values[torch.arange(heads) // (heads // values.shape[0])]
    return torch.bmm(values, w_out.reshape(heads, dh, w_out.shape[1]))


def norm_layer(a: Any, layer: int, vectors: torch.Tensor | None = None) -> torch.Tensor:
    """‖α^h_ij f_h(x_j)‖ for every head of a layer: H×n×n (``vectors``: the layer's ``head_vectors`` if at hand)."""
    attention = _stage(a, "selfattn_attention", layer)
    vectors = head_vectors(a, layer) if vectors is None else vectors
    return attention * torch.linalg.vector_norm(vectors, dim=-1)[:, None, :]


def norm_summed_layer(a: Any, layer: int, vectors: torch.Tensor | None = None) -> torch.Tensor:
    """‖Σ_h α^h_ij f_h(x_j)‖ of a layer: n×n (through each token's H×H Gram matrix, in float64)."""
    attention = _stage(a, "selfattn_attention", layer)
    vectors = (head_vectors(a, layer) if vectors is None else vectors).double()
    gram = torch.einsum("hjd,gjd->jhg", vectors, vectors)  # n×H×H
    weights = attention.double().permute(2, 1, 0)  # j, i, h
    squared = (torch.bmm(weights, gram) * weights).sum(-1)  # j, i: Σ_hg α_h α_g ⟨f_h, f_g⟩
    return squared.clamp_min(0).sqrt().t().to(attention.dtype)


@dataclass(frozen=True)
class Block:
    """One layer's attention block as a linear map per output token (module docstring): what ALTI decomposes.

    T_i(x_j) = post_i(Σ_h α^h_ij vectors[h, j] + [i = j] residual[i]);  y_i = Σ_j T_i(x_j) + rest[i] = output[i],
    with post_i(u) = gamma ⊙ (u − mean(u)) / sigma[i] after a LayerNorm (post-norm), the identity without one.
    """

    attention: torch.Tensor  # H×n×n
    vectors: torch.Tensor  # H×n×d: what each head makes of each token
    residual: torch.Tensor  # n×d: what the residual adds at each position
    gamma: torch.Tensor | None  # d: the LayerNorm's scale (None: no LayerNorm after the block)
    sigma: torch.Tensor | None  # n: sqrt(Var(u_i) + ε) of each row's LayerNorm input
    rest: torch.Tensor  # n×d: the part of y_i that no token gives (biases)
    output: torch.Tensor  # n×d: y, the model's own tensor the parts add up to

    def post(self, u: torch.Tensor, rows: slice) -> torch.Tensor:
        """post_i(u) for u of shape r×…×d, its first axis the rows i of ``rows``."""
        if self.gamma is None or self.sigma is None:
            return u
        sigma = self.sigma[rows].reshape(-1, *([1] * (u.dim() - 1)))
        return (u - u.mean(-1, keepdim=True)) * self.gamma / sigma


def block(a: Any, layer: int, vectors: torch.Tensor | None = None) -> Block:
    """The attention block of a layer. Post-norm: y_i = LN(Σ_h Σ_j α^h_ij f_h(x_j) + b_O + x_i); pre-norm decoder:
    y_i = x_i + Σ_h Σ_j α^h_ij f_h(x̃_j) + b_O, the residual stream after attention."""
    vectors = head_vectors(a, layer) if vectors is None else vectors
    if a.family in DECODERS:
        bias = _stage(a, "addnorm1_dense_bias", layer)
        output = _stage(a, "addnorm1_add_hidden", layer)
        return Block(_stage(a, "selfattn_attention", layer), vectors, _stage(a, "manual_hiddens", layer),
                     None, None, bias.expand_as(output), output)
    summed = _stage(a, "addnorm1_add_hidden", layer)  # u_i, the LayerNorm's input
    gamma = _stage(a, "addnorm1_norm_weight", layer)
    sigma = torch.sqrt(summed.var(-1, unbiased=False) + _norm1_eps(a, layer))
    bias = _stage(a, "addnorm1_dense_bias", layer)
    rest = (bias - bias.mean()) * gamma / sigma[:, None] + _stage(a, "addnorm1_norm_bias", layer)
    return Block(_stage(a, "selfattn_attention", layer), vectors, _stage(a, "manual_hiddens", layer),
                 gamma, sigma, rest, _stage(a, "addnorm1_norm_hidden", layer))


def transformed_vectors(b: Block, rows: slice | None = None) -> torch.Tensor:
    """T_i(x_j) for the rows i of ``rows`` (default: all) and every j: r×n×d (holds r·n·d floats: for tests)."""
    rows = rows or slice(0, b.output.shape[0])
    mixed = torch.einsum("hij,hjd->ijd", b.attention[:, rows], b.vectors)
    own = torch.arange(mixed.shape[0])
    mixed[own, own + rows.start] += b.residual[rows]
    return b.post(mixed, rows)


def alti_distances(b: Block, chunk_elements: int | None = None) -> torch.Tensor:
    """‖y_i − T_i(x_j)‖₁ for every i, j: n×n, computed a block of T_i(x_j) at a time (``chunk_elements`` floats).

    With a LayerNorm after the block, post_i(u) = (γ/σ_i) ⊙ (u − mean(u)): the centring and γ go into the head
    vectors once, 1/σ_i into the attention weights, and the residual becomes one more "head" whose weight is
    [i = j]. So the T_i(x_j) of a block of rows i and tokens j are ONE batched product (batch j: the rows i × H+1
    weights times the H+1 vectors of token j), then y_i subtracted, |·| and the sum over d in place: no n×n×d
    tensor, no pass per head. Blocks of ``ROWS`` rows keep the block and its y_i in the core's cache for those
    three passes. Peak: ``chunk_elements`` floats, plus the layer's head vectors and weights rearranged once
    ((H+1)×n×d and (H+1)×n×n).
    """
    heads, n, d = b.vectors.shape
    chunk_elements = chunk_elements or CHUNK_ELEMENTS
    vectors, residual = b.vectors, b.residual
    if b.gamma is not None and b.sigma is not None:  # γ into the vectors (1/σ_i into row i's weights below)
        vectors = (vectors - vectors.mean(-1, keepdim=True)) * b.gamma
        residual = (residual - residual.mean(-1, keepdim=True)) * b.gamma / b.sigma[:, None]
    # by token j: its H+1 vectors (H+1)×d, and the weights (H+1)×n_i it gets from each row i (the residual's: [i = j])
    by_token = b.output.new_empty(n, heads + 1, d)
    by_token[:, :heads] = vectors.transpose(0, 1)
    by_token[:, heads] = residual
    weights_to = b.output.new_zeros(n, heads + 1, n)
    for h in range(heads):  # one n×n transpose per head: a 3-d permute copy is 6× slower
        weights_to[:, h] = b.attention[h].t()
    if b.sigma is not None:
        weights_to[:, :heads] /= b.sigma
    weights_to[:, heads].diagonal().fill_(1)
    rows = max(1, min(n, ROWS, chunk_elements // d))
    cols = max(1, min(n, chunk_elements // (rows * d)))
    blocks = -(-n // rows)
    out = b.output.new_empty(blocks, n, rows)  # row block, j, i in the block: each block's sums land contiguous
    buffer = b.output.new_empty(cols, rows, d)  # the only n×d-sized temporary
    for block in range(blocks):
        i0, i1 = block * rows, min(n, (block + 1) * rows)
        for j0 in range(0, n, cols):
            j1 = min(n, j0 + cols)
            parts = torch.bmm(weights_to[j0:j1, :, i0:i1].transpose(1, 2), by_token[j0:j1],
                              out=buffer[:j1 - j0, :i1 - i0])  # j, i, d: Σ_h α'^h_ij v_h(x_j) (+ residual)
            torch.sum(parts.sub_(b.output[i0:i1]).abs_(), -1, out=out[block, j0:j1, :i1 - i0])
    return out.transpose(1, 2).reshape(blocks * rows, n)[:n]  # i, j


def alti_layer(b: Block, chunk_elements: int | None = None) -> torch.Tensor:
    """ALTI contributions c_ij of one layer, n×n, each row summing to 1 (or all 0)."""
    distances = alti_distances(b, chunk_elements)
    closeness = (b.output.abs().sum(-1, keepdim=True) - distances).clamp_min_(0)
    total = closeness.sum(-1, keepdim=True)
    return torch.where(total > 0, closeness / total.clamp_min(torch.finfo(total.dtype).tiny), closeness)


# -- the views, for tools (a widget variant is one of these, read per layer) ----------------------------------------
@dataclass(frozen=True)
class View:
    """One decomposition view: its name, whether it has heads (H×n×n per layer) or not (1×n×n), what it is."""

    name: str
    per_head: bool
    rows_sum_to_one: bool
    meaning: str
    # multiplied (or flowed) through layers 0..l: a token reaches beyond one layer's sliding window
    through_layers: bool = False


VIEWS: dict[str, View] = {v.name: v for v in (
    View("norm", True, False, "‖α^h_ij f_h(x_j)‖: attention weight times the norm of the head's vector (Kobayashi et al. 2020)"),
    View("norm_summed", False, False, "‖Σ_h α^h_ij f_h(x_j)‖: the whole multi-head attention (Kobayashi et al. 2020)"),
    View("alti", False, True, "ALTI contribution of token j to token i in this layer's attention block, residual and "
                             "LayerNorm included (Ferrando et al. 2022)"),
    View("alti_rollout", False, True, "ALTI aggregated through layers 0..l: C^l ⋯ C^0 (Ferrando et al. 2022)", True),
    View("rollout", False, True, "attention rollout through layers 0..l: heads averaged, 0.5·A + 0.5·I "
                                "(Abnar & Zuidema 2020)", True),
    View("flow", False, True, "attention flow to layer l: max-flow from each input token, rows normalised "
                             "(Abnar & Zuidema 2020)", True),
)}


class Contributions:
    """The views beyond attention weights of one analysis, computed layer by layer on first use and cached.

    ``layer(view, l)`` gives one layer as H×n×n (``VIEWS[view].per_head``) or 1×n×n; ``get(view)`` stacks every
    layer (L×H×n×n or L×1×n×n); ``labels()`` are the pieces, as for the raw attention.
    """

    VIEWS = VIEWS

    def __init__(self, inputs: Any):
        self.analysis = inputs  # analysis.Inputs: the trace, encoding, model, tokenizer and words of an analysis
        self._layers: dict[tuple[str, int], torch.Tensor] = {}
        self._vectors: tuple[int, torch.Tensor] | None = None  # the last layer's head vectors: norm and ALTI share them

    @property
    def num_layers(self) -> int:
        return int(self.analysis.trace.sizes["L"])

    def labels(self) -> list[str]:
        """The row/column labels of every view: the pieces, special tokens included."""
        return list(self.analysis.encoding.tokens)

    def segments(self) -> list[int]:
        """Which text of a pair (0 or 1) each label comes from, as ``AttentionViews.segments("raw")``."""
        from .attention import piece_segments

        return piece_segments(self.analysis.encoding)

    def layer(self, view: str, layer: int) -> torch.Tensor:
        view = check_view(view)
        layer = check_index("layer", layer, self.num_layers)
        key = (view, layer)
        if key not in self._layers:
            self._layers[key] = self._compute(view, layer)
        return self._layers[key]

    def _head_vectors(self, layer: int) -> torch.Tensor:
        if self._vectors is None or self._vectors[0] != layer:
            self._vectors = (layer, head_vectors(self.analysis, layer))
        return self._vectors[1]

    def _compute(self, view: str, layer: int) -> torch.Tensor:
        from . import propagation

        a = self.analysis
        with torch.inference_mode():
            if view == "norm":
                return norm_layer(a, layer, self._head_vectors(layer))
            if view == "norm_summed":
                return norm_summed_layer(a, layer, self._head_vectors(layer))[None]
            if view == "alti":
                return alti_layer(block(a, layer, self._head_vectors(layer)))[None]
            if view == "alti_rollout":
                here = self.layer("alti", layer)[0]
                return here[None] if layer == 0 else (here @ self.layer("alti_rollout", layer - 1)[0])[None]
            if view == "rollout":
                here = propagation.residual_attention(_stage(a, "selfattn_attention", layer))
                return here[None] if layer == 0 else (here @ self.layer("rollout", layer - 1)[0])[None]
            flows = propagation.attention_flow(torch.stack(
                [propagation.residual_attention(_stage(a, "selfattn_attention", lay)) for lay in range(self.num_layers)]))
            for lay in range(self.num_layers):
                self._layers["flow", lay] = flows[lay][None]
            return self._layers["flow", layer]

    def get(self, view: str) -> torch.Tensor:
        """Every layer of a view: L×H×n×n (per head) or L×1×n×n."""
        return torch.stack([self.layer(view, layer) for layer in range(self.num_layers)])

    def figure(self, view: str, layer: int, head: int | None = None) -> Figure:
        """One layer (and head, for ``norm``) of a view as a matplotlib Figure, in ``a.viz``'s look."""
        from .contribution_figures import contribution_figure

        return contribution_figure(self, view, layer, head)

    # -- head statistics on the norm-based view ----------------------------------------------------------------
    @cached_property
    def norm_shares(self) -> torch.Tensor:
        """The norm view with each row divided by its sum, L×H×n×n: the share of ‖α^h_ij f_h(x_j)‖ that goes to j."""
        norm = self.get("norm")
        total = norm.sum(-1, keepdim=True)
        return torch.where(total > 0, norm / total.clamp_min(torch.finfo(norm.dtype).tiny), 1.0 / norm.shape[-1])

    @cached_property
    def head_stats_by_norm(self) -> HeadStats:
        """Every head statistic (``a.head_stats``) computed on ``norm_shares`` instead of the attention weights."""
        from .attention import AttentionViews
        from .headstats import HeadStats

        a = self.analysis
        views = AttentionViews(self.norm_shares, a.encoding, lambda: a.alignment)
        return HeadStats(views, getattr(a.tokenizer, "cls_token_id", None))

    def weight_vs_norm(self, stats: tuple[str, ...] = ("cls", "sep", "punct")) -> dict[str, dict[str, torch.Tensor]]:
        """For each statistic, its L×H values by attention weight and by norm: ``{"sep": {"weight": …, "norm": …}}``.

        The per-layer view of Kobayashi et al. (2020) is the mean over heads: ``out["sep"]["norm"].mean(1)``.
        By norm, a share is the mean over rows i of Σ_{j in the set} ‖α_ij f(x_j)‖ / Σ_j ‖α_ij f(x_j)‖ (the authors'
        script sums the raw norms; divided by the row's total here, so that both columns are shares in [0, 1]).
        """
        from .attention import AttentionViews
        from .headstats import HeadStats

        a = self.analysis
        weights = AttentionViews.of_trace(a.trace, a.encoding, lambda: a.alignment)
        by_weight = HeadStats(weights, getattr(a.tokenizer, "cls_token_id", None))
        by_norm = self.head_stats_by_norm
        return {name: {"weight": by_weight[name], "norm": by_norm[name]} for name in stats}

    def __repr__(self) -> str:
        return f"<Contributions: {', '.join(VIEWS)} ({self.num_layers} layers, computed per layer on first use)>"


def check_view(view: str) -> str:
    if view not in VIEWS:
        raise InputError(f"Unknown contribution view {view!r}: choose one of {', '.join(VIEWS)}.")
    return view
