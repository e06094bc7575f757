"""ELECTRA (the discriminator's encoder, and the generator's): BERT's layers after embeddings of size e,
projected to the hidden size where embedding_size != hidden_size (the ``embedding_projection`` feature)."""

from __future__ import annotations

from typing import Any

from ..tokens import Encoding
from . import bert
from .encoder import Encoder, encoder_stages

layer_parts = bert.layer_parts  # ElectraLayer names its modules as BertLayer does
max_tokens = bert.max_tokens
model_inputs = bert.model_inputs


def features(model: Any) -> frozenset[str]:
    return frozenset({"embedding_projection"}) if hasattr(model, "embeddings_project") else frozenset()


def trace(model: Any, enc: Encoding) -> tuple[dict[str, Any], Encoder]:
    """The stages the trace keeps (embeddings, hidden states, weight views) and the encoder that recomputes the rest."""
    bert.check_supported(model)
    values = bert.embed(model.embeddings, enc, bert.position_ids(enc))
    kept, encoder = encoder_stages(values["preemb_norm_sum_emb"], layer_parts(model),
                                     int(model.config.num_attention_heads),
                                     projection=getattr(model, "embeddings_project", None))
    return {**values, **kept}, encoder
