"""tw.compare in the browser: a minimal pair side by side in JupyterLab and in its exported page; the difference
map read as a person reads it (each cell's colour looked up on its colour bar) against Python's b − a."""

from __future__ import annotations

import time

import numpy as np
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import MODEL, READ_MAP_JS

pytestmark = pytest.mark.browser

A, B = "The keys to the cabinet is", "The keys to the cabinet are"


@pytest.fixture(scope="module")
def comparison():
    import transeasy_widget as tw

    return tw.compare(tw.analyze(A, model=MODEL), tw.analyze(B, model=MODEL))


def shown(w, side: str) -> np.ndarray:
    return np.asarray(w.part(f".tw-heatmap.tw-side-{side}").evaluate(READ_MAP_JS))


def off_by(w, side: str, values: np.ndarray) -> float:
    """The largest difference between a map as read off its colour bar and Python's values."""
    got = shown(w, side)
    assert got.shape == values.shape
    return float(np.abs(got - values).max())


def close_enough(w, side: str, values: np.ndarray, seconds: float = 30.0) -> bool:
    """The map shows ``values`` within what its colour bar can tell apart (one of its 96 steps over ±max, plus the
    page's 8 bits): a repaint follows the selection by a frame or two, so it is read again until then."""
    tolerance = 1.5 * 2 * float(np.abs(values).max()) / 96 + 2e-3
    end = time.monotonic() + seconds
    while True:
        try:
            if off_by(w, side, values) <= tolerance:
                return True
        except AssertionError:  # not repainted at the new size yet
            pass
        if time.monotonic() > end:
            return False
        time.sleep(0.2)


def check_the_comparison(w, comparison, layer: int, head: int) -> None:
    """Titles, labels and the difference map of (layer, head) as Python computes it; and not any other head's."""
    expect(w.part(".tw-side-diff .tw-title")).to_have_text(f"b − a · layer {layer} · head {head} · raw")
    expect(w.part(".tw-side-b .tw-title")).to_have_text(f"b: Attention · layer {layer} · head {head} · raw")
    rows = w.part(".tw-side-diff .tw-hm-rowlabels .tw-label[data-index]").all_inner_texts()
    assert rows == comparison.labels("raw") and "is→are" in rows
    diff = comparison.difference("raw", layer).numpy()
    assert close_enough(w, "diff", diff[head]), (off_by(w, "diff", diff[head]), float(np.abs(diff[head]).max()))
    other = diff[(head + 1) % diff.shape[0]]
    assert off_by(w, "diff", other) > 3 * 2 * float(np.abs(diff[head]).max()) / 96  # this head's, not another's
    lo, hi = w.colour_bar(".tw-side-diff")
    assert float(lo) == -float(hi) and abs(float(hi) - float(np.abs(diff[head]).max())) <= 1e-3
    # b's own map is b's attention
    b = comparison.b.attentions.layer("raw", layer)[head].numpy()
    assert close_enough(w, "b", b)


def test_a_minimal_pair_side_by_side_in_jupyterlab(lab_server, open_notebook, comparison):
    nb = open_notebook(lab_server, "compare.ipynb", [
        "import transeasy_widget as tw",
        f"c = tw.compare(tw.analyze({A!r}, model={MODEL!r}), tw.analyze({B!r}, model={MODEL!r}))\n"
        "w = c.widget(layer=1, head=2)\nw",
    ])
    w = nb.widget(0)
    w.expect_painted()
    expect(w.part(".tw-compare-legend")).to_contain_text(B)
    check_the_comparison(w, comparison, 1, 2)
    w.shoot("lab-compare")

    # browser -> kernel: a head clicked in the overview moves all three maps, and Python sees it
    w.click_head(3, 7)
    expect(w.root).to_have_attribute("data-head", "7")
    check_the_comparison(w, comparison, 3, 7)
    assert nb.kernel("(w.layer, w.head)") == "(3, 7)"

    # kernel -> browser
    nb.run_cell("w.select(layer=4, head=0)")
    expect(w.root).to_have_attribute("data-layer", "4")
    check_the_comparison(w, comparison, 4, 0)

    # the delta grid of a head statistic: a click there selects that head too
    expect(w.part(".tw-deltas .tw-title")).to_have_text("Heads · Δ entropy (b − a)")
    box = w.part(".tw-deltas-canvas").bounding_box()
    thumb = (box["width"] + 2) / 12 - 2
    w.page.mouse.click(box["x"] + 5 * (thumb + 2) + thumb / 2, box["y"] + 2 * (thumb + 2) + thumb / 2)
    expect(w.root).to_have_attribute("data-head", "5")
    expect(w.root).to_have_attribute("data-layer", "2")
    assert nb.kernel("(w.layer, w.head)") == "(2, 5)"


def test_the_comparisons_exported_page(comparison, tmp_path, open_page, network):
    path = comparison.save_html(tmp_path / "compare.html", layers=[0])
    w = open_page(path.as_uri())
    w.expect_painted()
    expect(w.page.locator(".tw-page-caption")).to_contain_text(B)
    check_the_comparison(w, comparison, comparison.widget().layer, comparison.widget().head)
    w.click_head(5, 11)
    expect(w.root).to_have_attribute("data-head", "11")
    check_the_comparison(w, comparison, 5, 11)
    w.shoot("export-compare")
    assert not network.errors, network.errors
    assert not [u for u in network.requests if not u.startswith(("file:", "data:", "blob:"))]
