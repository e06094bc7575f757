"""Standalone HTML: the same front end, inlined with the widget's state and a pack of its data, in one file.

The page needs no server, no CDN and no network: it opens from a file. It holds (``pack.py`` says how):

- the raw attention of every layer, once, per-row scaled 8-bit and zlib-compressed; the page derives nosep,
  nosep_linscale, nosep_softmax_scale and reduced itself (``js/derive.ts``);
- the overview thumbnails of every variant (``payload.answer``'s, compressed);
- every layer of the views beyond attention weights (norm, ALTI, rollout, flow: ``contributions.py``), per-row
  scaled 8-bit as the attention, and their overviews; a view the analysis refuses (attention flow beyond its
  length limit) is left out and the page shows the analysis's message in its place;
- the logit lens (top tokens and probabilities of every hidden state), where the model has an output head;
- the stage viewer's tensors, 8-bit per row: the layers without a layer axis always, then the layers asked for
  (``layers=``), or by default as many layers, in order, as fit in ``stage_mb`` megabytes. The page says which
  layers it left out; asking for one of them gets a message saying how to export it.

Everything is computed one layer at a time, so an export never holds all variants of all layers at once.
"""

from __future__ import annotations

import html
import json
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import InputError, InterventionError
from .pack import Pack, attention_info, attention_layer, column_factors, ratio_layer, split, stage_slice, view_layer
from .payload import LENS_K, THUMB, answer, json_safe, row_stages, score_scale
from .widget import STATIC, _bundle

CONTRIBUTION_VIEWS = ("norm", "norm_summed", "alti", "alti_rollout", "rollout", "flow")
# the rollouts a page derives, and what each multiplies through the layers (js/derive.ts rollout): ALTI's, from the
# page's ALTI (within 0.005 of Python's at 512 tokens on MiniLM). Attention rollout is held instead: multiplied out
# from the 8-bit attention it drifts by up to 0.08 (the many weights under half a step round to 0, every layer).
ROLLOUTS = {"alti_rollout": "alti"}
# quantisation levels of the per-layer views held as matrices (pack.py): 127 (7 bits) for the two largest, which
# the page could not otherwise hold within its budget; 255 for the others (ALTI feeds ALTI rollout)
LEVELS = {"norm_summed": 127, "rollout": 127}
STAGE_MB = 0.5  # default room for stage tensors beyond the attention (MB of page): 16 tokens stay under bertviz
LARGE_MB = 25.0  # the CLI warns above this

# The boot runs before the bulk of the data is parsed (tw-data-1 comes after it): the first paint needs only
# tw-data-0 (the selected layer's attention and the selected variant's overview); the rest is read once parsed.
_BOOT = """
(function () {
  var read = function (id) { return JSON.parse(document.getElementById(id).textContent); };
  TranseasyWidget.mountPage(document.getElementById("tw-root"), read("tw-state"), read("tw-pack"),
                            TranseasyWidget.pageTexts("tw-data-"));
})();
"""

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>body {{ margin: 16px; font-family: system-ui, sans-serif; }} .tw-page-caption {{ color: #555; margin: 0 0 8px; }}
.tw-page-missing {{ color: #8a5a00; margin: 0 0 8px; }} .tw-page-missing:empty {{ display: none; }}</style>
<style>{css}</style>
</head>
<body>
<p class="tw-page-caption">{caption}</p>
<p class="tw-page-missing">{missing}</p>
<div id="tw-root"></div>
<script type="application/json" id="tw-state">{state}</script>
<script type="application/json" id="tw-pack">{manifest}</script>
<script type="text/plain" id="tw-data-0">{first}</script>
<script>{js}</script>
<script>{boot}</script>
<script type="text/plain" id="tw-data-1">{rest}</script>
</body>
</html>
"""


def _json_for_script(value: Any) -> str:
    """JSON that cannot end its <script> element early: <, > and & are written as \\u escapes."""
    text = json.dumps(json_safe(value), separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def stage_key(stage: str, layer: int, head: int) -> str:
    """The key a page files a stage reply under (js/pack.ts reads the same)."""
    return f"{stage}|{layer}|{head}"


@dataclass
class PagePack:
    """The manifest and base64 text of a page's data, and which stage layers it holds."""

    manifest: dict[str, Any]
    text: str
    stage_layers: list[int] = field(default_factory=list)
    missing_layers: list[int] = field(default_factory=list)


def _overview(a: Any, pack: Pack, variant: str) -> dict[str, Any]:
    content, buffers = answer(a, {"type": "request", "id": 0, "what": "overview", "variant": variant})
    if content["type"] != "reply":
        raise RuntimeError(content.get("message", "export failed"))
    return {"content": _strip(content), "chunk": pack.add(buffers[0])}


def _strip(content: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in content.items() if k not in ("type", "id")}


def attention_pack(a: Any, pack: Pack, layers: Iterable[int], variants: Iterable[str]) -> dict[str, Any]:
    """The attention part of a manifest: the raw layers asked for and the overviews of ``variants`` (attention
    variants; a contribution view's overview is in ``contributions_pack``)."""
    info = attention_info(a)
    chunks = {str(layer): pack.add(attention_layer(a.attentions.layer("raw", layer), info["kept"])) for layer in layers}
    return {**info, "layers": chunks, "overview": {v: _overview(a, pack, v) for v in variants}}


def contributions_pack(a: Any, pack: Pack, layers: Iterable[int], views: Iterable[str],
                       page: bool = True) -> dict[str, Any]:
    """The contribution views of a manifest (pack.py, "Contribution views"): per view, its heads, the chunk of each
    layer asked for and its overview. A view the analysis refuses (attention flow on a long input) is left out,
    its message kept under ``unavailable`` for the page to show in its place. ``page``: the manifest holds every
    layer (an exported page), so the browser may derive from them what ``ROLLOUTS`` names (ALTI rollout, from the
    page's ALTI, which must then be among ``views``) and norm's overview, and the largest views go 7-bit
    (``LEVELS``); a first paint (one layer) holds those as 8-bit matrices."""
    from .contributions import head_vectors
    from .errors import TransEasyError
    from .variants import layer as variant_layer

    layers = list(layers)
    out: dict[str, Any] = {"views": {}, "unavailable": {}}
    for view in views:
        mark = pack.mark()
        try:
            if page and view in ROLLOUTS:  # R^l = M^l R^(l-1): the page multiplies them out itself
                entry = {"heads": 1, "derive": "rollout", "of": ROLLOUTS[view], "layers": {}}
            elif view == "norm":  # α^h_ij ‖f_h(x_j)‖: the page multiplies the raw attention by the column factors
                with torch.inference_mode():
                    factors = {layer: torch.linalg.vector_norm(head_vectors(a, layer), dim=-1) for layer in layers}
                chunks = {str(layer): pack.add(column_factors(f)) for layer, f in factors.items()}
                entry = {"heads": a.trace.sizes["H"], "derive": "attention_times_columns", "layers": chunks}
                if page:  # a page holds every layer: it pools its own overview (pack.py)
                    side = min(THUMB, a.trace.sizes["n"])
                    entry["overview"] = {"derive": "pooled", "content": {
                        "what": "overview", "variant": view, "dtype": "uint8",
                        "shape": [a.trace.sizes["L"], a.trace.sizes["H"], side, side]}}
            elif page and view == "norm_summed" and "norm" in out["views"]:
                # the smaller of two codes per layer: the matrix on its own scale, or its ratio to the page's
                # Σ_h ‖α^h_ij f_h(x_j)‖ (pack.py): diffuse attention makes the first incompressible, not the second
                chunks, ratio = {}, {}
                levels = LEVELS.get(view, 255)
                for layer in layers:
                    values = variant_layer(a, view, layer)
                    codes = [view_layer(values, levels),
                             ratio_layer(values, variant_layer(a, "norm", layer).sum(0, keepdim=True), levels)]
                    sizes = [len(zlib.compress(code, 9)) for code in codes]
                    chunks[str(layer)] = pack.add(codes[sizes[1] < sizes[0]], level=9)
                    if sizes[1] < sizes[0]:
                        ratio[str(layer)] = True
                entry = {"heads": 1, "layers": chunks, "ratio_to_norm_sum": ratio, "levels": levels}
            else:  # small and compressible at level 9 (zeros, near-zero rows): 10 % smaller than level 6
                levels = LEVELS.get(view, 255) if page else 255
                chunks = {str(layer): pack.add(view_layer(variant_layer(a, view, layer), levels), level=9)
                          for layer in layers}
                entry = {"heads": 1, "layers": chunks, "levels": levels}
            if "overview" not in entry:
                entry["overview"] = _overview(a, pack, view)
        except TransEasyError as err:
            pack.rollback(mark)
            out["unavailable"][view] = str(err)
            continue
        out["views"][view] = entry
    return out


def _stage_entry(a: Any, pack: Pack, stage: Any, layer: int, head: int) -> dict[str, Any]:
    content, buffers = answer(a, {"type": "request", "id": 0, "what": "stage", "stage": stage.name,
                                  "layer": layer, "head": head})
    if content["type"] != "reply":
        raise RuntimeError(content.get("message", "export failed"))
    content = _strip(content)
    if content.get("row_labels") == a.tokens:  # the same list in every reply: the page restores it from meta
        content["row_labels"] = "tokens"
    if not buffers:
        return {"content": content}
    norms = content.pop("row_norms")
    values = np.frombuffer(buffers[0], dtype="<f2").astype(np.float32).reshape(content["shape"])  # the f16 reply, decoded
    return {"content": content, "chunk": pack.add(stage_slice(values, norms)), "norms": len(norms)}


def _stage_names(a: Any, weights: bool) -> list[Any]:
    """The stages whose tensors a page holds: selfattn_attention is the raw attention, derived in the page."""
    return [s for s in a.trace.stages if (weights or s.kind != "weight") and s.name != "selfattn_attention"]


def lens_entry(a: Any, pack: Pack) -> dict[str, Any] | None:
    """The logit lens's reply (its tokens and probabilities: two chunks), where the model has a read-out."""
    from .causal import lens_kind

    if lens_kind(a) is None:
        return None
    content, buffers = answer(a, {"type": "request", "id": 0, "what": "lens", "k": LENS_K})
    if content["type"] != "reply":
        raise RuntimeError(content.get("message", "export failed"))
    return {"content": _strip(content), "chunks": [pack.add(b) for b in buffers]}


def attention_stage(a: Any) -> dict[str, Any]:
    """The reply of the selfattn_attention stage without its numbers: the page fills in the layer, the head, the
    values (the raw attention's head slice), their stats and row norms (js/pack.ts)."""
    content, _ = answer(a, {"type": "request", "id": 0, "what": "stage", "stage": "selfattn_attention",
                            "layer": 0, "head": 0})
    content = {k: v for k, v in _strip(content).items() if k not in ("layer", "head", "stats", "row_norms")}
    content["row_labels"] = "tokens"
    return content


def build(a: Any, weights: bool = False, layers: Iterable[int] | None = None,
          stage_mb: float = STAGE_MB, contributions: bool = True) -> PagePack:
    """The page's data. ``layers``: the layers whose stage tensors go in (default: in order, as many as fit
    in ``stage_mb``); every layer's attention goes in whatever ``layers`` says, and (``contributions``) every
    layer of every contribution view the analysis can give."""
    sizes = a.trace.sizes
    n_layers, n_heads = sizes["L"], sizes["H"]
    chosen = None if layers is None else check_layers(layers, n_layers)
    pack = Pack()
    manifest: dict[str, Any] = {"version": 1, "n_layers": n_layers, "n_heads": n_heads}
    manifest["attention"] = attention_pack(a, pack, range(n_layers), a.attentions.VARIANTS)
    if contributions:
        manifest["contributions"] = contributions_pack(a, pack, range(n_layers), CONTRIBUTION_VIEWS)
    stages = _stage_names(a, weights)
    entries: dict[str, Any] = {}
    parity: dict[str, Any] | None = None
    for stage in stages:  # the stages without a layer axis (embeddings, symbols, parity): small, always in
        if stage.kind == "pipeline":  # one verification (the model's own pass) serves the three parity stages
            try:
                parity = parity or {"parity": json_safe(a.verify().to_dict())}
            except InterventionError as err:  # a patch no model module can mirror: the page says so when asked
                parity = {"error": str(err)}
            entries[stage_key(stage.name, 0, 0)] = {"content": {"what": "stage", "stage": stage.name, "layer": 0,
                                                                "head": 0, **parity}}
        elif not stage.per_layer:
            entries[stage_key(stage.name, 0, 0)] = _stage_entry(a, pack, stage, 0, 0)
    manifest["attention_stage"] = attention_stage(a)  # every layer's and head's, derived in the page
    manifest["lens"] = lens_entry(a, pack)  # the logit lens panel's whole table (None: no read-out)
    room = stage_mb * 1e6  # characters of page for stage layers: their base64 and their JSON
    held: list[int] = []
    for layer in (range(n_layers) if chosen is None else chosen):
        mark, added = pack.mark(), {}
        for stage in stages:
            if stage.per_layer:
                for head in range(n_heads if stage.per_head else 1):
                    added[stage_key(stage.name, layer, head)] = _stage_entry(a, pack, stage, layer, head)
        cost = pack.size - mark[1] + len(json.dumps(json_safe(added)))
        if chosen is None and cost > room:  # it does not fit: leave it (and the layers after it) out
            pack.rollback(mark)
            break
        room -= cost
        entries.update(added)
        held.append(layer)
    manifest["stages"] = entries
    manifest["stage_layers"] = held
    manifest["rows"] = row_sources(a, held)
    manifest["chunks"] = pack.spans
    missing = [layer for layer in range(n_layers) if layer not in held]
    return PagePack(manifest, pack.text(), held, missing)


def row_sources(a: Any, layers: list[int]) -> dict[str, Any]:
    """What the page's row view reads (js/pack.ts ``row``): the stage of each of its columns, held for ``layers``,
    where a causal mask hides keys (each layer's window) and each of those layers' score scaling."""
    from .causal import is_causal

    scale = {}
    for layer in layers:
        t = a.trace.layer(layer)
        scale[str(layer)] = score_scale(t.selfattn_qkt_hidden[0], t.selfattn_qkt_scale_hidden[0], a.trace.sizes["dh"])
    return {"stages": row_stages(a), "causal": is_causal(a), "windows": a.trace.windows, "scale": scale}


def check_layers(layers: Iterable[int], n_layers: int) -> list[int]:
    out: list[int] = []
    for layer in layers:
        if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not 0 <= layer < n_layers:
            raise InputError(f"layers must be layer indices in 0..{n_layers - 1}, got {layer!r}.")
        if int(layer) not in out:
            out.append(int(layer))
    return out


def ranges(values: list[int]) -> str:
    """0, 1, 2, 5 → "0–2, 5"."""
    runs: list[list[int]] = []
    for v in values:
        if runs and v == runs[-1][-1] + 1:
            runs[-1].append(v)
        else:
            runs.append([v])
    return ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}–{r[-1]}" for r in runs)


def missing_note(data: PagePack) -> str:
    if not data.missing_layers:
        return ""
    return (f"Stage viewer: this page holds the stage tensors of layer{'s' if len(data.stage_layers) != 1 else ''} "
            f"{ranges(data.stage_layers) or 'none'}; layer{'s' if len(data.missing_layers) > 1 else ''} "
            f"{ranges(data.missing_layers)} left out to keep the page small (every layer's attention is here, and "
            f"the selfattn_attention stage of every layer). "
            f"Export with --layers (layers= in Python) to choose.")


def first_chunks(manifest: dict[str, Any], layer: int, variant: str) -> set[int]:
    """The chunks the first paint of ``layer`` and ``variant`` reads: the raw attention of the layer (the arcs, the
    attention stage) and the variant's layer and overview."""
    att = manifest["attention"]
    first = {att["layers"][str(layer)]}
    if variant in att["overview"]:
        first.add(att["overview"][variant]["chunk"])
    view = manifest.get("contributions", {}).get("views", {}).get(variant)
    if view is not None:  # (norm also reads the layer's raw attention, already in; a rollout reads every layer)
        first |= {*([view["overview"]["chunk"]] if "chunk" in view["overview"] else []),
                  *([view["layers"][str(layer)]] if view["layers"] else [])}
    return first


def to_html(a: Any, weights: bool = False, layers: Iterable[int] | None = None, stage_mb: float = STAGE_MB,
            selection: dict[str, Any] | None = None) -> str:
    """The page as a string. ``weights=True`` also embeds every weight slice (large: megabytes per layer);
    ``selection``: the traits to open on (default: the widget's current ones)."""
    w = a.widget()
    state = {name: getattr(w, name) for name in w.SELECTION}
    state.update(selection or {})
    state["meta"] = w.meta
    if state["ablated"] and "ablation" not in state["panels"]:  # a page exported with heads ablated shows their effect
        state["panels"] = [*state["panels"], "ablation"]
    data = build(a, weights, layers, stage_mb)
    data.manifest["ablations"] = w.page_ablations(state["ablated"], state["ablation_mode"])  # the effects computed before export
    first = first_chunks(data.manifest, state["layer"], state["variant"])
    texts, data.manifest["chunks"] = split(data.text, data.manifest["chunks"], first)
    js = _bundle("standalone.js").read_text(encoding="utf-8")
    if "</script" in js.lower():  # esbuild escapes it; make sure, or the page would break
        raise RuntimeError("the standalone bundle contains '</script': it cannot be inlined")
    text = a.text if a.text_pair is None else f"{a.text} / {a.text_pair}"
    return _PAGE.format(
        title=html.escape(f"transeasy-widget: {text}"),
        caption=html.escape(f"{a.model_name} · {len(a.tokens)} tokens · {text}"),
        missing=html.escape(missing_note(data)),
        css=(STATIC / "widget.css").read_text(encoding="utf-8").replace("</", "<\\/"),
        state=_json_for_script(state), manifest=_json_for_script(data.manifest), first=texts[0], rest=texts[1], js=js,
        boot=_BOOT)


def export_html(a: Any, path: str | Path, weights: bool = False, layers: Iterable[int] | None = None,
                stage_mb: float = STAGE_MB, selection: dict[str, Any] | None = None) -> Path:
    """Write the standalone page; returns its path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(to_html(a, weights, layers, stage_mb, selection), encoding="utf-8")
    return out
