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

from .attention import check_variant
from .errors import InputError, TransEasyError, check_index
from .stages import STAGES

THUMB = 24  # overview thumbnail side
# a stage slice larger than this is block-averaged before it is sent (4 MiB of float16)
MAX_VALUES = 1 << 21
MAX_SIDE = 4096


def f16_bytes(t: torch.Tensor) -> bytes:
    """Little-endian float16, C order. Error: at most |x|·2⁻¹¹ (normal range) or 2⁻²⁵ (below it)."""
    return np.ascontiguousarray(t.detach().cpu().to(torch.float32).numpy(), dtype="<f2").tobytes()


def from_f16(data: bytes, shape: tuple[int, ...]) -> np.ndarray:
    return np.frombuffer(data, dtype="<f2").astype(np.float32).reshape(shape)


def u8_thumbnails(att: torch.Tensor, side: int) -> tuple[bytes, list[float]]:
    """L×H×m×m → L×H×t×t uint8 (t = min(side, m)), each head block-averaged and scaled so 255 = its max."""
    layers, heads, m, _ = att.shape
    t = min(side, m)
    pooled = F.adaptive_avg_pool2d(att.reshape(layers * heads, 1, m, m).float(), t).reshape(layers * heads, t * t)
    scale = pooled.amax(dim=1).clamp_min(1e-12)
    q = torch.round(pooled / scale[:, None] * 255).to(torch.uint8)
    return q.numpy().tobytes(), [float(s) for s in scale]


def from_u8(data: bytes, shape: tuple[int, ...], scale: list[float]) -> np.ndarray:
    q = np.frombuffer(data, dtype=np.uint8).astype(np.float32).reshape(-1, shape[-2] * shape[-1])
    return (q / 255.0 * np.asarray(scale, dtype=np.float32)[:, None]).reshape(shape)


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
    variant = check_variant(str(req.get("variant")))
    layer = check_index("layer", req.get("layer"), a.trace.sizes["L"])
    att = a.attentions.layer(variant, layer)  # this layer only
    head = {"what": "layer", "variant": variant, "layer": layer, "dtype": "float16", "shape": list(att.shape)}
    return head, [f16_bytes(att)]


def _overview_reply(a: Any, req: dict[str, Any]) -> tuple[dict[str, Any], list[bytes]]:
    variant = check_variant(str(req.get("variant")))
    layers, heads = a.trace.sizes["L"], a.trace.sizes["H"]
    # layer by layer: one layer's attention at a time
    parts = [u8_thumbnails(a.attentions.layer(variant, layer)[None], THUMB) for layer in range(layers)]
    t = min(THUMB, len(a.attentions.labels(variant)))
    return {"what": "overview", "variant": variant, "dtype": "uint8", "shape": [layers, heads, t, t],
            "scale": [x for _, scale in parts for x in scale]}, [b"".join(data for data, _ in parts)]


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
        value = a.trace[name]
        text = a.tokens if name == "sym_tokens" else [str(value) if name == "sym_sent" else type(value).__name__]
        return {**base, "text": text}, []
    t, dims = stage_slice(a, name, layer, head)
    rows, cols = t.shape
    row_step, col_step = steps_for(rows, cols)
    sent = block_mean(t, row_step, col_step)
    # a decoder's masked scores hold -inf where the causal mask hides a key: stats and norms are of the other cells
    finite = torch.isfinite(t)
    masked = int(t.numel() - finite.sum())
    seen = t[finite] if masked else t
    if masked:
        t = t.masked_fill(~finite, 0.0)
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
        "note": "; ".join(filter(None, [
            f"aggregated: each cell is the mean of {row_step}×{col_step} values" if row_step * col_step > 1 else "",
            f"{masked} cells masked (-inf: the causal mask), left out of the statistics" if masked else "",
            f"X_{layer + 1}: the output of layer {layer} (X_0 is the embedding output)" if stage.dims[:1] == ("L+1",) else "",
        ])),
    }
    return reply, [f16_bytes(sent)]


_HANDLERS = {"layer": _layer_reply, "overview": _overview_reply, "stage": _stage_reply}


def answer(a: Any, request: dict[str, Any]) -> tuple[dict[str, Any], list[bytes]]:
    """The reply (content, buffers) to one request of the browser; an error reply for a bad request."""
    rid = request.get("id")
    handler = _HANDLERS.get(request.get("what"))  # type: ignore[arg-type]
    if request.get("type") != "request" or handler is None:
        return {"type": "error", "id": rid, "message": f"Not a request this widget answers: {request!r}"}, []
    try:
        content, buffers = handler(a, request)
    except TransEasyError as err:
        return {"type": "error", "id": rid, "message": str(err)}, []
    return {"type": "reply", "id": rid, **content}, buffers
