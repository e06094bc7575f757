"""Ablation in the browser: the button and the key a ablate the selected head, Python sees the set, and the panel
shows the effect Python computes (the cosine of each hidden state before/after, here for the bare MiniLM encoder);
the exported page shows the ablations computed before export and says so for others."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import MODEL

pytestmark = pytest.mark.browser

TEXT = "The keys to the cabinet are on the table."


@pytest.fixture(scope="module")
def analysis():
    import transeasy_widget as tw

    return tw.analyze(TEXT, model=MODEL)


def cosines(analysis, heads) -> list[str]:
    """What the panel should print: Python's effect of ablating ``heads`` together, X_i and its cosine."""
    effect = analysis.ablate(heads=heads).effect()
    return [f"X{i} {float(c):.4f}" for i, c in enumerate(effect.cosine)]


def shown_cosines(w) -> list[str]:
    return w.part(".tw-ablation-cosx").all_inner_texts()


def test_ablating_heads_in_jupyterlab(lab_server, open_notebook, analysis):
    nb = open_notebook(lab_server, "ablate.ipynb", [
        "import transeasy_widget as tw",
        f"a = tw.analyze({TEXT!r}, model={MODEL!r})\nw = a.widget(layer=1, head=2)\nw",
    ])
    w = nb.widget(0)
    w.expect_painted()
    expect(w.part(".tw-ablation")).to_be_hidden()  # closed by default: the key a opens it
    w.root.focus()
    w.page.keyboard.press("a")
    expect(w.part(".tw-ablation")).to_be_visible()
    assert nb.kernel("(w.ablated, 'ablation' in w.panels)") == "([[1, 2]], True)"
    w.root.focus()  # (running a cell took the focus)
    w.page.keyboard.press("a")  # and gives the head back
    button = w.part(".tw-ablate")
    expect(button).to_have_text("ablate L1 H2")
    expect(w.part(".tw-ablation-set")).to_have_text("no head ablated: the model as it is")

    # the button: Python sees the set, the panel shows Python's effect
    button.click()
    expect(button).to_have_text("restore L1 H2")
    expect(w.part(".tw-ablation-set")).to_have_text("ablated (zero): L1 H2")
    assert nb.kernel("w.ablated") == "[[1, 2]]"
    expected = cosines(analysis, [(1, 2)])
    expect(w.part(".tw-ablation-cosx")).to_have_text(expected)
    assert expected[1] == "X1 1.0000" and expected[-1] != "X6 1.0000"  # layers before 1 untouched, the last moved

    # the key a on the focused widget ablates the selected head too: both together now
    w.click_head(4, 7)
    expect(w.root).to_have_attribute("data-head", "7")
    w.root.focus()
    w.page.keyboard.press("a")
    expect(w.part(".tw-ablation-set")).to_have_text("ablated (zero): L1 H2, L4 H7")
    expect(w.part(".tw-ablation-cosx")).to_have_text(cosines(analysis, [(1, 2), (4, 7)]))
    assert nb.kernel("w.ablated") == "[[1, 2], [4, 7]]"
    w.shoot("lab-ablation", target=w.part(".tw-lower"))

    # Python sets the trait: the view follows; a bad value is refused there with the valid form
    nb.run_cell("w.ablated = [[0, 3]]")
    expect(w.part(".tw-ablation-set")).to_have_text("ablated (zero): L0 H3")
    expect(w.part(".tw-ablation-cosx")).to_have_text(cosines(analysis, [(0, 3)]))
    out = nb.run_cell("try:\n    w.ablated = [[9, 0]]\nexcept Exception as e:\n    print(type(e).__name__, e)")
    assert "TraitError" in out and "layer in 0..5" in out
    nb.run_cell("w.ablated = []")
    expect(w.part(".tw-ablation-set")).to_have_text("no head ablated: the model as it is")


def test_the_exported_page_shows_the_ablations_computed_before_export(analysis, tmp_path, open_page, network):
    w0 = analysis.widget(layer=2, head=1, ablated=[[2, 1]])
    path = w0.save_html(tmp_path / "ablation.html")
    w = open_page(path.as_uri())
    w.expect_painted()
    expect(w.part(".tw-ablation-set")).to_have_text("ablated (zero): L2 H1")
    expect(w.part(".tw-ablation-cosx")).to_have_text(cosines(analysis, [(2, 1)]))
    # another head: not computed before export, and the page says how to get it
    w.click_head(0, 0)
    expect(w.root).to_have_attribute("data-head", "0")
    w.part(".tw-ablate").click()
    expect(w.part(".tw-ablation-error")).to_contain_text("not computed before export")
    expect(w.part(".tw-ablation-error")).to_contain_text("Ablate L0 H0 + L2 H1 (zero) in the notebook")
    # restoring gets back to the set the page holds
    w.part(".tw-ablate").click()
    expect(w.part(".tw-ablation-cosx")).to_have_text(cosines(analysis, [(2, 1)]))
    w.shoot("export-ablation", target=w.part(".tw-lower"))
    assert not network.errors, network.errors
