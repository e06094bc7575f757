"""GPT-2 (GPT2Model, GPT2LMHeadModel): where its modules are, and its embeddings by hand.

GPT-2 adds a learned position table to the word embeddings (X_0 = wte[ids] + wpe[positions], no LayerNorm),
normalises before each sublayer (ln_1, ln_2), computes Q, K and V in one fused Conv1D (attn.c_attn, weights
stored in × out), uses gelu_new in its MLP (c_fc, c_proj), and ends with ln_f and an unembedding tied to wte.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from ..errors import UnsupportedModelError
from ..tokens import Encoding
from .decoder import (
    Decoder,
    DecoderLayerParts,
    check_single_text,
    decoder_features,
    masks_for,
    trace_decoder,
    unembedding,
)


def base_of(model: Any) -> Any:
    """The GPT2Model inside GPT2LMHeadModel (``.transformer``); the model itself where it is one."""
    inner = getattr(model, "transformer", None)
    return inner if isinstance(inner, torch.nn.Module) and hasattr(inner, "h") else model


def layer_parts(model: Any) -> list[DecoderLayerParts]:
    config = model.config
    heads = int(config.num_attention_heads)
    parts = []
    for block in base_of(model).h:
        attn, mlp = block.attn, block.mlp
        parts.append(DecoderLayerParts(
            norm1=block.ln_1, norm2=block.ln_2, attn_out=attn.c_proj, ffn_out=mlp.c_proj, act=mlp.act,
            heads=heads, kv_heads=heads, head_dim=int(attn.head_dim), scaling=float(attn.scaling),
            fused_qkv=attn.c_attn, ffn_in=mlp.c_fc))
    return parts


def features(model: Any) -> frozenset[str]:
    return decoder_features(model, base_of(model).wte)


def check_supported(model: Any) -> None:
    if getattr(model.config, "add_cross_attention", False):
        raise UnsupportedModelError(
            f"This {type(model).__name__} has cross-attention layers (add_cross_attention=True, an encoder-decoder "
            "part); transeasy-widget traces GPT-2 as a decoder-only language model.")


def max_tokens(model: Any) -> int:
    return int(model.config.n_positions)


def model_inputs(model: Any, enc: Encoding) -> dict[str, torch.Tensor]:
    ids = enc.ids_tensor(base_of(model).wte.weight.device)[None]
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


def embed_stages(model: Any, enc: Encoding) -> dict[str, Any]:
    """The stages before the first layer: word and position rows and their sum X_0 (``preemb_sum_emb``)."""
    base = base_of(model)
    device = base.wte.weight.device
    positions = torch.arange(enc.n, device=device)
    word = F.embedding(enc.ids_tensor(device), base.wte.weight)
    pos = F.embedding(positions, base.wpe.weight)
    return {"preemb_vocab": base.wte.weight.detach(), "preemb_word_emb": word, "preemb_pos_emb": pos,
            "preemb_sum_emb": word + pos, "sym_position_ids": positions.cpu()}  # the model's own order of addition


def trace(model: Any, enc: Encoding) -> tuple[dict[str, Any], Decoder]:
    """What the trace keeps (``embed_stages``, then X_0 … X_L by ``decoder.layer_stages`` layer by layer) and
    the ``Decoder`` that recomputes every other stage on demand (``decoder.trace_decoder``)."""
    check_single_text(enc, model)
    check_supported(model)
    base = base_of(model)
    values = embed_stages(model, enc)
    x0 = values["preemb_sum_emb"]
    parts = layer_parts(model)
    kept, decoder = trace_decoder(x0, parts, None, masks_for(parts, enc.n, x0.device), base.ln_f,
                                unembedding(model, base.wte))
    values.update(kept)
    values["preemb_sum_emb"] = values["manual_hiddens"][0]  # X_0, held once
    return values, decoder
