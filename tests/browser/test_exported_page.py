"""The exported page (`transeasy-widget TEXT -o page.html`) from a file:// URL, with every other request refused."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

TEXT = "The cat sat on the mat because it was tired."


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    path = tmp_path_factory.mktemp("export") / "page.html"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "MPLBACKEND": "Agg"}
    run = subprocess.run([sys.executable, "-m", "transeasy_widget.cli", TEXT, "--model", "all-MiniLM-L6-v2", "-o", str(path)],
                         env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    return path


def only_files(network) -> None:
    others = [u for u in network.requests if not u.startswith(("file:", "data:", "blob:"))]
    assert not others and not network.blocked, f"the page asked for more than itself: {others + network.blocked}"


def test_exported_page_renders_offline_and_responds(exported, open_page, network):
    w = open_page(exported.as_uri())
    w.expect_painted()
    expect(w.page.locator(".tw-page-caption")).to_contain_text(TEXT)
    w.shoot("export-page")

    # a head in the overview
    w.click_head(2, 7)
    expect(w.root).to_have_attribute("data-head", "7")
    expect(w.root).to_have_attribute("data-layer", "2")
    expect(w.part(".tw-heatmap .tw-title")).to_have_text("Attention · layer 2 · head 7 · raw")

    # another variant: [CLS] and [SEP] dropped, the heatmap repainted with two rows fewer
    m = int(w.part(".tw-hm-canvas").evaluate("c => c.width"))
    w.part(".tw-variant select").select_option("nosep")
    expect(w.root).to_have_attribute("data-variant", "nosep")
    w.page.wait_for_function("([c, m]) => c.width === m - 2", arg=[w.part(".tw-hm-canvas").element_handle(), m])
    w.expect_painted()
    expect(w.part(".tw-ov .tw-title, .tw-overview .tw-title").first).to_contain_text("nosep")

    # a box of the stage diagram: its tensor painted
    w.choose_stage("preemb_sum_emb")
    expect(w.part(".tw-stage-shape")).to_contain_text("shown:")
    w.shoot("export-page-after-clicks")
    assert not network.errors, network.errors
    only_files(network)


# --------------------------------------------------------------------------- the page at 512 tokens (issue 13)

LONG = ("The quick brown fox jumps over the lazy dog while the cat sat on the mat because it was tired and the "
        "salesman gave us a demo of the course .")

@pytest.fixture(scope="module")
def long_page(tmp_path_factory):
    import transeasy_widget as tw
    from transeasy_widget.export import export_html

    a = tw.analyze(" ".join([LONG] * 30), model="all-MiniLM-L6-v2", truncate=True)
    assert len(a.tokens) == 512
    path = export_html(a, tmp_path_factory.mktemp("export512") / "page.html")
    return a, path


def off_by(w, values) -> float:
    """How far the heatmap, read as a person reads it (each cell's colour looked up on its colour bar), is from
    Python's values: the largest difference over the cells."""
    import numpy as np

    shown = np.asarray(w.heatmap_values())
    assert shown.shape == values.shape
    return float(np.abs(shown - values).max())


def eventually(check, seconds: float = 20.0) -> bool:
    """True once ``check()`` holds (a repaint follows the selection by a frame or two), False after ``seconds``."""
    import time

    end = time.monotonic() + seconds
    while not check():
        if time.monotonic() > end:
            return False
        time.sleep(0.1)
    return True


def test_the_512_token_page_is_small_paints_each_head_and_derives_every_variant(long_page, open_page, network):
    a, path = long_page
    assert path.stat().st_size <= 12.5e6  # MiniLM, 6 × 12, every layer, head and variant
    w = open_page(path.as_uri())
    w.expect_painted(timeout=60_000)
    raw = a.attentions.raw
    assert off_by(w, raw[0, 0].numpy()) <= 0.02  # the 8-bit page and the colour ramp: within 0.02 of 1
    assert off_by(w, raw[0, 5].numpy()) > 0.1  # not any head: this one

    w.part(".tw-head select").select_option("5")
    expect(w.root).to_have_attribute("data-head", "5")
    assert eventually(lambda: off_by(w, raw[0, 5].numpy()) <= 0.02)

    # the variants the page derives from the raw attention, against Python's
    for variant in ("nosep_linscale", "reduced", "nosep_softmax_scale"):
        m = len(a.attentions.labels(variant))
        w.part(".tw-variant select").select_option(variant)
        w.page.wait_for_function("([c, m]) => c.width === m", arg=[w.part(".tw-hm-canvas").element_handle(), m])
        expected = a.attentions.get(variant)[0, 5].numpy()
        assert eventually(lambda expected=expected: off_by(w, expected) <= 0.02), variant

    # the stage layers left out are named in the page, and asking for one says how to get it
    missing = w.page.locator(".tw-page-missing")
    expect(missing).to_contain_text("left out")
    # the attention stage (the default) is derived from the raw attention: painted for every layer
    w.show_panel("stages")
    expect(w.root).to_have_attribute("data-stage", "selfattn_attention")
    assert eventually(lambda: w.ink(".tw-stage-canvas") > 0)
    w.part(".tw-stage-box[data-stage='ffnn_dense_act']").click()
    expect(w.part(".tw-stage-panel")).to_contain_text("not in this page")
    assert not network.errors, network.errors
    only_files(network)


# --------------------------------------------------------------------------- the row view, from the page's tensors

def open_row(w, layer: int, head: int, row: int, m: int) -> None:
    """Selects (layer, head) in the overview, opens the row view and pins heatmap row `row` (of m) with a click,
    unless it is pinned already (a second click would unpin it)."""
    w.click_head(layer, head)
    expect(w.root).to_have_attribute("data-head", str(head))
    w.show_panel("row")
    if w.data("token") != str(row):
        box = w.part(".tw-hm-plot").bounding_box()
        w.page.mouse.click(box["x"] + 2, box["y"] + (row + 0.5) * box["height"] / m)
    expect(w.root).to_have_attribute("data-token", str(row))


def row_numbers(w) -> tuple[list[float], list[float], list[float]]:
    """The row view's printed columns as a person reads them: q·k_j, scaled (−∞ where masked) and softmax."""
    cells = w.part(".tw-row-grid > .tw-row-num").all_inner_texts()
    value = lambda s: float("-inf") if s == "−∞" else float(s)  # noqa: E731
    soft = [float(s) for s in w.part(".tw-row-soft .tw-row-num").all_inner_texts()]
    return [value(s) for s in cells[0::2]], [value(s) for s in cells[1::2]], soft


def strip_tooltip(w, vector: str, key: int, component: int, dh: int) -> float:
    """Hovers component `component` of a strip (q∘k_key or k_key) and reads the number its tooltip prints."""
    strip = w.part(f".tw-row-strip[data-vector='{vector}'][data-key='{key}']")
    strip.scroll_into_view_if_needed()
    box = strip.bounding_box()
    w.page.mouse.move(box["x"] + (component + 0.5) * box["width"] / dh, box["y"] + box["height"] / 2)
    tip = w.part(".tw-tooltip")
    expect(tip).to_contain_text(f"[{component}] = ")
    return float(tip.inner_text().rsplit("= ", 1)[1])


def test_the_pages_row_view_reads_its_own_tensors_and_names_the_layers_it_lacks(exported, open_page, network):
    import numpy as np

    import transeasy_widget as tw

    a = tw.analyze(TEXT, model="all-MiniLM-L6-v2")  # what the CLI exported
    t, m, layer, head, query = a.trace, len(a.tokens), 1, 4, 3
    w = open_page(exported.as_uri())
    w.expect_painted()
    open_row(w, layer, head, query, m)
    expect(w.part(".tw-row .tw-title")).to_have_text(
        f"Attention row · layer {layer} · head {head} · query “{a.tokens[query]}” (piece {query})")
    expect(w.part(".tw-row-explain")).to_contain_text("read from this page's 8-bit tensors")
    expect(w.part(".tw-row-soft .tw-row-num")).to_have_count(m)
    dots, scaled, soft = row_numbers(w)
    # 8-bit per row: each value within half a step (the row's largest |value| / 127 or / 255) of the model's
    dot_row = t.selfattn_qkt_hidden[layer, head, query].numpy()
    att_row = t.selfattn_attention[layer, head, query].numpy()
    assert np.abs(np.array(dots) - dot_row).max() <= np.abs(dot_row).max() / 127 + 2e-3
    assert np.abs(np.array(scaled) - dot_row / np.sqrt(32)).max() <= np.abs(dot_row).max() / np.sqrt(32) / 127 + 2e-3
    assert np.abs(np.array(soft) - att_row).max() <= att_row.max() / 255 + 2e-3
    # a product strip's tooltip: q∘k_5, component 7, from the page's q and k
    q, k = t.selfattn_query_hidden[layer, head, query], t.selfattn_key_hidden[layer, head, 5]
    step = float(q.abs().max() * k.abs().max()) / 127 + 1e-3
    assert abs(strip_tooltip(w, "qk", 5, 7, 32) - float(q[7] * k[7])) <= step
    w.shoot("export-row-view", target=w.part(".tw-row"))

    # a layer whose stage tensors the page left out: the row view says so and how to get it, and shows no numbers
    open_row(w, 4, 0, query, m)
    expect(w.part(".tw-row-status")).to_contain_text(
        "the row view of layer 4 is not in this page (it holds the stage tensors of layers 0, 1): export it again "
        "with --layers")
    expect(w.part(".tw-row .tw-title")).to_have_text(f"Attention row · layer 4 · head 0 · piece {query}")
    expect(w.part(".tw-row-grid > *")).to_have_count(0)
    assert not network.errors, network.errors
