"""The dashboard live in JupyterLab: a click in the bqplot grid moves the widget; a click in the widget marks the grid."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

DASHBOARD = """\
import transeasy_widget as tw
a = tw.analyze("The cat sat on the mat.", model="all-MiniLM-L6-v2")
d = a.dashboard()
d"""


def grid_cell(page, layer: int, head: int):
    """The bqplot GridHeatMap's rect of (layer, head): rows are drawn in data order (layers), cells in heads."""
    return page.locator(".bqplot .heatmaprow").nth(layer).locator("rect.heatmapcell").nth(head)


def test_dashboard_grid_and_widget_select_each_other(lab_server, open_notebook):
    nb = open_notebook(lab_server, "dashboard.ipynb", [DASHBOARD])
    w = nb.widget(0)
    w.expect_painted()
    page = nb.page
    # on JupyterLab's default 668 px cell the two panels sit side by side above the widget, and a click in the
    # grid and the heatmap it changes fit one laptop screen (800 px)
    nb.set_cell_width(668)
    page.wait_for_timeout(500)
    grid_box = page.locator(".bqplot").nth(0).bounding_box()
    line_box = page.locator(".bqplot").nth(1).bounding_box()
    assert line_box["y"] < grid_box["y"] + grid_box["height"] / 2 and grid_box["x"] + grid_box["width"] <= line_box["x"] + 1
    heatmap = w.part(".tw-hm-plot").bounding_box()
    assert heatmap["y"] + heatmap["height"] - grid_box["y"] <= 800, (grid_box, heatmap)
    expect(grid_cell(page, 0, 0)).to_have_css("stroke", "rgb(255, 0, 0)")  # the widget's head is marked
    w.shoot("lab-dashboard", target=page.locator(".jp-OutputArea-output").filter(has=page.locator(".tw-root")))

    # a click on a cell of the grid selects that layer and head in the widget (through the kernel)
    grid_cell(page, 3, 4).click()
    expect(w.root).to_have_attribute("data-layer", "3", timeout=30_000)
    expect(w.root).to_have_attribute("data-head", "4")
    expect(w.part(".tw-heatmap .tw-title")).to_have_text("Attention · layer 3 · head 4 · raw")
    assert nb.kernel("(d.widget.layer, d.widget.head, d.grid.selected.tolist())") == "(3, 4, [[3, 4]])"

    # a click on a head in the widget's overview marks the grid
    w.click_head(5, 2)
    expect(w.root).to_have_attribute("data-head", "2")
    expect(grid_cell(page, 5, 2)).to_have_css("stroke", "rgb(255, 0, 0)", timeout=30_000)
    expect(grid_cell(page, 3, 4)).not_to_have_css("stroke", "rgb(255, 0, 0)")
    assert nb.kernel("(d.grid.selected.tolist(), [int(x) for x in d.points.selected])") == "([[5, 2]], [5])"
    w.shoot("lab-dashboard-after-clicks", target=page.locator(".jp-OutputArea-output").filter(has=page.locator(".tw-root")))
