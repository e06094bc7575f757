"""The widget live in JupyterLab: the real quickstart notebook, clicks reaching the kernel and back."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

QUICKSTART = Path(__file__).resolve().parents[2] / "notebooks" / "01-quickstart.ipynb"


def test_quickstart_notebook_renders_and_links_both_ways(lab_server, open_notebook):
    shutil.copy(QUICKSTART, lab_server.root / QUICKSTART.name)
    nb = open_notebook(lab_server, QUICKSTART.name)
    w = nb.widget(0)  # `w`; the sentence pair's widget is the second one
    w.expect_painted()
    # the notebook's own cells moved the view: layer 4, head 3 (after the observer cell), words, token 2
    expect(w.root).to_have_attribute("data-layer", "4")
    expect(w.root).to_have_attribute("data-head", "3")
    expect(w.root).to_have_attribute("data-variant", "reduced")
    expect(w.root).to_have_attribute("data-token", "2")
    w.shoot("lab-quickstart")

    # browser -> kernel: a click on a thumbnail of the overview selects that layer and head
    w.click_head(1, 5)
    expect(w.root).to_have_attribute("data-head", "5")
    expect(w.root).to_have_attribute("data-layer", "1")
    expect(w.part(".tw-heatmap .tw-title")).to_have_text("Attention · layer 1 · head 5 · reduced")
    assert nb.kernel("(w.layer, w.head)") == "(1, 5)"

    # kernel -> browser: setting the layer (and clearing the token) moves the view
    nb.run_cell("w.layer = 2\nw.token = -1")
    expect(w.root).to_have_attribute("data-layer", "2")
    expect(w.root).to_have_attribute("data-token", "-1")
    expect(w.part(".tw-heatmap .tw-title")).to_have_text("Attention · layer 2 · head 5 · reduced")
    title = w.part(".tw-arcs .tw-title")
    expect(title).to_have_text(re.compile(r"^Arcs · layer 2 · head 5$"))
    w.expect_painted()
    ink_all = w.ink(".tw-arcs-canvas")  # pixels drawn: every row's arcs, and the labels
    labels = w.root.evaluate("r => [...r.querySelectorAll('.tw-hm-rowlabels .tw-label[data-index]')].map(s => s.textContent)")
    assert len(labels) > 3, labels

    # hovering a token (left column of the arcs) isolates its arcs: title, data-token, fewer pixels drawn
    w.part(".tw-arcs-canvas").scroll_into_view_if_needed()
    w.page.mouse.move(*w.arcs_row_point(3))
    expect(w.root).to_have_attribute("data-token", "3")
    expect(title).to_have_text(f"Arcs · layer 2 · head 5 · from “{labels[3]}”")
    w.wait_ink_below(".tw-arcs-canvas", ink_all)
    assert 0 < w.ink(".tw-arcs-canvas") < ink_all
    w.shoot("lab-quickstart-arcs-hover", target=w.part(".tw-lower"), park_mouse=False)
    w.page.mouse.move(0, 0)
    expect(w.root).to_have_attribute("data-token", "-1")  # leaving returns to the pinned token

    # a box of the stage diagram shows its tensor, and the kernel hears of it
    w.choose_stage("ffnn_dense_act")
    expect(w.part(".tw-stage-shape")).to_contain_text("shown:")
    w.shoot("lab-quickstart-stage", target=w.part(".tw-stages"))
    assert nb.kernel("w.stage") == "'ffnn_dense_act'"
