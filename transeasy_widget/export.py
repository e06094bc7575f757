"""Standalone HTML: the same front end, inlined with the widget's state and its replies, in one file.

The page needs no server, no CDN and no network: it opens from a file. Every reply the browser can ask for
is computed here with ``payload.answer`` (the live widget's own function) and embedded, base64 for buffers.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

from .payload import answer, request_key
from .widget import STATIC, _bundle

# Boot script of the page. The client asks for a stage that has no layer (head) axis with layer (head) 0, so
# the page files such a stage once.
_BOOT = """
(function () {
  var read = function (id) { return JSON.parse(document.getElementById(id).textContent); };
  TranseasyWidget.mount(document.getElementById("tw-root"), read("tw-state"),
                        TranseasyWidget.answerFromTable(read("tw-replies")));
})();
"""

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>body {{ margin: 16px; font-family: system-ui, sans-serif; }} .tw-page-caption {{ color: #555; margin: 0 0 8px; }}</style>
<style>{css}</style>
</head>
<body>
<p class="tw-page-caption">{caption}</p>
<div id="tw-root"></div>
<script type="application/json" id="tw-state">{state}</script>
<script type="application/json" id="tw-replies">{replies}</script>
<script>{js}</script>
<script>{boot}</script>
</body>
</html>
"""


def _json_for_script(value: Any) -> str:
    """JSON that cannot end its <script> element early: <, > and & are written as \\u escapes."""
    text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _requests(a: Any, weights: bool) -> list[dict[str, Any]]:
    sizes = a.trace.sizes
    out: list[dict[str, Any]] = []
    for variant in a.attentions.VARIANTS:
        out.append({"what": "overview", "variant": variant})
        out += [{"what": "layer", "variant": variant, "layer": layer} for layer in range(sizes["L"])]
    for stage in a.trace.stages:
        if stage.kind == "weight" and not weights:
            continue
        for layer in range(sizes["L"] if stage.per_layer else 1):
            out += [{"what": "stage", "stage": stage.name, "layer": layer, "head": head}
                    for head in range(sizes["H"] if stage.per_head else 1)]
    return out


def replies(a: Any, weights: bool = False) -> dict[str, dict[str, Any]]:
    """Every reply the page can ask for, filed under the page's request keys."""
    table: dict[str, dict[str, Any]] = {}
    for req in _requests(a, weights):
        content, buffers = answer(a, {"type": "request", "id": 0, **req})
        if content["type"] != "reply":
            raise RuntimeError(content.get("message", "export failed"))
        content = {k: v for k, v in content.items() if k not in ("type", "id")}
        table[request_key(req)] = {"content": content, "buffers": [base64.b64encode(b).decode("ascii") for b in buffers]}
    return table


def to_html(a: Any, weights: bool = False) -> str:
    """The page as a string. ``weights=True`` also embeds every weight slice (large: megabytes per layer)."""
    w = a.widget()
    state = {name: getattr(w, name) for name in ("layer", "head", "token", "variant", "arcs_all_heads", "stage", "meta")}
    js = _bundle("standalone.js").read_text(encoding="utf-8")
    if "</script" in js.lower():  # esbuild escapes it; make sure, or the page would break
        raise RuntimeError("the standalone bundle contains '</script': it cannot be inlined")
    text = a.text if a.text_pair is None else f"{a.text} / {a.text_pair}"
    return _PAGE.format(
        title=html.escape(f"transeasy-widget: {text}"),
        caption=html.escape(f"{a.model_name} · {len(a.tokens)} tokens · {text}"),
        css=(STATIC / "widget.css").read_text(encoding="utf-8").replace("</", "<\\/"),
        state=_json_for_script(state), replies=_json_for_script(replies(a, weights)), js=js, boot=_BOOT)


def export_html(a: Any, path: str | Path, weights: bool = False) -> Path:
    """Write the standalone page; returns its path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(to_html(a, weights), encoding="utf-8")
    return out
