"""BERT (BertModel and the task models around it): where its modules are, and its embeddings by hand.

The embeddings here (word + segment + position, LayerNorm) serve the whole family: RoBERTa, DistilBERT
(without segments), ALBERT and ELECTRA (of size e) compute them the same way.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from ..errors import ModelError, UnsupportedModelError
from ..tokens import Encoding
from .encoder import Encoder, LayerParts, encoder_stages, parts_at

# where a BertLayer (and RobertaLayer, ElectraLayer: the same code) keeps each part
LAYER_MODULES: dict[str, str] = {
    "query": "attention.self.query", "key": "attention.self.key", "value": "attention.self.value",
    "attn_out": "attention.output.dense", "norm1": "attention.output.LayerNorm",
    "ffn_in": "intermediate.dense", "act": "intermediate.intermediate_act_fn",
    "ffn_out": "output.dense", "norm2": "output.LayerNorm", "scaling": "attention.self.scaling",
}


def layer_parts(model: Any) -> list[LayerParts]:
    return [parts_at(layer, LAYER_MODULES) for layer in model.encoder.layer]


def features(model: Any) -> frozenset[str]:
    """The optional features (stages.FEATURES) this model has: none for BERT."""
    return frozenset()


def check_supported(model: Any) -> None:
    kind = getattr(model.config, "position_embedding_type", "absolute") or "absolute"
    if kind != "absolute":
        raise UnsupportedModelError(
            f"This {type(model).__name__} uses position_embedding_type={kind!r}; transeasy-widget traces absolute position "
            "embeddings only (the BERT default).")
    if getattr(model.config, "is_decoder", False):
        raise UnsupportedModelError(
            f"This {type(model).__name__} is configured as a decoder (is_decoder=True); only encoders are traced.")


def max_tokens(model: Any) -> int:
    return int(model.config.max_position_embeddings)


def model_inputs(model: Any, enc: Encoding) -> dict[str, torch.Tensor]:
    device = model.embeddings.word_embeddings.weight.device
    ids = enc.ids_tensor(device)[None]
    return {"input_ids": ids, "token_type_ids": torch.tensor([enc.segment_ids], device=device),
            "attention_mask": torch.ones_like(ids)}


def position_ids(enc: Encoding) -> list[int]:
    return list(range(enc.n))


def embed(emb: Any, enc: Encoding, positions: list[int], with_segments: bool = True) -> dict[str, Any]:
    """The pre-embedding stages of BERT-style embeddings (word + segment + position, then LayerNorm)."""
    device = emb.word_embeddings.weight.device
    ids = enc.ids_tensor(device)
    word = F.embedding(ids, emb.word_embeddings.weight)
    pos = F.embedding(torch.tensor(positions, device=device), emb.position_embeddings.weight)
    out: dict[str, Any] = {"preemb_vocab": emb.word_embeddings.weight.detach(), "preemb_word_emb": word,
                           "preemb_pos_emb": pos, "sym_position_ids": torch.tensor(positions)}
    if with_segments:
        check_segments(emb.token_type_embeddings.num_embeddings, enc)
        seg = F.embedding(torch.tensor(enc.segment_ids, device=device), emb.token_type_embeddings.weight)
        out["preemb_seg_emb"] = seg
        total = (word + seg) + pos  # the model's own order of additions
    else:
        total = word + pos
    norm = emb.LayerNorm
    out["preemb_sum_emb"] = total
    out["preemb_norm_weight"] = norm.weight.detach()
    out["preemb_norm_bias"] = norm.bias.detach()
    out["preemb_norm_sum_emb"] = F.layer_norm(total, norm.normalized_shape, norm.weight, norm.bias, norm.eps)
    return out


def check_segments(rows: int, enc: Encoding) -> None:
    """Segment ids beyond the model's segment table mean a tokenizer of another model (BERT's with RoBERTa)."""
    if max(enc.segment_ids, default=0) >= rows:
        raise ModelError(
            f"The tokenizer gives segment (token type) ids up to {max(enc.segment_ids)}, but the model's segment table "
            f"has {rows} row(s): the tokenizer belongs to another model. Pass the tokenizer saved with this model.")


def trace(model: Any, enc: Encoding) -> tuple[dict[str, Any], Encoder]:
    """The stages the trace keeps (embeddings, hidden states, weight views) and the encoder that recomputes the rest."""
    check_supported(model)
    values = embed(model.embeddings, enc, position_ids(enc))
    kept, encoder = encoder_stages(values["preemb_norm_sum_emb"], layer_parts(model),
                                     int(model.config.num_attention_heads))
    return {**values, **kept}, encoder
