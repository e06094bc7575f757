"""The encoder layers recomputed by hand, shared by every family: each family only says where its modules are.

Every activation stage is written into one preallocated L×... buffer (``out=``), so the trace holds each
number once: the per-head views (``selfattn_query_hidden``, ``selfattn_contvec``) are views of the
token-major buffers, ``addnorm2_norm_hidden`` is a view of ``manual_hiddens``, and weights are views of
the model's parameters (``LayerStack``), never copies.

A family names its modules in a table of attribute paths (``parts_at``); the layer sequence may repeat
a layer (ALBERT runs one shared layer L times): the loop runs each entry, and layers that share a module
share one weight view.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .buffers import stage_buffer


@dataclass(frozen=True)
class LayerParts:
    """Where one encoder layer keeps its pieces, whatever the family calls them."""

    query: nn.Linear
    key: nn.Linear
    value: nn.Linear
    attn_out: nn.Linear
    norm1: nn.LayerNorm
    ffn_in: nn.Linear
    act: Callable[[torch.Tensor], torch.Tensor]
    ffn_out: nn.Linear
    norm2: nn.LayerNorm
    scaling: float


def parts_at(layer: nn.Module, paths: Mapping[str, str]) -> LayerParts:
    """A layer's parts found by the family's attribute paths (one per LayerParts field, dotted)."""
    found = {name: operator.attrgetter(path)(layer) for name, path in paths.items()}
    return LayerParts(**{**found, "scaling": float(found["scaling"])})


class LayerStack:
    """L per-layer views of model weights, indexed like one L×... tensor without copying them.

    ``stack[l]`` is the view of layer l; ``stack[l, h]`` indexes inside it; torch functions and numpy
    accept it (stacking on the fly); ``to_tensor()`` gives a stacked copy on request.
    """

    def __init__(self, layers: Sequence[torch.Tensor]):
        self.layers = tuple(layers)

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self.layers), *self.layers[0].shape))

    def size(self, dim: int | None = None) -> Any:
        return self.shape if dim is None else self.shape[dim]

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def dtype(self) -> torch.dtype:
        return self.layers[0].dtype

    @property
    def device(self) -> torch.device:
        return self.layers[0].device

    def __len__(self) -> int:
        return len(self.layers)

    @property
    def distinct(self) -> int:
        """How many different tensors the layers are (fewer than L where layers share weights: ALBERT)."""
        return len({id(t) for t in self.layers})

    def __iter__(self) -> Iterator[torch.Tensor]:
        return iter(self.layers)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, tuple):
            head, rest = index[0], index[1:]
            if isinstance(head, int):
                return self.layers[head][rest] if rest else self.layers[head]
            return self.to_tensor()[index]
        if isinstance(index, int):
            return self.layers[index]
        if isinstance(index, slice):
            return LayerStack(self.layers[index])
        return self.to_tensor()[index]

    def to_tensor(self) -> torch.Tensor:
        return torch.stack(self.layers)

    def numpy(self) -> np.ndarray:
        return self.to_tensor().cpu().numpy()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        array = self.numpy()
        return array if dtype is None else array.astype(dtype)

    @classmethod
    def __torch_function__(cls, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        def unwrap(x: Any) -> Any:
            if isinstance(x, LayerStack):
                return x.to_tensor()
            if isinstance(x, (list, tuple)):
                return type(x)(unwrap(i) for i in x)
            return x

        return func(*unwrap(args), **{k: unwrap(v) for k, v in (kwargs or {}).items()})

    def __repr__(self) -> str:
        dims = "×".join(map(str, self.shape))
        shared = f"; the {len(self)} layers share {self.distinct} distinct" if self.distinct < len(self) else ""
        return f"LayerStack({dims}, {self.dtype}: views of the model's weights{shared}; .to_tensor() stacks a copy)"


def weight_stages(parts: Sequence[LayerParts], heads: int) -> dict[str, LayerStack]:
    """The per-layer weight stages as views of the parameters (transposed where TransEasy transposes).

    Layers that share their modules (the same LayerParts: ALBERT) share the very same view objects.
    """

    def per_head(t: torch.Tensor) -> torch.Tensor:
        return t.view(heads, t.shape[0] // heads, *t.shape[1:])

    def layer_views(p: LayerParts) -> dict[str, torch.Tensor]:
        views: dict[str, torch.Tensor] = {}
        for name in ("query", "key", "value"):
            views[f"selfattn_{name}_weight"] = per_head(getattr(p, name).weight.detach())
            views[f"selfattn_{name}_bias"] = per_head(_bias(getattr(p, name)).detach())
        for prefix, lin, norm in (("addnorm1", "attn_out", "norm1"), ("addnorm2", "ffn_out", "norm2")):
            views[f"{prefix}_dense_weight"] = getattr(p, lin).weight.detach().t()
            views[f"{prefix}_dense_bias"] = _bias(getattr(p, lin)).detach()
            views[f"{prefix}_norm_weight"] = getattr(p, norm).weight.detach()
            views[f"{prefix}_norm_bias"] = getattr(p, norm).bias.detach()
        views["ffnn_dense_weight"] = p.ffn_in.weight.detach().t()
        views["ffnn_dense_bias"] = _bias(p.ffn_in).detach()
        return views

    distinct: dict[int, dict[str, torch.Tensor]] = {}
    for p in parts:
        if id(p) not in distinct:
            distinct[id(p)] = layer_views(p)
    per_layer = [distinct[id(p)] for p in parts]
    return {name: LayerStack([views[name] for views in per_layer]) for name in per_layer[0]}


def _bias(linear: nn.Linear) -> torch.Tensor:
    if linear.bias is None:
        return torch.zeros(linear.out_features, dtype=linear.weight.dtype, device=linear.weight.device)
    return linear.bias


def _linear_into(out: torch.Tensor, x: torch.Tensor, linear: nn.Linear) -> None:
    # addmm is what F.linear runs for these shapes: the same numbers as the model's own pass
    if linear.bias is None:
        torch.mm(x, linear.weight.t(), out=out)
    else:
        torch.addmm(linear.bias, x, linear.weight.t(), out=out)


def _layer_norm(x: torch.Tensor, norm: nn.LayerNorm) -> torch.Tensor:
    return F.layer_norm(x, norm.normalized_shape, norm.weight, norm.bias, norm.eps)


def run_layers(x0: torch.Tensor, parts: Sequence[LayerParts], heads: int) -> dict[str, torch.Tensor]:
    """Every activation stage of the encoder layers for one unpadded sequence x0 (n×d)."""
    n, d = x0.shape
    layers, dh, f = len(parts), d // heads, parts[0].ffn_in.out_features

    def new(*shape: int) -> torch.Tensor:
        return stage_buffer(shape, x0.dtype, x0.device)

    hiddens = new(layers + 1, n, d)
    hiddens[0] = x0
    q_all, k_all, v_all, concat = new(layers, n, d), new(layers, n, d), new(layers, n, d), new(layers, n, d)
    qkt, scaled, attention = new(layers, heads, n, n), new(layers, heads, n, n), new(layers, heads, n, n)
    dense1, add1, norm1 = new(layers, n, d), new(layers, n, d), new(layers, n, d)
    ffn_hidden, ffn_act = new(layers, n, f), new(layers, n, f)
    dense2, add2 = new(layers, n, d), new(layers, n, d)

    def heads_of(t: torch.Tensor) -> torch.Tensor:  # n×d → H×n×dh (a view)
        return t.view(n, heads, dh).transpose(0, 1)

    for layer, p in enumerate(parts):
        x = hiddens[layer]
        _linear_into(q_all[layer], x, p.query)
        _linear_into(k_all[layer], x, p.key)
        _linear_into(v_all[layer], x, p.value)
        torch.matmul(heads_of(q_all[layer]), heads_of(k_all[layer]).transpose(1, 2), out=qkt[layer])
        torch.mul(qkt[layer], p.scaling, out=scaled[layer])
        torch.softmax(scaled[layer], -1, out=attention[layer])
        heads_of(concat[layer]).copy_(torch.matmul(attention[layer], heads_of(v_all[layer])))
        _linear_into(dense1[layer], concat[layer], p.attn_out)
        torch.add(dense1[layer], x, out=add1[layer])
        norm1[layer] = _layer_norm(add1[layer], p.norm1)
        _linear_into(ffn_hidden[layer], norm1[layer], p.ffn_in)
        ffn_act[layer] = p.act(ffn_hidden[layer])
        _linear_into(dense2[layer], ffn_act[layer], p.ffn_out)
        torch.add(dense2[layer], norm1[layer], out=add2[layer])
        hiddens[layer + 1] = _layer_norm(add2[layer], p.norm2)

    def per_head(t: torch.Tensor) -> torch.Tensor:  # L×n×d → L×H×n×dh (a view)
        return t.view(layers, n, heads, dh).permute(0, 2, 1, 3)

    return {
        "selfattn_query_hidden": per_head(q_all),
        "selfattn_key_hidden": per_head(k_all),
        "selfattn_value_hidden": per_head(v_all),
        "selfattn_qkt_hidden": qkt,
        "selfattn_qkt_scale_hidden": scaled,
        "selfattn_qkt_scale_soft_hidden": attention,
        "selfattn_attention": attention,
        "selfattn_contvec": per_head(concat),
        "selfattn_contvec_concat": concat,
        "addnorm1_dense_hidden": dense1,
        "addnorm1_add_hidden": add1,
        "addnorm1_norm_hidden": norm1,
        "ffnn_dense_hidden": ffn_hidden,
        "ffnn_dense_act": ffn_act,
        "addnorm2_dense_hidden": dense2,
        "addnorm2_add_hidden": add2,
        "addnorm2_norm_hidden": hiddens[1:],
        "manual_hiddens": hiddens,
    }


def encoder_stages(embedded: torch.Tensor, parts: Sequence[LayerParts], heads: int,
                   projection: nn.Linear | None = None) -> dict[str, Any]:
    """Every stage after the embedding LayerNorm: the projection to the hidden size where the model has one
    (ALBERT, ELECTRA), the layers, and the weight views.

    X_0 is held once: ``preemb_norm_sum_emb`` (no projection) or ``preemb_proj_hidden`` is ``manual_hiddens[0]``.
    """
    if projection is None:
        x0 = embedded
    else:
        x0 = torch.empty(embedded.shape[0], projection.out_features, dtype=embedded.dtype, device=embedded.device)
        _linear_into(x0, embedded, projection)
    values: dict[str, Any] = dict(run_layers(x0, parts, heads))
    values["preemb_norm_sum_emb" if projection is None else "preemb_proj_hidden"] = values["manual_hiddens"][0]
    if projection is not None:
        values["preemb_proj_weight"] = projection.weight.detach().t()
        values["preemb_proj_bias"] = _bias(projection).detach()
    values.update(weight_stages(parts, heads))
    return values
