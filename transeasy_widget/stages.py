"""The stage registry: every named point of the forward pass, once (name, group, dims, formula, meaning).

It is the one source for the trace's attributes, ``Trace.stages``, the docs (``stage_table``) and
the widget's stage viewer. Names are TransEasy's (``bertscope``), so its users keep their vocabulary.

Dimension names: L layers, H heads, n tokens (special tokens included), d hidden size,
dh = d / H head size, f feed-forward size, V vocabulary size, L+1 the hidden states with the
embedding output first, e the embedding size where a model projects embeddings (ALBERT, ELECTRA).

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
    "selfattn": "Multi-head self-attention",
    "addnorm1": "Add & Norm 1: attention output projection, residual, LayerNorm",
    "ffnn": "Feed-forward: intermediate dense layer and activation",
    "addnorm2": "Add & Norm 2: output dense layer, residual, LayerNorm",
    "manual": "The hidden states recomputed by hand",
    "pipeline": "The model's own forward pass, for comparison",
    "objects": "The objects used",
}

# Optional features of a model, beyond its family: a stage that ``needs`` one exists where the model has it.
FEATURES: dict[str, str] = {
    "embedding_projection": "the model projects its embeddings from the embedding size e to the hidden size d "
                            "(ALBERT always; ELECTRA where embedding_size != hidden_size)",
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

    @property
    def per_layer(self) -> bool:
        """A tensor with a layer axis: L, or L+1 for the hidden states (the viewer shows layer l's output X_{l+1})."""
        return self.kind in ("activation", "weight") and self.dims[:1] in (("L",), ("L+1",))

    @property
    def per_head(self) -> bool:
        return "H" in self.dims

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


_NO_SEGMENTS = {"distilbert": "DistilBERT has no segment (token type) embeddings: it drops them from BERT."}
_ROBERTA = ("roberta", "xlm-roberta")
_PROJECTED = ("albert", "electra")


def _each(families: tuple[str, ...], note: str) -> dict[str, str]:
    return dict.fromkeys(families, note)


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
       notes=_each(_ROBERTA, "Position ids start after the padding index: padding_idx+1, padding_idx+2, ... "
                             "(a padding piece keeps padding_idx), so n tokens need n + padding_idx + 1 rows.")),
    _s("preemb_vocab", "weight", "V e", "E_word", "The word-embedding table itself (a view of the model's weight)."),
    _s("preemb_word_emb", "activation", "n e", "E_word[ids]", "Rows of the word-embedding table for the pieces."),
    _s("preemb_pos_emb", "activation", "n e", "E_pos[position_ids]", "Rows of the position-embedding table."),
    _s("preemb_seg_emb", "activation", "n e", "E_seg[segment_ids]",
       "Rows of the segment-embedding table (segment 0 for one text; 0 then 1 for a pair).", absent_in=_NO_SEGMENTS),
    _s("preemb_sum_emb", "activation", "n e", "word + seg + pos", "The sum of the embedding rows.",
       notes={"distilbert": "word + pos: DistilBERT has no segment embeddings."}),
    _s("preemb_norm_weight", "weight", "e", "gamma", "Embedding LayerNorm scale."),
    _s("preemb_norm_bias", "weight", "e", "beta", "Embedding LayerNorm shift."),
    _s("preemb_norm_sum_emb", "activation", "n e", "LayerNorm(sum) = X_0 (before any projection)",
       "The normalised embeddings: the input of the first layer where no projection follows.",
       notes=_each(_PROJECTED, "Of size e; preemb_proj_hidden projects it to the hidden size d (where the model "
                               "projects: ALBERT always, ELECTRA where embedding_size != hidden_size).")),
    _s("preemb_proj_weight", "weight", "e d", "W_proj.T", "Projection from embedding size e to hidden size d.",
       only_in=_PROJECTED, needs="embedding_projection", notes=_PROJECTION),
    _s("preemb_proj_bias", "weight", "d", "b_proj", "Bias of the embedding projection.",
       only_in=_PROJECTED, needs="embedding_projection", notes=_PROJECTION),
    _s("preemb_proj_hidden", "activation", "n d", "X_0 = LayerNorm(sum) @ W_proj + b_proj",
       "The embeddings projected to the hidden size: the input of the first layer.",
       only_in=_PROJECTED, needs="embedding_projection", notes=_PROJECTION),
    _s("selfattn_query_weight", "weight", "L H dh d", "W_Q rows h*dh..(h+1)*dh",
       "Per-head slices of the query projection weight (nn.Linear layout: out × in)."),
    _s("selfattn_key_weight", "weight", "L H dh d", "W_K rows h*dh..(h+1)*dh", "Per-head slices of the key projection weight."),
    _s("selfattn_value_weight", "weight", "L H dh d", "W_V rows h*dh..(h+1)*dh", "Per-head slices of the value projection weight."),
    _s("selfattn_query_bias", "weight", "L H dh", "b_Q[h*dh..(h+1)*dh]", "Per-head slices of the query bias."),
    _s("selfattn_key_bias", "weight", "L H dh", "b_K[h*dh..(h+1)*dh]", "Per-head slices of the key bias."),
    _s("selfattn_value_bias", "weight", "L H dh", "b_V[h*dh..(h+1)*dh]", "Per-head slices of the value bias."),
    _s("selfattn_query_hidden", "activation", "L H n dh", "Q = X_l @ W_Q.T + b_Q", "Queries of each head."),
    _s("selfattn_key_hidden", "activation", "L H n dh", "K = X_l @ W_K.T + b_K", "Keys of each head."),
    _s("selfattn_value_hidden", "activation", "L H n dh", "V = X_l @ W_V.T + b_V", "Values of each head."),
    _s("selfattn_qkt_hidden", "activation", "L H n n", "Q @ K.T", "Raw attention scores: query i against key j."),
    _s("selfattn_qkt_scale_hidden", "activation", "L H n n", "Q @ K.T / sqrt(dh)",
       "Scaled attention scores (every family here multiplies Q @ K.T by the model's own scaling, 1/sqrt(dh))."),
    _s("selfattn_qkt_scale_soft_hidden", "activation", "L H n n", "softmax(Q @ K.T / sqrt(dh), axis=-1)",
       "Attention weights: each row sums to 1."),
    _s("selfattn_attention", "activation", "L H n n", "= selfattn_qkt_scale_soft_hidden",
       "The attention weights again, under their common name (the same tensor)."),
    _s("selfattn_contvec", "activation", "L H n dh", "A @ V", "Context vectors: each head's attention-weighted values."),
    _s("selfattn_contvec_concat", "activation", "L n d", "concat_h(A_h @ V_h)", "Context vectors of all heads side by side, in head order."),
    _s("addnorm1_dense_weight", "weight", "L d d", "W_O.T (in × out)", "Attention output projection, stored transposed as in TransEasy."),
    _s("addnorm1_dense_bias", "weight", "L d", "b_O", "Attention output projection bias."),
    _s("addnorm1_dense_hidden", "activation", "L n d", "concat @ W_O.T + b_O", "Projected attention output."),
    _s("addnorm1_add_hidden", "activation", "L n d", "dense + X_l", "Residual connection around attention."),
    _s("addnorm1_norm_weight", "weight", "L d", "gamma", "LayerNorm scale after attention."),
    _s("addnorm1_norm_bias", "weight", "L d", "beta", "LayerNorm shift after attention."),
    _s("addnorm1_norm_hidden", "activation", "L n d", "LayerNorm(add)", "Normalised attention block output."),
    _s("ffnn_dense_weight", "weight", "L d f", "W_1.T (in × out)", "Intermediate (feed-forward) dense weight, transposed."),
    _s("ffnn_dense_bias", "weight", "L f", "b_1", "Intermediate dense bias."),
    _s("ffnn_dense_hidden", "activation", "L n f", "addnorm1_norm @ W_1.T + b_1", "Feed-forward pre-activation."),
    _s("ffnn_dense_act", "activation", "L n f", "act(dense)", "After the model's own activation function (gelu for BERT).",
       notes={"distilbert": "The activation is config.activation (gelu or relu).",
              **_each(("bert", *_ROBERTA, *_PROJECTED), "The activation is config.hidden_act.")}),
    _s("addnorm2_dense_weight", "weight", "L f d", "W_2.T (in × out)", "Output dense weight, transposed."),
    _s("addnorm2_dense_bias", "weight", "L d", "b_2", "Output dense bias."),
    _s("addnorm2_dense_hidden", "activation", "L n d", "act @ W_2.T + b_2", "Feed-forward output."),
    _s("addnorm2_add_hidden", "activation", "L n d", "dense + addnorm1_norm", "Residual connection around the feed-forward layer."),
    _s("addnorm2_norm_weight", "weight", "L d", "gamma", "LayerNorm scale after the feed-forward layer."),
    _s("addnorm2_norm_bias", "weight", "L d", "beta", "LayerNorm shift after the feed-forward layer."),
    _s("addnorm2_norm_hidden", "activation", "L n d", "LayerNorm(add) = X_{l+1}", "Layer output: the next layer's input."),
    _s("manual_hiddens", "activation", "L+1 n d", "[X_0, X_1, ..., X_L]",
       "Hidden states recomputed by hand: the embedding output, then every layer's output.",
       notes={"albert": "X_0 is the projected embeddings (preemb_proj_hidden); L counts layer applications: "
                        "num_hidden_layers × inner_group_num, as the model's own hidden states do.",
              "electra": "X_0 is the projected embeddings (preemb_proj_hidden) where the model projects."}),
    _s("pipeline_res", "pipeline", "", "model(ids, output_attentions, output_hidden_states)",
       "The model's own output object (computed on first use, in eval mode, eager attention)."),
    _s("pipeline_attns", "pipeline", "L", "pipeline_res.attentions", "The model's own attentions: L tensors of 1×H×n×n."),
    _s("pipeline_hiddens", "pipeline", "L+1", "pipeline_res.hidden_states", "The model's own hidden states: L+1 tensors of 1×n×d."),
    _s("model", "object", "", "", "The model used (its base encoder)."),
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
    ("Q / K / V", ("selfattn_query_hidden", "selfattn_key_hidden", "selfattn_value_hidden", "selfattn_query_weight",
                   "selfattn_key_weight", "selfattn_value_weight", "selfattn_query_bias", "selfattn_key_bias",
                   "selfattn_value_bias")),
    ("QKᵀ", ("selfattn_qkt_hidden",)),
    ("÷ √dh", ("selfattn_qkt_scale_hidden",)),
    ("softmax", ("selfattn_qkt_scale_soft_hidden", "selfattn_attention")),
    ("context = A·V", ("selfattn_contvec",)),
    ("concat heads", ("selfattn_contvec_concat",)),
    ("dense", ("addnorm1_dense_hidden", "addnorm1_dense_weight", "addnorm1_dense_bias")),
    ("add (residual)", ("addnorm1_add_hidden",)),
    ("LayerNorm", ("addnorm1_norm_hidden", "addnorm1_norm_weight", "addnorm1_norm_bias")),
    ("FFN dense", ("ffnn_dense_hidden", "ffnn_dense_weight", "ffnn_dense_bias")),
    ("activation", ("ffnn_dense_act",)),
    ("dense", ("addnorm2_dense_hidden", "addnorm2_dense_weight", "addnorm2_dense_bias")),
    ("add (residual)", ("addnorm2_add_hidden",)),
    ("LayerNorm", ("addnorm2_norm_hidden", "addnorm2_norm_weight", "addnorm2_norm_bias")),
    ("hidden states", ("manual_hiddens",)),
    ("the model's own output", ("pipeline_res", "pipeline_attns", "pipeline_hiddens")),
    ("objects used", ("model", "tokenizer")),
)
# The diagram's sections, by group: the groups of one encoder layer are drawn as one repeated block.
SECTIONS: dict[str, str] = {"sym": "input", "preemb": "embeddings", "selfattn": "encoder layer",
                            "addnorm1": "encoder layer", "ffnn": "encoder layer", "addnorm2": "encoder layer",
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
    rows = ["| stage | group | shape | formula | meaning |", "|---|---|---|---|---|"]
    for s in REGISTRY if family is None else stages_for(family):
        shape = "×".join(s.dims) or "—"
        meaning = f"{s.meaning} {s.note(family)}".strip() if family else s.meaning
        rows.append(f"| `{s.name}` | {s.group} | {shape} | `{s.formula}` | {meaning} |".replace("`` ", "— "))
    return "\n".join(rows)


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
