"""The Llama family (Llama, Mistral, Qwen2, Qwen3): where its modules are, its embeddings and rotary tables.

All four share LlamaDecoderLayer's layout (input_layernorm, self_attn.{q,k,v,o}_proj, post_attention_layernorm,
mlp.{gate,up,down}_proj); they differ in what the shared math (``decoder.layer_stages``) reads off the parts:
Mistral's sliding window (config.sliding_window, every layer), Qwen2's q/k/v biases and per-layer sliding
windows (layer_types), Qwen3's per-head RMSNorm of queries and keys (self_attn.q_norm, k_norm).
A task model (LlamaForCausalLM, ...) is traced with its LM head; a bare LlamaModel where it has tied embeddings.
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
    """The decoder stack inside a task model (LlamaForCausalLM.model); the model itself where it is one."""
    inner = getattr(model, getattr(model, "base_model_prefix", ""), None)
    return inner if isinstance(inner, torch.nn.Module) and hasattr(inner, "layers") else model


def window_of(attn: Any, config: Any) -> int | None:
    """The sliding window of one attention layer: Qwen2/Qwen3 set it per layer (None for full attention),
    Mistral in its config for every layer; the others have none."""
    if hasattr(attn, "sliding_window"):
        return attn.sliding_window
    return getattr(config, "sliding_window", None) if config.model_type == "mistral" else None


def layer_parts(model: Any) -> list[DecoderLayerParts]:
    config = model.config
    parts = []
    for layer in base_of(model).layers[: config.num_hidden_layers]:
        attn, mlp = layer.self_attn, layer.mlp
        parts.append(DecoderLayerParts(
            norm1=layer.input_layernorm, norm2=layer.post_attention_layernorm, attn_out=attn.o_proj,
            ffn_out=mlp.down_proj, act=mlp.act_fn, heads=int(config.num_attention_heads),
            kv_heads=int(config.num_key_value_heads), head_dim=int(attn.head_dim), scaling=float(attn.scaling),
            window=window_of(attn, config), query=attn.q_proj, key=attn.k_proj, value=attn.v_proj,
            q_norm=getattr(attn, "q_norm", None), k_norm=getattr(attn, "k_norm", None),
            gate=mlp.gate_proj, up=mlp.up_proj))
    return parts


def rope_tables(model: Any, n: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin (n×dh) of every position's angles, from the model's own rotary module's inv_freq and
    attention_scaling (so every rope_type of the config gives the model's angles)."""
    rotary = base_of(model).rotary_emb
    positions = torch.arange(n, device=like.device)[None]
    rotary(like[None], positions)  # the dynamic rope types adapt inv_freq to the length here, as in the model's pass
    freqs = positions[0, :, None].float() * rotary.inv_freq.to(device=like.device, dtype=torch.float)
    angles = torch.cat((freqs, freqs), dim=-1)
    scaling = rotary.attention_scaling
    return (angles.cos() * scaling).to(like.dtype), (angles.sin() * scaling).to(like.dtype)


def features(model: Any) -> frozenset[str]:
    return decoder_features(model, base_of(model).embed_tokens)


def check_supported(model: Any) -> None:
    config = model.config
    if getattr(config, "pretraining_tp", 1) not in (None, 1):
        raise UnsupportedModelError(
            f"This {type(model).__name__} has pretraining_tp={config.pretraining_tp}; transeasy-widget traces "
            "pretraining_tp = 1 (the default) only.")
    rotary = getattr(base_of(model), "rotary_emb", None)
    if rotary is None or not hasattr(rotary, "inv_freq"):
        raise UnsupportedModelError(
            f"This {type(model).__name__} has no rotary embedding module with inv_freq: it is not a Llama-family "
            "model that transeasy-widget can trace.")


def max_tokens(model: Any) -> int:
    return int(model.config.max_position_embeddings)


def model_inputs(model: Any, enc: Encoding) -> dict[str, torch.Tensor]:
    ids = enc.ids_tensor(base_of(model).embed_tokens.weight.device)[None]
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


def embed_stages(model: Any, enc: Encoding) -> dict[str, Any]:
    """The stages before the first layer: X_0 (``preemb_word_emb``: the word embeddings, nothing added), the
    positions and the rotary tables every layer uses."""
    table = base_of(model).embed_tokens.weight
    x0 = F.embedding(enc.ids_tensor(table.device), table)
    cos, sin = rope_tables(model, enc.n, x0)
    return {"preemb_vocab": table.detach(), "preemb_word_emb": x0, "sym_position_ids": torch.arange(enc.n),
            "selfattn_rope_cos": cos, "selfattn_rope_sin": sin}


def trace(model: Any, enc: Encoding) -> tuple[dict[str, Any], Decoder]:
    """What the trace keeps (``embed_stages``, then X_0 … X_L by ``decoder.layer_stages`` layer by layer) and
    the ``Decoder`` that recomputes every other stage on demand (``decoder.trace_decoder``)."""
    check_single_text(enc, model)
    check_supported(model)
    base = base_of(model)
    values = embed_stages(model, enc)
    x0, rope = values["preemb_word_emb"], (values["selfattn_rope_cos"], values["selfattn_rope_sin"])
    parts = layer_parts(model)
    kept, decoder = trace_decoder(x0, parts, rope, masks_for(parts, enc.n, x0.device), base.norm,
                                unembedding(model, base.embed_tokens))
    values.update(kept)
    values["preemb_word_emb"] = values["manual_hiddens"][0]  # X_0, held once
    return values, decoder
