"""Interventions: ablate a head or patch any stage of one layer, then recompute the pass from there, exactly.

An intervention replaces part of one stage of one layer (one head's slice, some positions, or all of it) by given
values while the layer computes it: every stage on the layer's data path passes through an ``edit`` (see
``trace.encoder.attention_stages``), so the layer goes on from the replaced values, and so do the layers after it.
The result is a new :class:`~transeasy_widget.Analysis` whose trace recomputes from the first edited layer on;
the layers before it are not recomputed: its trace serves them from its source's trace (the very tensors).

Ablating head h of layer l replaces its context vectors, ``selfattn_contvec[l, h]`` (its slice of the attention
output before the output projection W_O), by

- ``mode="zero"``: zeros;
- ``mode="mean"``: their mean over the positions of this text (one dh-vector, the same at every position; for a
  decoder this mean reads every position, later ones included), or, with ``corpus=`` (texts), over every position
  of every text of the corpus traced through the same model. Means come from the analysis being ablated, before
  this ablation.

``patch(stage, layer, value, head=None, positions=None)`` replaces any stage on the data path (``patchable``) by a
value, or by the same stage of another analysis (activation patching: a minimal pair). Positions select rows: the
query rows of an n×n stage. ``manual_hiddens`` is patched by hidden-state index (0 the embeddings' X_0, i the output
of layer i−1).

``verify()`` of an edited analysis compares with the model's own pass made with the same edits by forward (pre-)hooks
on the modules that take or give the edited stages (an ablation: a pre-hook on the output projection); the stages
no module computes as such (the scores, the attention weights, the rotary stages, a decoder's residual stream) have
no such pass to compare with, and verify() says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from .errors import InterventionError, check_index
from .stages import DECODERS, STAGES
from .tokens import encode

if TYPE_CHECKING:
    from .analysis import Analysis
    from .trace.encoder import Layers

Tensor = torch.Tensor
Edit = Callable[[str, Tensor], Tensor]

MODES = ("zero", "mean")
# stages that are the same tensor as a patch point, under another name or layout
ALIASES = {"selfattn_qkt_scale_soft_hidden": "selfattn_attention", "selfattn_contvec_concat": "selfattn_contvec"}
# by-products that nothing downstream reads: patching them would change nothing
NOT_ON_PATH = {"selfattn_norm_scale": "selfattn_norm_hidden", "ffnn_norm_scale": "ffnn_norm_hidden"}


@dataclass(frozen=True, eq=False)  # compared by identity: the value is a tensor
class Intervention:
    """One edit: ``stage`` of ``layer`` (its ``head`` slice and ``positions`` rows where given) replaced by ``value``."""

    stage: str  # a patch point (``patchable``); "manual_hiddens" only for X_0 (layer 0)
    layer: int
    head: int | None
    positions: tuple[int, ...] | None
    value: Tensor  # broadcastable to the replaced slice
    label: str
    kind: str = "patch"  # "patch", or the mode of a head ablation ("zero", "mean")

    def apply(self, t: Tensor) -> Tensor:
        """t with the slice replaced, as a new tensor (t may be a view of another stage: never written to)."""
        out = t.clone()
        rows = None if self.positions is None else torch.tensor(self.positions, device=t.device)
        if self.head is not None and rows is not None:
            out[self.head, rows] = self.value
        elif self.head is not None:
            out[self.head] = self.value
        elif rows is not None:
            out[rows] = self.value
        else:
            out[...] = self.value
        return out

    @property
    def ablation(self) -> tuple[int, int, str] | None:
        """(layer, head, mode) for a head ablation, else None."""
        if self.kind in MODES and self.head is not None:
            return self.layer, self.head, self.kind
        return None

    def __repr__(self) -> str:
        return f"<Intervention: {self.label}>"


def _chain(first: Edit | None, second: Edit | None) -> Edit | None:
    if first is None or second is None:
        return first or second
    return lambda name, t: second(name, first(name, t))


def layer_edit(interventions: Sequence[Intervention]) -> Edit:
    """The edit of one layer: each stage through the interventions on it, in the order they were made."""
    by_stage: dict[str, list[Intervention]] = {}
    for iv in interventions:
        by_stage.setdefault(iv.stage, []).append(iv)

    def edit(name: str, t: Tensor) -> Tensor:
        for iv in by_stage.get(name, ()):
            t = iv.apply(t)
        return t

    return edit


class EditedLayers:
    """A model's layers (``Encoder`` or ``Decoder``) computing with interventions: the ``Layers`` of an edited trace."""

    def __init__(self, base: Layers, interventions: Sequence[Intervention], root_pipeline: Callable[[], Any]):
        self.base = base
        self.OUTPUT = base.OUTPUT  # the stage of layer l that is X_{l+1}
        self.interventions = tuple(interventions)
        self.root_pipeline = root_pipeline  # the model's own pass, without hooks
        layers = sorted({iv.layer for iv in self.interventions if iv.stage != "manual_hiddens"})
        self.edits: dict[int, Edit] = {
            layer: layer_edit([iv for iv in self.interventions if iv.layer == layer and iv.stage != "manual_hiddens"])
            for layer in layers}

    @property
    def attention_names(self) -> tuple[str, ...]:
        return self.base.attention_names

    @property
    def block_names(self) -> tuple[str, ...]:
        return self.base.block_names

    @property
    def layer_names(self) -> tuple[str, ...]:
        return self.base.layer_names

    @property
    def parts(self) -> Any:
        return self.base.parts  # type: ignore[attr-defined]

    def __len__(self) -> int:
        return len(self.base)

    def dims(self) -> dict[str, int]:
        return self.base.dims()

    def hiddens(self, x0: Tensor) -> Tensor:
        out = torch.empty(len(self) + 1, *x0.shape, dtype=x0.dtype, device=x0.device)
        out[0] = x0
        for layer in range(len(self)):
            out[layer + 1] = self.layer(layer, out[layer])[self.OUTPUT]
        return out

    def layer(self, layer: int, x: Tensor, edit: Edit | None = None) -> dict[str, Tensor]:
        return self.base.layer(layer, x, _chain(self.edits.get(layer), edit))

    def attention(self, layer: int, x: Tensor, edit: Edit | None = None) -> dict[str, Tensor]:
        return self.base.attention(layer, x, _chain(self.edits.get(layer), edit))

    def rest(self, layer: int, x: Tensor, attention: Mapping[str, Tensor], edit: Edit | None = None,
             block_only: bool = False) -> dict[str, Tensor]:
        return self.base.rest(layer, x, attention, _chain(self.edits.get(layer), edit), block_only)

    def ffn(self, layer: int, block: Mapping[str, Tensor], edit: Edit | None = None) -> dict[str, Tensor]:
        return self.base.ffn(layer, block, _chain(self.edits.get(layer), edit))

    def final(self, x_last: Tensor, logits: bool) -> dict[str, Tensor]:
        return self.base.final(x_last, logits)  # type: ignore[attr-defined, no-any-return]


# -- what can be patched ------------------------------------------------------------------------------------------

def patchable(a: Analysis) -> tuple[str, ...]:
    """The stages ``patch`` takes for this model: every activation stage of a layer on the data path (and its
    aliases), and ``manual_hiddens``."""
    names = [n for n in a.trace._layers.layer_names if n not in NOT_ON_PATH]
    return (*names, "manual_hiddens")


def _point(a: Analysis, stage: object) -> str:
    if not isinstance(stage, str):
        raise InterventionError(f"stage must be a stage name (a string), got {stage!r}.")
    if stage in NOT_ON_PATH:
        raise InterventionError(
            f"{stage} is what the norm divides by, a by-product that nothing after it reads: patching it would change "
            f"nothing. Patch {NOT_ON_PATH[stage]} (the normalised values) instead.")
    if stage not in patchable(a):
        if stage in a.trace:
            kind = STAGES[stage].kind
            what = "a view of the model's weights" if kind == "weight" else "not an activation of one layer"
            raise InterventionError(
                f"{stage} is {what}: patch takes the activation stages of a layer ({', '.join(patchable(a))}).")
        try:
            a.trace[stage]
        except KeyError as err:
            raise InterventionError(err.args[0]) from None
        raise InterventionError(f"{stage} cannot be patched: choose one of {', '.join(patchable(a))}.")
    return stage


def _positions(value: object, n: int, what: str = "position") -> tuple[int, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not value:
        raise InterventionError(f"positions must be a non-empty list of token positions (0..{n - 1}), got {value!r}.")
    out = tuple(check_index(what, p, n) for p in value)
    if len(set(out)) != len(out):
        raise InterventionError(f"positions {list(value)} name a position twice: give each once.")
    return out


@dataclass(frozen=True)
class _Slice:
    stage: str
    layer: int  # the layer (or hidden-state index for manual_hiddens)
    head: int | None  # index along the stage's head axis (a key/value head for Hkv stages)
    dims: tuple[str, ...]  # the dims of one layer's slice before head and positions are taken
    n_axis: int | None  # the position axis in the slice after the head is taken


def _slice(a: Analysis, stage: str, layer: object, head: object) -> _Slice:
    sizes = a.trace.sizes
    what = "hidden state" if stage == "manual_hiddens" else "layer"
    size = sizes["L"] + 1 if stage == "manual_hiddens" else sizes["L"]
    index = check_index(what, layer, size)
    dims = STAGES[stage].dims[1:]
    head_index = None
    if head is not None:
        if stage == "selfattn_contvec_concat":
            raise InterventionError("selfattn_contvec_concat has the heads side by side (n×a), no head axis: patch "
                                    "selfattn_contvec (H×n×dh) with head=h instead.")
        if not dims or dims[0] not in ("H", "Hkv"):
            raise InterventionError(f"{stage} has no head axis (dims {' × '.join(dims)}): leave head=None.")
        head_index = check_index("key/value head" if dims[0] == "Hkv" else "head", head, sizes[dims[0]])
        dims = dims[1:]
    n_axis = dims.index("n") if "n" in dims else None
    return _Slice(stage, index, head_index, dims, n_axis)


def _take(values: Tensor, s: _Slice, positions: tuple[int, ...] | None) -> Tensor:
    if s.head is not None:
        values = values[s.head]
    if positions is not None:
        assert s.n_axis is not None
        values = values.index_select(s.n_axis, torch.tensor(positions, device=values.device))
    return values


def _shape(a: Analysis, s: _Slice, positions: tuple[int, ...] | None) -> tuple[int, ...]:
    sizes = a.trace.sizes
    shape = [sizes[d] for d in s.dims]
    if positions is not None and s.n_axis is not None:
        shape[s.n_axis] = len(positions)
    return tuple(shape)


def _stage_of(a: Analysis, stage: str, layer: int) -> Tensor:
    return a.trace["manual_hiddens", layer] if stage == "manual_hiddens" else a.trace.layer_stages(layer)[stage]


def _from_other(a: Analysis, other: Analysis, s: _Slice, positions: object) -> tuple[Tensor, tuple[int, ...] | None]:
    """The other analysis's values of the slice, and the positions of this text they go to."""
    mine, theirs = a.trace.sizes, other.trace.sizes
    shape_keys = [k for k in mine if k not in ("n", "V")]
    if other.family != a.family or any(mine[k] != theirs[k] for k in shape_keys):
        raise InterventionError(
            f"Patching from another analysis needs a model of the same shape: {a.model_name} ({a.family}, "
            f"{mine['L']} layers × {mine['H']} heads, hidden {mine['d']}) and {other.model_name} ({other.family}, "
            f"{theirs['L']} layers × {theirs['H']} heads, hidden {theirs['d']}) differ.")
    n, m = mine["n"], theirs["n"]
    target: tuple[int, ...] | None
    if isinstance(positions, Mapping):  # this text's position → the other's
        target = _positions(list(positions), n)
        source: tuple[int, ...] | None = tuple(check_index("position of the other text", p, m) for p in positions.values())
    elif positions is not None:
        target = _positions(positions, n)
        source = _positions(positions, m, "position of the other text")
    elif n != m:
        raise InterventionError(
            f"The two texts have {n} and {m} tokens: say which positions to patch, positions=[...] (the same positions "
            "in both) or positions={this_position: other_position, ...}.")
    else:
        target = source = None
    if target is not None and s.n_axis is None:
        raise InterventionError(f"{s.stage} has no position axis: leave positions=None.")
    if s.dims.count("n") > 1 and n != m:
        raise InterventionError(
            f"{s.stage} is n×n (a row per query, a column per key): patching it from a text of another length ({m} "
            f"tokens, here {n}) has no meaning. Patch a stage with one position axis, e.g. selfattn_contvec.")
    values = _take(_stage_of(other, s.stage, s.layer), s, source)
    return values, target


def _value(a: Analysis, s: _Slice, value: object, positions: tuple[int, ...] | None) -> Tensor:
    want = _shape(a, s, positions)
    ref = a.trace.manual_hiddens
    try:
        t = torch.as_tensor(value, dtype=ref.dtype, device=ref.device)
    except (TypeError, ValueError, RuntimeError) as err:
        raise InterventionError(f"value must be a tensor (or an array, or a number), got {type(value).__name__}: "
                                f"{err}") from None
    try:
        fits = torch.broadcast_shapes(t.shape, want) == torch.Size(want)
    except RuntimeError:
        fits = False
    if not fits:
        raise InterventionError(
            f"value has shape {tuple(t.shape)}, but the patched slice of {s.stage} is {' × '.join(map(str, want))} "
            f"({' × '.join(s.dims)}{', head taken' if s.head is not None else ''}"
            f"{', rows of the given positions' if positions is not None else ''}): pass that shape, or one that "
            "broadcasts to it (a number, a vector of the last size).")
    if not bool(torch.isfinite(t).all()):
        raise InterventionError(f"value holds NaN or inf: a patch must be finite numbers ({s.stage}, layer {s.layer}).")
    return t.clone()


def _interventions(a: Analysis, s: _Slice, value: Tensor, positions: tuple[int, ...] | None,
                   label: str) -> list[Intervention]:
    """The slice as patch points: the concatenated context vectors are the per-head ones in another layout, and
    hidden state X_i (i ≥ 1) is the output stage of layer i−1."""
    stage, layer, head = s.stage, s.layer, s.head
    if stage == "selfattn_contvec_concat":
        sizes = a.trace.sizes
        rows = len(positions) if positions is not None else sizes["n"]
        value = value.broadcast_to((rows, sizes["a"])).reshape(rows, sizes["H"], sizes["dh"]).transpose(0, 1)
        if positions is not None:  # every head at some rows: one intervention per head
            return [Intervention("selfattn_contvec", layer, h, positions, value[h], label) for h in range(sizes["H"])]
    stage = ALIASES.get(stage, stage)
    if stage == "manual_hiddens" and layer > 0:
        stage, layer = a.trace._layers.OUTPUT, layer - 1
    return [Intervention(stage, layer, head, positions, value, label)]


# -- the new analysis ---------------------------------------------------------------------------------------------

def derive(a: Analysis, new: Sequence[Intervention]) -> Analysis:
    """A new analysis: ``a`` with the interventions made, recomputed from the first edited layer on."""
    from .analysis import Analysis
    from .trace import Trace

    src = a.trace
    base_layers = src._layers.base if isinstance(src._layers, EditedLayers) else src._layers
    root = src._layers.root_pipeline if isinstance(src._layers, EditedLayers) else src._run_pipeline
    every = (*a.interventions, *new)
    layers = EditedLayers(base_layers, every, root)
    first = min(iv.layer for iv in new)
    old = src.manual_hiddens
    hiddens = torch.empty_like(old)
    hiddens[: first + 1] = old[: first + 1]  # the layers before the first edit: copied, not recomputed
    for iv in new:
        if iv.stage == "manual_hiddens":  # X_0
            hiddens[0] = iv.apply(hiddens[0])
    # the first edited layer: its attention part is the source's where no new edit reaches into it
    new_at_first = {iv.stage for iv in new if iv.layer == first and iv.stage != "manual_hiddens"}
    reuse = not (new_at_first & set(base_layers.attention_names)) and not any(iv.stage == "manual_hiddens" for iv in new)
    # like the trace's own pass, only X_{l+1} of each layer is kept: its other stages are recomputed when asked for
    # (keeping every layer's stages here made the pass a third slower: fresh memory for each, not reused)
    with torch.no_grad():
        for layer in range(first, len(layers)):
            x = hiddens[layer]
            if layer == first and reuse:
                attention = src.layer_stages(layer, attention_only=True)
                hiddens[layer + 1] = layers.rest(layer, x, attention)[layers.OUTPUT]
            else:
                hiddens[layer + 1] = layers.layer(layer, x)[layers.OUTPUT]
    values = dict(src._values)
    for key, v in src._values.items():  # X_0 is held once, under its embedding stage's name too
        if key != "manual_hiddens" and isinstance(v, Tensor) and v.shape == old[0].shape and v.data_ptr() == old.data_ptr():
            values[key] = hiddens[0]
    values["manual_hiddens"] = hiddens
    shared = 0 if any(iv.stage == "manual_hiddens" for iv in new) else first
    trace = Trace(src.family, values, layers, _pipeline(layers, a), src.features, src.cache.budget_mb,
                  source=src, shared_below=shared)
    return Analysis(a.resolved, a.encoding, trace, a.words_given, a.on_mismatch, source=a, interventions=every)


# Where the model's own modules take or give each patch point, so that its pass can make the same edit:
# (the layer part, "in" (a forward pre-hook on its input) or "out" (a hook on its output), the layout: "rows" n×w as
# the module gives it, "heads" n×(heads·dh) read as heads×n×dh, "bnhd" n×heads×dh (Qwen3's q/k norms), "fused0/1/2"
# Q, K or V of GPT-2's one c_attn). A decoder's residual stream (addnorm1_add_hidden) is read twice by the model (the
# norm and the residual), so a hook on one module cannot make that edit: it is left out, as are the scores, the
# weights and the rotary stages, which no module gives.
ENCODER_MIRRORS: dict[str, tuple[str, str, str]] = {
    "selfattn_query_hidden": ("query", "out", "heads"), "selfattn_key_hidden": ("key", "out", "heads"),
    "selfattn_value_hidden": ("value", "out", "heads"), "selfattn_contvec": ("attn_out", "in", "heads"),
    "addnorm1_dense_hidden": ("attn_out", "out", "rows"), "addnorm1_add_hidden": ("norm1", "in", "rows"),
    "addnorm1_norm_hidden": ("norm1", "out", "rows"), "ffnn_dense_hidden": ("ffn_in", "out", "rows"),
    "ffnn_dense_act": ("ffn_out", "in", "rows"), "addnorm2_dense_hidden": ("ffn_out", "out", "rows"),
    "addnorm2_add_hidden": ("norm2", "in", "rows"), "addnorm2_norm_hidden": ("norm2", "out", "rows"),
}
DECODER_MIRRORS: dict[str, tuple[str, str, str]] = {
    "selfattn_norm_hidden": ("norm1", "out", "rows"), "selfattn_query_hidden": ("query", "out", "heads"),
    "selfattn_key_hidden": ("key", "out", "heads"), "selfattn_value_hidden": ("value", "out", "heads"),
    "selfattn_query_norm_hidden": ("q_norm", "out", "bnhd"), "selfattn_key_norm_hidden": ("k_norm", "out", "bnhd"),
    "selfattn_contvec": ("attn_out", "in", "heads"), "addnorm1_dense_hidden": ("attn_out", "out", "rows"),
    "ffnn_norm_hidden": ("norm2", "out", "rows"), "ffnn_gate_hidden": ("gate", "out", "rows"),
    "ffnn_up_hidden": ("up", "out", "rows"), "ffnn_glu_hidden": ("ffn_out", "in", "rows"),
    "ffnn_dense_hidden": ("ffn_in", "out", "rows"), "ffnn_dense_act": ("ffn_out", "in", "rows"),
    "addnorm2_dense_hidden": ("ffn_out", "out", "rows"),
}
_FUSED = ("selfattn_query_hidden", "selfattn_key_hidden", "selfattn_value_hidden")


def mirror(part: Any, stage: str) -> tuple[Any, str, str] | None:
    """(module, "in" | "out", layout) where the model's pass takes or gives ``stage`` of a layer; None where no module
    does (see ENCODER_MIRRORS)."""
    from .trace.encoder import LayerParts

    if not isinstance(part, LayerParts) and part.fused_qkv is not None and stage in _FUSED:
        return part.fused_qkv, "out", f"fused{_FUSED.index(stage)}"
    found = (ENCODER_MIRRORS if isinstance(part, LayerParts) else DECODER_MIRRORS).get(stage)
    if found is None or getattr(part, found[0], None) is None:
        return None
    return getattr(part, found[0]), found[1], found[2]


def _as_stage(t: Tensor, layout: str, dh: int) -> Tensor:
    """A module's 1×n×w tensor (1×n×heads×dh for "bnhd") in the stage's layout."""
    x = t[0]
    if layout == "rows":
        return x
    if layout == "bnhd":
        return x.transpose(0, 1)
    if layout.startswith("fused"):
        width = x.shape[-1] // 3
        x = x[:, int(layout[-1]) * width:(int(layout[-1]) + 1) * width]
    return x.reshape(x.shape[0], -1, dh).transpose(0, 1)


def _into(t: Tensor, value: Tensor, layout: str) -> Tensor:
    """The module's tensor with the stage's (edited) value put back in its layout."""
    if layout == "rows":
        return value[None].to(t.dtype)
    if layout == "bnhd":
        return value.transpose(0, 1)[None].to(t.dtype)
    rows = value.transpose(0, 1).reshape(value.shape[1], -1)
    if layout.startswith("fused"):
        out = t.clone()
        width = t.shape[-1] // 3
        out[0, :, int(layout[-1]) * width:(int(layout[-1]) + 1) * width] = rows
        return out
    return rows[None].to(t.dtype)


def _pipeline(layers: EditedLayers, a: Analysis) -> Callable[[], Any]:
    """The model's own pass with the same edits, made by forward (pre-)hooks on the modules that take or give the
    edited stages (``mirror``): an ablation is a pre-hook on the output projection, whose input is the heads' context
    vectors side by side. Edits that no module can make leave ``verify()`` with nothing to compare: it says so."""
    parts = layers.parts
    dh = a.trace.sizes["dh"]
    points = sorted({(iv.layer, iv.stage) for iv in layers.interventions})
    missing = sorted({stage for layer, stage in points if stage == "manual_hiddens" or mirror(parts[layer], stage) is None})

    def run() -> Any:
        if missing:
            raise InterventionError(
                f"This analysis patches {', '.join(missing)}, which no module of the model takes or gives as such: "
                "the model has no pass of its own with that edit for verify() to compare with (it compares head "
                "ablations and patches of the stages a module computes: Q, K, V, the context vectors, the projections, "
                "the norms, the feed-forward). The package's tests check every patch against hooked model runs.")
        # (module, direction) → its layouts and stages, and the layers that run the module, in order (ALBERT shares)
        plan: dict[tuple[int, str], tuple[Any, list[tuple[str, str]]]] = {}
        for layer, stage in points:
            module, direction, layout = mirror(parts[layer], stage)  # type: ignore[misc]
            entry = plan.setdefault((id(module), direction), (module, []))
            if (layout, stage) not in entry[1]:
                entry[1].append((layout, stage))
        handles = []
        for (_, direction), (module, targets) in plan.items():
            runs = [layer for layer, p in enumerate(parts)
                    if any(mirror(p, stage) is not None and mirror(p, stage)[0] is module for _, stage in targets)]  # type: ignore[index]
            calls = [0]

            def edited(t: Tensor, runs: list[int] = runs, calls: list[int] = calls,
                       targets: list[tuple[str, str]] = targets) -> Tensor | None:
                layer = runs[calls[0] % len(runs)]
                calls[0] += 1
                edit = layers.edits.get(layer)
                if edit is None:
                    return None
                for layout, stage in targets:
                    value = _as_stage(t, layout, dh)
                    changed = edit(stage, value)
                    if changed is not value:
                        t = _into(t, changed, layout)
                return t

            if direction == "in":
                def pre(_m: Any, args: tuple[Any, ...], edited: Callable[..., Any] = edited) -> Any:
                    t = edited(args[0])
                    return None if t is None else (t, *args[1:])
                handles.append(module.register_forward_pre_hook(pre))
            else:
                def post(_m: Any, _args: Any, out: Any, edited: Callable[..., Any] = edited) -> Any:
                    return edited(out)
                handles.append(module.register_forward_hook(post))
        try:
            return layers.root_pipeline()
        finally:
            for h in handles:
                h.remove()

    return run


def ablate(a: Analysis, heads: object, mode: str = "zero", corpus: Sequence[str] | None = None) -> Analysis:
    """``a`` with the heads' context vectors set to zero or to their mean (see the module's docstring)."""
    if mode not in MODES:
        raise InterventionError(f"mode must be one of {', '.join(map(repr, MODES))}, got {mode!r}.")
    pairs = check_heads(a, heads)
    if corpus is not None and mode != "mean":
        raise InterventionError("corpus= gives the texts a mean ablation averages over: pass mode='mean' with it.")
    means = head_means(a, sorted({layer for layer, _ in pairs}), corpus) if mode == "mean" else None
    where = "" if mode == "zero" else (" (mean over this text)" if corpus is None else f" (mean over {len(corpus)} texts)")
    out = []
    for layer, head in pairs:
        value = torch.zeros((), dtype=a.trace.manual_hiddens.dtype) if means is None else means[layer][head]
        out.append(Intervention("selfattn_contvec", layer, head, None, value,
                                f"{mode}-ablate head ({layer}, {head}){where}", kind=mode))
    return derive(a, out)


def check_heads(a: Analysis, heads: object) -> list[tuple[int, int]]:
    sizes = a.trace.sizes
    example = f"heads=[(0, 1), ({sizes['L'] - 1}, {sizes['H'] - 1})]"
    if isinstance(heads, tuple) and len(heads) == 2 and all(isinstance(v, int) for v in heads):
        heads = [heads]  # one (layer, head) pair
    if isinstance(heads, (str, bytes)) or not isinstance(heads, Sequence) or not heads:
        raise InterventionError(f"heads must be a non-empty list of (layer, head) pairs, e.g. {example}; got {heads!r}.")
    pairs = []
    for pair in heads:
        if isinstance(pair, (str, bytes)) or not isinstance(pair, Sequence) or len(pair) != 2:
            raise InterventionError(f"Each head is a (layer, head) pair, e.g. {example}; got {pair!r}.")
        pairs.append((check_index("layer", pair[0], sizes["L"]), check_index("head", pair[1], sizes["H"])))
    if len(set(pairs)) != len(pairs):
        raise InterventionError(f"heads names a head twice: {heads!r}. Give each (layer, head) once.")
    return pairs


def head_means(a: Analysis, layers: Sequence[int], corpus: Sequence[str] | None) -> dict[int, Tensor]:
    """Each layer's H×dh mean context vectors: over this text's positions, or over every position of a corpus."""
    if corpus is None:
        return {layer: a.trace.layer_stages(layer)["selfattn_contvec"].mean(1) for layer in layers}
    if isinstance(corpus, str) or not isinstance(corpus, Sequence) or not corpus:
        raise InterventionError(f"corpus must be a non-empty list of texts, got {corpus!r}.")
    from .trace import FAMILIES, run_trace

    sums: dict[int, Tensor] = {}
    count = 0
    adapter = FAMILIES[a.family]
    for i, text in enumerate(corpus):
        if not isinstance(text, str):
            raise InterventionError(f"corpus[{i}] must be a text (a string), got {type(text).__name__}.")
        enc = encode(a.tokenizer, text, None, adapter.max_tokens(a.model), a.model_name)
        trace = run_trace(a.model, a.tokenizer, a.family, enc, cache_mb=0)
        for layer in layers:
            total = trace.layer_stages(layer)["selfattn_contvec"].sum(1)
            sums[layer] = total if layer not in sums else sums[layer] + total
        count += enc.n
    return {layer: total / count for layer, total in sums.items()}


def patch(a: Analysis, stage: str, layer: int, value: object, head: int | None = None,
          positions: Sequence[int] | Mapping[int, int] | None = None) -> Analysis:
    """``a`` with one stage of one layer (a head's slice, some rows) replaced by ``value`` or by the same slice of
    another analysis; recomputed from that layer on."""
    from .analysis import Analysis

    stage = _point(a, stage)
    s = _slice(a, stage, layer, head)
    if isinstance(value, Analysis):
        values, rows = _from_other(a, value, s, positions)
        source = f" from {value.text!r}"
    else:
        if isinstance(positions, Mapping):
            raise InterventionError("positions={this: other} maps positions between two texts: with a value, pass a list.")
        rows = None if positions is None else _positions(positions, a.trace.sizes["n"])
        if rows is not None and s.n_axis is None:
            raise InterventionError(f"{stage} has no position axis: leave positions=None.")
        values, source = _value(a, s, value, rows), ""
    where = f"head {s.head}, " if s.head is not None else ""
    where += f"positions {list(rows)}, " if rows is not None else ""
    label = f"patch {stage}[{s.layer}] ({where.rstrip(', ') or 'all'}){source}"
    return derive(a, _interventions(a, s, values, rows, label))


# -- the effect on the output -------------------------------------------------------------------------------------

def has_readout(a: Analysis) -> bool:
    from .logit_lens import _mlm_head

    if a.family in DECODERS:
        return "final_unembed_weight" in a.trace
    return _mlm_head(getattr(a.resolved, "task_model", None)) is not None


def readout_positions(a: Analysis, position: int | Sequence[int] | None) -> list[int]:
    """Where the output is read: given, else the last position (decoders: the next token) or the [MASK]s (MLMs)."""
    n = a.trace.sizes["n"]
    if position is not None:
        if isinstance(position, Sequence) and not isinstance(position, str):
            return list(_positions(position, n))
        return [check_index("position", position, n)]
    if a.family in DECODERS:
        return [n - 1]
    mask = getattr(a.tokenizer, "mask_token_id", None)
    found = [i for i, t in enumerate(a.encoding.ids) if mask is not None and t == mask]
    if not found and has_readout(a):
        raise InterventionError(
            f"The text has no {getattr(a.tokenizer, 'mask_token', '[MASK]')} piece for the masked-LM head to predict: "
            "put one in the text, or pass position=.")
    return found or list(range(n))


def token_id(a: Analysis, token: int | str) -> int:
    """A vocabulary id from an id, a piece of the vocabulary ("Ġare") or a text that is one piece (" are")."""
    vocab = a.trace.sizes["V"]
    if isinstance(token, bool) or not isinstance(token, (int, str)):
        raise InterventionError(f"token must be a token id or a string, got {token!r}.")
    if isinstance(token, int):
        return check_index("token id", token, vocab)
    unk = getattr(a.tokenizer, "unk_token_id", None)
    tid = a.tokenizer.convert_tokens_to_ids(token)
    if isinstance(tid, int) and tid != unk and 0 <= tid < vocab:
        return tid
    ids = a.tokenizer.encode(token, add_special_tokens=False)
    if len(ids) == 1 and ids[0] != unk:
        return int(ids[0])
    pieces = a.tokenizer.convert_ids_to_tokens(ids)
    raise InterventionError(
        f"{token!r} is not one token of this vocabulary (it is {len(ids)} pieces: {pieces}): pass one piece, e.g. "
        f"{pieces[0]!r} (or its id), to follow its probability.")


@dataclass(frozen=True)
class PositionEffect:
    """The output at one position before and after: top-k (token, probability), the chosen token's probability,
    and KL(before ‖ after) of the whole distribution (nats)."""

    position: int
    input_token: str
    before: list[tuple[str, float]]
    after: list[tuple[str, float]]
    prob_before: float | None
    prob_after: float | None
    kl: float

    @property
    def changed(self) -> bool:
        """Whether the most likely token changed."""
        return self.before[0][0] != self.after[0][0]


@dataclass(frozen=True)
class Effect:
    """What an intervention changed. ``cosine[i]``: the mean over positions of the cosine similarity of hidden
    state X_i before and after (i = 0 the embeddings; 1.0 where nothing changed); ``positions``: the output at the
    read positions, for models with an LM or MLM head (empty for bare encoders)."""

    cosine: Tensor
    positions: list[PositionEffect]
    token: str | None
    what: str  # "next token" (decoders) or "token" (an MLM head)
    labels: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return any(p.changed for p in self.positions)

    def table(self) -> str:
        lines = ["effect of " + "; ".join(self.labels)]
        lines.append("cosine of the hidden states before/after: " + " ".join(
            f"{label}:{float(c):.4f}" for label, c in zip(["emb", *map(str, range(len(self.cosine) - 1))], self.cosine,
                                                           strict=True)))
        for p in self.positions:
            head = f"{self.what} at position {p.position} ({p.input_token!r})"
            lines.append(head + (" — top changed" if p.changed else ""))
            lines.append("  before: " + ", ".join(f"{t!r} {q:.3f}" for t, q in p.before))
            lines.append("  after:  " + ", ".join(f"{t!r} {q:.3f}" for t, q in p.after))
            if p.prob_before is not None and p.prob_after is not None:
                lines.append(f"  p({self.token!r}): {p.prob_before:.4f} → {p.prob_after:.4f}")
            lines.append(f"  KL(before ‖ after) {p.kl:.4g} nats")
        return "\n".join(lines)

    __repr__ = table


def _probs(a: Analysis, hidden: Tensor, positions: list[int]) -> Tensor:
    from .logit_lens import lens_readout

    with torch.no_grad():
        return torch.softmax(lens_readout(a)(hidden[positions]).float(), dim=-1)


def _kl(p: Tensor, q: Tensor) -> Tensor:
    """KL(p ‖ q) per row, in nats (0 log 0 = 0)."""
    return (torch.special.xlogy(p, p) - torch.special.xlogy(p, q)).sum(-1)


def effect(after: Analysis, before: Analysis | None = None, token: int | str | None = None,
           position: int | Sequence[int] | None = None, k: int = 5) -> Effect:
    """The change from ``before`` (default: the analysis ``after`` was derived from) to ``after``."""
    from .analysis import Analysis

    if before is None:
        before = after.source
        if before is None:
            raise InterventionError("This analysis was not made by ablate() or patch(): pass the one to compare with, "
                                    "a.effect(before=other).")
    if not isinstance(before, Analysis):
        raise InterventionError(f"before must be an Analysis, got {type(before).__name__}.")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InterventionError(f"k must be a positive integer, got {k!r}.")
    sa, sb = after.trace.sizes, before.trace.sizes
    if sa != sb:
        raise InterventionError(
            f"The effect compares two analyses of the same shape and length: {sa['n']} and {sb['n']} tokens, "
            f"{sa['L']}×{sa['H']} and {sb['L']}×{sb['H']} heads. Patch or ablate one analysis, and compare it with it.")
    ha, hb = after.trace.manual_hiddens, before.trace.manual_hiddens
    cosine = torch.nn.functional.cosine_similarity(ha.float(), hb.float(), dim=-1).mean(-1)
    per_position: list[PositionEffect] = []
    tid = None if token is None else token_id(after, token)
    if has_readout(after):
        positions = readout_positions(after, position)
        p_after, p_before = _probs(after, ha[-1], positions), _probs(before, hb[-1], positions)
        convert = after.tokenizer.convert_ids_to_tokens
        kl = _kl(p_before, p_after)
        for row, pos in enumerate(positions):
            def top(p: Tensor) -> list[tuple[str, float]]:
                best = p.topk(min(k, p.shape[-1]))
                return list(zip(convert(best.indices.tolist()), best.values.tolist(), strict=True))
            per_position.append(PositionEffect(
                pos, after.tokens[pos], top(p_before[row]), top(p_after[row]),
                None if tid is None else float(p_before[row, tid]), None if tid is None else float(p_after[row, tid]),
                float(kl[row])))
    elif token is not None:
        raise InterventionError(f"This {after.family} model has no LM or MLM head, so no token probabilities: the "
                                "effect is the cosine of its hidden states (leave token=None).")
    labels = tuple(iv.label for iv in after.interventions if iv not in before.interventions)
    if not labels or before.encoding.ids != after.encoding.ids:  # two texts (a minimal pair), or other edits
        labels = (f"{before.text!r} → {after.text!r}", *labels) if before.text != after.text else labels
    labels = labels or ("nothing: the two analyses have the same interventions",)
    what = "next token" if after.family in DECODERS else "token"
    return Effect(cosine, per_position, None if tid is None else after.tokenizer.convert_ids_to_tokens(tid), what, labels)


# -- ablation importance: every head of some layers, one call -----------------------------------------------------

METRICS = {
    "kl": "mean KL(before ‖ after) of the output distribution at the read positions (nats)",
    "prob": "the drop in the chosen token's probability at the read positions (before − after, mean)",
    "cosine": "1 − the mean cosine similarity of the last hidden state X_L before and after",
}


def ablation_importance(a: Analysis, layers: Sequence[int] | None = None, mode: str = "zero",
                        metric: str | None = None, token: int | str | None = None,
                        position: int | Sequence[int] | None = None,
                        corpus: Sequence[str] | None = None) -> tuple[Tensor, str]:
    """Each head's effect when ablated alone, by ``metric``: an L×H tensor (NaN rows: layers not asked for), and
    the metric used.

    Each ablation recomputes its layer's attention output onwards (the attention weights of its layer are the
    analysis's own, computed once per layer) and the layers after it, from the analysis's kept X_l: never the
    layers before it.
    """
    sizes = a.trace.sizes
    if mode not in MODES:
        raise InterventionError(f"mode must be one of {', '.join(map(repr, MODES))}, got {mode!r}.")
    if corpus is not None and mode != "mean":
        raise InterventionError("corpus= gives the texts a mean ablation averages over: pass mode='mean' with it.")
    readable = has_readout(a)
    metric = metric or ("kl" if readable else "cosine")
    if metric not in METRICS:
        raise InterventionError(f"metric must be one of {', '.join(map(repr, METRICS))}, got {metric!r}.")
    if metric in ("kl", "prob") and not readable:
        raise InterventionError(f"metric={metric!r} reads the output distribution, and this {a.family} model has no LM "
                                "or MLM head: use metric='cosine'.")
    if metric == "prob" and token is None:
        raise InterventionError("metric='prob' follows one token's probability: pass token= (a piece or its id).")
    if layers is None:
        chosen = list(range(sizes["L"]))
    elif isinstance(layers, (str, bytes)) or not isinstance(layers, Sequence) or not layers:
        raise InterventionError(f"layers must be a non-empty list of layer indices (or None for all), got {layers!r}.")
    else:
        chosen = sorted({check_index("layer", layer, sizes["L"]) for layer in layers})
    hiddens = a.trace.manual_hiddens
    positions = readout_positions(a, position) if readable else []
    tid = None if token is None else token_id(a, token)
    p_before = _probs(a, hiddens[-1], positions) if readable else None
    means = head_means(a, chosen, corpus) if mode == "mean" else None
    layer_fns = a.trace._layers
    output = layer_fns.OUTPUT
    zero = torch.zeros((), dtype=hiddens.dtype)

    def score(x_last: Tensor) -> float:
        if metric == "cosine":
            cos = torch.nn.functional.cosine_similarity(x_last.float(), hiddens[-1].float(), dim=-1)
            return float(1 - cos.mean())
        assert p_before is not None
        p_after = _probs(a, x_last, positions)
        if metric == "kl":
            return float(_kl(p_before, p_after).mean())
        return float((p_before[:, tid] - p_after[:, tid]).mean())

    result = torch.full((sizes["L"], sizes["H"]), math.nan)
    with torch.no_grad():
        for layer in chosen:
            x = hiddens[layer]
            attention = a.trace.layer_stages(layer, attention_only=True)
            for head in range(sizes["H"]):
                value = zero if means is None else means[layer][head]
                iv = Intervention("selfattn_contvec", layer, head, None, value, "")
                out = layer_fns.rest(layer, x, attention, iv_edit(iv))[output]
                for later in range(layer + 1, sizes["L"]):
                    out = layer_fns.layer(later, out)[output]
                result[layer, head] = score(out)
    return result, metric


def describe_importance(metric: str, mode: str, token: int | str | None, corpus: Sequence[str] | None) -> str:
    """A line that says what an ablation importance grid holds (the dashboard shows it)."""
    mean = " (mean over this text)" if corpus is None else f" (mean over {len(corpus)} texts)"
    follow = f", token {token!r}" if metric == "prob" else ""
    return (f"ablation importance: {METRICS[metric]}{follow}, each head {mode}-ablated alone"
            f"{mean if mode == 'mean' else ''}")


def iv_edit(iv: Intervention) -> Edit:
    return lambda name, t: iv.apply(t) if name == iv.stage else t
