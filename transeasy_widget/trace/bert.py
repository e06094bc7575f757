"""BERT (BertModel and the task models around it): where its modules are, and its embeddings by hand."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from ..errors import UnsupportedModelError
from ..tokens import Encoding
from .encoder import LayerParts, run_layers, weight_stages


def layer_parts(model: Any) -> list[LayerParts]:
    parts = []
    for layer in model.encoder.layer:
        attn = layer.attention.self
        parts.append(LayerParts(
            query=attn.query, key=attn.key, value=attn.value,
            attn_out=layer.attention.output.dense, norm1=layer.attention.output.LayerNorm,
            ffn_in=layer.intermediate.dense, act=layer.intermediate.intermediate_act_fn,
            ffn_out=layer.output.dense, norm2=layer.output.LayerNorm,
            scaling=float(getattr(attn, "scaling", attn.attention_head_size ** -0.5)),
        ))
    return parts


def check_supported(model: Any) -> None:
    kind = getattr(model.config, "position_embedding_type", "absolute") or "absolute"
    if kind != "absolute":
        raise UnsupportedModelError(
            f"This BERT uses position_embedding_type={kind!r}; transeasy-widget traces absolute position "
            "embeddings only (the BERT default).")
    if getattr(model.config, "is_decoder", False):
        raise UnsupportedModelError("This BERT is configured as a decoder (is_decoder=True); only encoders are traced.")


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


def trace(model: Any, enc: Encoding) -> dict[str, Any]:
    check_supported(model)
    values = embed(model.embeddings, enc, position_ids(enc))
    parts = layer_parts(model)
    heads = int(model.config.num_attention_heads)
    values.update(run_layers(values["preemb_norm_sum_emb"], parts, heads))
    values["preemb_norm_sum_emb"] = values["manual_hiddens"][0]  # one tensor, not two copies
    values.update(weight_stages(parts, heads))
    return values
