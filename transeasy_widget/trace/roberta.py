"""RoBERTa and XLM-RoBERTa: BERT's layers, with position ids that start after the padding index."""

from __future__ import annotations

from typing import Any

import torch

from ..tokens import Encoding
from . import bert
from .encoder import Encoder, encoder_stages

layer_parts = bert.layer_parts  # RobertaLayer and XLMRobertaLayer name their modules as BertLayer does
features = bert.features
model_inputs = bert.model_inputs  # the model derives its position ids from input_ids itself


def padding_index(model: Any) -> int:
    return int(model.embeddings.padding_idx)


def max_tokens(model: Any) -> int:
    """Rows 0..padding_idx of the position table are never read by a token: n + padding_idx + 1 rows are needed."""
    return int(model.config.max_position_embeddings) - padding_index(model) - 1


def position_ids(enc: Encoding, padding_idx: int) -> list[int]:
    """padding_idx+1, padding_idx+2, ... for every piece that is not padding; padding keeps padding_idx (fairseq's rule)."""
    not_pad = torch.tensor(enc.ids).ne(padding_idx).long()
    return (torch.cumsum(not_pad, 0) * not_pad + padding_idx).tolist()


def trace(model: Any, enc: Encoding) -> tuple[dict[str, Any], Encoder]:
    """The stages the trace keeps (embeddings, hidden states, weight views) and the encoder that recomputes the rest."""
    bert.check_supported(model)
    values = bert.embed(model.embeddings, enc, position_ids(enc, padding_index(model)))
    kept, encoder = encoder_stages(values["preemb_norm_sum_emb"], layer_parts(model),
                                     int(model.config.num_attention_heads))
    return {**values, **kept}, encoder
