"""The compact binary form of an analysis's data: the exported page and the widget's saved first paint.

A pack is a manifest (JSON) and one ASCII text: the base64 of zlib streams ("chunks") laid end to end; the
manifest says where each chunk's base64 starts and ends. The browser undoes zlib natively
(``DecompressionStream("deflate")``); ``js/pack.ts`` reads packs, ``js/derive.ts`` derives the variants.

Attention: the RAW attention of each layer is held once; nosep, nosep_linscale, nosep_softmax_scale and reduced
are derived from it in the browser exactly as ``attention.py`` defines them. A layer's chunk (H heads, n pieces,
k kept pieces) is, little-endian:

- ``s``: float32 [H, n], each row's maximum;
- ``σ``: float32 [H, k], the exact sum of each kept row over the kept columns (nosep_linscale's divisor);
- ``q``: uint8 [H, n, n], ``round(255 · A / s)`` (per-row scaled 8-bit).

Error of what the browser shows, per value (before float16 on the way to the canvas, |x|·2⁻¹¹ more):

- raw, nosep: ``|Â − A| ≤ s / 510`` (half a step of the row's scale);
- nosep_linscale (Â / σ): ``≤ s / (510 σ)``; a row whose σ is 0 is uniform, as in Python;
- nosep_softmax_scale: ``|ŷ − y| ≤ y · (exp(s / 255) − 1)`` (the logits move by at most s/510 each);
- reduced: the mean over the row word's pieces of their linscale bounds, times the column word's piece count.

Contribution views (``contributions.py``; every value ≥ 0):

- ``norm`` is derived like the attention variants: ‖α^h_ij f_h(x_j)‖ = α^h_ij ‖f_h(x_j)‖, so a layer's chunk is
  only the column factors ``f`` float16 [H, n] (‖f_h(x_j)‖), and the browser multiplies the layer's raw attention
  by them: error ≤ f_hj · s_hi / 510 (the attention's, scaled), plus f16's 2⁻¹¹ relative. Its overview is derived
  too (max-pooled as ``payload.u8_thumbnails``, from every layer).
- a per-layer view held as matrices (norm_summed, alti, rollout, flow; every per-layer view in a first paint):
  ``s`` float32 [1] (the matrix's max), then ``q`` uint8 [1, n, n] = ``round(K · x / s)``, K = the entry's
  ``levels`` (255; 127 for norm_summed and rollout in a page, the two largest), stored column by column (q[j, i]:
  a column, one input token, varies less than a row: 10 % smaller). Error ≤ s / (2K) per value: s/510, or s/254,
  under half a pixel of the 96-pixel colour bar whose top is that max (the norms) or 1 (the rest, s ≤ 1). One
  scale per matrix, not per row: the near-zero rows of rollout and ALTI compress to almost nothing.
- ``norm_summed`` in a page, where that is smaller (``ratio_to_norm_sum`` names the layers): ``q`` as above but
  ``round(K · x / u)`` with u_ij = Σ_h ‖α^h_ij f_h(x_j)‖ ≥ x_ij (the triangle inequality), which the page computes
  from its ``norm``: error ≤ û_ij / (2K) + Σ_h f_hj s_hi / 510. Diffuse attention (a random model) makes the matrix
  itself incompressible but not this ratio; a trained model's is the other way round.
- ``alti_rollout`` is derived in a page, which holds every layer: R^l = C^l R^(l-1) with C^l the page's ALTI
  matrices (``js/derive.ts``): within 0.005 of Python's at 512 tokens on MiniLM (tests/browser reads the map
  against Python's). Attention rollout is held as matrices instead: multiplied out from the page's 8-bit attention
  it drifts by up to 0.08 (the many weights under half a step round to 0, in every layer).

Stage tensors (the 2-D slice the stage viewer shows): ``scale`` float32 [rows] (each row's max |x|), the row
norms float32, then ``q`` int8 [rows, cols] = ``round(127 · x / scale)``: error ≤ scale / 254 per value, on top of
the float16 the live widget sends. Stats and row norms are Python's, on the full slice.
"""

from __future__ import annotations

import base64
import zlib
from typing import Any

import numpy as np
import torch

LEVEL = 6  # zlib level: 9 is a few per cent smaller and several times slower to write


class Pack:
    """Chunks laid end to end as base64 text; ``add`` returns a chunk's index."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._spans: list[list[int]] = []
        self._end = 0

    def add(self, data: bytes, level: int = LEVEL) -> int:
        text = base64.b64encode(zlib.compress(data, level)).decode("ascii")
        self._parts.append(text)
        self._spans.append([self._end, self._end + len(text)])
        self._end += len(text)
        return len(self._spans) - 1

    @property
    def size(self) -> int:
        """Characters of base64 so far."""
        return self._end

    @property
    def spans(self) -> list[list[int]]:
        return self._spans

    def text(self) -> str:
        return "".join(self._parts)

    def mark(self) -> tuple[int, int]:
        return len(self._parts), self._end

    def rollback(self, mark: tuple[int, int]) -> None:
        """Forgets every chunk added after ``mark`` (a layer that did not fit)."""
        count, end = mark
        del self._parts[count:], self._spans[count:]
        self._end = end


def chunk(text: str | list[str], spans: list[list[int]], index: int) -> bytes:
    """The bytes of one chunk of a pack (what the browser gets after base64 and zlib). A span is [start, end] in
    the text, or [start, end, part] in one of several texts (the page puts the first paint's chunks first)."""
    start, end, *part = spans[index]
    texts = [text] if isinstance(text, str) else text
    return zlib.decompress(base64.b64decode(texts[part[0] if part else 0][start:end]))


def split(text: str, spans: list[list[int]], first: set[int]) -> tuple[list[str], list[list[int]]]:
    """The pack's text in two parts, the chunks ``first`` in part 0 and the others in part 1; the new spans."""
    parts: list[list[str]] = [[], []]
    ends = [0, 0]
    out: list[list[int]] = []
    for i, (start, end) in enumerate(spans):
        part = 0 if i in first else 1
        piece = text[start:end]
        parts[part].append(piece)
        out.append([ends[part], ends[part] + len(piece), part])
        ends[part] += len(piece)
    return ["".join(parts[0]), "".join(parts[1])], out


# -- attention ------------------------------------------------------------------------------------------------------


def attention_layer(att: torch.Tensor, kept: list[int]) -> bytes:
    """One layer's raw attention (H×n×n) as s | σ | q (see the module's docstring)."""
    x = att.detach().to("cpu", torch.float32)
    s = x.amax(dim=-1)
    q = torch.round(x / s.clamp_min(1e-30)[..., None] * 255).clamp(0, 255).to(torch.uint8)
    index = torch.tensor(kept, dtype=torch.long)
    sigma = x.index_select(-2, index).index_select(-1, index).sum(dim=-1)
    return (np.ascontiguousarray(s.numpy(), dtype="<f4").tobytes() + np.ascontiguousarray(sigma.numpy(), dtype="<f4").tobytes()
            + q.numpy().tobytes())


def view_layer(values: torch.Tensor, levels: int = 255) -> bytes:
    """One layer of a per-layer contribution view (1×n×n, ≥ 0) as s | q (see the module's docstring)."""
    x = values.detach().to("cpu", torch.float32)
    s = x.flatten(1).amax(dim=1)
    q = torch.round(x / s.clamp_min(1e-30)[:, None, None] * levels).clamp(0, levels).to(torch.uint8)
    return np.ascontiguousarray(s.numpy(), dtype="<f4").tobytes() + q.transpose(-1, -2).contiguous().numpy().tobytes()


def read_view_layer(data: bytes, heads: int, n: int, levels: int = 255) -> tuple[np.ndarray, np.ndarray]:
    """(x̂ as H'×n×n float32, s as H') from a per-layer view's chunk."""
    s = np.frombuffer(data, "<f4", heads)
    q = np.frombuffer(data, np.uint8, heads * n * n, offset=4 * heads).reshape(heads, n, n).transpose(0, 2, 1)
    return q.astype(np.float32) * (s[:, None, None] / levels), s


def ratio_layer(values: torch.Tensor, upper: torch.Tensor, levels: int = 255) -> bytes:
    """``norm_summed`` as its ratio to an upper bound (1×n×n each): q = round(levels · x / u), 0 where u is 0."""
    x, u = values.detach().to("cpu", torch.float32), upper.detach().to("cpu", torch.float32)
    ratio = torch.where(u > 0, x / u.clamp_min(1e-30), torch.zeros_like(x)).clamp(0, 1)
    return torch.round(ratio * levels).to(torch.uint8).transpose(-1, -2).contiguous().numpy().tobytes()


def column_factors(factors: torch.Tensor) -> bytes:
    """``norm``'s chunk: ‖f_h(x_j)‖ as float16 [H, n] (half the bytes of float32; 2⁻¹¹ relative)."""
    return np.ascontiguousarray(factors.detach().to("cpu", torch.float32).numpy(), dtype="<f2").tobytes()


def read_attention_layer(data: bytes, heads: int, n: int, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(Â as H×n×n float32, s as H×n, σ as H×k) from a layer's chunk."""
    s = np.frombuffer(data, "<f4", heads * n).reshape(heads, n)
    sigma = np.frombuffer(data, "<f4", heads * k, offset=4 * heads * n).reshape(heads, k)
    q = np.frombuffer(data, np.uint8, heads * n * n, offset=4 * heads * (n + k)).reshape(heads, n, n)
    return q.astype(np.float32) * (s[..., None] / 255), s, sigma


# -- stage slices ---------------------------------------------------------------------------------------------------


def stage_slice(values: np.ndarray, norms: list[float]) -> bytes:
    """A rows×cols slice as scale | norms | q (int8), see the module's docstring."""
    x = np.asarray(values, dtype=np.float32)
    finite = np.where(np.isfinite(x), x, 0.0)
    scale = np.abs(finite).max(axis=1) if x.size else np.zeros(x.shape[0], np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):
        q = np.round(finite / np.where(scale > 0, scale, 1.0)[:, None] * 127)
    return (np.ascontiguousarray(scale, "<f4").tobytes() + np.asarray(norms, "<f4").tobytes()
            + np.clip(q, -127, 127).astype(np.int8).tobytes())


def read_stage_slice(data: bytes, rows: int, cols: int, n_norms: int) -> tuple[np.ndarray, np.ndarray]:
    scale = np.frombuffer(data, "<f4", rows)
    norms = np.frombuffer(data, "<f4", n_norms, offset=4 * rows)
    q = np.frombuffer(data, np.int8, rows * cols, offset=4 * (rows + n_norms)).reshape(rows, cols)
    return q.astype(np.float32) * (scale[:, None] / 127), norms


def attention_info(a: Any) -> dict[str, Any]:
    """What the browser needs to derive the variants: the kept positions and each kept piece's word."""
    views = a.attentions
    kept = views.kept
    return {"kept": kept, "word_of_piece": [int(w) for w in views.alignment.word_of_pieces(kept)],
            "n_words": len(views.alignment.words)}
