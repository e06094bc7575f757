"""A notebook saved with its widget state (nbclient, store_widget_state=True, as `jupyter nbconvert --execute`
saves it), shown again without a kernel (issue 13):

- `jupyter nbconvert --to html`, the real page it writes: the widget paints its overview and heatmap from the
  saved state, and says at once to run the cell for anything else. The page loads require.js and
  @jupyter-widgets/html-manager from CDNs, and the html-manager loads anywidget's front end from jsDelivr: here
  those URLs are answered with the same packages' files installed from npm (package.json pins the versions the
  template asks for), as a reader online gets them; and the offline variant the README gives (the three files
  beside the page) is opened with no route at all.
- a page that does what a kernel-less widget manager does with the saved state (the saved `_esm`, a model over
  the saved traits, no comm), from a file:// URL;
- JupyterLab 4.6 reopening the notebook, with its kernel started but the cell not run, and with "No Kernel", and
  Notebook 7.6 with its kernel: their widget manager draws no saved widget state (jupyterlab/jupyterlab#15361),
  so they show the richest other part of the output, the widget's picture (transeasy_widget/snapshot.py): the
  heatmap's pixels are checked against Python's numbers through the picture's colour bar.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

TEXT = "The cat sat on the mat because it was tired."
SOURCES = ["import transeasy_widget as tw\n"
           f"a = tw.analyze({TEXT!r}, model='all-MiniLM-L6-v2')\n"
           "a.widget(layer=2, head=3)"]
STATE_MIME = "application/vnd.jupyter.widget-state+json"


@pytest.fixture(scope="module")
def saved(tmp_path_factory, jupyter_env):
    """The notebook run by nbclient and saved with its widget state, as `jupyter nbconvert --execute` would."""
    import nbclient
    import nbformat

    root = tmp_path_factory.mktemp("saved-nb")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(s) for s in SOURCES]
    env = {**jupyter_env, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).parents[2]),
                                                                      os.environ.get("PYTHONPATH")]))}
    saved_env = dict(os.environ)
    os.environ.update(env)  # the kernel nbclient starts inherits this environment
    try:
        nbclient.NotebookClient(nb, timeout=300, kernel_name="python3", store_widget_state=True,
                                resources={"metadata": {"path": str(root)}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
    path = root / "saved.ipynb"
    nbformat.write(nb, str(path))
    return path


def test_the_saved_state_holds_the_first_paint(saved):
    nb = json.loads(saved.read_text())
    models = nb["metadata"]["widgets"][STATE_MIME]["state"]
    ours = [m["state"] for m in models.values() if "_first_paint" in m["state"]]
    assert len(ours) == 1
    state = ours[0]
    assert (state["layer"], state["head"]) == (2, 3) and "_esm" in state
    assert set(state["_first_paint"]["manifest"]["attention"]["layers"]) == {"2"}


HOST = """<!doctype html><html><head><meta charset="utf-8"></head><body>
<div id="root"></div>
<script type="application/json" id="saved">__STATE__</script>
<script type="module">
  const state = JSON.parse(document.getElementById("saved").textContent);
  const style = document.createElement("style");
  style.textContent = state._css;
  document.head.appendChild(style);
  const handlers = new Map();
  window.__sent = 0;
  const model = {
    get: (k) => state[k],
    set: (k, v) => { state[k] = v; for (const f of handlers.get("change:" + k) || []) f(); },
    on: (e, f) => { for (const k of e.split(" ")) handlers.set(k, [...(handlers.get(k) || []), f]); },
    off: () => {},
    save_changes: () => {},
    send: () => { window.__sent++; },  // no comm: nothing reaches a kernel
  };
  // the HTML manager's shape: no kernel, its models (Backbone models, here a stand-in) without a comm
  model.widget_manager = { loader: {}, _models: { saved: Promise.resolve({ get: model.get, comm: undefined }) } };
  const url = URL.createObjectURL(new Blob([state._esm], { type: "text/javascript" }));
  const widget = (await import(url)).default;
  widget.initialize({ model });
  widget.render({ model, el: document.getElementById("root") });
</script></body></html>"""


def test_the_saved_state_alone_paints_the_widget_and_says_to_run_the_cell(saved, open_page, network, tmp_path):
    import transeasy_widget as tw

    nb = json.loads(saved.read_text())
    models = nb["metadata"]["widgets"][STATE_MIME]["state"]
    state = next(m["state"] for m in models.values() if "_first_paint" in m["state"])
    host = tmp_path / "saved-host.html"
    host.write_text(HOST.replace("__STATE__", json.dumps(state).replace("<", "\\u003c")), encoding="utf-8")
    console: list[str] = []
    w = open_page(host.as_uri())
    w.page.on("console", lambda m: console.append(m.text))
    w.expect_painted(timeout=30_000)  # overview, heatmap, arcs and the attention stage, from the saved state
    assert w.page.evaluate("window.__sent") == 0

    # the heatmap shows the saved selection's head, as Python computes it
    a = tw.analyze(TEXT, model="all-MiniLM-L6-v2")
    got = w.part(".tw-hm-canvas").evaluate("""c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        const out = []; for (let i = 0; i < d.length; i += 4) out.push(0.2126 * d[i] + 0.7152 * d[i + 1] + 0.0722 * d[i + 2]);
        return out; }""")
    want = a.attentions.raw[2, 3].numpy().reshape(-1)
    assert np.corrcoef(-np.asarray(got), want)[0, 1] > 0.9
    assert np.corrcoef(-np.asarray(got), a.attentions.raw[2, 0].numpy().reshape(-1))[0, 1] < 0.9  # this head
    w.shoot("saved-state-no-kernel")

    # another layer needs the kernel: said at once, not after a timeout
    start = time.monotonic()
    w.part(".tw-layer select").select_option("4")
    expect(w.root).to_contain_text("run the cell to explore further", timeout=3_000)
    assert time.monotonic() - start < 3 and w.page.evaluate("window.__sent") == 0
    assert not [c for c in console if "[anywidget]" in c], console
    assert not network.errors, network.errors


# ---------------------------------------------------------------------------------------------- nbconvert's HTML

NODE_MODULES = Path(__file__).parents[2] / "node_modules"
# what the page nbconvert writes asks of other machines, and the npm package file that answers it here
CDN = {
    "https://cdnjs.cloudflare.com/ajax/libs/require.js/2.1.10/require.min.js": "requirejs/require.js",
    "https://unpkg.com/@jupyter-widgets/html-manager@*/dist/embed-amd.js": "@jupyter-widgets/html-manager/dist/embed-amd.js",
    # the html-manager's loader: jsDelivr, the module's semver range from the saved state (anywidget's)
    "https://cdn.jsdelivr.net/npm/anywidget@~0.11.*/dist/index.js": "anywidget/dist/index.js",
}
MATHJAX = "https://cdnjs.cloudflare.com/ajax/libs/mathjax/"  # typesets LaTeX; this notebook has none


def nbconvert(saved: Path, out: Path, *options: str) -> Path:
    import subprocess
    import sys

    run = subprocess.run([str(Path(sys.executable).parent / "jupyter"), "nbconvert", "--to", "html", str(saved),
                          "--output-dir", str(out), *options], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    return out / "saved.html"


def python_side():
    import transeasy_widget as tw

    return tw.analyze(TEXT, model="all-MiniLM-L6-v2")


def check_saved_view(w, a) -> None:
    """The saved selection (layer 2, head 3) painted from the state as Python computes it; another layer says at
    once to run the cell."""
    w.expect_painted(timeout=30_000)
    expect(w.part(".tw-heatmap .tw-title")).to_have_text("Attention · layer 2 · head 3 · raw")
    shown = np.asarray(w.heatmap_values())
    att = a.attentions.raw.numpy()
    assert np.abs(shown - att[2, 3]).max() <= 0.02
    assert np.abs(shown - att[2, 0]).max() > 0.1
    start = time.monotonic()
    w.part(".tw-layer select").select_option("4")
    expect(w.root).to_contain_text("run the cell to explore further", timeout=3_000)
    assert time.monotonic() - start < 3


def test_nbconvert_html_with_its_cdn_files_paints_the_saved_view(saved, page, open_page, network, tmp_path):
    """The real `jupyter nbconvert --to html` page, opened as a reader online opens it."""
    page_path = nbconvert(saved, tmp_path)
    answered: list[str] = []
    skipped: list[str] = []

    def cdn(route) -> None:
        url = route.request.url
        if url in CDN:
            answered.append(url)
            route.fulfill(path=str(NODE_MODULES / CDN[url]), content_type="text/javascript")
        elif url.startswith(MATHJAX):
            skipped.append(url)
            route.abort()
        else:
            route.fallback()  # to the fixture's route: anything else is refused, and fails the test

    page.route("https://**/*", cdn)
    w = open_page(page_path.as_uri())
    check_saved_view(w, python_side())
    assert sorted(set(answered)) == sorted(CDN), answered
    assert not network.errors, network.errors
    # nbconvert shows the widget, not the picture beside it in the bundle
    assert page.locator("img[alt='colour bar']").count() == 0
    w.shoot("saved-nbconvert-html")


def test_nbconvert_html_with_the_three_files_beside_it_works_offline(saved, open_page, network, tmp_path):
    """The README's offline recipe: require.js, embed-amd.js and anywidget.js beside the page, no CDN at all."""
    import shutil

    page_path = nbconvert(saved, tmp_path, "--HTMLExporter.require_js_url=require.js",
                          "--HTMLExporter.widget_renderer_url=embed-amd.js")
    for url, name in [("require.js", "requirejs/require.js"), ("embed-amd.js", CDN[next(k for k in CDN if "html-manager" in k)]),
                      ("anywidget.js", "anywidget/dist/index.js")]:
        shutil.copy(NODE_MODULES / name, tmp_path / url)
    w = open_page(page_path.as_uri())
    check_saved_view(w, python_side())
    others = [u for u in network.requests if not u.startswith(("file:", "data:", "blob:"))]
    assert others == [u for u in others if u.startswith(MATHJAX)], others  # only MathJax, which it does without
    network.blocked = [u for u in network.blocked if not u.startswith(MATHJAX)]
    assert not network.errors, network.errors


# ---------------------------------------------------------------------------------------------- JupyterLab, reopened

# The picture's heatmap read as a person reads it: each cell's centre pixel looked up on the picture's colour bar
# (nearest colour), between the two values printed beside the bar.
READ_PICTURE_JS = """([heat, bar, m]) => {
  const pixels = (img) => { const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;
    const g = c.getContext('2d'); g.drawImage(img, 0, 0); return [g.getImageData(0, 0, c.width, c.height).data, c.width]; };
  const [ends] = [bar.parentElement.textContent.trim().split(/\\s+/).map(Number)];
  const [lo, hi] = [ends[0], ends[ends.length - 1]];
  const [r, rw] = pixels(bar), [d, w] = pixels(heat), zoom = Math.floor(w / m), out = [];
  for (let i = 0; i < m; i++) { const row = [];
    for (let j = 0; j < m; j++) { const p = ((i * zoom + (zoom >> 1)) * w + j * zoom + (zoom >> 1)) * 4; let best = 0, bestD = Infinity;
      for (let k = 0; k < rw; k++) {
        const e = Math.abs(d[p] - r[4 * k]) + Math.abs(d[p + 1] - r[4 * k + 1]) + Math.abs(d[p + 2] - r[4 * k + 2]);
        if (e < bestD) { bestD = e; best = k; } }
      row.push(lo + (best + 0.5) / rw * (hi - lo)); }
    out.push(row); }
  return out; }"""


def check_picture(page, a) -> None:
    """What the reopened notebook shows in the widget's place: the picture of layer 2, head 3, with the message."""
    out = page.locator(".jp-OutputArea-output").first
    expect(out).to_contain_text("run the cell to explore further", timeout=30_000)
    heat = out.locator("img[alt='attention heatmap, layer 2, head 3, raw']")
    bar = out.locator("img[alt='colour bar']")
    overview = out.locator("img[alt='overview of every head, raw']")
    for img in (heat, bar, overview):  # decoded and laid out, not a broken image
        page.wait_for_function("i => i.complete && i.naturalWidth > 0 && i.getBoundingClientRect().width > 0",
                               arg=img.element_handle())
    expect(out).to_contain_text("Attention · layer 2 · head 3 · raw")
    m = len(a.tokens)
    shown = np.asarray(page.evaluate(READ_PICTURE_JS, [heat.element_handle(), bar.element_handle(), m]))
    att = a.attentions.raw.numpy()
    assert np.abs(shown - att[2, 3]).max() <= 0.01
    assert np.abs(shown - att[2, 0]).max() > 0.1
    assert page.locator(".jp-OutputArea .tw-root").count() == 0  # JupyterLab drew no widget (see the docstring)


def test_jupyterlab_reopening_it_with_its_kernel_shows_the_picture(saved, lab_server, open_notebook, artifacts):
    import shutil

    shutil.copy(saved, lab_server.root / "saved-kernel.ipynb")
    nb = open_notebook(lab_server, "saved-kernel.ipynb", run=False)  # the kernel starts; the cell is not run
    nb.page.wait_for_timeout(2_000)  # the widget manager registers once the kernel is ready: give it time to
    check_picture(nb.page, python_side())
    nb.page.locator(".jp-OutputArea-output").first.screenshot(path=str(artifacts / "saved-jupyterlab-kernel.png"))


def test_notebook7_reopening_it_with_its_kernel_shows_the_picture(saved, notebook_server, open_notebook, artifacts):
    import shutil

    shutil.copy(saved, notebook_server.root / "saved-nb7.ipynb")
    nb = open_notebook(notebook_server, "saved-nb7.ipynb", run=False)
    nb.page.wait_for_timeout(2_000)
    check_picture(nb.page, python_side())
    nb.page.locator(".jp-OutputArea-output").first.screenshot(path=str(artifacts / "saved-notebook7-kernel.png"))


@pytest.fixture(scope="module")
def lab_no_autostart(jupyter_env, tmp_path_factory):
    """A JupyterLab that starts no kernel by itself, so that a notebook can be opened with "No Kernel"."""
    from tests.browser.conftest import Server, _write_json

    settings = tmp_path_factory.mktemp("lab-settings-no-kernel")
    _write_json(settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings",
                {"autoStartDefaultKernel": False, "windowingMode": "none"})
    server = Server("lab", tmp_path_factory.mktemp("lab-no-kernel"), {**jupyter_env, "JUPYTERLAB_SETTINGS_DIR": str(settings)})
    yield server
    server.stop()


def test_jupyterlab_reopening_it_with_no_kernel_shows_the_picture(saved, lab_no_autostart, page, artifacts):
    # without a kernel in its metadata (JupyterLab would start the one named there), so it asks which one
    nb = json.loads(saved.read_text())
    del nb["metadata"]["kernelspec"], nb["metadata"]["language_info"]  # (it would pick a kernel by language too)
    (lab_no_autostart.root / "saved-none.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    page.goto(lab_no_autostart.notebook_url("saved-none.ipynb"))
    dialog = page.locator(".jp-Dialog", has_text="Select Kernel")
    dialog.wait_for(timeout=60_000)
    dialog.locator("select").select_option(label="No Kernel")
    dialog.locator(".jp-Dialog-button.jp-mod-accept").click()
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    check_picture(page, python_side())
    assert not [s for s in lab_no_autostart.api("sessions") if (s.get("kernel") or {}).get("id")]
    page.locator(".jp-OutputArea-output").first.screenshot(path=str(artifacts / "saved-jupyterlab-no-kernel.png"))
