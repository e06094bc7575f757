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


def first_paint(a: Any, layer: int, variant: str) -> dict[str, Any]:
    """A pack (pack.py) with the overview of ``variant`` and the raw attention of ``layer`` (any attention variant of
    it derives from that, and so does the selfattn_attention stage of that layer); for a contribution view, that
    view's layer and overview too (or nothing of it where the analysis refuses it: the kernel then says why)."""
    from .export import attention_pack, attention_stage, contributions_pack
    from .pack import Pack
    from .variants import is_contribution

    pack = Pack()
    manifest: dict[str, Any] = {"version": 1, "n_layers": a.trace.sizes["L"], "n_heads": a.trace.sizes["H"]}
    contribution = is_contribution(variant)
    manifest["attention"] = attention_pack(a, pack, [layer], [] if contribution else [variant])
    if contribution:
        manifest["contributions"] = contributions_pack(a, pack, [layer], [variant], page=False)
        manifest["contributions"]["unavailable"] = {}  # the kernel answers those, with its message
    manifest["attention_stage"] = attention_stage(a)
    manifest["chunks"] = pack.spans
    return {"manifest": manifest, "data": pack.text()}


def widget_meta(a: Any) -> dict[str, Any]:
    """Everything the front end needs before any tensor: sizes, labels of every variant, the stage registry."""
    from . import variants
    from .causal import causal_meta, word_pieces

    sizes = a.trace.sizes
    shown = variants.meta(a)
    # the raw positions [first, last] of each word's pieces: where a word row sits under the causal mask, and
    # which word a lens column belongs to
    shown["reduced"]["pieces"] = word_pieces(a)
    return {
        "model_name": a.model_name, "family": a.family,
        "n_layers": sizes["L"], "n_heads": sizes["H"], "n_tokens": sizes["n"],
        "tokens": a.tokens, "segments": list(a.encoding.segment_ids), "special": list(a.encoding.special),
        # every variant's rows (raw and the contribution views keep the special tokens) and how to show it
        "variants": shown,
        "thumb": THUMB,
        "stages": [{"name": s.name, "group": s.group, "dims": list(s.dims), "shape": list(a.trace.shape(s.name)),
                    "formula": s.formula, "meaning": s.meaning, "kind": s.kind, "per_layer": s.per_layer,
                    "per_head": s.per_head} for s in a.trace.stages],
        "steps": diagram_steps({s.name for s in a.trace.stages}),
        **causal_meta(a),  # causal (the mask's windows) or None, kv_heads or None, lens or None
    }


# The panels a widget can show; the default view keeps the stage viewer, the row view and the ablation panel closed
# (they open from the control bar, or with ``a.widget(panels=[...])``). The logit lens shows by default where the
# model has an output head to read hidden states through (a causal LM's unembedding, a …ForMaskedLM's MLM head) and
# the input is at most LENS_AUTO_TOKENS long: there it is the model's own prediction, the first thing a person asks
# of a decoder, computed in a few seconds (every hidden state × the vocabulary: about 5 s for SmolLM2 at 128 tokens
# on two cores); a longer input opens it from the control bar, and a model without a head could only say "no head".
PANELS = ("overview", "heatmap", "arcs", "row", "lens", "stages", "ablation")
DEFAULT_PANELS = ["overview", "heatmap", "arcs"]
LENS_AUTO_TOKENS = 128
# How attention maps are coloured: "fixed" 0 … 1 for every head (comparable across heads), or "head": 0 … that
# head's largest weight (shows the pattern of a diffuse head, but a dark cell means different values in two heads).
COLOR_SCALES = ("fixed", "head")


INDICES = ("layer", "head", "token")


def _refuse_bool_index(name: str, value: Any) -> None:
    if name in INDICES and isinstance(value, bool):
        raise traitlets.TraitError(f"{name} must be an integer, got {value!r}.")


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
    panels = traitlets.List(traitlets.Unicode()).tag(sync=True)  # default: DEFAULT_PANELS, and the lens (above)
    color_scale = traitlets.Unicode("fixed").tag(sync=True)
    # the heads ablated together, [[layer, head], ...] (ablation.py): the widget shows the effect of ablating them
    ablated: traitlets.List[list[int]] = traitlets.List(default_value=[]).tag(sync=True)
    ablation_mode = traitlets.Unicode("zero").tag(sync=True)  # "zero" or "mean" (over this text's positions)
    # Python → browser only: read-only here, and refused from the front end (set_state)
    meta = traitlets.Dict(read_only=True).tag(sync=True)

    # What the first paint needs, in the page's compact form (pack.py): the overview of the selected variant and
    # the raw attention of the selected layer. Saved with the notebook's widget state, it paints the widget
    # without a kernel (a reopened notebook, nbconvert's HTML); it follows the selection. Python → browser only.
    _first_paint = traitlets.Dict(read_only=True).tag(sync=True)

    SELECTION = ("layer", "head", "token", "variant", "arcs_all_heads", "stage", "panels", "color_scale", "ablated",
                 "ablation_mode")

    def __init__(self, analysis: Any, **selection: Any):
        self._analysis = analysis
        self._effects: dict[str, dict[str, Any]] = {}  # the ablation effects computed, by key (the page holds them)
        super().__init__()
        self.select(**selection)
        self.on_msg(self._on_request)

    @traitlets.default("meta")
    def _meta(self) -> dict[str, Any]:
        return widget_meta(self._analysis)

    @traitlets.default("panels")
    def _panels_default(self) -> list[str]:
        shown = self.meta.get("lens") is not None and self.meta["n_tokens"] <= LENS_AUTO_TOKENS
        return DEFAULT_PANELS + (["lens"] if shown else [])

    @traitlets.default("_first_paint")
    def _first_paint_default(self) -> dict[str, Any]:
        return first_paint(self._analysis, self.layer, self.variant)

    @traitlets.observe("layer", "variant")
    def _follow_selection(self, _change: Any) -> None:
        if "_first_paint" in self._trait_values:  # not before it was first sent
            self.set_trait("_first_paint", first_paint(self._analysis, self.layer, self.variant))

    def select(self, **selection: Any) -> AttentionWidget:
        """Sets the selection traits (validated like any assignment); an unknown keyword is a TypeError."""
        unknown = [k for k in selection if k not in self.SELECTION]
        if unknown:
            raise TypeError(f"Unknown widget keyword{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}: "
                            f"the selection keywords are {', '.join(self.SELECTION)} (meta is set from the analysis).")
        for name, value in selection.items():  # held notifications skip a validator when == holds (False == 0)
            _refuse_bool_index(name, value)
        with self.hold_trait_notifications():
            for name, value in selection.items():
                setattr(self, name, value)
        return self

    def set_state(self, sync_data: dict[str, Any]) -> None:
        """An update from the front end. ``meta`` is refused, and so is any value a validator refuses; each refused
        trait's valid value is sent back, so the browser shows what the kernel holds instead of what it asked for."""
        refused = [k for k, v in sync_data.items()
                   if k in ("meta", "_first_paint") or (k in INDICES and isinstance(v, bool))]
        data = {k: v for k, v in sync_data.items() if k not in refused}
        try:
            super().set_state(data)
        except traitlets.TraitError:  # nothing was applied (traitlets rolls back): take the valid keys one by one
            for name, value in data.items():
                try:
                    super().set_state({name: value})
                except traitlets.TraitError:
                    refused.append(name)
        if refused:
            self.send_state(refused)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """anywidget's bundle plus a picture (``text/html``, snapshot.py) for front ends that cannot run the widget:
        a reopened notebook, VS Code without a kernel, GitHub, nbviewer."""
        from .snapshot import fallback_html

        bundle = super()._repr_mimebundle_(**kwargs)
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        if isinstance(data, dict):
            try:
                data["text/html"] = fallback_html(self)
            except Exception:  # a defect in the picture must not keep the widget from showing: said in the log
                self.log.exception("transeasy-widget: the saved picture (text/html) could not be made; left out")
        return bundle

    @property
    def analysis(self) -> Any:
        return self._analysis

    def save_html(self, path: str | Path, **options: Any) -> Path:
        """A self-contained page of this widget as it is now (its selection); ``options`` as ``export_html``'s
        (``layers=``, ``stage_mb=``, ``weights=``). Returns the page's path."""
        from .export import export_html

        selection = {name: getattr(self, name) for name in self.SELECTION}
        return export_html(self._analysis, path, selection=selection, **options)

    def _on_request(self, _widget: Any, content: Any, _buffers: Any) -> None:
        """Every message gets a reply at once: the data, or an error the browser shows instead of waiting."""
        try:
            reply, buffers = self._answer(content)
        except Exception as err:  # a defect, not bad input: the browser must still hear of it
            self.log.exception("transeasy-widget: a request failed")
            rid = content.get("id") if isinstance(content, dict) and isinstance(content.get("id"), int) else None
            reply, buffers = {"type": "error", "id": rid, "message": f"The kernel failed on this request: "
                                                                     f"{type(err).__name__}: {str(err)[:300]}"}, []
        self.send(reply, buffers)

    def _answer(self, content: Any) -> tuple[dict[str, Any], list[bytes]]:
        """The reply to one message: an ablation's effect (ablation.py), or the data of payload.answer."""
        if isinstance(content, dict) and content.get("what") == "ablation":
            return self._ablation_reply(content), []
        return answer(self._analysis, content)

    def _ablation_reply(self, content: dict[str, Any]) -> dict[str, Any]:
        from .ablation import KEEP, ablation_key, check_request, effect_content
        from .errors import TransEasyError
        from .payload import MAX_ID, _bounded, json_safe

        rid = content.get("id")
        if isinstance(rid, bool) or not isinstance(rid, int) or not -MAX_ID <= rid <= MAX_ID:
            return {"type": "error", "id": None, "message": "Not a request this widget answers: id must be an integer."}
        try:
            heads, mode = check_request(self._analysis, content)
            key = ablation_key(heads, mode)
            if key not in self._effects:
                self._effects[key] = json_safe(effect_content(self._analysis, heads, mode))
                while len(self._effects) > KEEP:
                    del self._effects[next(iter(self._effects))]
        except TransEasyError as err:
            return {"type": "error", "id": rid, "message": _bounded(str(err))}
        return {"type": "reply", "id": rid, **self._effects[key]}

    def page_ablations(self, ablated: list[list[int]], mode: str = "zero") -> dict[str, dict[str, Any]]:
        """The effects an exported page holds: every one computed so far, and that of ``ablated`` (the set the page
        opens with), computed now if it was not."""
        if ablated:
            self._ablation_reply({"id": 0, "heads": ablated, "mode": mode})
        return dict(self._effects)

    @traitlets.validate("ablation_mode")
    def _valid_ablation_mode(self, proposal: Any) -> str:
        from .ablation import MODES

        if proposal["value"] not in MODES:
            raise traitlets.TraitError(f"ablation_mode must be one of {', '.join(MODES)}, got {proposal['value']!r}.")
        return str(proposal["value"])

    @traitlets.validate("ablated")
    def _valid_ablated(self, proposal: Any) -> list[list[int]]:
        from .ablation import check_ablated

        return check_ablated(proposal["value"], self._size("layer"), self._size("head"))

    def _size(self, key: str) -> int:
        return int(self.meta["n_layers" if key == "layer" else "n_heads"])

    def _labels(self, variant: str | None = None) -> list[str]:
        return list(self.meta["variants"][variant or self.variant]["labels"])

    @traitlets.validate("layer", "head")
    def _valid_index(self, proposal: Any) -> int:
        key, value = proposal["trait"].name, proposal["value"]
        size = self._size(key)
        if isinstance(value, bool):
            raise traitlets.TraitError(f"{key} must be an integer in 0..{size - 1}, got {value!r}.")
        if not 0 <= value < size:
            raise traitlets.TraitError(f"{key} must be in 0..{size - 1} (this model has {size} {key}s), got {value}.")
        return int(value)

    @traitlets.validate("token")
    def _valid_token(self, proposal: Any) -> int:
        value, m = proposal["value"], len(self._labels())
        if isinstance(value, bool) or not -1 <= value < m:
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
