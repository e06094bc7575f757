"""Matplotlib figures of one attention head, in TransEasy's look; each call returns a new ``Figure``.

The figure is built without pyplot (``matplotlib.figure.Figure`` directly): nothing is left open, nothing is
shown; ``fig.savefig("head.pdf")`` (PNG, SVG, PDF, ...) or a notebook's display shows it. The look is
TransEasy's: ``matshow``, colormap Greens, a colorbar, tick labels "1 token" on the x axis (rotated 45°)
and "token 1" on the y axis, caption "Layer-1, Head-1" for layer 0, head 0. The figure grows and the font
shrinks with the number of tokens so that labels stay readable up to 128; beyond, every k-th is labelled.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from .attention import AttentionViews, check_variant
from .errors import check_index

MAX_LABELS = 128  # beyond this many rows, only every k-th is labelled
MAX_LABEL_CHARS = 16
_SIDE_PER_LABEL = 0.14  # inches of matrix per labelled row
_SIDE_MIN, _SIDE_MAX = 3.5, 18.0


class Viz:
    """TransEasy's figures: ``viz.raw(layer, head)``, ``viz.nosep_linscale(...)``, ``viz.nosep_linscale_reduced(...)``."""

    def __init__(self, views: AttentionViews):
        self.views = views

    def figure(self, variant: str, layer: int, head: int) -> Figure:
        """One head of any variant (``AttentionViews.VARIANTS``) as a figure."""
        matrix = self.views.get(check_variant(variant))
        layer = check_index("layer", layer, matrix.shape[0])
        head = check_index("head", head, matrix.shape[1])
        return attention_figure(matrix[layer, head], self.views.labels(variant), f"Layer-{layer + 1}, Head-{head + 1}",
                                self.views.segments(variant))

    def raw(self, layer: int, head: int) -> Figure:
        return self.figure("raw", layer, head)

    def nosep(self, layer: int, head: int) -> Figure:
        return self.figure("nosep", layer, head)

    def nosep_linscale(self, layer: int, head: int) -> Figure:
        return self.figure("nosep_linscale", layer, head)

    def nosep_softmax_scale(self, layer: int, head: int) -> Figure:
        return self.figure("nosep_softmax_scale", layer, head)

    def nosep_linscale_reduced(self, layer: int, head: int) -> Figure:
        """The word-level matrix (``attentions.reduced``) of one head."""
        return self.figure("reduced", layer, head)

    reduced = nosep_linscale_reduced

    def __repr__(self) -> str:
        return "<Viz: raw, nosep, nosep_linscale, nosep_softmax_scale, nosep_linscale_reduced (layer, head) → Figure>"


def attention_figure(matrix: torch.Tensor | np.ndarray, labels: Sequence[str], caption: str,
                     segments: Sequence[int] | None = None) -> Figure:
    """An m×m attention matrix as TransEasy draws it; thin lines between the two texts of a pair."""
    values = matrix.detach().float().cpu().numpy() if isinstance(matrix, torch.Tensor) else np.asarray(matrix, float)
    m = values.shape[0]
    step = max(1, math.ceil(m / MAX_LABELS))
    shown = list(range(0, m, step))
    side = min(_SIDE_MAX, max(_SIDE_MIN, _SIDE_PER_LABEL * len(shown)))
    font = min(10.0, max(5.0, 0.62 * 72 * side / len(shown)))  # 45° x labels: apart by pitch·sin 45° > the font
    names = [_short(label) for label in labels]
    longest = max((len(names[i]) + len(str(i + 1)) + 1 for i in shown), default=4)
    label_in = longest * font * 0.6 / 72  # inches a tick label takes
    fig = Figure(figsize=(side + label_in + 1.4, side + 0.75 * label_in + 0.6), layout="constrained")
    ax = fig.add_subplot()
    image = ax.matshow(values, cmap="Greens")
    fig.colorbar(image, ax=ax, shrink=0.8)
    ax.set_xticks(shown, [f"{i + 1} {names[i]}" for i in shown], rotation=45, ha="left", rotation_mode="anchor",
                  fontsize=font)
    ax.set_yticks(shown, [f"{names[i]} {i + 1}" for i in shown], fontsize=font)
    ax.tick_params(length=2 if step == 1 else 3)
    ax.set_xlabel(caption)
    if segments is not None:
        for i in range(1, m):
            if segments[i] != segments[i - 1]:
                ax.axhline(i - 0.5, color="0.5", linewidth=0.6)
                ax.axvline(i - 0.5, color="0.5", linewidth=0.6)
    return fig


def _short(label: str) -> str:
    label = " ".join(str(label).split()) or repr(label)
    return label if len(label) <= MAX_LABEL_CHARS else label[:MAX_LABEL_CHARS - 1] + "…"
