"""Matplotlib figures of the views beyond attention weights, in the look of ``viz.py``; each call returns a new Figure.

- ``contribution_figure(contributions, view, layer, head)``: one layer (and head, for ``norm``) of a view as
  ``viz.attention_figure`` draws an attention head (matshow, Greens, "0 token" / "token 0" labels, 0-based captions).
- ``weight_vs_norm_figure(per_layer)``: per layer, the share of attention that goes to [CLS], [SEP] and
  punctuation by weight (solid) and by norm (dashed), as in Kobayashi et al. (2020), Figure 4.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

from .attention import piece_segments
from .errors import InputError, check_index
from .viz import attention_figure

if TYPE_CHECKING:
    from .contributions import Contributions

_COLOURS = {"cls": "tab:green", "sep": "tab:blue", "punct": "tab:orange"}
_NAMES = {"cls": "[CLS]", "sep": "[SEP]", "punct": "punctuation"}


def contribution_figure(contributions: Contributions, view: str, layer: int, head: int | None = None) -> Figure:
    """One layer of a view as a matrix figure; ``head`` for the per-head view (``norm``), None otherwise."""
    from .contributions import VIEWS, check_view

    view = check_view(view)
    layer = check_index("layer", layer, contributions.num_layers)
    matrix = contributions.layer(view, layer)
    if VIEWS[view].per_head:
        if head is None:
            raise InputError(f"The {view} view has one matrix per head: pass head= (0..{matrix.shape[0] - 1}).")
        head = check_index("head", head, matrix.shape[0])
        caption = f"Layer-{layer}, Head-{head} (0-based) · {view}"
    else:
        if head is not None:
            raise InputError(f"The {view} view has one matrix per layer, not per head: leave head out.")
        head, caption = 0, f"Layer-{layer} (0-based) · {view}"
    return attention_figure(matrix[head], contributions.labels(), caption,
                            piece_segments(contributions.analysis.encoding))


def weight_vs_norm_figure(per_layer: Mapping[str, tuple[Sequence[float], Sequence[float]]], title: str = "") -> Figure:
    """Lines per layer: for each token kind (``cls``, ``sep``, ``punct``), its share by weight and by norm."""
    fig = Figure(figsize=(6.4, 4.4), layout="constrained")
    ax = fig.add_subplot()
    for kind, (by_weight, by_norm) in per_layer.items():
        layers = np.arange(len(by_weight))  # 0-based, as everywhere in the package
        colour, name = _COLOURS.get(kind, "0.3"), _NAMES.get(kind, kind)
        ax.plot(layers, by_weight, color=colour, marker="o", label=f"{name}, by weight α")
        ax.plot(layers, by_norm, color=colour, marker="s", linestyle="--", label=f"{name}, by norm ‖αf(x)‖")
        ax.set_xticks(layers)
    ax.set_xlabel("layer (0-based)")
    ax.set_ylabel("share of each row (mean over rows and heads)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    fig.legend(fontsize=8, ncols=max(1, len(per_layer)), loc="outside lower center")
    if title:
        ax.set_title(title, fontsize=10)
    return fig
