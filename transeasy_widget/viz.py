"""Matplotlib figures of one attention head, in TransEasy's look; each call returns a new ``AttentionFigure``.

An ``AttentionFigure`` is a ``matplotlib.figure.Figure`` built without pyplot: nothing is left open and a
script shows nothing; ``fig.savefig("head.pdf")`` (PNG, SVG, PDF, ...) writes it. In a notebook (Jupyter,
VS Code, Colab) it displays inline as an image wherever it is a cell's value or passed to ``display``,
with or without ``%matplotlib inline``, through its ``_repr_png_``.

The look is TransEasy's: ``matshow``, colour map Greens, a colour bar, tick labels "0 token" on the x axis
(rotated 45°) and "token 0" on the y axis. Unlike the original, every index is 0-based, as everywhere else in
the package, and the caption says so: ``viz.raw(2, 11)`` is captioned "Layer-2, Head-11 (0-based)" (TransEasy
wrote "Layer-3, Head-12" and numbered tokens from 1; pass ``caption=`` and ``labels=`` for another wording).
The figure grows and the font shrinks with the number of tokens so that labels stay readable up to 128;
beyond, every k-th is labelled.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.colors import Colormap
from matplotlib.figure import Figure

from .attention import AttentionViews, check_variant
from .errors import InputError, check_index

MAX_LABELS = 128  # beyond this many rows, only every k-th is labelled
MAX_LABEL_CHARS = 16
_SIDE_PER_LABEL = 0.14  # inches of matrix per labelled row
_SIDE_MIN, _SIDE_MAX = 3.5, 18.0
CMAP = "Greens"
_NAMES = {"raw": "raw", "nosep": "no [CLS]/[SEP]", "nosep_linscale": "no [CLS]/[SEP], linear scale",
          "nosep_softmax_scale": "no [CLS]/[SEP], softmax scale", "reduced": "words (linear scale, merged)"}


class AttentionFigure(Figure):
    """A matplotlib ``Figure`` that a notebook shows inline as PNG (a script shows nothing)."""

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
        return buffer.getvalue()


class Viz:
    """TransEasy's figures: ``viz.raw(layer, head)``, ``viz.nosep_linscale(...)``, ``viz.nosep_linscale_reduced(...)``
    (and ``nosep``, ``nosep_softmax_scale``); layer and head 0-based. Each takes the options of ``figure``."""

    def __init__(self, views: AttentionViews):
        self.views = views

    def figure(self, variant: str, layer: int, head: int, *, caption: str | None = None, cmap: str | Colormap = CMAP,
               vmin: float | None = None, vmax: float | None = None,
               labels: Sequence[str] | None = None) -> AttentionFigure:
        """One head of any variant (``AttentionViews.VARIANTS``) as a figure.

        ``caption``: the text under the matrix (default "Layer-2, Head-11 (0-based) · <variant>"; "" for none).
        ``cmap``: a matplotlib colour map or its name (default Greens). ``vmin``/``vmax``: the value range the
        colours span (default: the head's own minimum and maximum; e.g. 0 and 1 to compare heads).
        ``labels``: the row/column names, one per row (default: the tokens or words, numbered from 0).
        """
        matrix = self.views.get(check_variant(variant))
        layer = check_index("layer", layer, matrix.shape[0])
        head = check_index("head", head, matrix.shape[1])
        if caption is None:
            caption = f"Layer-{layer}, Head-{head} (0-based) · {_NAMES[variant]}"
        return attention_figure(matrix[layer, head], self.views.labels(variant), caption, self.views.segments(variant),
                                cmap=cmap, vmin=vmin, vmax=vmax, labels=labels)

    def raw(self, layer: int, head: int, **options: Any) -> AttentionFigure:
        return self.figure("raw", layer, head, **options)

    def nosep(self, layer: int, head: int, **options: Any) -> AttentionFigure:
        return self.figure("nosep", layer, head, **options)

    def nosep_linscale(self, layer: int, head: int, **options: Any) -> AttentionFigure:
        return self.figure("nosep_linscale", layer, head, **options)

    def nosep_softmax_scale(self, layer: int, head: int, **options: Any) -> AttentionFigure:
        return self.figure("nosep_softmax_scale", layer, head, **options)

    def nosep_linscale_reduced(self, layer: int, head: int, **options: Any) -> AttentionFigure:
        """The word-level matrix (``attentions.reduced``) of one head."""
        return self.figure("reduced", layer, head, **options)

    reduced = nosep_linscale_reduced

    def __repr__(self) -> str:
        return ("<Viz: raw, nosep, nosep_linscale, nosep_softmax_scale, nosep_linscale_reduced (layer, head, 0-based; "
                "caption=, cmap=, vmin=, vmax=, labels=) → AttentionFigure>")


def attention_figure(matrix: torch.Tensor | np.ndarray, names: Sequence[str], caption: str,
                     segments: Sequence[int] | None = None, *, cmap: str | Colormap = CMAP, vmin: float | None = None,
                     vmax: float | None = None, labels: Sequence[str] | None = None) -> AttentionFigure:
    """An m×m attention matrix as TransEasy draws it, positions numbered from 0; thin lines between the two texts
    of a pair. ``labels`` replaces the numbered ``names`` as they are."""
    values = matrix.detach().float().cpu().numpy() if isinstance(matrix, torch.Tensor) else np.asarray(matrix, float)
    m = values.shape[0]
    colours = _colormap(cmap)
    _check_range(vmin, vmax)
    if labels is not None:
        if isinstance(labels, str) or not isinstance(labels, Sequence) or len(labels) != m:
            got = f"{len(labels)} labels" if isinstance(labels, Sequence) and not isinstance(labels, str) else repr(labels)
            raise InputError(f"labels= must be a list of {m} strings, one per row of this matrix; got {got}.")
        xs = ys = [_short(label) for label in labels]
    else:
        short = [_short(name) for name in names]
        xs = [f"{i} {name}" for i, name in enumerate(short)]
        ys = [f"{name} {i}" for i, name in enumerate(short)]
    step = max(1, math.ceil(m / MAX_LABELS))
    shown = list(range(0, m, step))
    side = min(_SIDE_MAX, max(_SIDE_MIN, _SIDE_PER_LABEL * len(shown)))
    font = min(10.0, max(5.0, 0.62 * 72 * side / len(shown)))  # 45° x labels: apart by pitch·sin 45° > the font
    longest = max((len(xs[i]) for i in shown), default=4)
    label_in = longest * font * 0.6 / 72  # inches a tick label takes
    fig = AttentionFigure(figsize=(side + label_in + 1.4, side + 0.75 * label_in + 0.6), layout="constrained")
    ax = fig.add_subplot()
    image = ax.matshow(values, cmap=colours, vmin=vmin, vmax=vmax)
    fig.colorbar(image, ax=ax, shrink=0.8)
    ax.set_xticks(shown, [xs[i] for i in shown], rotation=45, ha="left", rotation_mode="anchor", fontsize=font)
    ax.set_yticks(shown, [ys[i] for i in shown], fontsize=font)
    ax.tick_params(length=2 if step == 1 else 3)
    ax.set_xlabel(caption)
    if segments is not None:
        for i in range(1, m):
            if segments[i] != segments[i - 1]:
                ax.axhline(i - 0.5, color="0.5", linewidth=0.6)
                ax.axvline(i - 0.5, color="0.5", linewidth=0.6)
    return fig


def _colormap(cmap: str | Colormap) -> Colormap:
    if isinstance(cmap, Colormap):
        return cmap
    if isinstance(cmap, str) and cmap in colormaps:
        return colormaps[cmap]
    raise InputError(f"cmap={cmap!r} is not a matplotlib colour map: pass a name such as 'Greens', 'viridis', "
                     "'magma' or 'Blues_r' (list(matplotlib.colormaps) has them all), or a Colormap.")


def _check_range(vmin: float | None, vmax: float | None) -> None:
    for name, value in (("vmin", vmin), ("vmax", vmax)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)):
            raise InputError(f"{name}= must be a finite number or None, got {value!r}.")
    if vmin is not None and vmax is not None and vmin >= vmax:
        raise InputError(f"vmin={vmin} must be below vmax={vmax}.")


def _short(label: str) -> str:
    label = " ".join(str(label).split()) or repr(label)
    return label if len(label) <= MAX_LABEL_CHARS else label[:MAX_LABEL_CHARS - 1] + "…"
