"""The same widget in Notebook 7 (`jupyter notebook`): it renders, and a click reaches the kernel."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

WIDGET = """\
import transeasy_widget as tw
a = tw.analyze("The cat sat on the mat.", model="all-MiniLM-L6-v2")
w = a.widget(layer=1)
w"""


def test_widget_renders_and_links_in_notebook_7(notebook_server, open_notebook):
    nb = open_notebook(notebook_server, "notebook7.ipynb", [WIDGET])
    assert nb.page.locator("#main-panel, .jp-NotebookPanel").count() and "/notebooks/" in nb.page.url
    w = nb.widget(0)
    w.expect_painted()
    expect(w.root).to_have_attribute("data-layer", "1")
    w.shoot("notebook7-widget")
    w.click_head(3, 6)
    expect(w.root).to_have_attribute("data-head", "6")
    assert nb.kernel("(w.layer, w.head)") == "(3, 6)"
