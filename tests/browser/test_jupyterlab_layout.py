"""The widget at notebook scale, in JupyterLab: on a 1,000 px cell and on the 668 px cell of JupyterLab's default
layout (file browser open) it fits (height, nothing cut off or overflowing), its colours read back as Python's
numbers through the colour bars, and the row view shows the attention row as the model computes it.

`TW_README_IMG=1` also copies the screenshots the README shows into docs/img/ (see the README)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

TEXT = "The cat sat on the mat because it was tired."
SOURCE = f"""\
import transeasy_widget as tw
a = tw.analyze({TEXT!r}, model="all-MiniLM-L6-v2")
w = a.widget(layer=2, head=4)
w"""
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
MAX_HEIGHT = 720  # the default view (controls, overview, heatmap, arcs) on one screen


@pytest.fixture(scope="module")
def python_side():
    """The same analysis in the test process: the numbers the widget must show."""
    import transeasy_widget as tw

    return tw.analyze(TEXT, model="all-MiniLM-L6-v2")


def keep(path: Path, name: str) -> None:
    if os.environ.get("TW_README_IMG"):
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, DOCS_IMG / name)


def fits(w) -> dict:
    """Geometry of the widget in its output area: its height and every panel's box against the widget's box."""
    return w.root.evaluate("""r => {
      const box = r.getBoundingClientRect(), out = r.closest('.jp-OutputArea-output');
      const panels = [...r.querySelectorAll('.tw-panel')].filter(p => !p.hidden && p.offsetParent !== null)
        .map(p => { const b = p.getBoundingClientRect();
          return {cls: p.className, left: b.left - box.left, right: box.right - b.right, width: b.width, height: b.height}; });
      return {height: box.height, width: box.width, scroll: r.scrollWidth - r.clientWidth,
              outputScroll: out.scrollWidth - out.clientWidth, panels}; }""")


@pytest.mark.parametrize("cell", [1000, 668])
def test_the_default_view_fits_the_cell_and_reads_as_pythons_numbers(lab_server, open_notebook, python_side, cell):
    nb = open_notebook(lab_server, f"layout-{cell}.ipynb", [SOURCE])
    page = nb.page
    assert nb.set_cell_width(cell) == cell
    w = nb.widget(0)
    w.expect_painted()
    page.wait_for_timeout(300)  # the layout follows the width (ResizeObserver)

    # it fits: the default view within MAX_HEIGHT, every panel inside the widget, nothing scrolls sideways
    g = fits(w)
    print(f"cell {cell}px: widget {g['width']:.0f}×{g['height']:.0f}px")
    assert g["height"] <= MAX_HEIGHT, g
    assert g["scroll"] <= 0 and g["outputScroll"] <= 0, g
    assert {p["cls"].split()[-1] for p in g["panels"]} == {"tw-overview", "tw-heatmap", "tw-arcs"}
    for p in g["panels"]:
        assert p["left"] >= 0 and p["right"] >= 0, p
    assert w.part(".tw-stages").is_hidden() and w.part(".tw-row").is_hidden()  # closed by default
    # overview thumbnails sized to the space: 48 px or more where the cell has room
    thumb = w.part(".tw-ov-mark").bounding_box()["width"] - 6
    assert thumb >= (48 if cell >= 1000 else 14), thumb
    w.shoot(f"lab-layout-{cell}")
    if cell == 1000:
        keep(w.artifacts / "lab-layout-1000.png", "widget-1000.png")

    # the heatmap, read off its colour bar (fixed 0 … 1), is Python's layer 2, head 4 — and not head 5
    att = python_side.attentions.raw.numpy()
    assert w.colour_bar(".tw-heatmap") == ("0.000", "1.000")
    shown = np.array(w.heatmap_values())
    assert np.abs(shown - att[2, 4]).max() <= 0.02
    assert np.abs(shown - att[2, 5]).max() > 0.1
    # another head, clicked in the overview: its own numbers
    w.click_head(3, 1)
    expect(w.part(".tw-heatmap .tw-title")).to_have_text("Attention · layer 3 · head 1 · raw")
    page.wait_for_function("p => p.querySelector('.tw-hm-canvas').width > 0", arg=w.part(".tw-heatmap").element_handle())
    page.wait_for_timeout(200)
    assert np.abs(np.array(w.heatmap_values()) - att[3, 1]).max() <= 0.02
    # the per-head scale: the bar's top is this head's max, and the cells follow it
    w.part(".tw-scale select").select_option("head")
    expect(w.part(".tw-heatmap .tw-cbar-hi")).to_have_text(f"{att[3, 1].max():.3f}")
    assert np.abs(np.array(w.heatmap_values()) - att[3, 1]).max() <= 0.02 * att[3, 1].max() + 1e-3
    assert nb.kernel("w.color_scale") == "'head'"

    # the tooltip of a cell: row token → column token: Python's value
    tokens = python_side.tokens
    box = w.part(".tw-hm-plot").bounding_box()
    m = len(tokens)
    i, j = 3, 5
    page.mouse.move(box["x"] + (j + 0.5) * box["width"] / m, box["y"] + (i + 0.5) * box["height"] / m)
    tip = w.part(".tw-tooltip")
    expect(tip).to_contain_text(f"{tokens[i]} → {tokens[j]}: ")
    assert float(tip.inner_text().rsplit(": ", 1)[1]) == pytest.approx(att[3, 1, i, j], abs=6e-4)
    page.mouse.move(0, 0)

    # "save as": a PNG image and an SVG drawing of the map shown, with its labels
    with page.expect_download() as png:
        w.part(".tw-heatmap .tw-save button").filter(has_text="PNG").click()
    assert png.value.suggested_filename == "attention-L3-H1-raw.png"
    assert Path(png.value.path()).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with page.expect_download() as svg:
        w.part(".tw-heatmap .tw-save button").filter(has_text="SVG").click()
    drawing = Path(svg.value.path()).read_text(encoding="utf-8")
    assert svg.value.suggested_filename == "attention-L3-H1-raw.svg" and drawing.startswith("<svg")
    assert drawing.count("<title>") == m * m and f">{tokens[5]}</text>" in drawing

    # word labels: the reduced variant's rows are Python's words
    w.part(".tw-variant select").select_option("reduced")
    words = python_side.attentions.labels("reduced")
    expect(w.part(".tw-hm-rowlabels .tw-label[data-index]")).to_have_text(words)


def test_stage_viewer_and_row_view_show_every_column_and_the_models_row(lab_server, open_notebook, python_side):
    nb = open_notebook(lab_server, "rowview.ipynb", [SOURCE])
    page = nb.page
    nb.set_cell_width(1000)
    w = nb.widget(0)
    w.expect_painted()

    # the row view, opened from the control bar, follows the heatmap's row: a click on row 3 ("sat")
    w.show_panel("row")
    box = w.part(".tw-hm-plot").bounding_box()
    m = len(python_side.tokens)
    page.mouse.click(box["x"] + 2, box["y"] + 3.5 * box["height"] / m)
    expect(w.part(".tw-row .tw-title")).to_have_text(
        f"Attention row · layer 2 · head 4 · query “{python_side.tokens[3]}” (piece 3)")
    t = python_side.trace
    soft = [float(s) for s in w.part(".tw-row-soft .tw-row-num").all_inner_texts()]
    dots = [float(s) for s in w.part(".tw-row-grid > .tw-row-num:nth-child(6n+4)").all_inner_texts()]
    assert np.allclose(soft, t.selfattn_attention[2, 4, 3].numpy(), atol=6e-4)
    assert len(dots) == m and np.allclose(dots, t.selfattn_qkt_hidden[2, 4, 3].numpy(), atol=6e-3)
    assert w.colour_bar(".tw-row-bars")[1] != ""
    w.shoot("lab-row-view", target=w.part(".tw-lower"))
    keep(w.artifacts / "lab-row-view.png", "row-view.png")

    # on JupyterLab's 668 px cell: its "k_j" heading opens that stage in the stage viewer, for the same layer and
    # head; the panel comes on screen
    nb.set_cell_width(668)
    page.wait_for_timeout(300)
    w.part(".tw-row-link[data-stage='selfattn_key_hidden']").click()
    expect(w.part(".tw-stage-title")).to_contain_text("selfattn_key_hidden")
    assert nb.kernel("(w.stage, 'stages' in w.panels)") == "('selfattn_key_hidden', True)"
    panel = w.part(".tw-stage-panel")
    page.wait_for_timeout(600)  # the smooth scroll
    top = panel.bounding_box()["y"]
    assert 0 <= top < page.viewport_size["height"], top

    # a narrow tensor shows whole; the selected token's row is marked
    expect(w.part(".tw-stage-shape")).to_contain_text("shown: n×dh = 13×32")
    canvas, scroller = w.part(".tw-stage-canvas").bounding_box(), w.part(".tw-stage-scroll").bounding_box()
    assert canvas["x"] + canvas["width"] <= scroller["x"] + scroller["width"] + 0.5
    expect(w.part(".tw-stage-cols")).to_have_text("")
    mark = w.part(".tw-stage-rowmark").bounding_box()
    assert abs(mark["y"] - (canvas["y"] + 3 * canvas["height"] / m)) <= 1.5
    # its colour bar: Python's rule (signed: ±99th percentile of |x|), recomputed here with numpy
    k = t.selfattn_key_hidden[2, 4].numpy()
    hi = float(np.quantile(np.abs(k), 0.99))
    lo_text, hi_text = w.colour_bar(".tw-stage-scale")
    assert float(hi_text) == pytest.approx(hi, abs=6e-4) and float(lo_text) == pytest.approx(-hi, abs=6e-4)

    # a wide tensor (1,536 columns in 668 px) says which columns show, and the rest scrolls into view
    w.choose_stage("ffnn_dense_act")
    cols = w.part(".tw-stage-cols")
    expect(cols).to_contain_text(re.compile(r"^f → columns 0–\d+ of 1536"))
    w.part(".tw-stage-scroll").evaluate("s => { s.scrollLeft = s.scrollWidth; s.dispatchEvent(new Event('scroll')); }")
    expect(cols).to_contain_text(re.compile(r"^f → columns \d+–1535 of 1536"))
    g = fits(w)
    assert g["scroll"] <= 0 and g["outputScroll"] <= 0, g
    w.shoot("lab-stage-668", target=w.part(".tw-stages"))
    keep(w.artifacts / "lab-stage-668.png", "stage-view.png")


def test_two_widgets_side_by_side_share_one_cell(lab_server, open_notebook):
    nb = open_notebook(lab_server, "hbox.ipynb", [f"""\
import ipywidgets as ipw
import transeasy_widget as tw
a = tw.analyze({TEXT!r}, model="all-MiniLM-L6-v2")
b = tw.analyze("The dog slept because it was tired.", model="all-MiniLM-L6-v2")
ipw.HBox([a.widget(), b.widget()])"""])
    nb.set_cell_width(1000)
    left, right = nb.widget(0), nb.widget(1)
    left.expect_painted()
    right.expect_painted()
    nb.page.wait_for_timeout(300)
    out = nb.page.locator(".jp-OutputArea-output").filter(has=nb.page.locator(".tw-root")).first.bounding_box()
    boxes = [w.root.bounding_box() for w in (left, right)]
    assert boxes[0]["x"] + boxes[0]["width"] <= boxes[1]["x"] + 0.5  # side by side
    for box in boxes:
        assert out["x"] - 0.5 <= box["x"] and box["x"] + box["width"] <= out["x"] + out["width"] + 0.5, (box, out)
    for w in (left, right):
        g = fits(w)
        assert g["scroll"] <= 0 and g["outputScroll"] <= 0, g
        for p in g["panels"]:
            assert p["left"] >= 0 and p["right"] >= 0, p
    left.shoot("lab-hbox", target=nb.page.locator(".jp-OutputArea-output").filter(has=nb.page.locator(".tw-root")).first)


def test_a_long_input_keeps_the_default_view_on_one_screen(lab_server, open_notebook, python_side):
    long_text = " ".join([TEXT] * 40)
    nb = open_notebook(lab_server, "long.ipynb", [
        f"import transeasy_widget as tw\na = tw.analyze({long_text!r}, model='all-MiniLM-L6-v2')\nw = a.widget()\nw"])
    nb.set_cell_width(1000)
    w = nb.widget(0)
    w.expect_painted()
    nb.page.wait_for_timeout(300)
    g = fits(w)
    import transeasy_widget as tw

    long = tw.analyze(long_text, model="all-MiniLM-L6-v2")
    n = len(long.tokens)
    print(f"{n} tokens, cell 1000px: widget {g['width']:.0f}×{g['height']:.0f}px")
    assert g["height"] <= 760, g
    assert g["scroll"] <= 0 and g["outputScroll"] <= 0, g
    for p in g["panels"]:
        assert p["left"] >= 0 and p["right"] >= 0, p
    # every row is in the map (drawn at under a pixel per row), and the map still reads as Python's numbers
    assert w.part(".tw-hm-canvas").evaluate("c => c.width") == n > w.part(".tw-hm-plot").bounding_box()["width"]
    assert np.abs(np.array(w.heatmap_values()) - long.attentions.raw[0, 0].numpy()).max() <= 0.02
