"""The views beyond attention weights as the widget's variants, as a person sees them: in JupyterLab (a 668 px cell)
and in the exported page, each map read through its colour bar against Python's numbers, and "per layer" where a
view has no heads."""

from __future__ import annotations

import numpy as np
import pytest
from playwright.sync_api import expect

from tests.browser.test_exported_page import eventually, off_by, only_files

pytestmark = pytest.mark.browser

TEXT = "The cat sat on the mat because it was tired."
SETUP = ["import transeasy_widget as tw\n"
         f"a = tw.analyze({TEXT!r}, model='all-MiniLM-L6-v2')\n"
         "w = a.widget(layer=2, head=5)\n"
         "w"]


@pytest.fixture(scope="module")
def analysis():
    import transeasy_widget as tw

    return tw.analyze(TEXT, model="all-MiniLM-L6-v2")


def controls_fit(w) -> dict:
    """Where the control row's parts end against the widget's content box (CSS px)."""
    return w.root.evaluate("""r => { const box = r.getBoundingClientRect(), s = getComputedStyle(r);
        const right = box.right - parseFloat(s.paddingRight), row = r.querySelector('.tw-controls');
        return {right, row: row.getBoundingClientRect().right, scroll: row.scrollWidth - row.clientWidth,
                controls: [...row.querySelectorAll('.tw-control, .tw-toggles')].map(e => e.getBoundingClientRect().right),
                variant: r.querySelector('.tw-variant select').getBoundingClientRect().width}; }""")


def test_jupyterlab_widget_shows_a_per_layer_view_and_the_norms(lab_server, open_notebook, analysis):
    nb = open_notebook(lab_server, "contributions.ipynb", SETUP)
    assert nb.set_cell_width(668) == 668
    w = nb.widget(0)
    w.expect_painted()
    fit = controls_fit(w)
    assert fit["scroll"] <= 0 and max(fit["controls"]) <= fit["right"] + 0.5, fit  # the row keeps within the cell
    groups = w.part(".tw-variant select optgroup")
    expect(groups).to_have_count(2)
    assert [groups.nth(i).get_attribute("label") for i in range(2)] == ["attention", "contributions"]

    # ALTI: one matrix per layer; the head selector says so; the map is Python's ALTI of layer 2
    w.part(".tw-variant select").select_option("alti")
    expect(w.root).to_have_attribute("data-variant", "alti")
    head = w.part(".tw-head select")
    expect(head).to_be_disabled()
    assert head.evaluate("s => s.selectedOptions[0].textContent") == "per layer"
    expect(w.part(".tw-heatmap .tw-title")).to_have_text("Contributions · layer 2 · per layer · alti")
    expect(w.part(".tw-overview .tw-title")).to_have_text("Layers · alti")
    expect(w.part(".tw-ov-collabels .tw-ov-label")).to_have_text(["per layer"])
    assert w.colour_bar(".tw-heatmap") == ("0.000", "1.000")
    alti = analysis.attentions.alti[2].numpy()
    assert eventually(lambda: off_by(w, alti) <= 0.02)
    assert nb.kernel("(w.variant, w.head)") == "('alti', 5)"  # the head is kept for the per-head views
    w.shoot("lab-contributions-alti")

    # the norms of head 5: coloured 0 … the layer's largest norm, which the colour bar prints
    w.part(".tw-variant select").select_option("norm")
    expect(head).to_be_enabled()
    expect(w.part(".tw-heatmap .tw-title")).to_have_text("Contributions · layer 2 · head 5 · norm")
    norm = analysis.attentions.norm[2]
    lo, hi = w.colour_bar(".tw-heatmap")
    assert float(lo) == 0 and float(hi) == pytest.approx(float(norm.max()), abs=2e-3)
    assert eventually(lambda: off_by(w, norm[5].numpy()) <= 0.02 * float(norm.max()))
    assert off_by(w, norm[4].numpy()) > 0.1 * float(norm.max())  # head 5's, not any head's
    # kernel -> browser: a rollout chosen in Python, per layer again
    nb.run_cell("w.variant = 'rollout'\nw.layer = 5")
    expect(w.part(".tw-heatmap .tw-title")).to_have_text("Contributions · layer 5 · per layer · rollout")
    assert eventually(lambda: off_by(w, analysis.attentions.rollout[5].numpy()) <= 0.02)
    fit = controls_fit(w)
    assert fit["scroll"] <= 0 and max(fit["controls"]) <= fit["right"] + 0.5, fit


@pytest.fixture(scope="module")
def contrib_page(tmp_path_factory, analysis):
    from transeasy_widget.export import export_html

    return export_html(analysis, tmp_path_factory.mktemp("contrib") / "page.html", selection={"variant": "norm"})


def test_the_exported_page_shows_every_view_as_python_computes_it(contrib_page, open_page, network, analysis):
    w = open_page(contrib_page.as_uri())
    w.expect_painted()
    views = analysis.attentions
    # norm, derived in the page from its attention and the column factors: layer 0, head 0
    expect(w.part(".tw-heatmap .tw-title")).to_have_text("Contributions · layer 0 · head 0 · norm")
    assert eventually(lambda: off_by(w, views.norm[0, 0].numpy()) <= 0.02 * float(views.norm[0].max()))
    w.part(".tw-layer select").select_option("5")
    for variant in ("rollout", "alti_rollout", "alti", "norm_summed", "flow"):  # the rollouts multiplied out here
        w.part(".tw-variant select").select_option(variant)
        expect(w.part(".tw-heatmap .tw-title")).to_have_text(f"Contributions · layer 5 · per layer · {variant}")
        expect(w.part(".tw-head select")).to_be_disabled()
        want = views.contributions.layer(variant, 5)[0].numpy()
        assert eventually(lambda want=want: off_by(w, want) <= 0.02 * max(1.0, float(want.max()))), variant
    w.shoot("export-contributions-flow")
    assert not network.errors, network.errors
    only_files(network)


def test_flow_beyond_its_limit_says_why_in_the_page(tmp_path_factory, open_page, network):
    import transeasy_widget as tw
    from transeasy_widget.export import export_html

    a = tw.analyze(" ".join([TEXT] * 4), model="all-MiniLM-L6-v2")  # 46 tokens: over flow's limit for 6 layers
    path = export_html(a, tmp_path_factory.mktemp("flow") / "page.html", selection={"variant": "flow"})
    w = open_page(path.as_uri())
    expect(w.part(".tw-heatmap .tw-loading")).to_contain_text("too slow beyond 26 tokens", timeout=30_000)
    expect(w.part(".tw-overview .tw-loading")).to_contain_text("a.attentions.rollout")
    w.part(".tw-variant select").select_option("rollout")  # the other views are there
    assert eventually(lambda: off_by(w, a.attentions.rollout[0].numpy()) <= 0.02)
    only_files(network)


def test_the_512_token_page_holds_every_view_and_multiplies_alti_rollout_out(tmp_path_factory, open_page, network):
    import time

    import transeasy_widget as tw
    from tests.browser.test_exported_page import LONG
    from transeasy_widget.export import export_html

    a = tw.analyze(" ".join([LONG] * 30), model="all-MiniLM-L6-v2", truncate=True)
    path = export_html(a, tmp_path_factory.mktemp("r512") / "page.html", selection={"layer": 5})
    assert path.stat().st_size <= 12.5e6  # issue 13's budget, every view of every layer included
    w = open_page(path.as_uri())
    w.expect_painted(timeout=60_000)
    for variant in ("rollout", "alti_rollout", "norm_summed"):  # alti_rollout: C^5 ⋯ C^0 multiplied out here
        start = time.monotonic()
        w.part(".tw-variant select").select_option(variant)
        expect(w.part(".tw-heatmap .tw-title")).to_have_text(f"Contributions · layer 5 · per layer · {variant}")
        want = a.attentions.contributions.layer(variant, 5)[0].numpy()
        top = float(want.max()) if variant == "norm_summed" else 1.0  # the colour bar's top: the layer's max, or 1
        seen: list[float] = []
        assert eventually(lambda want=want, seen=seen, top=top: seen.append(off_by(w, want)) or seen[-1] <= 0.02 * top,
                          seconds=60), (variant, seen[-3:])
        print(f"{variant} of layer 5 at 512 tokens shown in {time.monotonic() - start:.1f} s, off by {seen[-1]:.4f}")
    assert np.isfinite(want).all()
    only_files(network)
