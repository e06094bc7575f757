"""The widget's variant switch: the five attention variants and the six views beyond attention weights, in one list.

Each entry says what the widget needs to show it (docs/PROTOCOL.md, ``meta.variants``): its group ("attention" or
"contributions", the switch's two option groups), whether it has one matrix per head (``per_head``; a per-layer view
sends 1×n×n and the widget shows "per layer" where a head would be), its colour scale (``scale``: "unit", the
fixed 0 … 1 of attention weights and row-normalised contributions; "max", 0 … the largest value of the layer,
for the norms, which have the units of the hidden states), a short title for the switch and the quantity's name for
the colour bar. ``layer(a, variant, l)`` reads one layer of any of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from .attention import VARIANTS as ATTENTION_VARIANTS
from .contributions import VIEWS
from .errors import InputError, check_index


@dataclass(frozen=True)
class Variant:
    name: str
    group: str  # "attention" or "contributions"
    per_head: bool
    scale: str  # "unit": 0 … 1; "max": 0 … the layer's largest value
    title: str  # in the variant switch
    quantity: str  # the colour bar's caption


_ATTENTION_TITLES = {"raw": "raw", "nosep": "no [CLS]/[SEP]", "nosep_linscale": "no specials, rows rescaled",
                     "nosep_softmax_scale": "no specials, softmax", "reduced": "words (reduced)"}
_CONTRIBUTIONS = {  # scale, title, quantity
    "norm": ("max", "‖αf(x)‖ per head", "‖α f(x)‖, 0 … layer max"),
    "norm_summed": ("max", "‖Σαf(x)‖ per layer", "‖Σ_h α f_h(x)‖, 0 … layer max"),
    "alti": ("unit", "ALTI", "ALTI contribution, 0 … 1"),
    "alti_rollout": ("unit", "ALTI rollout", "ALTI through layers 0..l, 0 … 1"),
    "rollout": ("unit", "attention rollout", "rollout through layers 0..l, 0 … 1"),
    "flow": ("unit", "attention flow", "attention flow, 0 … 1"),
}

WIDGET_VARIANTS: dict[str, Variant] = {
    **{v: Variant(v, "attention", True, "unit", _ATTENTION_TITLES[v], "attention weight, 0 … 1 for every head")
       for v in ATTENTION_VARIANTS},
    **{v: Variant(v, "contributions", VIEWS[v].per_head, *_CONTRIBUTIONS[v]) for v in VIEWS},
}


def check(variant: str) -> str:
    if variant not in WIDGET_VARIANTS:
        raise InputError(f"Unknown variant {variant!r}: choose one of the attention variants "
                         f"({', '.join(ATTENTION_VARIANTS)}) or the contribution views ({', '.join(VIEWS)}).")
    return variant


def is_contribution(variant: str) -> bool:
    return WIDGET_VARIANTS[check(variant)].group == "contributions"


def layer(a: Any, variant: str, index: int) -> torch.Tensor:
    """Layer ``index`` of any widget variant: H×m×m (attention, ``norm``) or 1×n×n (a per-layer view)."""
    if not is_contribution(variant):
        return a.attentions.layer(variant, index)
    index = check_index("layer", index, a.trace.sizes["L"])
    return a.attentions.contributions.layer(variant, index)


def labels(a: Any, variant: str) -> list[str]:
    return a.attentions.contributions.labels() if is_contribution(variant) else a.attentions.labels(variant)


def meta(a: Any) -> dict[str, dict[str, Any]]:
    """``meta.variants``: labels, segments and special-token flags of each variant's rows, and how to show it."""
    att = a.attentions
    out: dict[str, dict[str, Any]] = {}
    for name, v in WIDGET_VARIANTS.items():
        pieces = v.group == "contributions" or name == "raw"  # these keep every piece, special tokens included
        rows = labels(a, name)
        out[name] = {
            "labels": rows, "segments": att.segments("raw" if pieces else name),
            "special": list(a.encoding.special) if pieces else [False] * len(rows),
            "group": v.group, "per_head": v.per_head, "scale": v.scale, "title": v.title, "quantity": v.quantity,
            "through_layers": v.group == "contributions" and VIEWS[name].through_layers,
        }
    return out
