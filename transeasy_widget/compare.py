"""``tw.compare(a, b)``: two analyses of one model (a minimal pair, or one text through two models of the same
shape) side by side in one widget, with the difference b − a and the head statistics' deltas.

The widget is the attention widget of ``a`` with ``b`` and the difference beside it: one selection (layer, head,
token, variant) drives every view. The browser asks for ``b``'s data and the difference with the requests it
asks ``a``'s with, plus ``"analysis": "b" | "diff"`` (docs/PROTOCOL.md, "Comparisons").

The difference of a variant is taken where both analyses have as many rows as each other in it; where the
pieces differ in number but the words do not (``"is"`` / ``"are"`` through a tokenizer that splits one of them),
it is the word-level (``reduced``) difference; where neither holds, asking for it is an ``InputError`` that says
what to do.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .attention import VARIANTS, check_variant
from .errors import InputError, check_index
from .pack import Pack, stage_slice
from .payload import MAX_ID, _bounded, _malformed, _short, answer, f16_bytes, json_safe

if TYPE_CHECKING:
    from .compare_widget import CompareWidget

SIDES = ("a", "b", "diff")


def _shape(x: Any) -> tuple[int, int]:
    return x.trace.sizes["L"], x.trace.sizes["H"]


def _joined(a: str, b: str) -> str:
    return a if a == b else f"{a}→{b}"


class Comparison:
    """Two analyses of one model, or of two models of the same shape: ``difference``, ``head_stat_deltas``, and the
    widget (``widget()``, or the comparison shown as a cell's value)."""

    def __init__(self, a: Any, b: Any, names: tuple[str, str] | None = None):
        from .analysis import Analysis

        for name, x in (("a", a), ("b", b)):
            if not isinstance(x, Analysis):
                raise InputError(f"tw.compare takes two analyses (tw.analyze(...)); {name} is a {type(x).__name__}.")
        if _shape(a) != _shape(b):
            (la, ha), (lb, hb) = _shape(a), _shape(b)
            raise InputError(
                f"Cannot compare analyses of different shapes: a ({a.model_name}) has {la} layers × {ha} heads, "
                f"b ({b.model_name}) has {lb} × {hb}. Compare two texts through one model, or one text through two "
                "models with as many layers and heads.")
        if names is not None and not (isinstance(names, (tuple, list)) and len(names) == 2
                                      and all(isinstance(x, str) for x in names)):
            raise InputError(f"names must be two strings (what the widget calls a and b), got {names!r}.")
        self.a, self.b = a, b
        self.names = (names[0], names[1]) if names is not None else (self._name(a), self._name(b))
        self._widget: CompareWidget | None = None

    @staticmethod
    def _name(x: Any) -> str:
        text = x.text if x.text_pair is None else f"{x.text} / {x.text_pair}"
        return f"{text} ({x.model_name})"

    # -- the difference ---------------------------------------------------------------------------------------------

    def shown_variant(self, variant: str) -> str:
        """The variant the difference of ``variant`` is taken in: itself where both have as many rows, else the word
        level (``reduced``) where both have as many words; an InputError saying what to do where neither holds."""
        variant = check_variant(variant)
        va, vb = self.a.attentions, self.b.attentions
        if len(va.labels(variant)) == len(vb.labels(variant)):
            return variant
        words_a, words_b = len(va.labels("reduced")), len(vb.labels("reduced"))
        if words_a == words_b:
            return "reduced"
        raise InputError(
            f"No difference to show: a has {len(va.labels(variant))} rows in {variant} and {words_a} words, b has "
            f"{len(vb.labels(variant))} and {words_b}. The difference needs as many tokens, or as many words, in "
            "both: compare texts that differ in a word for a word (a minimal pair), or pass words= to tw.analyze "
            "so that both have the same number of words.")

    def labels(self, variant: str) -> list[str]:
        """The rows of the difference of ``variant``: a's label, or "a's→b's" where they differ."""
        shown = self.shown_variant(variant)
        return [_joined(x, y) for x, y in zip(self.a.attentions.labels(shown), self.b.attentions.labels(shown),
                                              strict=True)]

    def difference(self, variant: str, layer: int) -> torch.Tensor:
        """b − a of one layer, H×m×m, in ``shown_variant(variant)``."""
        shown = self.shown_variant(variant)
        layer = check_index("layer", layer, _shape(self.a)[0])
        return (self.b.attentions.layer(shown, layer).float().cpu()
                - self.a.attentions.layer(shown, layer).float().cpu())

    def head_stat_deltas(self) -> dict[str, dict[str, torch.Tensor]]:
        """Each head statistic (``a.head_stats``) of a and of b, and b − a, L×H each; a statistic that cannot be
        computed for one of them (the word distances without a word alignment) is left out; one added to both
        (``head_stats.add``, as ``ablation_importance`` keeps its result) is in."""
        out: dict[str, dict[str, torch.Tensor]] = {}
        added = [name for name in self.a.head_stats.added if name in self.b.head_stats.added]  # e.g. "ablation"
        for name in [*self.a.head_stats, *added]:
            try:
                sa, sb = self.a.head_stats[name].float().cpu(), self.b.head_stats[name].float().cpu()
            except InputError:
                continue
            out[name] = {"a": sa, "b": sb, "delta": sb - sa}
        return out

    # -- the widget -------------------------------------------------------------------------------------------------

    def widget(self, **selection: Any) -> CompareWidget:
        """The comparison widget (one per comparison); keywords set the selection, as ``a.widget(...)``'s."""
        if self._widget is None:
            from .compare_widget import CompareWidget

            self._widget = CompareWidget(self)
        return self._widget.select(**selection)

    def save_html(self, path: str | Path, **options: Any) -> Path:
        """A self-contained page of the comparison widget as it is now; its path."""
        return self.widget().save_html(path, **options)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> Any:
        return self.widget()._repr_mimebundle_(include=include, exclude=exclude)

    def __repr__(self) -> str:
        return f"<Comparison: a = {self.names[0]!r}, b = {self.names[1]!r}>"


def compare(a: Any, b: Any, names: tuple[str, str] | None = None) -> Comparison:
    """Two analyses side by side: ``tw.compare(tw.analyze("The keys to the cabinet is"),
    tw.analyze("The keys to the cabinet are"))``. Both must have as many layers and heads (one model, or two of the
    same shape). ``names``: what the widget calls them (default: their texts and models)."""
    return Comparison(a, b, names)


# -- the browser's side ---------------------------------------------------------------------------------------------


def diff_meta(c: Comparison) -> dict[str, Any]:
    """Per variant, the rows the difference shows (labels of a→b where they differ), the variant it is taken in,
    or the error that says why there is none."""
    out: dict[str, Any] = {}
    segments_a = c.a.attentions
    for variant in VARIANTS:
        try:
            shown = c.shown_variant(variant)
        except InputError as err:
            out[variant] = {"labels": [], "segments": [], "special": [], "shows": None, "error": str(err)}
            continue
        labels = c.labels(variant)
        special = list(c.a.encoding.special) if shown == "raw" else [False] * len(labels)
        out[variant] = {"labels": labels, "segments": segments_a.segments(shown), "special": special, "shows": shown}
    return out


def _finite(t: torch.Tensor) -> list[float | None]:
    """An L×H statistic as a flat list for the meta trait (JSON): a value that is not finite (the NaN rows of an
    importance computed for some layers only) is None."""
    return [float(x) if math.isfinite(float(x)) else None for x in t.flatten()]


def compare_meta(c: Comparison) -> dict[str, Any]:
    """What ``meta["compare"]`` holds: the names, b's meta, the difference's rows per variant, the head statistics."""
    from .widget import widget_meta

    deltas = c.head_stat_deltas()

    return {
        "names": list(c.names),
        "b": widget_meta(c.b),
        "diff": diff_meta(c),
        "stats": {name: {"a": _finite(v["a"]), "b": _finite(v["b"]), "delta": _finite(v["delta"]),
                         "description": c.a.head_stats.describe(name)}
                  for name, v in deltas.items()},
    }


def _diff_reply(c: Comparison, req: dict[str, Any]) -> tuple[dict[str, Any], list[bytes]]:
    if req.get("what") != "layer":
        raise InputError(f"The difference view answers layer requests only, not {_short(req.get('what'))}.")
    variant = check_variant(str(req.get("variant")))
    layer = check_index("layer", req.get("layer"), _shape(c.a)[0])
    diff = c.difference(variant, layer)
    return {"what": "layer", "variant": variant, "layer": layer, "dtype": "float16", "shape": list(diff.shape),
            "signed": True, "shows": c.shown_variant(variant)}, [f16_bytes(diff)]


def answer_compare(c: Comparison, request: Any) -> tuple[dict[str, Any], list[bytes]]:
    """The reply to a request of the comparison widget: ``analysis`` (absent: "a") says whose data it asks for."""
    if not isinstance(request, dict):
        return answer(c.a, request)  # not a request: answer() says so
    side = request.get("analysis", "a") if isinstance(request, dict) else "a"
    rid = request.get("id") if isinstance(request, dict) else None
    rid = rid if isinstance(rid, int) and not isinstance(rid, bool) and -MAX_ID <= rid <= MAX_ID else None
    if side not in SIDES:
        return {"type": "error", "id": rid,
                "message": f"Not a request this widget answers: analysis must be one of a, b, diff, got {_short(side)}."}, []
    plain = {k: v for k, v in request.items() if k != "analysis"}
    if side != "diff":
        return answer(c.a if side == "a" else c.b, plain)
    problem = _malformed(plain)  # the request's form, checked as any other request's
    if problem is not None:
        return {"type": "error", "id": rid, "message": f"Not a request this widget answers: {problem}."}, []
    try:
        content, buffers = _diff_reply(c, plain)
    except InputError as err:
        return {"type": "error", "id": rid, "message": _bounded(str(err))}, []
    return json_safe({"type": "reply", "id": rid, **content}), buffers


# -- the exported page ----------------------------------------------------------------------------------------------


def attention_manifest(x: Any) -> dict[str, Any]:
    """A pack of one analysis's attention (every layer, every variant's overview), manifest and text together."""
    from .export import attention_pack, attention_stage

    pack = Pack()
    sizes = x.trace.sizes
    manifest: dict[str, Any] = {"version": 1, "n_layers": sizes["L"], "n_heads": sizes["H"]}
    manifest["attention"] = attention_pack(x, pack, range(sizes["L"]), x.attentions.VARIANTS)
    manifest["attention_stage"] = attention_stage(x)
    manifest["chunks"] = pack.spans
    return {"manifest": manifest, "text": pack.text()}


def diff_pack(c: Comparison) -> dict[str, Any]:
    """Every layer's difference in every variant, 8-bit per row (pack.py's stage slices: error ≤ row max / 254),
    or the error a variant's difference gives."""
    pack = Pack()
    layers: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for variant in VARIANTS:
        try:
            c.shown_variant(variant)
        except InputError as err:
            errors[variant] = str(err)
            continue
        for layer in range(_shape(c.a)[0]):
            diff = c.difference(variant, layer)
            heads, m, _ = diff.shape
            values = diff.reshape(heads * m, m).numpy().astype(np.float32)
            layers[f"{variant}|{layer}"] = {"chunk": pack.add(stage_slice(values, [])), "shape": [heads, m, m]}
    return {"layers": layers, "errors": errors, "chunks": pack.spans, "text": pack.text()}


def to_html(c: Comparison, layers: Any = None, stage_mb: float | None = None,
            selection: dict[str, Any] | None = None, weights: bool = False) -> str:
    """The comparison's page: a's page (export.py) with b's attention and the differences in its manifest."""
    import html

    from .export import _BOOT, _PAGE, STAGE_MB, _bundle, _json_for_script, build, missing_note
    from .pack import split
    from .widget import STATIC

    w = c.widget()
    state = {name: getattr(w, name) for name in w.SELECTION}
    state.update(selection or {})
    state["meta"] = w.meta
    if state["ablated"] and "ablation" not in state["panels"]:
        state["panels"] = [*state["panels"], "ablation"]
    data = build(c.a, weights, layers, STAGE_MB if stage_mb is None else stage_mb)
    data.manifest["compare"] = {"b": attention_manifest(c.b), "diff": diff_pack(c)}
    data.manifest["ablations"] = w.page_ablations(state["ablated"], state["ablation_mode"])  # ablations of a, computed before export
    att = data.manifest["attention"]
    first = {att["layers"][str(state["layer"])], att["overview"][state["variant"]]["chunk"]}
    texts, data.manifest["chunks"] = split(data.text, data.manifest["chunks"], first)
    js = _bundle("standalone.js").read_text(encoding="utf-8")
    if "</script" in js.lower():
        raise RuntimeError("the standalone bundle contains '</script': it cannot be inlined")
    caption = f"{c.a.model_name} · a: {c.names[0]} · b: {c.names[1]}"
    return _PAGE.format(
        title=html.escape(f"transeasy-widget: {c.names[0]} vs {c.names[1]}"), caption=html.escape(caption),
        missing=html.escape(missing_note(data)),
        css=(STATIC / "widget.css").read_text(encoding="utf-8").replace("</", "<\\/"),
        state=_json_for_script(state), manifest=_json_for_script(data.manifest), first=texts[0], rest=texts[1],
        js=js, boot=_BOOT)


def export_comparison(c: Comparison, path: str | Path, **options: Any) -> Path:
    """Writes the comparison's standalone page; returns its path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(to_html(c, **options), encoding="utf-8")
    return out
