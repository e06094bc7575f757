"""A notebook saved with its widget state (nbclient, store_widget_state=True, as `jupyter nbconvert --execute`
saves it), shown again without a kernel: the widget paints its overview and heatmap from the saved state, and says
at once to run the cell for anything else (issue 13).

What hosts the saved state here: a page that does what a kernel-less widget manager (nbconvert's HTML manager)
does with it: it loads the saved `_esm` and `_css`, builds the model from the saved trait values (no comm, `send`
goes nowhere, a manager without a kernel) and renders it, in Chromium from a file:// URL, the network blocked.
Not tested here, and why:
- JupyterLab 4.6 (jupyterlab_widgets 3) registers its widget renderer only once a kernel is ready, after the
  notebook's outputs are drawn: a reopened notebook shows the text fallback of every widget (ours and
  ipywidgets' own) until its cell runs again; with "No Kernel" the manager is never created.
- nbconvert's HTML loads require.js and @jupyter-widgets/html-manager from a CDN, unreachable here.
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
