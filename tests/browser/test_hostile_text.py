"""A sentence full of markup, in JupyterLab and in the exported page: shown as text, never run."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

IMG = "<img src=x onerror=window.__pwned=1>"
SCRIPT = "<script>window.__pwned=1</script>"
TEXT = f"The cat {IMG} sat {SCRIPT} on </script> the mat."


def shows_as_text_and_runs_nothing(w) -> None:
    # the sentence itself (stage sym_sent shows it, as text) and the word labels of the reduced variant
    w.choose_stage("sym_sent", tensor=False)
    expect(w.part(".tw-stage-text")).to_have_text(TEXT)
    expect(w.part(".tw-stage-scale .tw-cbar")).to_be_hidden()  # no colour scale left over from the tensor before
    w.part(".tw-variant select").select_option("reduced")
    expect(w.root).to_have_attribute("data-variant", "reduced")
    labels = w.part(".tw-hm-rowlabels .tw-label[data-index]")
    expect(labels).to_contain_text(["<img", "onerror=window.__pwned=1>", SCRIPT, "</script>"], timeout=30_000)
    text = w.root.evaluate("r => r.textContent")
    assert IMG in text and SCRIPT in text and "</script>" in text
    # nothing of it became markup, and nothing of it ran
    assert w.root.evaluate("r => r.querySelectorAll('img, script, iframe, object, embed').length") == 0
    w.page.wait_for_timeout(300)  # time for an onerror to fire, had an <img> been made
    assert w.page.evaluate("typeof window.__pwned") == "undefined"


def test_hostile_text_in_jupyterlab(lab_server, open_notebook):
    nb = open_notebook(lab_server, "hostile.ipynb", [
        f"import transeasy_widget as tw\nTEXT = {TEXT!r}\na = tw.analyze(TEXT, model='all-MiniLM-L6-v2')\nw = a.widget()\nw"])
    w = nb.widget(0)
    w.expect_painted()
    shows_as_text_and_runs_nothing(w)
    w.shoot("lab-hostile-text")
    assert nb.kernel("(w.stage, w.variant)") == "('sym_sent', 'reduced')"
    assert nb.page.evaluate("typeof window.__pwned") == "undefined"


def test_hostile_text_in_the_exported_page(tmp_path, open_page, network):
    import transeasy_widget as tw
    from transeasy_widget.export import export_html

    path = export_html(tw.analyze(TEXT, model="all-MiniLM-L6-v2"), tmp_path / "hostile.html")
    w = open_page(path.as_uri())
    w.expect_painted()
    expect(w.page.locator(".tw-page-caption")).to_contain_text(TEXT)
    assert TEXT in w.page.title()
    shows_as_text_and_runs_nothing(w)
    # the page's own: state, pack manifest, the first paint's data, bundle, boot, the rest of the data
    assert w.page.evaluate("document.scripts.length") == 6
    assert w.page.evaluate("document.querySelectorAll('img').length") == 0
    w.shoot("export-hostile-text")
    assert not network.errors, network.errors
    assert all(u.startswith(("file:", "data:", "blob:")) for u in network.requests), network.requests
