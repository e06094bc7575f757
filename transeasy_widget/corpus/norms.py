"""‖f_h(x_j)‖ of every head and token, caught in the model's own batched pass: what the norm-based view needs
(``contributions.py``: f_h(x_j) = (x_j W_V^h + b_V^h) W_O^h, Kobayashi et al. 2020), without tracing each text.

A forward hook on each layer's value projection (GPT-2: the fused Q, K, V projection, V its last block of columns)
reads V = x W_V + b_V as the model computes it (x the normalised input in a pre-norm decoder, as in
``contributions.head_vectors``). With M_h the d×dh block of W_O that head h's output goes through (f_h = M_h v_h),
M_h = Q_h R_h (QR, Q_h with orthonormal columns), so ‖M_h v‖ = ‖R_h v‖: a dh×dh product per token and head instead
of dh×d, and no n×d head vector is made. Only B×H×N norms per layer are kept.

Hooks fire in call order, so the k-th call is layer k, also where layers share one module (ALBERT runs one layer L
times: one hook, L calls).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from typing import Any

import torch
from torch import nn

from ..errors import ModelError
from ..trace import FAMILIES
from ..trace.decoder import param


@dataclass(frozen=True)
class HeadOutputs:
    """One layer's value projection and what turns it into head vectors f_h(x_j)."""

    value: nn.Module  # its output holds V (B×N×…) in columns start .. start + kv_heads·head_dim
    start: int
    heads: int
    kv_heads: int  # grouped-query attention: query head h reads value head h // (heads / kv_heads)
    head_dim: int
    r: torch.Tensor  # heads×dh×dh: R_h of M_h = Q_h R_h, ‖f_h‖ = ‖R_h v_{kv(h)}‖


def out_blocks(attn_out: nn.Module, heads: int, head_dim: int) -> torch.Tensor:
    """M_h for every head, heads×d×dh: head h's columns of W_O (nn.Linear: out×in; GPT-2's Conv1D: in×out)."""
    weight = param(attn_out, "weight")
    if isinstance(attn_out, nn.Linear):
        return weight.reshape(weight.shape[0], heads, head_dim).permute(1, 0, 2)
    return weight.reshape(heads, head_dim, weight.shape[1]).transpose(1, 2)


def head_outputs(family: str, model: Any, heads: int) -> list[HeadOutputs]:
    """Per layer (in the model's order), where its V comes from and the R_h of its output projection."""
    made: dict[int, HeadOutputs] = {}  # a module shared by several layers (ALBERT) is set up once
    out = []
    for p in FAMILIES[family].layer_parts(model):
        key = id(p.value if getattr(p, "fused_qkv", None) is None else p.fused_qkv)
        if key not in made:
            made[key] = _head_outputs(p, heads)
        out.append(made[key])
    return out


def _head_outputs(p: Any, heads: int) -> HeadOutputs:
    if hasattr(p, "kv_heads"):  # a decoder's parts say their head layout
        heads, kv_heads, head_dim = p.heads, p.kv_heads, p.head_dim
        value, start = (p.value, 0) if p.fused_qkv is None else (p.fused_qkv, 2 * heads * head_dim)  # Q, K, V
    else:
        value, start, kv_heads, head_dim = p.value, 0, heads, p.value.out_features // heads
    blocks = out_blocks(p.attn_out, heads, head_dim)
    r = torch.linalg.qr(blocks.double(), mode="r").R.float()  # in float64, R rounded once to float32
    return HeadOutputs(value, start, heads, kv_heads, head_dim, r)


class ValueNorms:
    """``with ValueNorms(layers) as caught: model(...)`` → ``caught.norms``: per layer, ‖f_h(x_j)‖ as B×H×N."""

    def __init__(self, layers: list[HeadOutputs]):
        self.layers = layers
        self.norms: list[torch.Tensor] = []
        self._handles: list[Any] = []

    def _hook(self, _module: nn.Module, _inputs: Any, output: torch.Tensor) -> None:
        if len(self.norms) >= len(self.layers):
            raise ModelError(f"The value projections ran more than once per layer ({len(self.layers)} layers): "
                             "this model's forward pass is not one the corpus statistics by norm can follow; "
                             "pass norm=False.")
        lay = self.layers[len(self.norms)]
        b, n = output.shape[:2]
        v = output[..., lay.start:lay.start + lay.kv_heads * lay.head_dim].float().reshape(b, n, lay.kv_heads, lay.head_dim)
        if lay.kv_heads != lay.heads:  # each value head serves its group of query heads (repeat_kv's order)
            v = v.repeat_interleave(lay.heads // lay.kv_heads, dim=2)
        r = lay.r.to(v.device)
        self.norms.append(torch.linalg.vector_norm(torch.einsum("hef,bnhf->bhne", r, v), dim=-1))  # B×H×N

    def __enter__(self) -> ValueNorms:
        self.norms = []
        for module in {id(lay.value): lay.value for lay in self.layers}.values():
            self._handles.append(module.register_forward_hook(self._hook))
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
        if kind is None and len(self.norms) != len(self.layers):
            raise ModelError(f"The value projections ran {len(self.norms)} times for {len(self.layers)} layers: this "
                             "model's forward pass is not one the corpus statistics by norm can follow; pass norm=False.")
