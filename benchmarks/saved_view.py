"""The widget's first paint and its saved picture: what they cost, against measured baselines, side by side.

    python benchmarks/saved_view.py                    # the picture at 16, 128, 512 tokens; the 2,048-token first paint
    python benchmarks/saved_view.py --sizes 16 --no-long

Rows:
- saved picture, bytes: the ``text/html`` picture each display adds to the notebook (transeasy_widget/snapshot.py),
  against the widget state the notebook saves for the same widget (``get_state()``, the bundle, meta and the
  packed first paint) — measured on the same widget.
- saved picture, time: building the picture at display, against building the widget's state (which computes the
  first paint), warm, interleaved (medians).
- 2k context, first paint: a random BERT of 24 layers × 16 heads × hidden 1024 at 2,048 tokens, in a fresh
  process: the widget's state (the overview of every layer, i.e. the attention of all 24 layers, and the selected
  layer) against the model's own pass with hidden states only; the page built from that saved state (as a
  kernel-less manager renders it) in headless Chromium: the time from the navigation to the painted heatmap on
  the first load, against the median of two more loads in fresh contexts; the process's peak RSS; the state's
  size against one layer's raw attention in float16. A head switch's repaint goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import Row, fresh, interleaved, minilm, peak, random_bert, reset_peak, row_table, text_of

LONG = (24, 16, 1024, 2048)
MB = 1e6

# What a kernel-less widget manager does with a saved state: the saved _esm, a model over the saved traits, no comm.
HOST = """<!doctype html><html><head><meta charset="utf-8"></head><body><div id="root"></div>
<script type="application/json" id="saved">__STATE__</script>
<script type="module">
  const state = JSON.parse(document.getElementById("saved").textContent);
  const style = document.createElement("style"); style.textContent = state._css; document.head.appendChild(style);
  const handlers = new Map();
  const model = {
    get: (k) => state[k],
    set: (k, v) => { state[k] = v; for (const f of handlers.get("change:" + k) || []) f(); },
    on: (e, f) => { for (const k of e.split(" ")) handlers.set(k, [...(handlers.get(k) || []), f]); },
    off: () => {}, save_changes: () => {}, send: () => {},
  };
  model.widget_manager = { loader: {}, _models: { saved: Promise.resolve({ get: model.get, comm: undefined }) } };
  const url = URL.createObjectURL(new Blob([state._esm], { type: "text/javascript" }));
  const widget = (await import(url)).default;
  widget.initialize({ model });
  widget.render({ model, el: document.getElementById("root") });
</script></body></html>"""


def picture(sizes: list[int]) -> list[Row]:
    import transeasy_widget as tw
    from transeasy_widget.snapshot import fallback_html

    model, tokenizer = minilm()
    rows: list[Row] = []
    for n in sizes:
        a = tw.analyze(text_of(tokenizer, n), model=model, tokenizer=tokenizer)
        w = a.widget(layer=2, head=3)
        state = len(json.dumps(w.get_state()).encode())
        page = fallback_html(w)

        def build_state(a: Any = a, w: Any = w) -> None:
            w.set_trait("_first_paint", tw.widget.first_paint(a, w.layer, w.variant))
            json.dumps(w.get_state())

        t = interleaved({"picture": lambda w=w: fallback_html(w), "state": build_state}, repeats=5)
        rows += [Row("saved picture: bytes (vs the saved widget state)", "minilm", n, len(page.encode()) / MB, state / MB, "MB"),
                 Row("saved picture: time at display (vs building the state)", "minilm", n, 1000 * t["picture"],
                     1000 * t["state"], "ms")]
    return rows


def _fresh_long(side: str) -> dict[str, Any]:
    import transeasy_widget as tw

    layers, heads, hidden, n = LONG
    model, tokenizer = random_bert(layers, heads, hidden, max_pos=n), minilm()[1]
    text = text_of(tokenizer, n)
    reset_peak()
    if side == "own":
        start = time.perf_counter()
        with torch.no_grad():
            model(**tokenizer(text, truncation=True, max_length=n, return_tensors="pt"), output_hidden_states=True)
        return {"seconds": time.perf_counter() - start, "peak": float(peak())}
    a = tw.analyze(text, model=model, tokenizer=tokenizer, truncate=True)
    start = time.perf_counter()
    w = a.widget()
    state = w.get_state()  # the first paint: the overview of every layer and layer 0
    seconds = time.perf_counter() - start
    out = Path(os.environ.get("TW_BENCH_STATE", tempfile.gettempdir())) / "tw-long-state.json"
    out.write_text(json.dumps({k: v for k, v in state.items() if not isinstance(v, (bytes, memoryview))}), encoding="utf-8")
    return {"seconds": seconds, "peak": float(peak()), "bytes": float(out.stat().st_size), "path": str(out)}


def _browser(state_path: Path, switches: int = 20) -> dict[str, Any]:
    from browser import ARGS, CHROMIUM, SHOWN, SWITCHES
    from playwright.sync_api import sync_playwright

    state = state_path.read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="tw-bench-saved-") as tmp, sync_playwright() as pw:
        page_path = Path(tmp) / "host.html"
        page_path.write_text(HOST.replace("__STATE__", state.replace("<", "\\u003c")), encoding="utf-8")
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            first: list[float] = []
            timings: list[dict[str, float]] = []
            for i in range(3):
                context = browser.new_context(viewport={"width": 1400, "height": 1000})
                context.route("**/*", lambda r: r.continue_() if r.request.url.startswith(("file:", "blob:", "data:"))
                              else r.abort())
                context.add_init_script(SHOWN)  # the end of the first frame that shows the heatmap
                page = context.new_page()
                page.goto(page_path.as_uri(), timeout=300_000)
                page.wait_for_function("window.__twShown !== null", timeout=300_000)
                first.append(page.evaluate("window.__twShown"))
                if i == 2:
                    page.wait_for_function("document.querySelector('.tw-arcs-canvas').dataset.paintMs !== undefined",
                                           timeout=120_000)
                    timings = page.evaluate(SWITCHES, switches)
                context.close()
        finally:
            browser.close()
    return {"first": first, "paint": [t["paint"] for t in timings], "switch": [t["switch"] for t in timings],
            "size": page_path.stat().st_size if page_path.exists() else 0}


def long_first_paint() -> list[Row]:
    layers, heads, hidden, n = LONG
    name = f"{layers}x{heads}x{hidden}"
    own = fresh(__file__, "--fresh", "own")
    ours = fresh(__file__, "--fresh", "ours")
    r = _browser(Path(ours["path"]))
    med = statistics.median
    print(f"  {name} n={n}: state {ours['bytes'] / MB:.1f} MB; state → first heatmap per load (ms): "
          f"{', '.join(f'{v:.0f}' for v in r['first'])}; head switch repaint median {med(r['paint']):.1f} ms, max "
          f"{max(r['paint']):.1f} ms; switch → pixels median {med(r['switch']):.1f} ms", file=sys.stderr)
    return [
        Row("2k context: widget state with first paint (vs own pass)", name, n, ours["seconds"], own["seconds"], "s"),
        Row("2k context: saved state → first heatmap, first load (vs reloads)", name, n, r["first"][0], med(r["first"][1:]), "ms"),
        Row("2k context: peak RSS with the widget state (vs own pass)", name, n, ours["peak"] / 2**30, own["peak"] / 2**30, "GiB"),
        Row("2k context: widget state bytes (vs the raw attention of one layer, float16)", name, n, ours["bytes"] / MB,
            heads * n * n * 2 / MB, "MB"),
    ]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[16, 128, 512])
    p.add_argument("--no-long", action="store_true", help="leave out the 2,048-token first paint (minutes)")
    p.add_argument("--fresh", nargs=1, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.fresh:
        print(json.dumps(_fresh_long(args.fresh[0])))
        return
    rows = picture(args.sizes)
    if not args.no_long:
        rows += long_first_paint()
    print(row_table(rows))


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    main()
