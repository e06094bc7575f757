"""DistilBERT: BERT without segment embeddings, its modules under other names (q_lin, sa_layer_norm, ffn.lin1, ...)."""

from __future__ import annotations

from typing import Any

import torch

from ..tokens import Encoding
from . import bert
from .encoder import Encoder, LayerParts, encoder_stages, parts_at

# where a DistilBERT TransformerBlock keeps each part
LAYER_MODULES: dict[str, str] = {
    "query": "attention.q_lin", "key": "attention.k_lin", "value": "attention.v_lin",
    "attn_out": "attention.out_lin", "norm1": "sa_layer_norm",
    "ffn_in": "ffn.lin1", "act": "ffn.activation",  # config.activation, not hidden_act
    "ffn_out": "ffn.lin2", "norm2": "output_layer_norm", "scaling": "attention.scaling",
}

features = bert.features
max_tokens = bert.max_tokens


def layer_parts(model: Any) -> list[LayerParts]:
    return [parts_at(layer, LAYER_MODULES) for layer in model.transformer.layer]


def model_inputs(model: Any, enc: Encoding) -> dict[str, torch.Tensor]:
    """DistilBERT takes no token_type_ids."""
    ids = enc.ids_tensor(model.embeddings.word_embeddings.weight.device)[None]
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


def trace(model: Any, enc: Encoding) -> tuple[dict[str, Any], Encoder]:
    """The stages the trace keeps (embeddings, hidden states, weight views) and the encoder that recomputes the rest."""
    values = bert.embed(model.embeddings, enc, bert.position_ids(enc), with_segments=False)
    kept, encoder = encoder_stages(values["preemb_norm_sum_emb"], layer_parts(model), int(model.config.n_heads))
    return {**values, **kept}, encoder
