"""Tensors → compact binary for the browser: float16 / uint8 quantisation and the replies of docs/PROTOCOL.md.

One function, ``answer(analysis, request)``, serves the live widget (custom messages) and the exported page
(replies embedded ahead of time), so both show the same numbers.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from . import variants
from .errors import InputError, TransEasyError, check_index
from .stages import STAGES

# Stages holding attention weights (softmax rows): coloured on the attention views' fixed 0 … 1 scale.
ATTENTION_STAGES = ("selfattn_qkt_scale_soft_hidden", "selfattn_attention")

THUMB = 48  # overview thumbnails: at most this many rows and columns per head (the view scales them to its space)
# a stage slice larger than this is block-averaged before it is sent (4 MiB of float16)
MAX_VALUES = 1 << 21
MAX_SIDE = 4096


# a non-finite float in a reply's JSON (strict JSON has no NaN or infinity) is written as one of these strings
NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float replaced by "NaN", "Infinity" or "-Infinity" (docs/PROTOCOL.md)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else NON_FINITE[repr(value)]
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def f16_bytes(t: torch.Tensor) -> bytes:
    """Little-endian float16, C order. Error: at most |x|·2⁻¹¹ (normal range) or 2⁻²⁵ (below it)."""
    return np.ascontiguousarray(t.detach().cpu().to(torch.float32).numpy(), dtype="<f2").tobytes()


VMAX = 1.0  # the overview's shared scale: 255 = an attention weight of 1 (no variant's weights exceed it)


def pooled_thumbnails(att: torch.Tensor, side: int) -> torch.Tensor:
    """L×H×m×m → (L·H)×(t·t) float (t = min(side, m)): each block's max (max pooling, so a sharp head keeps its
    peaks and a diffuse one stays pale)."""
    layers, heads, m, _ = att.shape
    t = min(side, m)
    return F.adaptive_max_pool2d(att.reshape(layers * heads, 1, m, m).float(), t).reshape(layers * heads, t * t)


def u8_thumbnails(att: torch.Tensor, side: int, vmax: float = VMAX) -> tuple[bytes, list[float]]:
    """L×H×m×m → L×H×t×t uint8 (t = min(side, m)) on ONE scale for every head, max-pooled, 255 = ``vmax``. Also each
    head's max, for the per-head colour scale."""
    return quantised_thumbnails(pooled_thumbnails(att, side), vmax)


def quantised_thumbnails(pooled: torch.Tensor, vmax: float) -> tuple[bytes, list[float]]:
    q = torch.round(pooled.clamp(0, vmax) / vmax * 255).to(torch.uint8)
    return q.numpy().tobytes(), [float(x) for x in pooled.amax(dim=1)]


def block_mean(x: torch.Tensor, row_step: int, col_step: int) -> torch.Tensor:
    """Average row_step × col_step blocks (the last block may be partial) of a 2-D tensor."""
    if row_step == 1 and col_step == 1:
        return x
    rows, cols = x.shape
    out_r, out_c = math.ceil(rows / row_step), math.ceil(cols / col_step)
    padded = F.pad(x[None, None].float(), (0, out_c * col_step - cols, 0, out_r * row_step - rows))
    ones = F.pad(torch.ones(1, 1, rows, cols), (0, out_c * col_step - cols, 0, out_r * row_step - rows))
    sums = F.avg_pool2d(padded, (row_step, col_step), divisor_override=1)
    counts = F.avg_pool2d(ones, (row_step, col_step), divisor_override=1)
    return (sums / counts)[0, 0]


def steps_for(rows: int, cols: int) -> tuple[int, int]:
    """Block sizes that bring a rows × cols slice under MAX_VALUES and MAX_SIDE."""
    col_step = max(1, math.ceil(cols / MAX_SIDE))
    row_step = max(1, math.ceil(rows / MAX_SIDE))
    while math.ceil(rows / row_step) * math.ceil(cols / col_step) > MAX_VALUES:
        if math.ceil(rows / row_step) >= math.ceil(cols / col_step):
            row_step += 1
        else:
            col_step += 1
    return row_step, col_step


def _layer_reply(a: Any, req: dict[str, Any]) -> tuple[dict[str, Any], list[bytes]]:
    variant = variants.check(str(req.get("variant")))
    layer = check_index("layer", req.get("layer"), a.trace.sizes["L"])
    att = variants.layer(a, variant, layer)  # this layer only: H×m×m, or 1×n×n for a per-layer view
    head = {"what": "layer", "variant": variant, "layer": layer, "dtype": "float16", "shape": list(att.shape)}
    return head, [f16_bytes(att)]


def _overview_reply(a: Any, req: dict[str, Any]) -> tuple[dict[str, Any], list[bytes]]:
    variant = variants.check(str(req.get("variant")))
    layers = a.trace.sizes["L"]
    # layer by layer: one layer's matrices at a time (pooled to t×t), then all on the one shared scale: 1, or the
    # largest value of every layer for a view in the units of the hidden states (the norms)
    pooled = [pooled_thumbnails(variants.layer(a, variant, layer)[None], THUMB) for layer in range(layers)]
    heads = pooled[0].shape[0]  # H, or 1 for a per-layer view
    vmax = VMAX
    if variants.WIDGET_VARIANTS[variant].scale == "max":
        vmax = max((float(p.max()) for p in pooled), default=0.0) or 1.0
    parts = [quantised_thumbnails(p, vmax) for p in pooled]
    t = min(THUMB, len(variants.labels(a, variant)))
    return {"what": "overview", "variant": variant, "dtype": "uint8", "shape": [layers, heads, t, t],
            "vmax": vmax, "head_max": [x for _, head_max in parts for x in head_max]}, [b"".join(d for d, _ in parts)]


def colour_range(name: str, t: torch.Tensor) -> tuple[str, float, float]:
    """The colour rule of a stage's slice (docs/PROTOCOL.md, "Colours"): attention weights on the fixed 0 … 1 scale
    the attention views use; a signed tensor diverging around 0 up to ±(99th percentile of |x|); a non-negative
    one from 0 to its 99th percentile (a few outliers saturate instead of washing the rest out)."""
    if name in ATTENTION_STAGES:
        return "sequential", 0.0, max(1.0, float(t.max()))
    flat = t.reshape(-1).float()
    flat = flat[torch.isfinite(flat)]
    if flat.numel() == 0:
        return "sequential", 0.0, 1.0
    if flat.numel() > 1 << 16:  # a strided sample: the quantile of a vocabulary table in milliseconds
        flat = flat[:: flat.numel() // (1 << 16)]
    if bool(flat.min() < 0):
        hi = float(torch.quantile(flat.abs(), 0.99)) or float(flat.abs().max()) or 1.0
        return "diverging", -hi, hi
    hi = float(torch.quantile(flat, 0.99)) or float(flat.max()) or 1.0
    return "sequential", 0.0, hi


def stage_slice(a: Any, name: str, layer: int, head: int) -> tuple[torch.Tensor, tuple[str, ...]]:
    """The 2-D slice of a stage the viewer shows: the selected layer (and head), as rows × columns; a per-layer
    stage is read for that layer only."""
    stage = STAGES[name]
    dims = stage.dims
    if dims[:1] == ("L+1",):  # the hidden states: the selected layer's output, X_{l+1}
        value, dims = a.trace[name, layer + 1], dims[1:]
    elif stage.per_layer:
        value, dims = a.trace[name, layer], dims[1:]
    else:
        value = a.trace[name]
    if stage.per_head:
        # a key/value-head stage (grouped-query attention): the head that query head reads
        value, dims = value[stage.head_index(head, a.trace.sizes)], dims[1:]
    t = torch.as_tensor(value).detach().to("cpu", torch.float32)
    if t.ndim > 2:
        raise InputError(f"Stage {name} has no 2-D slice per layer and head (dims {', '.join(stage.dims)}).")
    if t.ndim == 0:
        return t.reshape(1, 1), ("", "")
    if t.ndim == 1:
        return t.reshape(1, -1), ("", *dims)
    return t, dims


def _stage_reply(a: Any, req: dict[str, Any]) -> tuple[dict[str, Any], list[bytes]]:
    name = str(req.get("stage"))
    names = [s.name for s in a.trace.stages]
    if name not in names:
        raise InputError(f"Unknown stage {name!r}: use one of {', '.join(names)}.")
    sizes = a.trace.sizes
    layer = check_index("layer", req.get("layer", 0), sizes["L"])
    head = check_index("head", req.get("head", 0), sizes["H"])
    stage = STAGES[name]
    base = {"what": "stage", "stage": name, "layer": layer, "head": head}
    if stage.kind == "pipeline":
        return {**base, "parity": a.verify().to_dict()}, []
    if stage.kind == "object" or name in ("sym_sent", "sym_tokens"):
        if name == "sym_tokens":
            text = a.tokens
        elif name == "sym_sent":  # the text, or both texts of a pair
            text = [a.text] if a.text_pair is None else [a.text, a.text_pair]
        else:
            text = [type(a.trace[name]).__name__]
        return {**base, "text": text}, []
    t, dims = stage_slice(a, name, layer, head)
    rows, cols = t.shape
    row_step, col_step = steps_for(rows, cols)
    sent = block_mean(t, row_step, col_step)
    # a decoder's masked scores hold -inf where the causal mask hides a key: stats and norms are of the other cells
    # (NaN and +inf are not a mask: they stay in, and the stats say NaN, never a number computed without them)
    hidden = t == float("-inf")
    masked = int(hidden.sum())
    seen = t[~hidden] if masked and masked < t.numel() else t
    if masked:
        t = t.masked_fill(hidden, 0.0)
    norms = t.norm(dim=1)
    if row_step > 1:
        norms = block_mean(norms[:, None], row_step, 1)[:, 0]
    labels = a.tokens if dims[0] == "n" and row_step == 1 else None
    reply = {
        **base, "dtype": "float16", "shape": list(sent.shape), "full_shape": [rows, cols], "dims": list(dims),
        "row_step": row_step, "col_step": col_step, "row_labels": labels, "signed": bool(seen.min() < 0),
        "stats": {"min": float(seen.min()), "max": float(seen.max()), "mean": float(seen.mean()),
                  "std": float(seen.std()) if seen.numel() > 1 else 0.0},
        "row_norms": [float(x) for x in norms],
        "colour": dict(zip(("scale", "lo", "hi"), colour_range(name, t), strict=True)),
        "note": "; ".join(filter(None, [
            f"aggregated: each cell is the mean of {row_step}×{col_step} values" if row_step * col_step > 1 else "",
            f"{masked} cells masked (-inf: the causal mask), left out of the statistics" if masked else "",
            f"X_{layer + 1}: the output of layer {layer} (X_0 is the embedding output)" if stage.dims[:1] == ("L+1",) else "",
        ])),
    }
    return reply, [f16_bytes(sent)]


def f32_bytes(t: torch.Tensor) -> bytes:
    """Little-endian float32, C order (the row view's products and sums need more than float16's 3 digits)."""
    return np.ascontiguousarray(t.detach().cpu().to(torch.float32).numpy(), dtype="<f4").tobytes()


# The stages a row reply is read from (the row view links each column to its stage in the stage viewer). A rotary
# model's scores are those of the turned queries and keys; a causal model's softmax reads the masked scores.
ROW_STAGES = {"q": ("selfattn_query_rot_hidden", "selfattn_query_hidden"),
              "k": ("selfattn_key_rot_hidden", "selfattn_key_hidden"), "dot": ("selfattn_qkt_hidden",),
              "scaled": ("selfattn_qkt_scale_masked_hidden", "selfattn_qkt_scale_hidden"),
              "softmax": ("selfattn_attention",)}


def row_stages(a: Any) -> dict[str, str]:
    """Each column of the row view and the stage of this analysis it is read from (the first of ROW_STAGES's it has)."""
    names = {s.name for s in a.trace.stages}
    return {part: next(name for name in choices if name in names) for part, choices in ROW_STAGES.items()}


def score_scale(dots: torch.Tensor, scaled: torch.Tensor, dh: int) -> float:
    """The model's score scaling (1/√dh for most; GPT-2 may scale by layer): scaled / dot at the largest |dot|."""
    at = dots.abs().argmax()
    return float(scaled.flatten()[at] / dots.flatten()[at]) if float(dots.flatten()[at]) != 0 else 1 / math.sqrt(dh)


def _row_reply(a: Any, req: dict[str, Any]) -> tuple[dict[str, Any], list[bytes]]:
    """One attention row as the model computes it, for layer l, head h and query piece i (a raw position):
    q = Q[i], every key k_j (of the key/value head h reads, turned by the rotary embedding where the model has one),
    the products q∘k_j, the dot products q·k_j, the scaled scores (-inf where a causal mask hides the key) and the
    softmax, all read from the trace's stages (the softmax is the model's attention row)."""
    sizes = a.trace.sizes
    layer = check_index("layer", req.get("layer"), sizes["L"])
    head = check_index("head", req.get("head"), sizes["H"])
    query = check_index("query", req.get("query"), sizes["n"])
    stages = row_stages(a)

    def read(name: str, *index: int) -> torch.Tensor:  # that layer of a stage only (the trace computes it on demand)
        return torch.as_tensor(a.trace[name, layer][index]).float().cpu()

    # under grouped-query attention the keys are those of the key/value head this query head reads
    q, keys = read(stages["q"], head, query), read(stages["k"], STAGES[stages["k"]].head_index(head, sizes))
    dots, scaled = read(stages["dot"], head, query), read(stages["scaled"], head, query)
    unmasked = read("selfattn_qkt_scale_hidden", head, query)  # the scores before any mask: the model's scaling
    weights = read(stages["softmax"], head, query)
    products = keys * q
    n, dh = keys.shape
    content = {"what": "row", "layer": layer, "head": head, "query": query, "n": n, "dh": dh, "stages": stages,
               "labels": list(a.tokens), "dtype": "float32", "shape": [2 * n + 1, dh],
               "dot": [float(x) for x in dots], "scaled": [float(x) for x in scaled],
               "softmax": [float(x) for x in weights],
               "scale": score_scale(dots, unmasked, dh)}
    # one buffer, rows: q, then k_0 … k_{n-1}, then q∘k_0 … q∘k_{n-1}
    return content, [f32_bytes(torch.cat([q[None], keys, products]))]


LENS_K = 3  # the lens panel's tokens per cell: the top one shown, the k most likely in its tooltip
LENS_MAX_K = 10


def lens_table(lens: Any) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The lens's tokens as (the distinct strings, each entry's index among them: uint32 (L+1)×n×k, probabilities:
    float32 (L+1)×n×k): a token that is the answer in many cells is written once."""
    vocab: dict[str, int] = {}
    index = [vocab.setdefault(tok, len(vocab)) for layer in lens.tokens for row in layer for tok in row]
    ids = np.asarray(index, dtype="<u4").reshape(tuple(lens.ids.shape))
    return list(vocab), ids, np.ascontiguousarray(lens.probs.numpy(), dtype="<f4")


def _lens_reply(a: Any, req: dict[str, Any]) -> tuple[dict[str, Any], list[bytes]]:
    """The logit lens (``logit_lens.py``): the top-k tokens and their probabilities of every hidden state (rows:
    the embeddings, then each layer's output) at every position."""
    k = req.get("k")
    if not isinstance(k, int) or not 1 <= k <= LENS_MAX_K:
        raise InputError(f"k of a lens request must be in 1..{LENS_MAX_K}, got {_short(k)}.")
    from .logit_lens import logit_lens

    lens = logit_lens(a, k)
    vocab, ids, probs = lens_table(lens)
    content = {"what": "lens", "k": k, "kind": lens.what, "rows": lens.rows, "shape": list(ids.shape),
               "vocab": vocab, "dtype": ["uint32", "float32"]}
    return content, [ids.tobytes(), probs.tobytes()]


def request_key(req: dict[str, Any]) -> str:
    """The one key of a request (docs/PROTOCOL.md, "Request keys"; js/client.ts requestKey is the browser's):
    the exported page files its replies under it."""
    what = req.get("what")
    fields = {"layer": ("variant", "layer"), "overview": ("variant",), "stage": ("stage", "layer", "head"),
              "row": ("layer", "head", "query"), "lens": ("k",)}.get(str(what), ())
    return "|".join([str(what), *(str(req.get(f)) for f in fields)])


_HANDLERS = {"layer": _layer_reply, "overview": _overview_reply, "stage": _stage_reply, "row": _row_reply,
             "lens": _lens_reply}
# the fields a request may carry, with their types: anything else is refused before a handler runs
_FIELDS: dict[str, dict[str, type]] = {
    "layer": {"variant": str, "layer": int},
    "overview": {"variant": str},
    "stage": {"stage": str, "layer": int, "head": int},
    "row": {"layer": int, "head": int, "query": int},
    "lens": {"k": int},
}
MAX_ID = 2**53  # ids are JavaScript numbers
MAX_TEXT = 80  # a string field longer than this names nothing this widget has


def _short(value: Any) -> str:
    """A bounded repr for error messages: a request is never echoed back whole."""
    text = repr(value)
    return text if len(text) <= MAX_TEXT else f"{text[:MAX_TEXT]}… ({len(text)} characters)"


def _malformed(request: Any) -> str | None:
    """Why a message is not a well-formed request, or None when it is."""
    if not isinstance(request, dict):
        return f"a request is a JSON object, got {type(request).__name__}"
    if request.get("type") != "request":
        return f"type must be 'request', got {_short(request.get('type'))}"
    rid = request.get("id")
    if isinstance(rid, bool) or not isinstance(rid, int) or not -MAX_ID <= rid <= MAX_ID:
        return f"id must be an integer, got {_short(rid)}"
    what = request.get("what")
    if not isinstance(what, str) or what not in _FIELDS:
        return f"what must be one of {', '.join(_FIELDS)}, got {_short(what)}"
    for key, kind in _FIELDS[what].items():
        value = request.get(key)
        if value is None and key in ("layer", "head") and what == "stage":
            continue  # a stage without a layer (head) axis is asked for at 0
        if isinstance(value, bool) or not isinstance(value, kind):
            return f"{key} of a {what} request must be {'an integer' if kind is int else 'a string'}, got {_short(value)}"
        if isinstance(value, str) and len(value) > MAX_TEXT:
            return f"{key} of a {what} request is too long ({len(value)} characters)"
    return None


def answer(a: Any, request: Any) -> tuple[dict[str, Any], list[bytes]]:
    """The reply (content, buffers) to one message of the browser; an error reply, at once, for a bad one.

    A reply never echoes the request back beyond a bounded repr of the offending field, and its JSON part is
    strict JSON (non-finite floats as strings, see ``json_safe``).
    """
    rid = request.get("id") if isinstance(request, dict) else None
    if isinstance(rid, bool) or not isinstance(rid, int) or not -MAX_ID <= rid <= MAX_ID:
        rid = None  # not an id the browser could have sent: nobody waits for it
    problem = _malformed(request)
    if problem is not None:
        return {"type": "error", "id": rid, "message": f"Not a request this widget answers: {problem}."}, []
    try:
        content, buffers = _HANDLERS[request["what"]](a, request)
    except TransEasyError as err:
        return {"type": "error", "id": rid, "message": _bounded(str(err))}, []
    return json_safe({"type": "reply", "id": rid, **content}), buffers


def _bounded(message: str, limit: int = 1000) -> str:
    return message if len(message) <= limit else message[:limit] + "…"
