"""The anywidget: the selection (layer, head, token, variant, stage) as validated traits synced both ways.

Traits carry the selection and small metadata only; tensors travel on request as binary buffers
(``payload.answer``), so nothing is sent for views nobody looked at (docs/PROTOCOL.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anywidget
import traitlets

from .payload import THUMB, answer
from .stages import diagram_steps

STATIC = Path(__file__).parent / "static"


def _bundle(name: str) -> Path:
    path = STATIC / name
    if not path.exists():
        raise FileNotFoundError(
            f"The widget's front end ({path}) is not built: run `npm ci && npm run build` in the repository, "
            "or reinstall the package (`pip install .` builds it).")
    return path


def widget_meta(a: Any) -> dict[str, Any]:
    """Everything the front end needs before any tensor: sizes, labels of every variant, the stage registry."""
    sizes, att = a.trace.sizes, a.attentions
    return {
        "model_name": a.model_name, "family": a.family,
        "n_layers": sizes["L"], "n_heads": sizes["H"], "n_tokens": sizes["n"],
        "tokens": a.tokens, "segments": list(a.encoding.segment_ids), "special": list(a.encoding.special),
        # the special-token flag of every row: only raw keeps special tokens (the other variants drop them)
        "variants": {v: {"labels": att.labels(v), "segments": att.segments(v),
                         "special": list(a.encoding.special) if v == "raw" else [False] * len(att.labels(v))}
                     for v in att.VARIANTS},
        "thumb": THUMB,
        "stages": [{"name": s.name, "group": s.group, "dims": list(s.dims), "shape": list(a.trace.shape(s.name)),
                    "formula": s.formula, "meaning": s.meaning, "kind": s.kind, "per_layer": s.per_layer,
                    "per_head": s.per_head} for s in a.trace.stages],
        "steps": diagram_steps({s.name for s in a.trace.stages}),
    }


# The panels a widget can show; the default view keeps the stage viewer and the row view closed (they open from
# the control bar, or with ``a.widget(panels=[...])``).
PANELS = ("overview", "heatmap", "arcs", "row", "stages")
DEFAULT_PANELS = ["overview", "heatmap", "arcs"]
# How attention maps are coloured: "fixed" 0 … 1 for every head (comparable across heads), or "head": 0 … that
# head's largest weight (shows the pattern of a diffuse head, but a dark cell means different values in two heads).
COLOR_SCALES = ("fixed", "head")


class AttentionWidget(anywidget.AnyWidget):
    """Linked attention views of one analysis; ``layer``, ``head``, ``token``, ``variant``, ``stage`` sync both ways,
    ``panels`` (which views show) and ``color_scale`` (fixed 0 … 1 or per head) are remembered with it."""

    _esm = _bundle("widget.js")
    _css = _bundle("widget.css")

    layer = traitlets.Int(0).tag(sync=True)
    head = traitlets.Int(0).tag(sync=True)
    token = traitlets.Int(-1).tag(sync=True)
    variant = traitlets.Unicode("raw").tag(sync=True)
    arcs_all_heads = traitlets.Bool(False).tag(sync=True)
    stage = traitlets.Unicode("selfattn_attention").tag(sync=True)
    panels = traitlets.List(traitlets.Unicode(), default_value=DEFAULT_PANELS).tag(sync=True)
    color_scale = traitlets.Unicode("fixed").tag(sync=True)
    meta = traitlets.Dict().tag(sync=True)

    def __init__(self, analysis: Any, **selection: Any):
        self._analysis = analysis
        super().__init__(meta=widget_meta(analysis))
        for name, value in selection.items():  # validated like any later assignment
            setattr(self, name, value)
        self.on_msg(self._on_request)

    @property
    def analysis(self) -> Any:
        return self._analysis

    def _on_request(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "request":
            reply, buffers = answer(self._analysis, content)
            self.send(reply, buffers)

    def _size(self, key: str) -> int:
        return int(self.meta["n_layers" if key == "layer" else "n_heads"])

    def _labels(self, variant: str | None = None) -> list[str]:
        return list(self.meta["variants"][variant or self.variant]["labels"])

    @traitlets.validate("layer", "head")
    def _valid_index(self, proposal: Any) -> int:
        key, value = proposal["trait"].name, proposal["value"]
        size = self._size(key)
        if not 0 <= value < size:
            raise traitlets.TraitError(f"{key} must be in 0..{size - 1} (this model has {size} {key}s), got {value}.")
        return int(value)

    @traitlets.validate("token")
    def _valid_token(self, proposal: Any) -> int:
        value, m = proposal["value"], len(self._labels())
        if not -1 <= value < m:
            raise traitlets.TraitError(
                f"token must be -1 (none) or in 0..{m - 1} (the {self.variant} view has {m} rows), got {value}.")
        return int(value)

    @traitlets.validate("variant")
    def _valid_variant(self, proposal: Any) -> str:
        value = proposal["value"]
        variants = list(self.meta["variants"])
        if value not in variants:
            raise traitlets.TraitError(f"variant must be one of {', '.join(variants)}, got {value!r}.")
        return str(value)

    @traitlets.observe("variant")
    def _keep_token_in_range(self, change: Any) -> None:
        if self.token >= len(self._labels(change["new"])):
            self.token = -1

    @traitlets.validate("panels")
    def _valid_panels(self, proposal: Any) -> list[str]:
        value = proposal["value"]
        if not all(isinstance(p, str) and p in PANELS for p in value):
            raise traitlets.TraitError(f"panels must be a list of {', '.join(PANELS)}, got {value!r}.")
        return [p for p in PANELS if p in value]  # in display order, each once

    @traitlets.validate("color_scale")
    def _valid_color_scale(self, proposal: Any) -> str:
        value = proposal["value"]
        if value not in COLOR_SCALES:
            raise traitlets.TraitError(f"color_scale must be one of {', '.join(COLOR_SCALES)}, got {value!r}.")
        return str(value)

    @traitlets.validate("stage")
    def _valid_stage(self, proposal: Any) -> str:
        value = proposal["value"]
        names = [s["name"] for s in self.meta["stages"]]
        if value not in names:
            raise traitlets.TraitError(f"stage must be one of the registry's stages ({', '.join(names)}), got {value!r}.")
        return str(value)
