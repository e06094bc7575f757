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
  const roots = document.querySelectorAll(".tw-root");
  const root = roots[roots.length - 1];  // the page's widget; in a notebook, the last one
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


# ------------------------------------------------------------------------------------------- live JupyterLab

# Set before the notebook's cells run: the moment each cell's output first shows a painted heatmap, or the
# baseline's printed line; and the moment of every Shift+Enter (keydown, capture phase: before JupyterLab sees it).
LAB_PROBE = """
window.__twKeys = []; window.__twDone = {};
window.addEventListener("keydown", (e) => { if (e.key === "Enter" && e.shiftKey) window.__twKeys.push(performance.now()); }, true);
const cellIndex = (el) => [...document.querySelectorAll(".jp-Notebook .jp-Cell")].indexOf(el.closest(".jp-Cell"));
new MutationObserver((records) => {
  for (const r of records) {
    const t = r.target;
    if (r.type === "attributes" && t.classList && t.classList.contains("tw-hm-canvas") && t.dataset.painted === "1") {
      const i = cellIndex(t); if (i >= 0 && !(i in window.__twDone)) window.__twDone[i] = performance.now();
    } else if (r.type === "childList") {
      for (const out of document.querySelectorAll(".jp-OutputArea-output")) {
        if (!out.textContent.includes("BASELINE-DONE")) continue;
        const i = cellIndex(out); if (i >= 0 && !(i in window.__twDone)) window.__twDone[i] = performance.now();
      }
    }
  }
}).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ["data-painted"] });
"""


def _lab_env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    for key, sub in [("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_RUNTIME_DIR", "runtime"), ("JUPYTER_DATA_DIR", "data"),
                     ("IPYTHONDIR", "ipython"), ("JUPYTERLAB_SETTINGS_DIR", "lab-settings"),
                     ("JUPYTERLAB_WORKSPACES_DIR", "lab-workspaces"), ("MPLCONFIGDIR", "mpl")]:
        env[key] = str(home / sub)
        (home / sub).mkdir(parents=True, exist_ok=True)
    repo = Path(__file__).resolve().parents[1]
    env.update(JUPYTER_PLATFORM_DIRS="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", MPLBACKEND="Agg",
               BENCH_THREADS=str(os.environ.get("BENCH_THREADS", "1")),
               PYTHONPATH=os.pathsep.join(filter(None, [str(repo), env.get("PYTHONPATH")])),
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}")
    (home / "config" / "labconfig").mkdir(parents=True, exist_ok=True)
    (home / "config" / "labconfig" / "page_config.json").write_text(
        '{"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": true}}')
    tracker = home / "lab-settings" / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True, exist_ok=True)
    tracker.write_text('{"autoStartDefaultKernel": true, "windowingMode": "none"}')
    return env


def _lab_notebook(path: Path, cases: list[tuple[str, int]], repeats: int) -> list[tuple[str, str, int]]:
    """A set-up cell, then for each case a warm-up pair and `repeats` pairs (ours, baseline); returns each cell's
    (kind, model, n) after the set-up."""
    import nbformat

    bench = Path(__file__).resolve().parent
    setup = (f"import sys; sys.path.insert(0, {str(bench)!r})\n"
             "import torch; torch.set_grad_enabled(False)\n"
             "import transeasy_widget as tw\n"
             "from common import minilm, random_bert, text_of, own_pass\n"
             "M = {}; M['minilm'] = minilm(); M['bert-base'] = (random_bert(), M['minilm'][1])\n"
             f"T = {{(k, n): text_of(M[k][1], n) for k in M for n in {sorted({n for _, n in cases})}}}\n"
             "print('SETUP-DONE')")
    cells, kinds = [setup], []
    for name, n in cases:
        for _ in range(repeats + 1):
            cells.append(f"tw.analyze(T[{name!r}, {n}], model=M[{name!r}][0], tokenizer=M[{name!r}][1]).widget()")
            cells.append(f"_ = own_pass(M[{name!r}][0], M[{name!r}][1], T[{name!r}, {n}], {n}); print('BASELINE-DONE')")
            kinds += [("ours", name, n), ("own", name, n)]
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, str(path))
    return kinds


def measure_lab(sizes: list[int], which: list[str] | None = None, repeats: int = 3, switches: int = 20) -> list[Row]:
    """In a live JupyterLab (a server on 127.0.0.1, one kernel): a cell that analyses a text and shows the widget,
    from Shift+Enter to its painted heatmap, against a cell that runs the model's own pass (attentions and hidden
    states) on the same text, from Shift+Enter to its printed line; interleaved, after a warm-up pair, medians.
    And a head switch's repaint in the notebook, against the same on the exported page, in the same run."""
    import time

    from playwright.sync_api import sync_playwright

    cases = [(name, n) for name in (which or ["minilm", "bert-base"]) for n in sizes]
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="tw-bench-lab-") as tmp:
        root = Path(tmp) / "root"
        root.mkdir()
        env = _lab_env(Path(tmp) / "home")
        kinds = _lab_notebook(root / "bench.ipynb", cases, repeats)
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from tests.browser.conftest import Server  # the browser tests' server: 127.0.0.1, its own dirs, its own group

        server = Server("lab", root, env)
        base = server.url("")[:-1]
        api = server.api
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
                context = browser.new_context(viewport={"width": 1500, "height": 1800})
                context.route("**/*", lambda r: r.continue_() if r.request.url.startswith(
                    ("http://127.0.0.1:", "ws://127.0.0.1:", "data:", "blob:")) else r.abort())
                context.add_init_script(LAB_PROBE)
                page = context.new_page()
                console: list[str] = []
                page.on("console", lambda m: console.append(m.text))
                page.goto(f"{base}/lab/workspaces/bench/tree/bench.ipynb", timeout=120_000)
                page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
                deadline = time.monotonic() + 120  # the kernel idle with a connection (the toolbar says idle too early)
                while not any((s.get("kernel") or {}).get("execution_state") == "idle"
                              and (s.get("kernel") or {}).get("connections", 0) >= 1 for s in api("sessions")):
                    if time.monotonic() > deadline:
                        page.screenshot(path=str(Path(tempfile.gettempdir()) / "tw-bench-lab-failed.png"))
                        (Path(tempfile.gettempdir()) / "tw-bench-lab-failed.log").write_text(server.log.read_text())
                        raise RuntimeError(f"the kernel did not start: {api('sessions')} {console[-10:]}")
                    page.wait_for_timeout(300)  # (not time.sleep: the route handlers run only while Playwright waits)
                page.locator(".jp-Notebook .jp-Cell").first.locator(".jp-InputArea-prompt").click()
                page.keyboard.press("Escape")
                page.keyboard.press("Shift+Enter")  # the set-up cell
                page.locator(".jp-Notebook .jp-Cell").first.locator(".jp-OutputArea").get_by_text("SETUP-DONE").wait_for(
                    timeout=300_000)
                for i in range(1, len(kinds) + 1):
                    page.wait_for_function("() => !document.querySelector('.jp-Notebook-ExecutionIndicator[data-status=\"busy\"]')",
                                           timeout=300_000)
                    page.wait_for_timeout(300)  # the previous widget's arcs and overview settle
                    page.keyboard.press("Shift+Enter")
                    page.wait_for_function(f"() => {i} in window.__twDone", timeout=300_000)
                keys = page.evaluate("window.__twKeys")
                done = page.evaluate("window.__twDone")
                times: dict[tuple[str, str, int], list[float]] = {}
                for i, kind in enumerate(kinds, start=1):
                    times.setdefault(kind, []).append(done[str(i)] - keys[i])
                # a head switch in the last widget shown (the last case), against the exported page's
                page.wait_for_function("() => { const r = document.querySelectorAll('.tw-root'); "
                                       "return r[r.length - 1].querySelector('.tw-arcs-canvas').dataset.paintMs !== undefined; }",
                                       timeout=120_000)
                lab_switch = page.evaluate(SWITCHES, switches)
                name, n = cases[-1]
                model, tokenizer = models()[name]
                from transeasy_widget.export import to_html

                path = root / "page.html"
                path.write_text(to_html(analysis(model, tokenizer, n, name)), encoding="utf-8")
                page_switch = measure_page(browser, path, 1, switches)
                browser.close()
        finally:
            server.stop()
    med = statistics.median
    for name, n in cases:
        ours, own = times[("ours", name, n)][1:], times[("own", name, n)][1:]  # the first pair warms up
        rows.append(Row("JupyterLab: run cell → first heatmap (vs own pass printed)", name, n, med(ours), med(own), "ms"))
        print(f"  JupyterLab {name} n={n}: ours {', '.join(f'{v:.0f}' for v in ours)} ms; own pass "
              f"{', '.join(f'{v:.0f}' for v in own)} ms", file=sys.stderr)
    name, n = cases[-1]
    rows.append(Row("JupyterLab: head switch repaint, median (vs the exported page's)", name, n,
                    med(t["paint"] for t in lab_switch), med(page_switch["paint"]), "ms"))
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[16, 128, 512])
    p.add_argument("--models", nargs="+", choices=["minilm", "bert-base"], default=None)
    p.add_argument("--switches", type=int, default=20)
    p.add_argument("--loads", type=int, default=3, help="fresh page loads for the mount → first heatmap median")
    p.add_argument("--lab", action="store_true", help="in a live JupyterLab instead of the exported page")
    args = p.parse_args(argv)
    if args.lab:
        print(row_table(measure_lab(args.sizes, args.models, switches=args.switches)))
    else:
        print(row_table(measure(args.sizes, args.switches, args.loads, args.models), "measured", "budget"))


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    main()
