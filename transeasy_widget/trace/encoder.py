"""The encoder layers recomputed by hand, shared by every family: each family only says where its modules are.

The trace keeps what the model's own pass keeps, the residual stream X_0 … X_L (``Encoder.hiddens``: one pass
through the layers that keeps only each layer's output). Every other stage of layer l is recomputed from X_l
on request (``Encoder.layer``) by the very function the pass runs, so a stage computed on demand is
bit-identical to one computed up front. Weights are views of the model's parameters (``LayerStack``), never
copies.

A family names its modules in a table of attribute paths (``parts_at``); the layer sequence may repeat
a layer (ALBERT runs one shared layer L times): the pass runs each entry, and layers that share a module
share one weight view.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


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

    ``stack[l]`` is the view of layer l (no copy); ``stack[l, h]`` indexes inside it. Anything else a tensor
    does works too, on a stacked copy made for that call: torch functions and numpy (``torch.as_tensor(w)``,
    ``np.asarray(w)``), operators (``w * 2``, ``w == w`` elementwise, ``w @ x``) and tensor methods
    (``w.sum()``, ``w.float()``, ``w.to(...)``); ``to_tensor()`` gives that copy explicitly.
    """

    __hash__ = None  # type: ignore[assignment]  # == is elementwise, as for tensors

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

    def dim(self) -> int:
        return self.ndim

    def numel(self) -> int:
        return self.shape.numel()

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
        """The layers stacked into one L×... tensor (a copy)."""
        return torch.stack(self.layers)

    def numpy(self) -> np.ndarray:
        return self.to_tensor().cpu().numpy()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        array = self.numpy()
        return array if dtype is None else array.astype(dtype)

    # torch.as_tensor / torch.tensor / torch.asarray read the stacked copy through DLPack
    def __dlpack__(self, *args: Any, **kwargs: Any) -> Any:
        return self.to_tensor().__dlpack__(*args, **kwargs)

    def __dlpack_device__(self) -> Any:
        return self.layers[0].__dlpack_device__()

    @classmethod
    def __torch_function__(cls, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        return func(*_stacked(args), **{k: _stacked(v) for k, v in (kwargs or {}).items()})

    def __getattr__(self, name: str) -> Any:
        # tensor methods and attributes (sum, float, to, mean, T, ...) on the stacked copy
        if name.startswith("_") or not hasattr(torch.Tensor, name):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return getattr(self.to_tensor(), name)

    def __repr__(self) -> str:
        dims = "×".join(map(str, self.shape))
        shared = f"; the {len(self)} layers share {self.distinct} distinct" if self.distinct < len(self) else ""
        return f"LayerStack({dims}, {self.dtype}: views of the model's weights{shared}; .to_tensor() stacks a copy)"


def _stacked(x: Any) -> Any:
    """x with every LayerStack in it (in lists and tuples too) replaced by its stacked tensor."""
    if isinstance(x, LayerStack):
        return x.to_tensor()
    if isinstance(x, (list, tuple)):
        return type(x)(_stacked(i) for i in x)
    return x


def _operator(name: str) -> Callable[..., Any]:
    def apply(self: LayerStack, *args: Any) -> Any:
        return getattr(self.to_tensor(), name)(*_stacked(args))

    apply.__name__ = name
    return apply


# the operators of a tensor, on the stacked copy (__getattr__ does not see dunder methods)
for _name in ("add", "radd", "sub", "rsub", "mul", "rmul", "truediv", "rtruediv", "floordiv", "rfloordiv", "mod",
              "pow", "rpow", "matmul", "rmatmul", "eq", "ne", "lt", "le", "gt", "ge", "neg", "pos", "abs",
              "and", "or", "xor", "invert", "bool", "float", "int"):
    setattr(LayerStack, f"__{_name}__", _operator(f"__{_name}__"))


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


def _linear(x: torch.Tensor, linear: nn.Linear) -> torch.Tensor:
    # addmm is what F.linear runs for these shapes: the same numbers as the model's own pass
    if linear.bias is None:
        return torch.mm(x, linear.weight.t())
    return torch.addmm(linear.bias, x, linear.weight.t())


def _layer_norm(x: torch.Tensor, norm: nn.LayerNorm) -> torch.Tensor:
    return F.layer_norm(x, norm.normalized_shape, norm.weight, norm.bias, norm.eps)


def _heads_of(t: torch.Tensor, heads: int) -> torch.Tensor:
    """n×d → H×n×dh (a view)."""
    n, d = t.shape
    return t.view(n, heads, d // heads).transpose(0, 1)


# an edit of a layer's stages (interventions.py): (stage name, value) → the value the layer goes on with
Edit = Callable[[str, torch.Tensor], torch.Tensor]


def _same(_name: str, value: torch.Tensor) -> torch.Tensor:
    return value


def attention_stages(x: torch.Tensor, p: LayerParts, heads: int, edit: Edit | None = None) -> dict[str, torch.Tensor]:
    """The attention weights of one layer from its input X_l (n×d), and what they are made of (Q, K, the scores).

    ``edit``: each stage on the data path passes through it, and the layer goes on with what it gives back
    (an intervention); None: the model's own pass."""
    e = edit or _same
    q = e("selfattn_query_hidden", _heads_of(_linear(x, p.query), heads))
    k = e("selfattn_key_hidden", _heads_of(_linear(x, p.key), heads))
    qkt = e("selfattn_qkt_hidden", torch.matmul(q, k.transpose(1, 2)))
    scaled = e("selfattn_qkt_scale_hidden", torch.mul(qkt, p.scaling))
    attention = e("selfattn_attention", torch.softmax(scaled, -1))
    return {"selfattn_query_hidden": q, "selfattn_key_hidden": k,
            "selfattn_qkt_hidden": qkt, "selfattn_qkt_scale_hidden": scaled,
            "selfattn_qkt_scale_soft_hidden": attention, "selfattn_attention": attention}


def block_stages(x: torch.Tensor, attention: torch.Tensor, p: LayerParts, heads: int,
                 edit: Edit | None = None) -> dict[str, torch.Tensor]:
    """The attention block of one layer after its weights (H×n×n): values, context, dense, residual and the first
    LayerNorm (``addnorm1_norm_hidden``, what the feed-forward reads). ``edit``: as in ``attention_stages``."""
    e = edit or _same
    n, _ = x.shape
    v = e("selfattn_value_hidden", _heads_of(_linear(x, p.value), heads))
    contvec = e("selfattn_contvec", torch.matmul(attention, v))
    concat = contvec.transpose(0, 1).reshape(n, contvec.shape[0] * contvec.shape[2])
    dense1 = e("addnorm1_dense_hidden", _linear(concat, p.attn_out))
    add1 = e("addnorm1_add_hidden", torch.add(dense1, x))
    return {
        "selfattn_value_hidden": v, "selfattn_contvec": _heads_of(concat, heads),
        "selfattn_contvec_concat": concat,
        "addnorm1_dense_hidden": dense1, "addnorm1_add_hidden": add1,
        "addnorm1_norm_hidden": e("addnorm1_norm_hidden", _layer_norm(add1, p.norm1)),
    }


def ffn_stages(norm1: torch.Tensor, p: LayerParts, edit: Edit | None = None) -> dict[str, torch.Tensor]:
    """The feed-forward of one layer from its first LayerNorm's output; the output X_{l+1} is
    ``addnorm2_norm_hidden``. ``edit``: as in ``attention_stages``."""
    e = edit or _same
    ffn_hidden = e("ffnn_dense_hidden", _linear(norm1, p.ffn_in))
    ffn_act = e("ffnn_dense_act", p.act(ffn_hidden))
    dense2 = e("addnorm2_dense_hidden", _linear(ffn_act, p.ffn_out))
    add2 = e("addnorm2_add_hidden", torch.add(dense2, norm1))
    return {
        "ffnn_dense_hidden": ffn_hidden, "ffnn_dense_act": ffn_act,
        "addnorm2_dense_hidden": dense2, "addnorm2_add_hidden": add2,
        "addnorm2_norm_hidden": e("addnorm2_norm_hidden", _layer_norm(add2, p.norm2)),
    }


def rest_stages(x: torch.Tensor, attention: torch.Tensor, p: LayerParts, heads: int,
                edit: Edit | None = None) -> dict[str, torch.Tensor]:
    """The stages of one layer after its attention weights (H×n×n): the block, then the feed-forward; the output
    X_{l+1} is ``addnorm2_norm_hidden``. ``edit``: as in ``attention_stages``."""
    block = block_stages(x, attention, p, heads, edit)
    return {**block, **ffn_stages(block["addnorm1_norm_hidden"], p, edit)}


def layer_stages(x: torch.Tensor, p: LayerParts, heads: int, edit: Edit | None = None) -> dict[str, torch.Tensor]:
    """Every activation stage of one encoder layer from its input X_l (n×d); the output X_{l+1} is
    ``addnorm2_norm_hidden``. Per-head stages are H×n×dh views of the token-major n×d ones."""
    attention = attention_stages(x, p, heads, edit)
    return {**attention, **rest_stages(x, attention["selfattn_attention"], p, heads, edit)}


# the stages attention_stages gives: what the attention views, head statistics and verify read
ATTENTION_STAGES: tuple[str, ...] = (
    "selfattn_query_hidden", "selfattn_key_hidden", "selfattn_qkt_hidden", "selfattn_qkt_scale_hidden",
    "selfattn_qkt_scale_soft_hidden", "selfattn_attention",
)


# the stages attention_stages and block_stages give: what the contribution views read (no feed-forward)
BLOCK_STAGES: tuple[str, ...] = (
    *ATTENTION_STAGES, "selfattn_value_hidden", "selfattn_contvec", "selfattn_contvec_concat",
    "addnorm1_dense_hidden", "addnorm1_add_hidden", "addnorm1_norm_hidden",
)


# the activation stages layer_stages gives: one entry per layer, recomputed from X_l
LAYER_STAGES: tuple[str, ...] = (
    "selfattn_query_hidden", "selfattn_key_hidden", "selfattn_value_hidden", "selfattn_qkt_hidden",
    "selfattn_qkt_scale_hidden", "selfattn_qkt_scale_soft_hidden", "selfattn_attention", "selfattn_contvec",
    "selfattn_contvec_concat", "addnorm1_dense_hidden", "addnorm1_add_hidden", "addnorm1_norm_hidden",
    "ffnn_dense_hidden", "ffnn_dense_act", "addnorm2_dense_hidden", "addnorm2_add_hidden", "addnorm2_norm_hidden",
)


class Layers(Protocol):
    """What the trace asks of a model's layers, encoder (``Encoder``) or decoder (``decoder.Decoder``) alike:
    X_0 … X_L in one pass, and any layer's stages recomputed from X_l by the function that pass ran."""

    OUTPUT: str  # the stage of layer l that is X_{l+1}

    @property
    def parts(self) -> Sequence[Any]: ...  # each layer's modules (a decoder's also say its sliding window)
    def __len__(self) -> int: ...
    @property
    def attention_names(self) -> tuple[str, ...]: ...
    @property
    def block_names(self) -> tuple[str, ...]: ...
    @property
    def layer_names(self) -> tuple[str, ...]: ...
    def dims(self) -> dict[str, int]: ...
    def hiddens(self, x0: torch.Tensor) -> torch.Tensor: ...
    def layer(self, layer: int, x: torch.Tensor, edit: Edit | None = None) -> dict[str, torch.Tensor]: ...
    def attention(self, layer: int, x: torch.Tensor, edit: Edit | None = None) -> dict[str, torch.Tensor]: ...
    def rest(self, layer: int, x: torch.Tensor, attention: Mapping[str, torch.Tensor],
             edit: Edit | None = None, block_only: bool = False) -> dict[str, torch.Tensor]: ...
    def ffn(self, layer: int, block: Mapping[str, torch.Tensor], edit: Edit | None = None) -> dict[str, torch.Tensor]: ...


@dataclass(frozen=True)
class Encoder:
    """The layers of one model, in the order the model runs them: what recomputes any layer from its input."""

    parts: tuple[LayerParts, ...]
    heads: int

    OUTPUT: ClassVar[str] = "addnorm2_norm_hidden"
    attention_names: ClassVar[tuple[str, ...]] = ATTENTION_STAGES
    block_names: ClassVar[tuple[str, ...]] = BLOCK_STAGES
    layer_names: ClassVar[tuple[str, ...]] = LAYER_STAGES

    def __len__(self) -> int:
        return len(self.parts)

    def dims(self) -> dict[str, int]:
        """The sizes read off the model's modules: layers, heads, head size, FFN size."""
        a = self.parts[0].query.out_features  # all heads together; every head reads its own key/value head
        return {"L": len(self.parts), "H": self.heads, "Hkv": self.heads, "dh": a // self.heads, "a": a,
                "f": self.parts[0].ffn_in.out_features}

    def hiddens(self, x0: torch.Tensor) -> torch.Tensor:
        """X_0 … X_L ((L+1)×n×d): one pass through the layers, keeping only each layer's output."""
        out = torch.empty(len(self.parts) + 1, *x0.shape, dtype=x0.dtype, device=x0.device)
        out[0] = x0
        with torch.no_grad():
            for layer, p in enumerate(self.parts):
                out[layer + 1] = layer_stages(out[layer], p, self.heads)["addnorm2_norm_hidden"]
        return out

    def layer(self, layer: int, x: torch.Tensor, edit: Edit | None = None) -> dict[str, torch.Tensor]:
        """Every activation stage of one layer from its input X_l, by the function the pass runs."""
        with torch.no_grad():
            return layer_stages(x, self.parts[layer], self.heads, edit)

    def attention(self, layer: int, x: torch.Tensor, edit: Edit | None = None) -> dict[str, torch.Tensor]:
        """The ``ATTENTION_STAGES`` of one layer from X_l: the first part of what ``layer`` computes."""
        with torch.no_grad():
            return attention_stages(x, self.parts[layer], self.heads, edit)

    def rest(self, layer: int, x: torch.Tensor, attention: Mapping[str, torch.Tensor],
             edit: Edit | None = None, block_only: bool = False) -> dict[str, torch.Tensor]:
        """The other stages of one layer, from X_l and its ``attention`` part: the second part of ``layer``;
        ``block_only``: up to the block's end only (``ffn`` then gives the rest)."""
        p = self.parts[layer]
        with torch.no_grad():
            if block_only:
                return block_stages(x, attention["selfattn_attention"], p, self.heads, edit)
            return rest_stages(x, attention["selfattn_attention"], p, self.heads, edit)

    def ffn(self, layer: int, block: Mapping[str, torch.Tensor], edit: Edit | None = None) -> dict[str, torch.Tensor]:
        """The feed-forward stages of one layer from its ``block_names`` part: the last part of ``layer``."""
        with torch.no_grad():
            return ffn_stages(block["addnorm1_norm_hidden"], self.parts[layer], edit)


def encoder_stages(embedded: torch.Tensor, parts: Sequence[LayerParts], heads: int,
                   projection: nn.Linear | None = None) -> tuple[dict[str, Any], Encoder]:
    """What the trace keeps after the embedding LayerNorm: the projection to the hidden size where the model has
    one (ALBERT, ELECTRA), the hidden states X_0 … X_L and the weight views; and the encoder that recomputes the
    other stages of any layer.

    X_0 is held once: ``preemb_norm_sum_emb`` (no projection) or ``preemb_proj_hidden`` is ``manual_hiddens[0]``.
    """
    x0 = embedded if projection is None else _linear(embedded, projection)
    encoder = Encoder(tuple(parts), heads)
    hiddens = encoder.hiddens(x0)
    values: dict[str, Any] = {"manual_hiddens": hiddens,
                              "preemb_norm_sum_emb" if projection is None else "preemb_proj_hidden": hiddens[0]}
    if projection is not None:
        values["preemb_proj_weight"] = projection.weight.detach().t()
        values["preemb_proj_bias"] = _bias(projection).detach()
    values.update(weight_stages(parts, heads))
    return values, encoder
