"""The stage registry: every named point of the forward pass, once (name, group, dims, formula, meaning).

It is the one source for the trace's attributes, ``Trace.stages``, the docs (``stage_table``) and
the widget's stage viewer. Names are TransEasy's (``bertscope``), so its users keep their vocabulary.

Dimension names: L layers, H heads, n tokens (special tokens included), d hidden size,
dh head size (d / H, unless the model sets its own: Qwen3, Llama configs with head_dim), Hkv key/value
heads (= H, except with grouped-query attention, where several query heads share one), a = H·dh the
width of the heads side by side (= d unless dh is set apart), f feed-forward size, V vocabulary size,
L+1 the hidden states with the embedding output first, e the embedding size where a model projects
embeddings (ALBERT, ELECTRA).

Encoders (BERT and its family) normalise after each sublayer (post-norm); the decoders (GPT-2 and the
Llama family: Llama, Mistral, Qwen2, Qwen3) normalise before it (pre-norm), so their layers have
``selfattn_norm_*`` and ``ffnn_norm_*`` stages instead of ``addnorm*_norm_*``, a causal mask, and a
final norm and unembedding (``final_*``) after the last layer.

Families differ in a few places, and the registry says where: a stage is absent from a family
(``absent_in``, with the reason), exists in some families only (``only_in``), exists only where a
model has a feature (``needs``: ELECTRA projects its embeddings only where embedding_size !=
hidden_size), or means something particular in a family (``notes``: ALBERT's shared layer weights,
RoBERTa's position ids).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field, replace

GROUPS: dict[str, str] = {
    "sym": "Symbolic: the text and its tokens",
    "preemb": "Pre-embedding: the three embedding tables, their sum and LayerNorm",
    "selfattn": "Multi-head self-attention (decoders: after the pre-attention norm; rotary positions, causal mask)",
    "addnorm1": "Add & Norm 1: attention output projection, residual, LayerNorm (decoders: no norm here)",
    "ffnn": "Feed-forward: intermediate dense layer and activation (decoders: the pre-norm; SwiGLU's gate and up)",
    "addnorm2": "Add & Norm 2: output dense layer, residual, LayerNorm (decoders: no norm here)",
    "final": "Final norm and unembedding: the next-token logits (decoders)",
    "manual": "The hidden states recomputed by hand",
    "pipeline": "The model's own forward pass, for comparison",
    "objects": "The objects used",
}

# Optional features of a model, beyond its family: a stage that ``needs`` one exists where the model has it.
FEATURES: dict[str, str] = {
    "embedding_projection": "the model projects its embeddings from the embedding size e to the hidden size d "
                            "(ALBERT always; ELECTRA where embedding_size != hidden_size)",
    "unembedding": "the decoder has an unembedding: its LM head (…ForCausalLM, GPT2LMHeadModel), or word embeddings "
                   "tied to it (tie_word_embeddings) in a bare GPT2Model / LlamaModel",
    "lm_head": "the model is a task model with its LM head (…ForCausalLM, GPT2LMHeadModel), so it returns logits",
}

# kind: what a stage holds. "activation": computed from the input; "weight": a view of a model
# parameter; "symbolic": text, ids, token strings; "pipeline": the model's own output (lazy);
# "object": the model or tokenizer.
KINDS = ("activation", "weight", "symbolic", "pipeline", "object")


@dataclass(frozen=True)
class Stage:
    name: str
    group: str
    kind: str
    dims: tuple[str, ...]
    formula: str
    meaning: str
    # families (model_type) where the stage does not exist, with the reason shown to users
    absent_in: Mapping[str, str] = field(default_factory=dict)
    # families where the stage exists only (empty: every family)
    only_in: tuple[str, ...] = ()
    # a model feature (a FEATURES key) the stage needs beyond its family, e.g. an embedding projection
    needs: str | None = None
    # how the stage differs in a family (family → one line), shown in the docs and the stage viewer
    notes: Mapping[str, str] = field(default_factory=dict)
    # the nearest TransformerLens hook name ({l} the layer), so its users find their way ("" where none is near)
    tl_hook: str = ""

    @property
    def per_layer(self) -> bool:
        """A tensor with a layer axis: L, or L+1 for the hidden states (the viewer shows layer l's output X_{l+1})."""
        return self.kind in ("activation", "weight") and self.dims[:1] in (("L",), ("L+1",))

    @property
    def per_head(self) -> bool:
        return "H" in self.dims or "Hkv" in self.dims

    def head_index(self, head: int, sizes: Mapping[str, int]) -> int:
        """The index along this stage's head axis for query head ``head``: the key/value head it reads (Hkv stages)."""
        return head // (sizes["H"] // sizes["Hkv"]) if "Hkv" in self.dims else head

    def exists_in(self, family: str, features: Collection[str] | None = None) -> bool:
        """Whether the stage exists in a family; with ``features`` (a model's own), in that very model."""
        if self.only_in and family not in self.only_in:
            return False
        if features is not None and self.needs is not None and self.needs not in features:
            return False
        return family not in self.absent_in

    def note(self, family: str) -> str:
        """What is particular about the stage in a family ("" where nothing is)."""
        return self.notes.get(family, "")

    def shape(self, sizes: Mapping[str, int]) -> tuple[int, ...]:
        """The concrete shape for a model's sizes (``L+1`` is understood)."""
        return tuple(sizes["L"] + 1 if dim == "L+1" else sizes[dim] for dim in self.dims)


def _s(name: str, kind: str, dims: str, formula: str, meaning: str, **kw: object) -> Stage:
    group = name.split("_", 1)[0] if name not in ("model", "tokenizer") else "objects"
    return Stage(name, group, kind, tuple(dims.split()) if dims else (), formula, meaning, **kw)  # type: ignore[arg-type]


_ROBERTA = ("roberta", "xlm-roberta")
_PROJECTED = ("albert", "electra")
ENCODERS = ("bert", *_ROBERTA, "distilbert", *_PROJECTED)
LLAMA_FAMILY = ("llama", "mistral", "qwen2", "qwen3")
DECODERS = ("gpt2", *LLAMA_FAMILY)


def _each(families: tuple[str, ...], note: str) -> dict[str, str]:
    return dict.fromkeys(families, note)


_NO_SEGMENTS = {"distilbert": "DistilBERT has no segment (token type) embeddings: it drops them from BERT.",
                **_each(DECODERS, "Decoders have no segment (token type) embeddings: they read one text.")}
_PRE_NORM = _each(DECODERS, "Pre-norm decoders normalise each sublayer's input (selfattn_norm_*, ffnn_norm_*), "
                            "not its output.")
_SWIGLU = _each(LLAMA_FAMILY, "The Llama family's feed-forward is SwiGLU: ffnn_gate_*, ffnn_up_*, ffnn_glu_hidden.")
_PRE_NORMED = _each(DECODERS, "Pre-norm: computed from selfattn_norm_hidden, the normalised X_l, not from X_l.")
_GPT2_FUSED = {"gpt2": "GPT-2 computes Q, K and V in one fused Conv1D (attn.c_attn, stored in × out): W_Q, W_K and W_V "
                       "are its three column blocks, transposed here to the nn.Linear layout."}
_LN_OR_RMS = {"gpt2": "LayerNorm (with a bias).",
              **_each(LLAMA_FAMILY, "RMSNorm: x / sqrt(mean(x²) + eps) · gamma, no centring and no bias.")}
_NO_BIAS = _each(LLAMA_FAMILY, "Zeros where the model has no bias (Llama and Mistral without attention_bias / "
                               "mlp_bias, Qwen3); Qwen2's q/k/v projections have biases.")
_GQA = _each(LLAMA_FAMILY, "With grouped-query attention (num_key_value_heads < num_attention_heads) there are Hkv "
                           "key/value heads; query head h reads key/value head selfattn_kv_head[h] = h // (H / Hkv).")

_PROJECTION = {
    "albert": "ALBERT always projects (encoder.embedding_hidden_mapping_in), even where e = d.",
    "electra": "ELECTRA projects (embeddings_project) only where embedding_size != hidden_size; elsewhere the stage "
               "is absent and X_0 = preemb_norm_sum_emb.",
}
_SHARED_LAYERS = {"albert": "ALBERT shares weights across layers: layer l is the SAME view (not a copy) as every other "
                            "layer that runs the same shared AlbertLayer (all layers, with the default "
                            "num_hidden_groups = inner_group_num = 1)."}

# In data-flow order: the widget's diagram and the docs list them in this order.
_LISTED: tuple[Stage, ...] = (
    _s("sym_sent", "symbolic", "", "text", "The input text (a pair: the tuple of both texts)."),
    _s("sym_token_ids", "symbolic", "n", "tokenizer(text)", "Vocabulary ids of the pieces, special tokens included."),
    _s("sym_tokens", "symbolic", "n", "pieces(ids)", "Word pieces, special tokens ([CLS], [SEP] or <s>, </s>) included."),
    _s("sym_seq_len", "symbolic", "", "n", "Number of pieces n, special tokens included."),
    _s("sym_segment_ids", "symbolic", "n", "0 for the first text, 1 for the second",
       "Segment (token type) id of each piece: which text of a pair it belongs to.", absent_in=_NO_SEGMENTS,
       notes=_each(_ROBERTA, "RoBERTa's tokenizers give segment 0 to both texts of a pair (its pretrained table has "
                             "one row): separators, not segments, tell the texts apart.")),
    _s("sym_position_ids", "symbolic", "n", "0, 1, ..., n-1 (RoBERTa: padding_idx+1, ...)",
       "Row of the position table each piece reads.",
       notes={**_each(_ROBERTA, "Position ids start after the padding index: padding_idx+1, padding_idx+2, ... "
                                "(a padding piece keeps padding_idx), so n tokens need n + padding_idx + 1 rows."),
              **_each(LLAMA_FAMILY, "The positions the rotary embedding turns queries and keys by (no table).")}),
    _s("preemb_vocab", "weight", "V e", "E_word", "The word-embedding table itself (a view of the model's weight)."),
    _s("preemb_word_emb", "activation", "n e", "E_word[ids]", "Rows of the word-embedding table for the pieces.",
       notes=_each(LLAMA_FAMILY, "X_0: the Llama family adds nothing to the word embeddings (positions act inside "
                                 "attention)."),
       tl_hook="hook_embed (HookedEncoder: embed.hook_embed)"),
    _s("preemb_pos_emb", "activation", "n e", "E_pos[position_ids]", "Rows of the position-embedding table.",
       absent_in=_each(LLAMA_FAMILY, "The Llama family has no position table: rotary embeddings turn each query and "
                                     "key by its position (selfattn_rope_cos, selfattn_rope_sin)."),
       tl_hook="hook_pos_embed (HookedEncoder: embed.hook_pos_embed)"),
    _s("preemb_seg_emb", "activation", "n e", "E_seg[segment_ids]",
       "Rows of the segment-embedding table (segment 0 for one text; 0 then 1 for a pair).", absent_in=_NO_SEGMENTS,
       tl_hook="embed.hook_token_type_embed"),
    _s("preemb_sum_emb", "activation", "n e", "word + seg + pos", "The sum of the embedding rows.",
       notes={"distilbert": "word + pos: DistilBERT has no segment embeddings.",
              "gpt2": "word + pos = X_0, the first layer's input (GPT-2 does not normalise its embeddings)."},
       absent_in=_each(LLAMA_FAMILY, "Nothing is summed: X_0 is preemb_word_emb."),
       tl_hook="blocks.0.hook_resid_pre (GPT-2)"),
    _s("preemb_norm_weight", "weight", "e", "gamma", "Embedding LayerNorm scale.", absent_in=_PRE_NORM),
    _s("preemb_norm_bias", "weight", "e", "beta", "Embedding LayerNorm shift.", absent_in=_PRE_NORM),
    _s("preemb_norm_sum_emb", "activation", "n e", "LayerNorm(sum) = X_0 (before any projection)",
       "The normalised embeddings: the input of the first layer where no projection follows.",
       notes=_each(_PROJECTED, "Of size e; preemb_proj_hidden projects it to the hidden size d (where the model "
                               "projects: ALBERT always, ELECTRA where embedding_size != hidden_size)."),
       absent_in=_PRE_NORM, tl_hook="embed.ln.hook_normalized (HookedEncoder)"),
    _s("preemb_proj_weight", "weight", "e d", "W_proj.T", "Projection from embedding size e to hidden size d.",
       only_in=_PROJECTED, needs="embedding_projection", notes=_PROJECTION),
    _s("preemb_proj_bias", "weight", "d", "b_proj", "Bias of the embedding projection.",
       only_in=_PROJECTED, needs="embedding_projection", notes=_PROJECTION),
    _s("preemb_proj_hidden", "activation", "n d", "X_0 = LayerNorm(sum) @ W_proj + b_proj",
       "The embeddings projected to the hidden size: the input of the first layer.",
       only_in=_PROJECTED, needs="embedding_projection", notes=_PROJECTION),
    _s("selfattn_norm_weight", "weight", "L d", "gamma", "Scale of the norm before attention (pre-norm).",
       only_in=DECODERS, notes=_LN_OR_RMS),
    _s("selfattn_norm_bias", "weight", "L d", "beta", "Shift of the LayerNorm before attention.", only_in=("gpt2",)),
    _s("selfattn_norm_scale", "activation", "L n", "sqrt(mean((x - mean x)²) + eps); RMSNorm: sqrt(mean(x²) + eps)",
       "What the norm before attention divides each token's X_l by.", only_in=DECODERS, notes=_LN_OR_RMS,
       tl_hook="blocks.{l}.ln1.hook_scale"),
    _s("selfattn_norm_hidden", "activation", "L n d", "norm(X_l) = (X_l [- mean]) / scale · gamma [+ beta]",
       "The normalised residual stream: the input of attention.", only_in=DECODERS, notes=_LN_OR_RMS,
       tl_hook="blocks.{l}.ln1.hook_normalized"),
    _s("selfattn_query_weight", "weight", "L H dh d", "W_Q rows h*dh..(h+1)*dh",
       "Per-head slices of the query projection weight (nn.Linear layout: out × in).", notes=_GPT2_FUSED),
    _s("selfattn_key_weight", "weight", "L Hkv dh d", "W_K rows h*dh..(h+1)*dh", "Per-head slices of the key projection weight.",
       notes={**_GPT2_FUSED, **_GQA}),
    _s("selfattn_value_weight", "weight", "L Hkv dh d", "W_V rows h*dh..(h+1)*dh", "Per-head slices of the value projection weight.",
       notes={**_GPT2_FUSED, **_GQA}),
    _s("selfattn_query_bias", "weight", "L H dh", "b_Q[h*dh..(h+1)*dh]", "Per-head slices of the query bias.", notes=_NO_BIAS),
    _s("selfattn_key_bias", "weight", "L Hkv dh", "b_K[h*dh..(h+1)*dh]", "Per-head slices of the key bias.", notes=_NO_BIAS),
    _s("selfattn_value_bias", "weight", "L Hkv dh", "b_V[h*dh..(h+1)*dh]", "Per-head slices of the value bias.", notes=_NO_BIAS),
    _s("selfattn_query_hidden", "activation", "L H n dh", "Q = X_l @ W_Q.T + b_Q", "Queries of each head.",
       notes=_PRE_NORMED, tl_hook="blocks.{l}.attn.hook_q"),
    _s("selfattn_key_hidden", "activation", "L Hkv n dh", "K = X_l @ W_K.T + b_K", "Keys of each (key/value) head.",
       notes={**_PRE_NORMED, **_GQA}, tl_hook="blocks.{l}.attn.hook_k"),
    _s("selfattn_value_hidden", "activation", "L Hkv n dh", "V = X_l @ W_V.T + b_V", "Values of each (key/value) head.",
       notes={**_PRE_NORMED, **_GQA}, tl_hook="blocks.{l}.attn.hook_v"),
    _s("selfattn_query_norm_weight", "weight", "L dh", "gamma_q", "Scale of Qwen3's RMSNorm of each query head.",
       only_in=("qwen3",)),
    _s("selfattn_key_norm_weight", "weight", "L dh", "gamma_k", "Scale of Qwen3's RMSNorm of each key head.",
       only_in=("qwen3",)),
    _s("selfattn_query_norm_hidden", "activation", "L H n dh", "RMSNorm over dh of Q (q_norm)",
       "Qwen3 normalises each head's query vector before the rotation.", only_in=("qwen3",)),
    _s("selfattn_key_norm_hidden", "activation", "L Hkv n dh", "RMSNorm over dh of K (k_norm)",
       "Qwen3 normalises each head's key vector before the rotation.", only_in=("qwen3",)),
    _s("selfattn_rope_cos", "activation", "n dh", "cos(p · [inv_freq, inv_freq]) · attention_scaling",
       "Rotary embedding: the cosine of each position's angles, the same for every layer and head.",
       only_in=LLAMA_FAMILY,
       notes=_each(LLAMA_FAMILY, "inv_freq and attention_scaling are the model's rotary module's own "
                                 "(rotary_emb), so every rope_type of the config (default, linear, dynamic, yarn, "
                                 "longrope, llama3) gives the model's angles.")),
    _s("selfattn_rope_sin", "activation", "n dh", "sin(p · [inv_freq, inv_freq]) · attention_scaling",
       "Rotary embedding: the sine of each position's angles.", only_in=LLAMA_FAMILY),
    _s("selfattn_query_rot_hidden", "activation", "L H n dh", "Q·cos + rotate_half(Q)·sin",
       "Queries turned by their position (rotate_half(x) = [-x₂, x₁] of its two halves).", only_in=LLAMA_FAMILY,
       notes={"qwen3": "Of the normalised queries (selfattn_query_norm_hidden)."}, tl_hook="blocks.{l}.attn.hook_rot_q"),
    _s("selfattn_key_rot_hidden", "activation", "L Hkv n dh", "K·cos + rotate_half(K)·sin",
       "Keys turned by their position.", only_in=LLAMA_FAMILY,
       notes={"qwen3": "Of the normalised keys (selfattn_key_norm_hidden)."}, tl_hook="blocks.{l}.attn.hook_rot_k"),
    _s("selfattn_kv_head", "symbolic", "H", "h // (H / Hkv)",
       "The key/value head each query head reads (grouped-query attention; h itself where Hkv = H).",
       only_in=LLAMA_FAMILY),
    _s("selfattn_qkt_hidden", "activation", "L H n n", "Q @ K.T", "Raw attention scores: query i against key j.",
       notes={**_each(LLAMA_FAMILY, "Of the rotated queries and keys; query head h against key/value head "
                                    "selfattn_kv_head[h]. Unmasked (selfattn_qkt_scale_masked_hidden masks)."),
              "gpt2": "Unmasked: selfattn_qkt_scale_masked_hidden masks the future."}),
    _s("selfattn_qkt_scale_hidden", "activation", "L H n n", "Q @ K.T / sqrt(dh)",
       "Scaled attention scores (every family here multiplies Q @ K.T by the model's own scaling, 1/sqrt(dh)).",
       notes={"gpt2": "The scaling is attn.scaling: 1/sqrt(dh), 1 without scale_attn_weights, further divided by "
                      "l + 1 with scale_attn_by_inverse_layer_idx."},
       tl_hook="blocks.{l}.attn.hook_attn_scores (encoders)"),
    _s("selfattn_mask", "activation", "L n n", "j <= i (and i - j < w with a sliding window w)",
       "The causal mask: True where query i may attend to key j (the past and itself).", only_in=DECODERS,
       notes={"mistral": "With config.sliding_window w, a query sees only its last w keys (itself included).",
              "qwen2": "Layers of layer_types 'sliding_attention' (use_sliding_window, from max_window_layers on) see "
                       "only the last sliding_window keys; the others every earlier key.",
              "qwen3": "Layers of layer_types 'sliding_attention' see only the last sliding_window keys."}),
    _s("selfattn_qkt_scale_masked_hidden", "activation", "L H n n", "where(mask, Q @ K.T / sqrt(dh), -inf)",
       "The scaled scores with the masked (future, or outside the window) keys at -inf, so softmax gives them 0.",
       only_in=DECODERS, tl_hook="blocks.{l}.attn.hook_attn_scores"),
    _s("selfattn_qkt_scale_soft_hidden", "activation", "L H n n", "softmax(Q @ K.T / sqrt(dh), axis=-1)",
       "Attention weights: each row sums to 1.",
       notes=_each(DECODERS, "softmax of the masked scores: 0 above the diagonal (masked, not learnt)."),
       tl_hook="blocks.{l}.attn.hook_pattern"),
    _s("selfattn_attention", "activation", "L H n n", "= selfattn_qkt_scale_soft_hidden",
       "The attention weights again, under their common name (the same tensor).", tl_hook="blocks.{l}.attn.hook_pattern"),
    _s("selfattn_contvec", "activation", "L H n dh", "A @ V", "Context vectors: each head's attention-weighted values.",
       notes=_GQA, tl_hook="blocks.{l}.attn.hook_z"),
    _s("selfattn_contvec_concat", "activation", "L n a", "concat_h(A_h @ V_h)",
       "Context vectors of all heads side by side, in head order.", tl_hook="blocks.{l}.attn.hook_z (heads flattened)"),
    _s("addnorm1_dense_weight", "weight", "L a d", "W_O.T (in × out)", "Attention output projection, stored transposed as in TransEasy.",
       notes={"gpt2": "attn.c_proj's weight as it is (Conv1D stores in × out)."}),
    _s("addnorm1_dense_bias", "weight", "L d", "b_O", "Attention output projection bias.", notes=_NO_BIAS),
    _s("addnorm1_dense_hidden", "activation", "L n d", "concat @ W_O.T + b_O", "Projected attention output.",
       tl_hook="blocks.{l}.hook_attn_out"),
    _s("addnorm1_add_hidden", "activation", "L n d", "dense + X_l", "Residual connection around attention.",
       notes=_each(DECODERS, "The residual stream between attention and the feed-forward layer (not normalised)."),
       tl_hook="blocks.{l}.hook_resid_mid"),
    _s("addnorm1_norm_weight", "weight", "L d", "gamma", "LayerNorm scale after attention.", absent_in=_PRE_NORM),
    _s("addnorm1_norm_bias", "weight", "L d", "beta", "LayerNorm shift after attention.", absent_in=_PRE_NORM),
    _s("addnorm1_norm_hidden", "activation", "L n d", "LayerNorm(add)", "Normalised attention block output.",
       absent_in=_PRE_NORM, tl_hook="blocks.{l}.ln1.hook_normalized (HookedEncoder)"),
    _s("ffnn_norm_weight", "weight", "L d", "gamma", "Scale of the norm before the feed-forward layer (pre-norm).",
       only_in=DECODERS, notes=_LN_OR_RMS),
    _s("ffnn_norm_bias", "weight", "L d", "beta", "Shift of the LayerNorm before the feed-forward layer.",
       only_in=("gpt2",)),
    _s("ffnn_norm_scale", "activation", "L n", "sqrt(mean((x - mean x)²) + eps); RMSNorm: sqrt(mean(x²) + eps)",
       "What the norm before the feed-forward layer divides each token's residual by.", only_in=DECODERS,
       notes=_LN_OR_RMS, tl_hook="blocks.{l}.ln2.hook_scale"),
    _s("ffnn_norm_hidden", "activation", "L n d", "norm(addnorm1_add_hidden)",
       "The normalised residual stream after attention: the input of the feed-forward layer.", only_in=DECODERS,
       notes=_LN_OR_RMS, tl_hook="blocks.{l}.ln2.hook_normalized"),
    _s("ffnn_dense_weight", "weight", "L d f", "W_1.T (in × out)", "Intermediate (feed-forward) dense weight, transposed.",
       absent_in=_SWIGLU, notes={"gpt2": "mlp.c_fc's weight as it is (Conv1D stores in × out)."}),
    _s("ffnn_dense_bias", "weight", "L f", "b_1", "Intermediate dense bias.", absent_in=_SWIGLU),
    _s("ffnn_dense_hidden", "activation", "L n f", "addnorm1_norm @ W_1.T + b_1", "Feed-forward pre-activation.",
       absent_in=_SWIGLU, notes={"gpt2": "ffnn_norm_hidden @ W_1 + b_1."}, tl_hook="blocks.{l}.mlp.hook_pre"),
    _s("ffnn_dense_act", "activation", "L n f", "act(dense)", "After the model's own activation function (gelu for BERT).",
       notes={"distilbert": "The activation is config.activation (gelu or relu).",
              "gpt2": "The activation is config.activation_function (gelu_new, the tanh approximation).",
              **_each(("bert", *_ROBERTA, *_PROJECTED), "The activation is config.hidden_act.")},
       absent_in=_SWIGLU, tl_hook="blocks.{l}.mlp.hook_post"),
    _s("ffnn_gate_weight", "weight", "L d f", "W_gate.T (in × out)", "SwiGLU's gate projection, transposed.",
       only_in=LLAMA_FAMILY),
    _s("ffnn_gate_bias", "weight", "L f", "b_gate", "Gate projection bias.", only_in=LLAMA_FAMILY, notes=_NO_BIAS),
    _s("ffnn_gate_hidden", "activation", "L n f", "ffnn_norm @ W_gate.T + b_gate", "The gate before its activation.",
       only_in=LLAMA_FAMILY, tl_hook="blocks.{l}.mlp.hook_pre"),
    _s("ffnn_gate_act", "activation", "L n f", "act(gate)", "The gate through config.hidden_act (silu: x·sigmoid(x)).",
       only_in=LLAMA_FAMILY),
    _s("ffnn_up_weight", "weight", "L d f", "W_up.T (in × out)", "SwiGLU's up projection, transposed.",
       only_in=LLAMA_FAMILY),
    _s("ffnn_up_bias", "weight", "L f", "b_up", "Up projection bias.", only_in=LLAMA_FAMILY, notes=_NO_BIAS),
    _s("ffnn_up_hidden", "activation", "L n f", "ffnn_norm @ W_up.T + b_up", "The linear (ungated) branch.",
       only_in=LLAMA_FAMILY, tl_hook="blocks.{l}.mlp.hook_pre_linear"),
    _s("ffnn_glu_hidden", "activation", "L n f", "act(gate) · up", "The gated product: the input of the down projection.",
       only_in=LLAMA_FAMILY, tl_hook="blocks.{l}.mlp.hook_post"),
    _s("addnorm2_dense_weight", "weight", "L f d", "W_2.T (in × out)", "Output dense weight, transposed.",
       notes={"gpt2": "mlp.c_proj's weight as it is (Conv1D stores in × out).",
              **_each(LLAMA_FAMILY, "SwiGLU's down projection (down_proj), transposed.")}),
    _s("addnorm2_dense_bias", "weight", "L d", "b_2", "Output dense bias.", notes=_NO_BIAS),
    _s("addnorm2_dense_hidden", "activation", "L n d", "act @ W_2.T + b_2", "Feed-forward output.",
       notes=_each(LLAMA_FAMILY, "ffnn_glu_hidden @ W_down.T + b_down."), tl_hook="blocks.{l}.hook_mlp_out"),
    _s("addnorm2_add_hidden", "activation", "L n d", "dense + addnorm1_norm", "Residual connection around the feed-forward layer.",
       notes=_each(DECODERS, "dense + addnorm1_add_hidden = X_{l+1}, the layer output (a view of manual_hiddens)."),
       tl_hook="blocks.{l}.hook_resid_post"),
    _s("addnorm2_norm_weight", "weight", "L d", "gamma", "LayerNorm scale after the feed-forward layer.", absent_in=_PRE_NORM),
    _s("addnorm2_norm_bias", "weight", "L d", "beta", "LayerNorm shift after the feed-forward layer.", absent_in=_PRE_NORM),
    _s("addnorm2_norm_hidden", "activation", "L n d", "LayerNorm(add) = X_{l+1}", "Layer output: the next layer's input.",
       absent_in=_PRE_NORM, tl_hook="blocks.{l}.hook_normalized_resid_post (HookedEncoder)"),
    _s("final_norm_weight", "weight", "d", "gamma", "Scale of the final norm after the last layer.", only_in=DECODERS,
       notes=_LN_OR_RMS),
    _s("final_norm_bias", "weight", "d", "beta", "Shift of GPT-2's final LayerNorm (ln_f).", only_in=("gpt2",)),
    _s("final_norm_scale", "activation", "n", "sqrt(mean((x - mean x)²) + eps); RMSNorm: sqrt(mean(x²) + eps)",
       "What the final norm divides each token's X_L by.", only_in=DECODERS, tl_hook="ln_final.hook_scale"),
    _s("final_norm_hidden", "activation", "n d", "norm(X_L)",
       "The normalised last residual stream: what the model reports as its last hidden state.", only_in=DECODERS,
       tl_hook="ln_final.hook_normalized"),
    _s("final_unembed_weight", "weight", "d V", "W_U = lm_head.weight.T", "The unembedding (a view of the model's weight).",
       only_in=DECODERS, needs="unembedding",
       notes=_each(DECODERS, "Tied to the word embeddings (preemb_vocab.T) where config.tie_word_embeddings.")),
    _s("final_logits", "activation", "n V", "final_norm_hidden @ W_U",
       "Next-token logits: row i scores every vocabulary entry as the token after piece i.", only_in=DECODERS,
       needs="unembedding"),
    _s("manual_hiddens", "activation", "L+1 n d", "[X_0, X_1, ..., X_L]",
       "Hidden states recomputed by hand: the embedding output, then every layer's output.",
       notes={"albert": "X_0 is the projected embeddings (preemb_proj_hidden); L counts layer applications: "
                        "num_hidden_layers × inner_group_num, as the model's own hidden states do.",
              "electra": "X_0 is the projected embeddings (preemb_proj_hidden) where the model projects.",
              **_each(DECODERS, "The residual stream: X_L is before the final norm; the model's own last hidden "
                                "state is after it (final_norm_hidden), and verify() compares it with that.")},
       tl_hook="blocks.{l}.hook_resid_pre (X_L: blocks.{L-1}.hook_resid_post)"),
    _s("pipeline_res", "pipeline", "", "model(ids, output_attentions, output_hidden_states)",
       "The model's own output object (computed on first use, in eval mode, eager attention)."),
    _s("pipeline_attns", "pipeline", "L", "pipeline_res.attentions", "The model's own attentions: L tensors of 1×H×n×n."),
    _s("pipeline_hiddens", "pipeline", "L+1", "pipeline_res.hidden_states", "The model's own hidden states: L+1 tensors of 1×n×d."),
    _s("pipeline_logits", "pipeline", "n V", "pipeline_res.logits[0]", "The model's own next-token logits.",
       only_in=DECODERS, needs="lm_head"),
    _s("model", "object", "", "", "The model used (its base encoder).",
       notes=_each(DECODERS, "A decoder is kept with its LM head (…ForCausalLM, GPT2LMHeadModel) where it has one.")),
    _s("tokenizer", "object", "", "", "The tokenizer used."),
)

# The steps of the widget's diagram, in data-flow order: (title, the stages drawn in that row: activations side by
# side, then the parameters feeding them). Titles may repeat (a layer has two LayerNorms); every stage is in one step.
STEPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("text", ("sym_sent", "sym_seq_len")),
    ("tokens", ("sym_tokens", "sym_token_ids", "sym_segment_ids", "sym_position_ids")),
    ("embedding tables", ("preemb_word_emb", "preemb_pos_emb", "preemb_seg_emb", "preemb_vocab")),
    ("sum", ("preemb_sum_emb",)),
    ("LayerNorm", ("preemb_norm_sum_emb", "preemb_norm_weight", "preemb_norm_bias")),
    ("projection e → d", ("preemb_proj_hidden", "preemb_proj_weight", "preemb_proj_bias")),
    ("norm (pre-attention)", ("selfattn_norm_hidden", "selfattn_norm_scale", "selfattn_norm_weight", "selfattn_norm_bias")),
    ("Q / K / V", ("selfattn_query_hidden", "selfattn_key_hidden", "selfattn_value_hidden", "selfattn_query_weight",
                   "selfattn_key_weight", "selfattn_value_weight", "selfattn_query_bias", "selfattn_key_bias",
                   "selfattn_value_bias")),
    ("q / k norm", ("selfattn_query_norm_hidden", "selfattn_key_norm_hidden", "selfattn_query_norm_weight",
                    "selfattn_key_norm_weight")),
    ("rotary positions", ("selfattn_query_rot_hidden", "selfattn_key_rot_hidden", "selfattn_rope_cos", "selfattn_rope_sin")),
    ("key/value heads", ("selfattn_kv_head",)),
    ("QKᵀ", ("selfattn_qkt_hidden",)),
    ("÷ √dh", ("selfattn_qkt_scale_hidden",)),
    ("causal mask", ("selfattn_qkt_scale_masked_hidden", "selfattn_mask")),
    ("softmax", ("selfattn_qkt_scale_soft_hidden", "selfattn_attention")),
    ("context = A·V", ("selfattn_contvec",)),
    ("concat heads", ("selfattn_contvec_concat",)),
    ("dense", ("addnorm1_dense_hidden", "addnorm1_dense_weight", "addnorm1_dense_bias")),
    ("add (residual)", ("addnorm1_add_hidden",)),
    ("LayerNorm", ("addnorm1_norm_hidden", "addnorm1_norm_weight", "addnorm1_norm_bias")),
    ("norm (pre-FFN)", ("ffnn_norm_hidden", "ffnn_norm_scale", "ffnn_norm_weight", "ffnn_norm_bias")),
    ("FFN dense", ("ffnn_dense_hidden", "ffnn_dense_weight", "ffnn_dense_bias")),
    ("activation", ("ffnn_dense_act",)),
    ("gate", ("ffnn_gate_hidden", "ffnn_gate_act", "ffnn_gate_weight", "ffnn_gate_bias")),
    ("up", ("ffnn_up_hidden", "ffnn_up_weight", "ffnn_up_bias")),
    ("act(gate) × up", ("ffnn_glu_hidden",)),
    ("dense", ("addnorm2_dense_hidden", "addnorm2_dense_weight", "addnorm2_dense_bias")),
    ("add (residual)", ("addnorm2_add_hidden",)),
    ("LayerNorm", ("addnorm2_norm_hidden", "addnorm2_norm_weight", "addnorm2_norm_bias")),
    ("final norm", ("final_norm_hidden", "final_norm_scale", "final_norm_weight", "final_norm_bias")),
    ("unembedding → logits", ("final_logits", "final_unembed_weight")),
    ("hidden states", ("manual_hiddens",)),
    ("the model's own output", ("pipeline_res", "pipeline_attns", "pipeline_hiddens", "pipeline_logits")),
    ("objects used", ("model", "tokenizer")),
)
# The diagram's sections, by group: the groups of one encoder layer are drawn as one repeated block.
SECTIONS: dict[str, str] = {"sym": "input", "preemb": "embeddings", "selfattn": "encoder layer",
                            "addnorm1": "encoder layer", "ffnn": "encoder layer", "addnorm2": "encoder layer",
                            "final": "output and verification",
                            "manual": "output and verification", "pipeline": "output and verification",
                            "objects": "output and verification"}

# every per-layer weight stage says that ALBERT's layers share one layer's weights
REGISTRY: tuple[Stage, ...] = tuple(
    replace(s, notes={**_SHARED_LAYERS, **s.notes}) if s.kind == "weight" and s.per_layer else s for s in _LISTED)
STAGES: dict[str, Stage] = {s.name: s for s in REGISTRY}
assert len(STAGES) == len(REGISTRY), "a stage is named twice"
assert all(s.kind in KINDS and s.group in GROUPS and s.group in SECTIONS for s in REGISTRY)
assert sorted(n for _, names in STEPS for n in names) == sorted(STAGES), "a stage is in no step of the diagram, or two"


def stages_for(family: str, features: Collection[str] | None = None) -> tuple[Stage, ...]:
    """The stages a model family has, in data-flow order; with ``features``, those of one model of it."""
    return tuple(s for s in REGISTRY if s.exists_in(family, features))


def absent_reason(name: str, family: str, features: Collection[str] | None = None) -> str | None:
    """Why a known stage is missing for a family or model (None where it exists or is unknown)."""
    stage = STAGES.get(name)
    if stage is None or stage.exists_in(family, features):
        return None
    if family in stage.absent_in:
        return stage.absent_in[family]
    if stage.only_in and family not in stage.only_in:
        return f"{name} exists only in {', '.join(stage.only_in)} models."
    return f"{name} exists only where {FEATURES[stage.needs or '']}; this model does not. {stage.note(family)}".strip()


def diagram_steps(stages: Collection[str]) -> list[dict[str, object]]:
    """The widget's diagram: one row per step that has any of ``stages``, with its section and its stages."""
    out: list[dict[str, object]] = []
    for title, names in STEPS:
        present = [n for n in names if n in stages]
        if present:
            out.append({"title": title, "section": SECTIONS[STAGES[present[0]].group], "stages": present})
    return out


def by_group(stages: Iterator[Stage] | tuple[Stage, ...]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for s in stages:
        groups.setdefault(s.group, []).append(s.name)
    return groups


def stage_table(family: str | None = None) -> str:
    """The registry as a Markdown table (the README's stage list is generated from this)."""
    rows = ["| stage | group | shape | formula | meaning | TransformerLens |", "|---|---|---|---|---|---|"]
    for s in REGISTRY if family is None else stages_for(family):
        shape = "×".join(s.dims) or "—"
        meaning = f"{s.meaning} {s.note(family)}".strip() if family else s.meaning
        if family is None and (s.only_in or s.absent_in):
            meaning += f" *({_where(s)})*"
        hook = f"`{s.tl_hook.split(' (', 1)[0]}`" + (f" ({s.tl_hook.split(' (', 1)[1]}" if " (" in s.tl_hook else "") \
            if s.tl_hook else "—"
        rows.append(f"| `{s.name}` | {s.group} | {shape} | `{s.formula}` | {meaning} | {hook} |".replace("`` ", "— "))
    return "\n".join(rows)


def _where(s: Stage) -> str:
    if s.only_in:
        return "only " + ", ".join(s.only_in)
    return "not in " + ", ".join(s.absent_in)


_BEGIN, _END = "<!-- stage-table:begin -->", "<!-- stage-table:end -->"


def refresh_readme(path: str) -> bool:
    """Rewrite the README's stage table from the registry; True if it changed."""
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    head, rest = text.split(_BEGIN, 1)
    _, tail = rest.split(_END, 1)
    new = f"{head}{_BEGIN}\n{stage_table()}\n{_END}{tail}"
    if new != text:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(new)
    return new != text


if __name__ == "__main__":  # python -m transeasy_widget.stages [README.md]
    import sys

    target = sys.argv[1] if len(sys.argv) > 1 else "README.md"
    print("README stage table", "refreshed" if refresh_readme(target) else "already up to date")
