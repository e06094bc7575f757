"""Pre-norm decoder layers by hand, shared by GPT-2 and the Llama family: pure functions of one layer's input.

``layer_stages(parts, x_l, rope, mask)`` computes every stage of ONE layer from its input X_l (n×d) and
returns them by registry name without the layer axis, ``addnorm2_add_hidden`` being X_{l+1};
``final_stages`` the final norm and the logits from X_L. They hold no state: ``Decoder`` runs them once
through the layers to keep X_0 … X_L, and the trace runs them again for any layer from X_l when one of its
stages is asked for (the same function, so the same bits).
Each family module (``gpt2``, ``llama``) gives the rest: ``embed_stages(model, enc)`` (X_0, positions, the
rotary tables), ``layer_parts(model)``, its final norm and ``unembedding(model, ...)``; ``masks_for(parts, n)``
the per-layer masks.

A layer (pre-norm):   h = norm1(X_l);  Q, K, V = h W_Q, h W_K, h W_V  [Qwen3: RMSNorm of each head's Q, K]
                      [Llama family: Q, K turned by their positions (rotary)];  A = softmax(mask(Q K.T · s))
                      X_mid = X_l + concat_h(A_h V_kv(h)) W_O;  X_{l+1} = X_mid + FFN(norm2(X_mid))
with FFN GPT-2's act(h W_1) W_2, or SwiGLU's (act(h W_gate) · h W_up) W_down.

Every operation is the one the model's own code runs, in its order, so the numbers agree to float rounding.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

Tensor = torch.Tensor


@dataclass(frozen=True)
class DecoderLayerParts:
    """Where one decoder layer keeps its pieces, whatever the family calls them."""

    norm1: nn.Module  # LayerNorm (GPT-2) or RMSNorm (Llama family), before attention
    norm2: nn.Module  # before the feed-forward layer
    attn_out: nn.Module  # nn.Linear or GPT-2's Conv1D (in × out)
    ffn_out: nn.Module  # GPT-2's c_proj, SwiGLU's down_proj
    act: Callable[[Tensor], Tensor]
    heads: int
    kv_heads: int
    head_dim: int
    scaling: float
    window: int | None = None  # sliding window: a query sees its last `window` keys (itself included)
    # Q, K, V: three projections (Llama family) or one fused Conv1D of 3·d outputs (GPT-2's c_attn)
    query: nn.Module | None = None
    key: nn.Module | None = None
    value: nn.Module | None = None
    fused_qkv: nn.Module | None = None
    q_norm: nn.Module | None = None  # Qwen3's RMSNorm of each head's query / key
    k_norm: nn.Module | None = None
    ffn_in: nn.Module | None = None  # GPT-2's c_fc
    gate: nn.Module | None = None  # SwiGLU
    up: nn.Module | None = None

    @property
    def gated(self) -> bool:
        return self.gate is not None

    @property
    def group(self) -> int:
        """How many query heads share one key/value head."""
        return self.heads // self.kv_heads

    @property
    def ffn_size(self) -> int:
        module = self.gate if self.gate is not None else self.ffn_in
        return _out_features(module)


def param(module: nn.Module, name: str) -> Tensor:
    """A parameter of a module, detached (a view of the model's weight, not a copy)."""
    value: Tensor = getattr(module, name)
    return value.detach()


def _out_features(module: Any) -> int:
    return int(module.out_features) if isinstance(module, nn.Linear) else int(module.nf)  # Conv1D: nf outputs


def project(x: Tensor, module: nn.Module, out: Tensor | None = None) -> Tensor:
    """x (n×in) through an nn.Linear or a Conv1D (GPT-2's, weight stored in × out), into ``out`` where given.

    addmm (mm without a bias) is what F.linear and Conv1D run for these shapes: the model's own numbers.
    """
    weight = module.weight if not isinstance(module, nn.Linear) else module.weight.t()
    if module.bias is None:
        return torch.mm(x, weight, out=out)  # type: ignore[arg-type]
    return torch.addmm(module.bias, x, weight, out=out)  # type: ignore[arg-type]


def norm_eps(norm: nn.Module) -> float:
    eps = getattr(norm, "variance_epsilon", None)
    return float(eps if eps is not None else norm.eps)  # type: ignore[arg-type]


def normalize(x: Tensor, norm: nn.Module) -> tuple[Tensor, Tensor]:
    """(norm(x), scale): LayerNorm or RMSNorm over the last axis, and what each row is divided by."""
    eps = norm_eps(norm)
    if isinstance(norm, nn.LayerNorm):
        scale = torch.sqrt(x.var(-1, unbiased=False) + eps)
        return F.layer_norm(x, norm.normalized_shape, norm.weight, norm.bias, eps), scale
    # RMSNorm, as LlamaRMSNorm (and Mistral's, Qwen2's, Qwen3's) computes it
    variance = x.to(torch.float32).pow(2).mean(-1, keepdim=True)
    normed = param(norm, "weight") * (x * torch.rsqrt(variance + eps)).to(x.dtype)
    return normed, torch.sqrt(variance + eps).squeeze(-1).to(x.dtype)


def rotate_half(x: Tensor) -> Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def rotate(x: Tensor, cos: Tensor, sin: Tensor, out: Tensor | None = None) -> Tensor:
    """Rotary position embedding of heads × n × dh vectors by the n × dh angle tables: x·cos + rotate_half(x)·sin."""
    result = torch.mul(x, cos, out=out) if out is not None else x * cos
    return result.add_(rotate_half(x) * sin)  # the same two roundings as (x·cos) + (rotate_half(x)·sin)


def causal_mask(n: int, window: int | None, device: torch.device | str = "cpu") -> Tensor:
    """n×n, True where query i may attend to key j: j <= i, and i - j < window with a sliding window."""
    i = torch.arange(n, device=device)[:, None]
    j = torch.arange(n, device=device)[None, :]
    allowed = j <= i
    return allowed & (i - j < window) if window is not None else allowed


def kv_heads_of(heads: int, kv_heads: int) -> Tensor:
    """The key/value head each query head reads: h // (H / Hkv) (repeat_kv's order)."""
    return torch.arange(heads) // (heads // kv_heads)


def _heads(rows: Tensor, dh: int) -> Tensor:
    """n × (heads·dh) rows → heads × n × dh (a view), as the model's .view(...).transpose(1, 2)."""
    return rows.view(rows.shape[0], -1, dh).transpose(0, 1)


# an edit of a layer's stages (interventions.py): (stage name, value) → the value the layer goes on with
Edit = Callable[[str, Tensor], Tensor]


def _same(_name: str, value: Tensor) -> Tensor:
    return value


class Workspace:
    """The score tensors (heads × n × n) of a pass that keeps only each layer's output (``Decoder.hiddens``), reused
    from one layer to the next. Freed each layer instead, they went back to the system and were faulted in again
    by the next layer: about 470,000 page faults per SmolLM2 pass at 512 tokens, where the model's own pass, which
    keeps its attentions, takes 190,000 on its first call and 33,000 after (benchmarks/decoders.py, cold)."""

    def __init__(self) -> None:
        self._buffers: dict[str, Tensor] = {}

    def __call__(self, name: str, like: Tensor, shape: tuple[int, ...]) -> Tensor:
        buffer = self._buffers.get(name)
        if buffer is None or buffer.shape != shape or buffer.dtype != like.dtype or buffer.device != like.device:
            buffer = self._buffers[name] = torch.empty(shape, dtype=like.dtype, device=like.device)
        return buffer


def _out(work: Workspace | None, name: str, like: Tensor, shape: tuple[int, ...]) -> Tensor | None:
    return None if work is None else work(name, like, shape)


def softmax(x: Tensor, out: Tensor | None = None) -> Tensor:
    """torch.softmax over the last axis (the same kernel: aten._softmax), into ``out`` where given."""
    return torch.softmax(x, -1) if out is None else torch.ops.aten._softmax.out(x, -1, False, out=out)


def attention_stages(p: DecoderLayerParts, x: Tensor, rope: tuple[Tensor, Tensor] | None,
                     mask: Tensor, edit: Edit | None = None, work: Workspace | None = None) -> dict[str, Tensor]:
    """The first part of one decoder layer from its input x = X_l (n×d): the norm, Q, K, V (normalised and
    rotated where the family does), the scores, the mask and the attention weights, by registry name.

    ``edit``: each stage on the data path passes through it, and the layer goes on with what it gives back
    (an intervention); None: the model's own pass. ``work``: buffers for the score tensors, for a pass that drops
    them after the layer (``Decoder.hiddens``)."""
    e = edit or _same
    heads, dh = p.heads, p.head_dim
    s: dict[str, Tensor] = {}
    h, s["selfattn_norm_scale"] = normalize(x, p.norm1)
    h = s["selfattn_norm_hidden"] = e("selfattn_norm_hidden", h)
    if p.fused_qkv is not None:  # GPT-2: one Conv1D, split in three column blocks
        rows = project(h, p.fused_qkv).split(heads * dh, dim=1)
    else:
        rows = tuple(project(h, module) for module in (p.query, p.key, p.value))  # type: ignore[arg-type]
    q, k, v = (e(name, _heads(t, dh)) for name, t in
               zip(("selfattn_query_hidden", "selfattn_key_hidden", "selfattn_value_hidden"), rows, strict=True))
    s.update(selfattn_query_hidden=q, selfattn_key_hidden=k, selfattn_value_hidden=v)
    if p.q_norm is not None and p.k_norm is not None:  # Qwen3: RMSNorm over each head's dh
        q = s["selfattn_query_norm_hidden"] = e("selfattn_query_norm_hidden", normalize(q, p.q_norm)[0])
        k = s["selfattn_key_norm_hidden"] = e("selfattn_key_norm_hidden", normalize(k, p.k_norm)[0])
    if rope is not None:
        cos, sin = rope
        q = s["selfattn_query_rot_hidden"] = e("selfattn_query_rot_hidden", rotate(q, cos, sin))
        k = s["selfattn_key_rot_hidden"] = e("selfattn_key_rot_hidden", rotate(k, cos, sin))
    # grouped-query attention: each query head reads its key/value head (repeat_kv)
    k_read = k.index_select(0, kv_heads_of(heads, p.kv_heads).to(x.device)) if p.group > 1 else k
    square = (heads, x.shape[0], x.shape[0])
    qkt = e("selfattn_qkt_hidden", torch.matmul(q, k_read.transpose(1, 2), out=_out(work, "qkt", q, square)))
    scaled = e("selfattn_qkt_scale_hidden", torch.mul(qkt, p.scaling, out=_out(work, "scaled", q, square)))
    masked = e("selfattn_qkt_scale_masked_hidden", torch.where(mask, scaled, scaled.new_tensor(float("-inf")),
                                                               out=_out(work, "masked", q, square)))
    attention = e("selfattn_attention", softmax(masked, out=_out(work, "attention", q, square)))
    s.update(selfattn_qkt_hidden=qkt, selfattn_qkt_scale_hidden=scaled, selfattn_qkt_scale_masked_hidden=masked,
             selfattn_qkt_scale_soft_hidden=attention, selfattn_attention=attention)
    return s


def block_stages(p: DecoderLayerParts, x: Tensor, attn: Mapping[str, Tensor], edit: Edit | None = None) -> dict[str, Tensor]:
    """The attention block of one decoder layer from X_l and its ``attention_stages``: context, output projection,
    residual (``addnorm1_add_hidden``, what the feed-forward reads). ``edit``: as in ``attention_stages``."""
    e = edit or _same
    n = x.shape[0]
    heads = p.heads
    v = attn["selfattn_value_hidden"]
    v_read = v.index_select(0, kv_heads_of(heads, p.kv_heads).to(x.device)) if p.group > 1 else v
    contvec = e("selfattn_contvec", torch.matmul(attn["selfattn_attention"], v_read))
    concat = contvec.transpose(0, 1).reshape(n, heads * p.head_dim)
    s: dict[str, Tensor] = {"selfattn_contvec": _heads(concat, p.head_dim), "selfattn_contvec_concat": concat}
    dense1 = s["addnorm1_dense_hidden"] = e("addnorm1_dense_hidden", project(concat, p.attn_out))
    s["addnorm1_add_hidden"] = e("addnorm1_add_hidden", torch.add(x, dense1))
    return s


def ffn_stages(p: DecoderLayerParts, mid: Tensor, edit: Edit | None = None) -> dict[str, Tensor]:
    """The feed-forward of one decoder layer from the residual stream after attention (``addnorm1_add_hidden``);
    X_{l+1} is ``addnorm2_add_hidden``. ``edit``: as in ``attention_stages``."""
    e = edit or _same
    s: dict[str, Tensor] = {}
    h2, s["ffnn_norm_scale"] = normalize(mid, p.norm2)
    h2 = s["ffnn_norm_hidden"] = e("ffnn_norm_hidden", h2)
    if p.gate is not None and p.up is not None:
        gate = s["ffnn_gate_hidden"] = e("ffnn_gate_hidden", project(h2, p.gate))
        gate_act = s["ffnn_gate_act"] = e("ffnn_gate_act", p.act(gate))
        up = s["ffnn_up_hidden"] = e("ffnn_up_hidden", project(h2, p.up))
        inner = s["ffnn_glu_hidden"] = e("ffnn_glu_hidden", torch.mul(gate_act, up))
    else:
        assert p.ffn_in is not None
        pre = s["ffnn_dense_hidden"] = e("ffnn_dense_hidden", project(h2, p.ffn_in))
        inner = s["ffnn_dense_act"] = e("ffnn_dense_act", p.act(pre))
    dense2 = s["addnorm2_dense_hidden"] = e("addnorm2_dense_hidden", project(inner, p.ffn_out))
    s["addnorm2_add_hidden"] = e("addnorm2_add_hidden", torch.add(mid, dense2))
    return s


def rest_stages(p: DecoderLayerParts, x: Tensor, attn: Mapping[str, Tensor], edit: Edit | None = None) -> dict[str, Tensor]:
    """The rest of one decoder layer from X_l and its ``attention_stages``: the block, then the feed-forward;
    X_{l+1} is ``addnorm2_add_hidden``. ``edit``: as in ``attention_stages``."""
    block = block_stages(p, x, attn, edit)
    return {**block, **ffn_stages(p, block["addnorm1_add_hidden"], edit)}


def layer_stages(p: DecoderLayerParts, x: Tensor, rope: tuple[Tensor, Tensor] | None,
                 mask: Tensor, edit: Edit | None = None, work: Workspace | None = None) -> dict[str, Tensor]:
    """Every stage of one decoder layer from its input x = X_l (n×d), by registry name (no layer axis).

    ``rope``: the (cos, sin) tables (n×dh) of the Llama family, None for GPT-2; ``mask``: n×n, True where a
    query may attend. X_{l+1} is ``addnorm2_add_hidden``. ``edit``: as in ``attention_stages``.
    """
    attn = attention_stages(p, x, rope, mask, edit, work)
    return {**attn, **rest_stages(p, x, attn, edit)}


def final_stages(norm: nn.Module, unembed: tuple[Tensor, Tensor | None] | None, x_last: Tensor,
                 logits: bool = True) -> dict[str, Tensor]:
    """The final norm of X_L and, where the model has an unembedding (weight V×d, bias) and ``logits``, the
    next-token logits (n×V: 400 MB at 2,048 tokens of a 49,152-piece vocabulary, so asked for apart)."""
    normed, scale = normalize(x_last, norm)
    values = {"final_norm_scale": scale, "final_norm_hidden": normed}
    if unembed is not None and logits:
        values["final_logits"] = F.linear(normed, *unembed)
    return values


FINAL_STAGES = ("final_norm_scale", "final_norm_hidden", "final_logits")


@dataclass(frozen=True)
class Decoder:
    """The layers of one decoder and its final norm: what recomputes any layer from its input X_l, as
    ``encoder.Encoder`` does for encoders (the trace serves both alike)."""

    parts: tuple[DecoderLayerParts, ...]
    rope: tuple[Tensor, Tensor] | None
    masks: tuple[Tensor, ...]
    final_norm: nn.Module
    unembed: tuple[Tensor, Tensor | None] | None

    OUTPUT = "addnorm2_add_hidden"  # the stage that is X_{l+1}

    def __len__(self) -> int:
        return len(self.parts)

    @property
    def heads(self) -> int:
        return self.parts[0].heads

    @property
    def attention_names(self) -> tuple[str, ...]:
        """The stages ``attention`` gives (what the attention views, head statistics and verify read)."""
        p = self.parts[0]
        names = ["selfattn_norm_scale", "selfattn_norm_hidden", "selfattn_query_hidden", "selfattn_key_hidden",
                 "selfattn_value_hidden"]
        if p.q_norm is not None:
            names += ["selfattn_query_norm_hidden", "selfattn_key_norm_hidden"]
        if self.rope is not None:
            names += ["selfattn_query_rot_hidden", "selfattn_key_rot_hidden"]
        return (*names, "selfattn_qkt_hidden", "selfattn_qkt_scale_hidden", "selfattn_qkt_scale_masked_hidden",
                "selfattn_qkt_scale_soft_hidden", "selfattn_attention")

    @property
    def block_names(self) -> tuple[str, ...]:
        """The stages ``attention`` and the block give, up to the residual after attention (no feed-forward)."""
        return (*self.attention_names, "selfattn_contvec", "selfattn_contvec_concat", "addnorm1_dense_hidden",
                "addnorm1_add_hidden")

    @property
    def layer_names(self) -> tuple[str, ...]:
        """Every activation stage ``layer`` gives: one entry per layer, recomputed from X_l."""
        ffn = (("ffnn_gate_hidden", "ffnn_gate_act", "ffnn_up_hidden", "ffnn_glu_hidden") if self.parts[0].gated
               else ("ffnn_dense_hidden", "ffnn_dense_act"))
        return (*self.block_names, "ffnn_norm_scale", "ffnn_norm_hidden", *ffn, "addnorm2_dense_hidden",
                "addnorm2_add_hidden")

    def dims(self) -> dict[str, int]:
        """The sizes read off the model's modules: layers, heads, key/value heads, head size, FFN size."""
        p = self.parts[0]
        return {"L": len(self.parts), "H": p.heads, "Hkv": p.kv_heads, "dh": p.head_dim, "a": p.heads * p.head_dim,
                "f": p.ffn_size}

    def hiddens(self, x0: Tensor) -> Tensor:
        """X_0 … X_L ((L+1)×n×d): one pass through the layers, keeping only each layer's output."""
        out = torch.empty(len(self.parts) + 1, *x0.shape, dtype=x0.dtype, device=x0.device)
        out[0] = x0
        work = Workspace()  # only X_{l+1} is kept: the score tensors of one layer serve the next
        with torch.no_grad():
            for layer, p in enumerate(self.parts):
                out[layer + 1] = layer_stages(p, out[layer], self.rope, self.masks[layer], work=work)[self.OUTPUT]
        return out

    def layer(self, layer: int, x: Tensor, edit: Edit | None = None) -> dict[str, Tensor]:
        """Every activation stage of one layer from its input X_l, by the function the pass runs."""
        with torch.no_grad():
            return layer_stages(self.parts[layer], x, self.rope, self.masks[layer], edit)

    def attention(self, layer: int, x: Tensor, edit: Edit | None = None) -> dict[str, Tensor]:
        """The ``attention_names`` stages of one layer from X_l: the first part of what ``layer`` computes."""
        with torch.no_grad():
            return attention_stages(self.parts[layer], x, self.rope, self.masks[layer], edit)

    def rest(self, layer: int, x: Tensor, attention: Mapping[str, Tensor], edit: Edit | None = None,
             block_only: bool = False) -> dict[str, Tensor]:
        """The other stages of one layer, from X_l and its ``attention`` part: the second part of ``layer``;
        ``block_only``: up to the block's end only (``ffn`` then gives the rest)."""
        p = self.parts[layer]
        with torch.no_grad():
            if block_only:
                return block_stages(p, x, attention, edit)
            return rest_stages(p, x, attention, edit)

    def ffn(self, layer: int, block: Mapping[str, Tensor], edit: Edit | None = None) -> dict[str, Tensor]:
        """The feed-forward stages of one layer from its ``block_names`` part: the last part of ``layer``."""
        with torch.no_grad():
            return ffn_stages(self.parts[layer], block["addnorm1_add_hidden"], edit)

    def final(self, x_last: Tensor, logits: bool) -> dict[str, Tensor]:
        """The final norm of X_L (and the logits where asked for), computed now."""
        with torch.no_grad():
            return final_stages(self.final_norm, self.unembed, x_last, logits)


def linear_weight(module: nn.Module) -> Tensor:
    """The weight in nn.Linear's layout (out × in), a view: GPT-2's Conv1D stores it in × out."""
    w = param(module, "weight")
    return w if isinstance(module, nn.Linear) else w.t()


def linear_bias(module: nn.Module) -> Tensor:
    """The bias, or zeros where the module has none."""
    if module.bias is not None:
        return param(module, "bias")
    w = module.weight
    return torch.zeros(_out_features(module), dtype=w.dtype, device=w.device)


def weight_views(p: DecoderLayerParts) -> dict[str, Tensor]:
    """One layer's weight stages: views of its parameters in the registry's layouts (per head, or in × out)."""
    heads, kv, dh = p.heads, p.kv_heads, p.head_dim
    views: dict[str, Tensor] = {}
    if p.fused_qkv is not None:
        weights = linear_weight(p.fused_qkv).split(heads * dh, dim=0)
        biases = linear_bias(p.fused_qkv).split(heads * dh, dim=0)
    else:
        modules = (p.query, p.key, p.value)
        weights = tuple(linear_weight(m) for m in modules)  # type: ignore[arg-type]
        biases = tuple(linear_bias(m) for m in modules)  # type: ignore[arg-type]
    for name, w, b, count in zip(("query", "key", "value"), weights, biases, (heads, kv, kv), strict=True):
        views[f"selfattn_{name}_weight"] = w.view(count, dh, w.shape[-1])
        views[f"selfattn_{name}_bias"] = b.view(count, dh)
    for prefix, norm in (("selfattn", p.norm1), ("ffnn", p.norm2)):
        views[f"{prefix}_norm_weight"] = param(norm, "weight")
        if isinstance(norm, nn.LayerNorm):
            views[f"{prefix}_norm_bias"] = norm.bias.detach()
    if p.q_norm is not None and p.k_norm is not None:
        views["selfattn_query_norm_weight"] = param(p.q_norm, "weight")
        views["selfattn_key_norm_weight"] = param(p.k_norm, "weight")
    dense = {"addnorm1_dense": p.attn_out, "addnorm2_dense": p.ffn_out}
    dense.update({"ffnn_gate": p.gate, "ffnn_up": p.up} if p.gated else {"ffnn_dense": p.ffn_in})  # type: ignore[dict-item]
    for prefix, module in dense.items():
        views[f"{prefix}_weight"] = linear_weight(module).t()  # in × out, as TransEasy stores dense weights
        views[f"{prefix}_bias"] = linear_bias(module)
    return views


def weight_stages(parts: Sequence[DecoderLayerParts]) -> dict[str, Any]:
    from .encoder import LayerStack

    per_layer = [weight_views(p) for p in parts]
    return {name: LayerStack([views[name] for views in per_layer]) for name in per_layer[0]}


def check_single_text(enc: Any, model: Any) -> None:
    """A causal language model reads one text: a pair has no meaning for it (no segments, no separator)."""
    from ..errors import InputError

    if enc.text_pair is not None:
        raise InputError(
            f"{type(model).__name__} is a decoder: it reads one text left to right, with no segments and no "
            "separator, so a pair of texts has no meaning for it. Pass one text (join the two yourself if you "
            "want them read as one: tw.analyze(text + ' ' + text_pair, model=...)).")


def unembedding(model: Any, word_embeddings: nn.Embedding) -> tuple[Tensor, Tensor | None] | None:
    """The (weight V×d, bias) that turns the final hidden state into logits: the LM head of a task model, or the
    word embeddings where a bare model ties them to it; None where the model has neither."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if isinstance(head, nn.Linear):
        return head.weight, head.bias
    if getattr(model.config, "tie_word_embeddings", False):
        return word_embeddings.weight, None
    return None


def decoder_features(model: Any, word_embeddings: nn.Embedding) -> frozenset[str]:
    found = set()
    if unembedding(model, word_embeddings) is not None:
        found.add("unembedding")
    if isinstance(getattr(model, "get_output_embeddings", lambda: None)(), nn.Linear):
        found.add("lm_head")
    return frozenset(found)


def trace_decoder(x0: Tensor, parts: Sequence[DecoderLayerParts], rope: tuple[Tensor, Tensor] | None,
                  masks: Sequence[Tensor], final_norm: nn.Module,
                  unembed: tuple[Tensor, Tensor | None] | None) -> tuple[dict[str, Any], Decoder]:
    """What the trace keeps after the embeddings: X_0 … X_L, the masks and the weight views; and the decoder
    that recomputes any layer's other stages (and the final norm and logits) when asked for."""
    from .encoder import LayerStack

    decoder = Decoder(tuple(parts), rope, tuple(masks), final_norm, unembed)
    values: dict[str, Any] = {"manual_hiddens": decoder.hiddens(x0)}
    values.update(weight_stages(parts))
    values["selfattn_mask"] = LayerStack(masks)  # layers with the same window share one n×n mask
    values["final_norm_weight"] = param(final_norm, "weight")
    if isinstance(final_norm, nn.LayerNorm):
        values["final_norm_bias"] = final_norm.bias.detach()
    if unembed is not None:
        values["final_unembed_weight"] = unembed[0].detach().t()
    if rope is not None:  # the Llama family
        values["selfattn_kv_head"] = kv_heads_of(parts[0].heads, parts[0].kv_heads)
    return values, decoder


def masks_for(parts: Sequence[DecoderLayerParts], n: int, device: torch.device) -> list[Tensor]:
    """Each layer's n×n mask; layers with the same window share one tensor."""
    by_window: dict[int | None, Tensor] = {}
    for p in parts:
        if p.window not in by_window:
            by_window[p.window] = causal_mask(n, p.window, device)
    return [by_window[p.window] for p in parts]
