"""Browser: in Chromium, the real exported page (``transeasy_widget.export.to_html``, what ``-o`` writes) opened from a
file:// URL: the time to its first painted heatmap, and the repaint on a head switch (median and max over
--switches switches), for the pretrained MiniLM (6 layers × 12 heads) and a bert-base sized random model (12 × 12).

    python benchmarks/browser.py                 # n = 16, 128 and 512 tokens
    python benchmarks/browser.py --sizes 16      # quick

Debian's Chromium, headless, every non-file request refused. The page is exactly what the CLI writes: every
layer's raw attention packed once, the variants derived in the page, the stage tensors within the default budget.

Rows (measured beside a budget; ratio = measured / budget):
- file → first heatmap: from the navigation's start (performance.now() = 0) to the heatmap canvas getting
  data-painted="1" (a MutationObserver installed before the page loads): reading and parsing the file, the
  state, inflating and decoding the selected layer, painting. Median over --loads fresh page loads. Target: 1 s.
- head switch repaint: the front end's data-last-paint-ms, the heatmap's own work on a switch (decode half floats,
  colour m×m cells, putImageData). Target: one 60 Hz frame, 16 ms.
- switch → pixels: data-last-switch-ms, from the selection change (a `change` on the head selector fired at a
  random moment within a frame, as a click would be) to the new head's pixels in the canvas. It includes the wait
  for the next animation frame (0 to 16.7 ms, whatever the repaint costs), so it is shown, not targeted.
The page's size and the arcs' repaint (same frame) go to stderr.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import Row, encoding, minilm, random_bert, row_table

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
FRAME_MS = 16.0  # one 60 Hz frame: the budget of a head switch's repaint (target at 512 tokens)
SECOND_MS = 1000.0  # the target of file → first heatmap

# Installed before the page's own scripts: the moment the heatmap canvas is first painted non-blank.
FIRST_PAINT = """
window.__twFirstPaint = null;
new MutationObserver((records) => {
  for (const r of records) {
    const t = r.target;
    if (window.__twFirstPaint === null && t.classList && t.classList.contains("tw-hm-canvas") && t.dataset.painted === "1")
      window.__twFirstPaint = performance.now();
  }
}).observe(document, { subtree: true, attributes: true, attributeFilter: ["data-painted"] });
"""

# Head switches through the head selector, each at a random moment of a frame; returns the front end's timings.
SWITCHES = """
async (count) => {
  const root = document.querySelector(".tw-root");
  const arcs = root.querySelector(".tw-arcs-canvas");
  const select = root.querySelector(".tw-head select");
  const heads = select.options.length;
  const frame = () => new Promise((resolve) => requestAnimationFrame(() => resolve()));
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const out = [];
  let head = Number(root.dataset.head);
  for (let i = 0; i < count; i++) {
    const next = (head + 1) % heads;
    await frame();
    await sleep(Math.random() * 12);
    delete root.dataset.lastSwitchMs;  // the heatmap writes it when the new head's pixels are in
    select.value = String(next);
    select.dispatchEvent(new Event("change"));
    while (root.dataset.lastSwitchMs === undefined) await frame();
    await frame();  // the arcs (same frame) have painted
    await frame();
    out.push({ paint: Number(root.dataset.lastPaintMs), switch: Number(root.dataset.lastSwitchMs),
               arcs: Number(arcs.dataset.paintMs) });
    head = next;
  }
  return out;
}
"""


def analysis(model: Any, tokenizer: Any, n: int, name: str = "bert-base (random)") -> Any:
    """An Analysis of exactly n tokens, built as benchmarks/payload.py does (no truncation warning, no re-encode)."""
    import transeasy_widget as tw
    from transeasy_widget.models import Resolved
    from transeasy_widget.trace import run_trace

    enc = encoding(tokenizer, n)
    return tw.Analysis(Resolved(model, tokenizer, name, "bert"), enc, run_trace(model, tokenizer, "bert", enc))


def models() -> dict[str, tuple[Any, Any]]:
    model, tokenizer = minilm()
    return {"minilm": (model, tokenizer), "bert-base": (random_bert(), tokenizer)}


def measure_page(browser: Any, path: Path, loads: int, switches: int) -> dict[str, Any]:
    refused: list[str] = []

    def route(r: Any) -> None:
        if r.request.url.startswith(("file:", "data:", "blob:")):
            r.continue_()
        else:
            refused.append(r.request.url)
            r.abort()

    first: list[float] = []
    timings: list[dict[str, float]] = []
    for i in range(loads):
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.route("**/*", route)
        context.add_init_script(FIRST_PAINT)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
        page.goto(path.as_uri(), timeout=120_000)
        page.wait_for_function("window.__twFirstPaint !== null", timeout=120_000)
        first.append(page.evaluate("window.__twFirstPaint"))  # from the navigation's start
        if i == loads - 1:  # switches on the last (warm) load
            page.wait_for_function("document.querySelector('.tw-arcs-canvas').dataset.paintMs !== undefined", timeout=60_000)
            timings = page.evaluate(SWITCHES, switches)
        context.close()
        if errors or refused:
            raise RuntimeError(f"page errors {errors[:3]}, refused requests {refused[:3]}")
    paint = [t["paint"] for t in timings]
    switch = [t["switch"] for t in timings]
    arcs = [t["arcs"] for t in timings]
    return {"first": statistics.median(first), "first_all": first, "paint": paint, "switch": switch, "arcs": arcs}


def measure(sizes: list[int], switches: int = 20, loads: int = 3, which: list[str] | None = None) -> list[Row]:
    if not os.access(CHROMIUM, os.X_OK):
        sys.exit(f"{CHROMIUM} is missing: run `make browser` to install Debian's Chromium.")
    from playwright.sync_api import sync_playwright

    from transeasy_widget.export import to_html

    rows: list[Row] = []
    pairs = models()
    with tempfile.TemporaryDirectory(prefix="tw-bench-browser-") as tmp, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            for name in which or list(pairs):
                model, tokenizer = pairs[name]
                for n in sizes:
                    a = analysis(model, tokenizer, n, name)
                    path = Path(tmp) / f"page-{name}-{n}.html"
                    path.write_text(to_html(a), encoding="utf-8")
                    del a
                    gc.collect()
                    r = measure_page(browser, path, loads, switches)
                    target = 1.0 if n == 512 else None
                    med, top = statistics.median, max
                    rows += [
                        Row("browser: file → first heatmap", name, n, r["first"], SECOND_MS, "ms", target),
                        Row("browser: head switch repaint, median", name, n, med(r["paint"]), FRAME_MS, "ms", target),
                        Row("browser: head switch repaint, max", name, n, top(r["paint"]), FRAME_MS, "ms", target),
                        Row("browser: switch → pixels (+ frame wait), median", name, n, med(r["switch"]), FRAME_MS, "ms"),
                    ]
                    print(f"  {name} n={n}: page {path.stat().st_size / 1e6:.1f} MB; file → first heatmap per load "
                          f"(ms): {', '.join(f'{v:.0f}' for v in r['first_all'])}; arcs paint median "
                          f"{med(r['arcs']):.1f} ms", file=sys.stderr)
                    path.unlink()
        finally:
            browser.close()
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[16, 128, 512])
    p.add_argument("--models", nargs="+", choices=["minilm", "bert-base"], default=None)
    p.add_argument("--switches", type=int, default=20)
    p.add_argument("--loads", type=int, default=3, help="fresh page loads for the mount → first heatmap median")
    args = p.parse_args(argv)
    print(row_table(measure(args.sizes, args.switches, args.loads, args.models), "measured", "budget"))


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    main()
