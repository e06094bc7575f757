"""ALBERT: embeddings of size e projected to the hidden size, and layers that share their weights.

``num_hidden_layers`` times, ALBERT runs one of ``num_hidden_groups`` layer groups, each a stack of
``inner_group_num`` AlbertLayers; by default one group of one layer, so every layer is the same module.
The trace runs the same sequence, so L counts layer applications (num_hidden_layers × inner_group_num, as the
model's own hidden states and attentions do), and the weight stages of layers that run the same module are
the same views.
"""

from __future__ import annotations

from typing import Any

from ..tokens import Encoding
from . import bert
from .encoder import Encoder, LayerParts, encoder_stages, parts_at

# where an AlbertLayer keeps each part
LAYER_MODULES: dict[str, str] = {
    "query": "attention.query", "key": "attention.key", "value": "attention.value",
    "attn_out": "attention.dense", "norm1": "attention.LayerNorm",
    "ffn_in": "ffn", "act": "activation", "ffn_out": "ffn_output", "norm2": "full_layer_layer_norm",
    "scaling": "attention.scaling",
}

max_tokens = bert.max_tokens
model_inputs = bert.model_inputs


def features(model: Any) -> frozenset[str]:
    return frozenset({"embedding_projection"})  # embedding_hidden_mapping_in, always there


def layer_parts(model: Any) -> list[LayerParts]:
    """One LayerParts per layer application, in the model's order; shared layers give the same object."""
    config = model.config
    groups = [[parts_at(layer, LAYER_MODULES) for layer in group.albert_layers]
              for group in model.encoder.albert_layer_groups]
    layers_per_group = config.num_hidden_layers / config.num_hidden_groups
    return [parts for i in range(config.num_hidden_layers) for parts in groups[int(i / layers_per_group)]]


def trace(model: Any, enc: Encoding) -> tuple[dict[str, Any], Encoder]:
    """The stages the trace keeps (embeddings, hidden states, weight views) and the encoder that recomputes the rest."""
    bert.check_supported(model)
    values = bert.embed(model.embeddings, enc, bert.position_ids(enc))
    kept, encoder = encoder_stages(values["preemb_norm_sum_emb"], layer_parts(model),
                                     int(model.config.num_attention_heads),
                                     projection=model.encoder.embedding_hidden_mapping_in)
    return {**values, **kept}, encoder
