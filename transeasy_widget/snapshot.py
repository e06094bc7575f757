"""The widget's picture for front ends that cannot run it: the ``text/html`` of its display bundle.

A front end shows the richest part of a display bundle it can render. With a widget manager and a live kernel
that is the widget; without one (JupyterLab and Notebook 7 reopening a saved notebook, VS Code without a
kernel, GitHub, nbviewer) it is this: the overview of every head and the selected head's heatmap as small
palette PNGs (one byte a pixel, zlib), coloured with the widget's own light ramp (js/colors.ts), the colour bar
with its two end values, and "run the cell to explore further". It shows the selection the widget had when it
was displayed. The overview comes from the first paint already packed for the widget (nothing recomputed); the
heatmap is Python's value of the selected layer's attention (that layer was computed for the first paint).
"""

from __future__ import annotations

import base64
import html
import struct
import zlib
from typing import Any

import numpy as np
import torch

from .pack import LEVEL, chunk
from .payload import block_mean

LUT_SIZE = 256  # js/colors.ts LUT_SIZE
# js/colors.ts sequentialStops on the light (white) background: the widget's ramp, low → high
STOPS = np.array([[255, 255, 255], [158, 202, 225], [49, 130, 189], [8, 48, 107]], dtype=np.float64)
HEATMAP_PX = 384  # the heatmap's side in pixels (whole pixels per cell); larger maps are 1 pixel a cell
MAX_CELLS = 512  # above this many rows, the heatmap shows the means of square blocks
THUMB_PX = 36  # an overview thumbnail's side, about
GAP = 2
BAR = (LUT_SIZE, 10)
MESSAGE = "run the cell to explore further"


def ramp() -> np.ndarray:
    """LUT_SIZE × 3 uint8: js/colors.ts rampRGBA(sequentialStops(white)), entry for entry."""
    segments = len(STOPS) - 1
    t = np.arange(LUT_SIZE) / (LUT_SIZE - 1) * segments
    k = np.minimum(segments - 1, np.floor(t)).astype(int)
    f = (t - k)[:, None]
    # JavaScript's Math.round: halves go up
    return np.floor(STOPS[k] + (STOPS[k + 1] - STOPS[k]) * f + 0.5).astype(np.uint8)


def lut_index(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """js/colors.ts lutIndex: floor((v − lo) / (hi − lo) · 256), clamped; NaN → 0."""
    if not hi > lo:
        return np.zeros(values.shape, np.uint8)
    with np.errstate(invalid="ignore"):
        i = np.floor((values - lo) / (hi - lo) * LUT_SIZE)
    return np.clip(np.nan_to_num(i, nan=0.0), 0, LUT_SIZE - 1).astype(np.uint8)


def png(indices: np.ndarray, palette: np.ndarray) -> bytes:
    """An 8-bit palette PNG (colour type 3) of a 2-D array of palette indices."""
    rows, cols = indices.shape
    raw = np.zeros((rows, cols + 1), np.uint8)  # filter byte 0 (none) before each row
    raw[:, 1:] = indices

    def part(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + part(b"IHDR", struct.pack(">IIBBBBB", cols, rows, 8, 3, 0, 0, 0))
            + part(b"PLTE", palette.astype(np.uint8).tobytes()) + part(b"IDAT", zlib.compress(raw.tobytes(), LEVEL))
            + part(b"IEND", b""))


def _img(indices: np.ndarray, alt: str) -> str:
    data = base64.b64encode(png(indices, ramp())).decode("ascii")
    rows, cols = indices.shape
    return f'<img src="data:image/png;base64,{data}" width="{cols}" height="{rows}" alt="{html.escape(alt)}">'


def overview_indices(thumbs: np.ndarray, scale: float) -> np.ndarray:
    """L×H×t×t weights → one image: each head's thumbnail (a whole number of pixels a cell), GAP pixels apart."""
    layers, heads, t, _ = thumbs.shape
    zoom = max(1, THUMB_PX // t)
    side = t * zoom
    out = np.zeros((layers * (side + GAP) - GAP, heads * (side + GAP) - GAP), np.uint8)
    for layer in range(layers):
        for head in range(heads):
            cell = lut_index(thumbs[layer, head], 0.0, scale).repeat(zoom, 0).repeat(zoom, 1)
            out[layer * (side + GAP):layer * (side + GAP) + side, head * (side + GAP):head * (side + GAP) + side] = cell
    return out


def heatmap_indices(values: np.ndarray, lo: float, hi: float) -> tuple[np.ndarray, int]:
    """m×m values → (the image, how many rows and columns one cell averages)."""
    m = values.shape[0]
    step = max(1, -(-m // MAX_CELLS))
    if step > 1:
        values = block_mean(torch.as_tensor(values), step, step).numpy()
    zoom = max(1, HEATMAP_PX // values.shape[0])
    return lut_index(values, lo, hi).repeat(zoom, 0).repeat(zoom, 1), step


def _overview(w: Any) -> np.ndarray | None:
    """The overview thumbnails of the widget's variant (L×H×t×t, 0 … 1), read back from its packed first paint."""
    saved = w._first_paint
    entry = saved["manifest"]["attention"]["overview"].get(w.variant)
    if entry is None:
        return None
    content = entry["content"]
    q = np.frombuffer(chunk(saved["data"], saved["manifest"]["chunks"], entry["chunk"]), np.uint8)
    return q.reshape(content["shape"]).astype(np.float32) / 255 * float(content["vmax"])


def fallback_html(w: Any) -> str:
    """The picture of ``w`` (an AttentionWidget) as it is now: overview, heatmap, colour bar, the message."""
    a, layer, head, variant = w.analysis, w.layer, w.head, w.variant
    values = a.attentions.layer(variant, layer)[head].detach().to(torch.float32).numpy()
    hi = float(values.max()) if w.color_scale == "head" else 1.0
    heat, step = heatmap_indices(values, 0.0, hi)
    labels = a.attentions.labels(variant)
    shown = ", ".join(html.escape(str(t)) for t in labels[:64]) + (" …" if len(labels) > 64 else "")
    thumbs = _overview(w)
    esc = html.escape
    parts = [
        '<div class="tw-fallback" style="font: 12px sans-serif; color: #333">',
        f"<p><b>transeasy-widget</b> · {esc(str(a.model_name))} · {len(a.tokens)} tokens. A picture saved with the "
        f"notebook: <b>{MESSAGE}</b>.</p>",
        '<div style="display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start">',
    ]
    if thumbs is not None:
        parts.append(f"<div><p>Heads · {esc(variant)} (a row per layer, a column per head)</p>"
                     f"{_img(overview_indices(thumbs, 1.0), f'overview of every head, {variant}')}</div>")
    note = f" (each cell the mean of {step} × {step})" if step > 1 else ""
    parts += [
        f"<div><p>Attention · layer {layer} · head {head} · {esc(variant)}{note}</p>",
        f"<p>0.000 {_img(np.tile(np.arange(LUT_SIZE, dtype=np.uint8), (BAR[1], 1)), 'colour bar')} "
        f"{hi:.3f}</p>",
        _img(heat, f"attention heatmap, layer {layer}, head {head}, {variant}"),
        f"<p>Rows attend to columns, in this order: {shown}</p></div>",
        "</div></div>",
    ]
    return "".join(parts)
