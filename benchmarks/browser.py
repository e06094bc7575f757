"""Browser: in Chromium, the real exported page (``transeasy_widget.export.to_html``, what ``-o`` writes) opened from a
file:// URL, beside bertviz's head_view page (``head_view(..., html_action="return")``) for the same attention, both
measured in the same run in the same Chromium: the time from the file to the first attention shown, and a head
switch (median and max over --switches switches), for the pretrained MiniLM (6 layers × 12 heads) and a bert-base
sized random model (12 × 12).

    python benchmarks/browser.py                 # n = 16, 128 and 512 tokens
    python benchmarks/browser.py --sizes 16      # quick
    python benchmarks/browser.py --lab           # in a live JupyterLab (below)

Debian's Chromium, headless, every request that is not for a file refused, except bertviz's three libraries, which
its page asks of cdnjs and which are answered from local copies: d3 5.7.0 (the version bertviz asks for, a
devDependency; --d3, by default $BERTVIZ_D3 or node_modules/d3/dist/d3.min.js), and RequireJS and jQuery from
node_modules (the versions there, not bertviz's 2.3.6 and 2.0.0: bertviz uses only their basics). Our page is
exactly what the CLI writes: every layer's raw attention packed once, the variants derived in the page, the stage
tensors within the default budget.
bertviz's page holds every layer's attention as JSON text (1.7 GB for bert-base at 512 tokens) and draws one layer
as SVG, one line per head and pair of tokens.

Rows (ours beside bertviz's, measured the same way; pages loaded in turn, ours then bertviz's, --loads times):
- file → first attention shown: from the navigation's start (performance.now() = 0) to the end of the first frame
  that shows the attention (the frame rendered, then a posted message): ours, the heatmap canvas getting
  data-painted="1"; bertviz's, its SVG holding its attention lines; both seen by a MutationObserver installed
  before the page loads. Reading and parsing the file, the state, decoding, drawing, the frame's style, layout and
  paint. Median over the loads. Target: ours ≤ 1 s at 512 tokens. A bertviz page that has shown nothing after
  --bertviz-cap seconds is left: its row says "> cap" (and the ratio "< ours / cap"), and its head switch rows "—".
- head switch repaint (script): ours, the front end's data-last-paint-ms, the heatmap's own work on a switch (decode
  half floats, colour m×m cells, putImageData); bertviz's, its handler's work on a double click on a head's square
  (its way to show one head: every line's opacity set), timed around the event's dispatch. The browser's style and
  paint of the change come after, in the next row. Target: ours ≤ one 60 Hz frame, 16 ms, at 512 tokens.
- head switch → frame shown: from the event (a `change` on our head selector, bertviz's `dblclick`, each fired at
  a random moment within a frame, as a person would) to the end of the first frame that shows the new head. It
  includes the wait for that frame (0 to 16.7 ms, whatever the work costs), so it is shown, not targeted.
The pages' sizes and our arcs' repaint (same frame) go to stderr.
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
from common import Row, bertviz_html, encoding, minilm, random_bert, row_table

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
FRAME_MS = 16.0  # one 60 Hz frame: the target of a head switch's repaint at 512 tokens
SECOND_MS = 1000.0  # the target of file → first heatmap at 512 tokens
NODE_MODULES = Path(__file__).resolve().parents[1] / "node_modules"
# what bertviz's page asks of cdnjs (head_view.py, head_view.js), answered from local files
BERTVIZ_LIBS = {
    "https://cdnjs.cloudflare.com/ajax/libs/require.js/2.3.6/require.min.js": NODE_MODULES / "requirejs" / "require.js",
    "https://cdnjs.cloudflare.com/ajax/libs/jquery/2.0.0/jquery.min.js": NODE_MODULES / "jquery" / "dist" / "jquery.min.js",
}
D3_URL = "https://cdnjs.cloudflare.com/ajax/libs/d3/5.7.0/d3.min.js"
BERTVIZ_LIBS[D3_URL] = Path(os.environ.get("BERTVIZ_D3") or NODE_MODULES / "d3" / "dist" / "d3.min.js")

# Installed before either page's own scripts: once the attention is first in the DOM (our heatmap canvas painted;
# bertviz's SVG holding its lines), the time at the end of the first frame that shows it. The end of a frame: a
# message posted from within its animation-frame callbacks runs once the frame's style, layout and paint are done;
# a change made outside a frame waits for the next one.
SHOWN = """
(() => {
  const raf = window.requestAnimationFrame.bind(window);
  const post = (fn) => { const ch = new MessageChannel(); ch.port1.onmessage = () => fn(); ch.port2.postMessage(0); };
  let inFrame = false;
  window.requestAnimationFrame = (cb) => raf((t) => {
    if (!inFrame) { inFrame = true; post(() => { inFrame = false; }); }
    cb(t);
  });
  const afterFrame = (fn) => (inFrame ? post(fn) : raf(() => post(fn)));
  window.__twShown = null;
  const shown = () => document.querySelector(".tw-hm-canvas[data-painted='1']") || document.querySelector("#vis svg #attention line");
  new MutationObserver((records, observer) => {
    if (!shown()) return;
    observer.disconnect();
    afterFrame(() => { window.__twShown = performance.now(); });
  }).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ["data-painted"] });
})();
"""

# The end of the next frame (see SHOWN), as a promise of its time.
END_OF_FRAME = """const endOfFrame = () => new Promise((resolve) => requestAnimationFrame(() => {
    const ch = new MessageChannel(); ch.port1.onmessage = () => resolve(performance.now()); ch.port2.postMessage(0); }));"""

# Head switches through the head selector, each at a random moment of a frame; returns the front end's timings and
# the time from the event to the end of the frame that shows the new head.
SWITCHES = """
async (count) => {
  ${END_OF_FRAME}
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
    const t0 = performance.now();
    select.dispatchEvent(new Event("change"));
    let t1 = await endOfFrame();
    while (root.dataset.lastSwitchMs === undefined) t1 = await endOfFrame();
    await frame();  // the arcs (same frame) have painted
    await frame();
    out.push({ paint: Number(root.dataset.lastPaintMs), switch: Number(root.dataset.lastSwitchMs),
               arcs: Number(arcs.dataset.paintMs), shown: t1 - t0 });
    head = next;
  }
  return out;
}
""".replace("${END_OF_FRAME}", END_OF_FRAME)

# The same on bertviz's page: a double click on the next head's square (its one-head view), after one to leave the
# all-heads start; the handler's own work (synchronous) and the time to the end of the frame that shows it. Stops
# after `budget` ms.
BERTVIZ_SWITCHES = """
async ([count, budget]) => {
  ${END_OF_FRAME}
  const boxes = [...document.querySelectorAll("#vis svg > g:last-of-type > rect")];  // one square per head
  const heads = boxes.length;
  const frame = () => new Promise((resolve) => requestAnimationFrame(() => resolve()));
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const dblclick = (i) => boxes[i].dispatchEvent(new MouseEvent("dblclick", { bubbles: true }));
  dblclick(0);
  await endOfFrame();
  const out = [];
  const start = performance.now();
  let head = 0;
  for (let i = 0; i < count && performance.now() - start < budget; i++) {
    const next = (head + 1) % heads;
    await frame();
    await sleep(Math.random() * 12);
    const t0 = performance.now();
    dblclick(next);
    const t1 = performance.now();
    out.push({ paint: t1 - t0, shown: (await endOfFrame()) - t0 });
    head = next;
  }
  return out;
}
""".replace("${END_OF_FRAME}", END_OF_FRAME)


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


def _open(browser: Any, path: Path, cap_s: float) -> tuple[Any, Any, list[str], float | None]:
    """A fresh context opens the page from its file: (context, page, problems, ms from the navigation's start to the
    end of the first frame that shows the attention, or None when nothing was shown within cap_s)."""
    import time

    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    problems: list[str] = []

    def route(r: Any) -> None:
        url = r.request.url
        if url.startswith(("file:", "data:", "blob:")):
            r.continue_()
        elif url in BERTVIZ_LIBS:
            r.fulfill(path=str(BERTVIZ_LIBS[url]), content_type="text/javascript")
        else:
            problems.append(f"refused request {url}")
            r.abort()

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.route("**/*", route)
    context.add_init_script(SHOWN)
    page = context.new_page()
    page.on("pageerror", lambda e: problems.append(f"page error {e}"))
    deadline = time.monotonic() + cap_s
    try:
        page.goto(path.as_uri(), wait_until="commit", timeout=cap_s * 1000)
        page.wait_for_function("window.__twShown !== null", polling=50,
                               timeout=max(1.0, deadline - time.monotonic()) * 1000)
    except PlaywrightTimeout:
        return context, page, problems, None
    return context, page, problems, float(page.evaluate("window.__twShown"))


def measure_page(browser: Any, path: Path, loads: int, switches: int) -> dict[str, Any]:
    """Our exported page: file → first heatmap shown over `loads` fresh loads; head switches on the last."""
    first: list[float] = []
    timings: list[dict[str, float]] = []
    for i in range(loads):
        context, page, problems, shown = _open(browser, path, 120.0)
        if shown is not None and i == loads - 1 and switches:  # switches on the last (warm) load
            page.wait_for_function("document.querySelector('.tw-arcs-canvas').dataset.paintMs !== undefined", timeout=60_000)
            timings = page.evaluate(SWITCHES, switches)
        context.close()
        if shown is None or problems:
            raise RuntimeError(f"our page: {'nothing shown in 120 s; ' if shown is None else ''}{problems[:3]}")
        first.append(shown)
    return {"first": statistics.median(first), "first_all": first, "paint": [t["paint"] for t in timings],
            "switch": [t["switch"] for t in timings], "arcs": [t["arcs"] for t in timings],
            "shown": [t["shown"] for t in timings]}


def measure_bertviz(browser: Any, path: Path, switches: int, cap_s: float) -> dict[str, Any] | None:
    """bertviz's head_view page, one fresh load: file → first attention shown, and head switches when `switches`;
    None when it showed nothing within cap_s."""
    context, page, problems, shown = _open(browser, path, cap_s)
    timings: list[dict[str, float]] = []
    if shown is not None and switches:
        timings = page.evaluate(BERTVIZ_SWITCHES, [switches, cap_s * 1000])
    context.close()
    if any(p.startswith("refused") for p in problems) or (shown is not None and problems):
        raise RuntimeError(f"bertviz's page: {problems[:3]}")
    if shown is None:
        print(f"  bertviz's page {path.name}: nothing shown within {cap_s:g} s {problems[:2]}", file=sys.stderr)
        return None
    return {"first": shown, "paint": [t["paint"] for t in timings], "shown": [t["shown"] for t in timings]}


def measure(sizes: list[int], switches: int = 20, loads: int = 3, which: list[str] | None = None,
            cap_s: float = 60.0) -> list[Row]:
    if not os.access(CHROMIUM, os.X_OK):
        sys.exit(f"{CHROMIUM} is missing: run `make browser` to install Debian's Chromium.")
    missing = [str(f) for f in BERTVIZ_LIBS.values() if not f.is_file()]
    if missing:
        sys.exit(f"bertviz's page needs {', '.join(missing)}: `npm ci` (d3 5.7.0 is a devDependency), or --d3 FILE.")
    from playwright.sync_api import sync_playwright

    from transeasy_widget.export import to_html

    rows: list[Row] = []
    pairs = models()
    nan, med = float("nan"), statistics.median
    with tempfile.TemporaryDirectory(prefix="tw-bench-browser-") as tmp, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            for name in which or list(pairs):
                model, tokenizer = pairs[name]
                for n in sizes:
                    a = analysis(model, tokenizer, n, name)
                    ours_path, theirs_path = Path(tmp) / f"page-{name}-{n}.html", Path(tmp) / f"bertviz-{name}-{n}.html"
                    ours_path.write_text(to_html(a), encoding="utf-8")
                    theirs_path.write_text(bertviz_html(tuple(x[None] for x in a.trace.selfattn_attention), a.tokens),
                                           encoding="utf-8")
                    del a
                    gc.collect()
                    ours: list[dict[str, Any]] = []
                    theirs: list[dict[str, Any]] = []
                    capped = False
                    for i in range(loads):  # in turn, ours then bertviz's; switches on the last load of each
                        last = i == loads - 1
                        ours.append(measure_page(browser, ours_path, 1, switches if last else 0))
                        if not capped:
                            got = measure_bertviz(browser, theirs_path, switches if last else 0, cap_s)
                            capped = got is None  # no further load of a page that shows nothing in the cap
                            theirs += [got] if got else []
                    r, t = ours[-1], theirs[-1] if theirs and not capped else {"paint": [], "shown": []}
                    first = med(x["first"] for x in ours)
                    their_first = cap_s * 1000 if capped else med(x["first"] for x in theirs)
                    big = n == 512  # the targets are set at 512 tokens
                    rows += [
                        Row("browser: file → first attention shown", name, n, first, their_first, "ms",
                            bound=SECOND_MS if big else None, capped=capped),
                        Row("browser: head switch repaint (script), median", name, n, med(r["paint"]),
                            med(t["paint"]) if t["paint"] else nan, "ms", bound=FRAME_MS if big else None),
                        Row("browser: head switch repaint (script), max", name, n, max(r["paint"]),
                            max(t["paint"]) if t["paint"] else nan, "ms", bound=FRAME_MS if big else None),
                        Row("browser: head switch → frame shown, median", name, n, med(r["shown"]),
                            med(t["shown"]) if t["shown"] else nan, "ms"),
                    ]
                    each = {side: ", ".join(f"{x['first']:.0f}" for x in got) for side, got in (("ours", ours), ("bertviz", theirs))}
                    print(f"  {name} n={n}: page {ours_path.stat().st_size / 1e6:.1f} MB, bertviz's "
                          f"{theirs_path.stat().st_size / 1e6:.1f} MB; file → first attention shown per load (ms): "
                          f"ours {each['ours']}; bertviz {each['bertviz']}{'; ' if theirs and capped else ''}"
                          f"{f'nothing shown within {cap_s:g} s' if capped else ''}; "
                          f"bertviz switches {len(t['shown'])}; our arcs paint median {med(r['arcs']):.1f} ms",
                          file=sys.stderr)
                    ours_path.unlink()
                    theirs_path.unlink()
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
    p.add_argument("--bertviz-cap", type=float, default=60.0,
                   help="seconds to wait for bertviz's page to show its attention (at 512 tokens it shows nothing)")
    p.add_argument("--d3", type=Path, default=BERTVIZ_LIBS[D3_URL],
                   help="d3 5.7.0's d3.min.js, for bertviz's page (default: $BERTVIZ_D3, else node_modules')")
    args = p.parse_args(argv)
    BERTVIZ_LIBS[D3_URL] = args.d3
    if args.lab:
        print(row_table(measure_lab(args.sizes, args.models, switches=args.switches)))
    else:
        print(row_table(measure(args.sizes, args.switches, args.loads, args.models, args.bertviz_cap),
                        "ours", "bertviz head_view"))


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    main()
