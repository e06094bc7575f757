"""The views beyond attention weights as widget variants: meta, the layer and overview replies, the saved first paint
and the exported page's pack. Numbers are read back with the independent decoders of tests/decoders.py and compared
with the analysis's views (themselves tested against the papers' definitions in tests/test_contributions.py)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

import transeasy_widget as tw
from tests.conftest import random_bert
from tests.decoders import f16, u8_thumbnails
from transeasy_widget import propagation
from transeasy_widget.contributions import VIEWS
from transeasy_widget.export import to_html
from transeasy_widget.pack import chunk, read_attention_layer, read_view_layer
from transeasy_widget.payload import answer
from transeasy_widget.variants import WIDGET_VARIANTS

TEXT = "The cat sat on the mat because it was tired."


@pytest.fixture(scope="module")
def a(word_tokenizer):
    return tw.analyze(TEXT, model=random_bert(2, 4, 32, vocab=len(word_tokenizer)), tokenizer=word_tokenizer)


def ask(a, **request):
    return answer(a, {"type": "request", "id": 1, **request})


def view_of(a, view: str) -> torch.Tensor:
    """L×H'×n×n of a view, H' = 1 for a per-layer one."""
    return a.attentions.contributions.get(view)


def test_meta_lists_the_contribution_views_in_their_own_group(a):
    variants = a.widget().meta["variants"]
    assert [v for v in variants if variants[v]["group"] == "contributions"] == list(VIEWS)
    assert [v for v in variants if variants[v]["group"] == "attention"] == list(a.attentions.VARIANTS)
    for name, view in VIEWS.items():
        entry = variants[name]
        assert entry["labels"] == a.tokens and entry["special"] == list(a.encoding.special)
        assert entry["per_head"] is view.per_head
        assert entry["scale"] == ("max" if name.startswith("norm") else "unit")
    assert variants["alti"]["title"] == "ALTI" and not variants["alti"]["per_head"] and variants["norm"]["per_head"]


@pytest.mark.parametrize("view", list(VIEWS))
def test_a_layer_reply_carries_the_views_matrices(a, view):
    content, buffers = ask(a, what="layer", variant=view, layer=1)
    heads = a.trace.sizes["H"] if VIEWS[view].per_head else 1
    n = a.trace.sizes["n"]
    assert content["type"] == "reply" and content["shape"] == [heads, n, n]
    want = view_of(a, view)[1].double().numpy()
    assert np.allclose(f16(buffers[0], (heads, n, n)), want, rtol=2 ** -11, atol=1e-7)


def test_the_overview_of_a_per_layer_view_has_one_cell_per_layer_and_the_norms_their_own_scale(a):
    n, layers, heads = a.trace.sizes["n"], a.trace.sizes["L"], a.trace.sizes["H"]
    content, buffers = ask(a, what="overview", variant="alti")
    assert content["shape"] == [layers, 1, n, n] and content["vmax"] == 1.0  # n ≤ 48: not pooled
    got = u8_thumbnails(buffers[0], (layers, 1, n, n), 1.0)
    assert np.abs(got - view_of(a, "alti").double().numpy()).max() <= 0.5 / 255 + 1e-6
    content, buffers = ask(a, what="overview", variant="norm")
    norm = view_of(a, "norm").double().numpy()
    assert content["shape"] == [layers, heads, n, n]
    assert content["vmax"] == pytest.approx(norm.max(), rel=1e-6)  # one scale: the largest norm of every layer
    got = u8_thumbnails(buffers[0], (layers, heads, n, n), content["vmax"])
    assert np.abs(got - norm).max() <= 0.5 / 255 * norm.max() + 1e-6
    assert content["head_max"] == pytest.approx(norm.reshape(layers * heads, -1).max(-1), rel=1e-6)


def test_the_widget_takes_a_contribution_variant_and_its_first_paint_holds_it(a):
    w = a.widget(variant="alti_rollout", layer=1)
    manifest = w._first_paint["manifest"]
    view = manifest["contributions"]["views"]["alti_rollout"]
    data = chunk(w._first_paint["data"], manifest["chunks"], view["layers"]["1"])
    n = a.trace.sizes["n"]
    values, s = read_view_layer(data, 1, n)
    want = view_of(a, "alti_rollout")[1].numpy()
    assert s == pytest.approx(want.max()) and np.abs(values - want).max() <= s[0] / 510 + 1e-7  # the stated error
    assert view["overview"]["content"]["shape"] == [2, 1, n, n]
    w.variant = "raw"  # back to attention: no contribution part
    assert "contributions" not in w._first_paint["manifest"]
    with pytest.raises(Exception, match=r"variant must be one of raw, .*, flow"):
        w.variant = "alit"


def test_flow_beyond_its_limit_is_a_message_in_the_panel_not_a_failure(word_tokenizer):
    model = random_bert(2, 2, 16, vocab=len(word_tokenizer))
    long = tw.analyze(" ".join(["the cat sat"] * 16), model=model, tokenizer=word_tokenizer)
    assert long.trace.sizes["n"] > propagation.flow_limit(2)
    for what in ("layer", "overview"):
        content, buffers = ask(long, what=what, variant="flow", layer=0)
        assert content["type"] == "error" and buffers == []
        assert re.search(r"too slow beyond \d+ tokens .* a\.attentions\.rollout", content["message"])
    w = long.widget()
    w.variant = "flow"  # the first paint leaves the view out; the kernel's reply says why
    assert w.variant == "flow" and w._first_paint["manifest"]["contributions"]["views"] == {}
    page = to_html(long)
    manifest = json.loads(re.search(r'id="tw-pack">(.*?)</script>', page, re.S).group(1))
    assert "flow" not in manifest["contributions"]["views"]
    assert "too slow beyond" in manifest["contributions"]["unavailable"]["flow"]
    assert set(manifest["contributions"]["views"]) == set(VIEWS) - {"flow"}


def test_the_exported_page_packs_every_layer_of_every_view(a):
    page = to_html(a, selection={"variant": "norm", "layer": 1})
    manifest = json.loads(re.search(r'id="tw-pack">(.*?)</script>', page, re.S).group(1))
    texts = [re.search(rf'id="tw-data-{i}">(.*?)</script>', page, re.S).group(1) for i in (0, 1)]
    n, heads = a.trace.sizes["n"], a.trace.sizes["H"]
    views = manifest["contributions"]["views"]
    assert list(views) == list(VIEWS) and manifest["contributions"]["unavailable"] == {}
    kept = len(manifest["attention"]["kept"])
    for name, entry in views.items():
        h = heads if VIEWS[name].per_head else 1
        assert entry["heads"] == h
        if name == "alti_rollout":  # multiplied out in the page from its ALTI (tests/browser reads its map)
            assert entry["derive"] == "rollout" and entry["layers"] == {} and entry["of"] == "alti"
            continue
        levels = entry.get("levels", 255)
        assert levels == (127 if name in ("norm_summed", "rollout") else 255)
        for layer in range(2):
            data = chunk(texts, manifest["chunks"], entry["layers"][str(layer)])
            want = view_of(a, name)[layer].double().numpy()
            if name == "norm":  # the page derives it: its layer's raw attention times ‖f_h(x_j)‖ per column
                assert entry["derive"] == "attention_times_columns"
                factors = np.frombuffer(data, "<f2").reshape(heads, n).astype(np.float64)
                raw = chunk(texts, manifest["chunks"], manifest["attention"]["layers"][str(layer)])
                attention, s, _ = read_attention_layer(raw, heads, n, kept)
                # ‖α f‖ = α ‖f‖ (Kobayashi et al.'s norm, α ≥ 0), from the model's own value and output weights
                block = a.model.encoder.layer[layer].attention
                x = a.trace.manual_hiddens[layer].double()
                wv, bv = block.self.value.weight.double(), block.self.value.bias.double()
                wo = block.output.dense.weight.double()
                dh = x.shape[1] // heads
                ref = torch.stack([torch.linalg.vector_norm(
                    (x @ wv[hd * dh:(hd + 1) * dh].T + bv[hd * dh:(hd + 1) * dh]) @ wo[:, hd * dh:(hd + 1) * dh].T, dim=-1)
                    for hd in range(heads)]).detach().numpy()
                assert np.allclose(factors, ref, rtol=2 ** -11)  # float16
                bound = s[..., None] / 510 * factors[:, None, :] + np.abs(want) * 2 ** -11 + 1e-7
                assert np.all(np.abs(attention * factors[:, None, :] - want) <= bound)
            elif str(layer) in entry.get("ratio_to_norm_sum", {}):  # norm_summed / Σ_h ‖α f‖ (the test below)
                upper = view_of(a, "norm")[layer].double().sum(0).numpy()
                ratio = np.frombuffer(data, np.uint8).reshape(n, n).T / levels  # stored column by column
                assert np.abs(ratio * upper - want).max() <= (upper / (2 * levels)).max() + 1e-6
            else:
                values, s = read_view_layer(data, 1, n, levels)
                assert np.abs(values - want).max() <= s[0] / (2 * levels) + 1e-7
    # the first paint of the selected view (layer 1 of norm) is in the page's first part
    first = {i for i, span in enumerate(manifest["chunks"]) if span[2] == 0}
    assert views["norm"]["layers"]["1"] in first
    assert views["norm"]["overview"]["derive"] == "pooled" and "chunk" not in views["norm"]["overview"]
    assert views["norm"]["overview"]["content"]["shape"] == [2, heads, n, n]
    # a first paint cannot multiply a rollout out (it holds one layer): it holds the matrices
    w = a.widget(variant="rollout", layer=1)
    held = w._first_paint["manifest"]["contributions"]["views"]["rollout"]
    values, _ = read_view_layer(chunk(w._first_paint["data"], w._first_paint["manifest"]["chunks"], held["layers"]["1"]), 1, n)
    assert np.abs(values - view_of(a, "rollout")[1, 0].numpy()).max() <= 1 / 510 + 1e-7


def test_decoders_get_the_contribution_variants_too():
    from tests.test_decoders import llama_like
    from tests.tokenizers_for_tests import byte_level_bpe

    tok = byte_level_bpe()
    d = tw.analyze(TEXT, model=llama_like("llama", len(tok)), tokenizer=tok)
    assert set(VIEWS) <= set(d.widget().meta["variants"])
    content, buffers = ask(d, what="layer", variant="alti", layer=2)
    assert content["shape"] == [1, d.trace.sizes["n"], d.trace.sizes["n"]]
    n = d.trace.sizes["n"]
    got = f16(buffers[0], (1, n, n))[0]
    assert np.allclose(got, d.attentions.alti[2].double().numpy(), atol=1e-3)
    assert np.allclose(np.triu(got, 1), 0)  # causal: nothing from a later token


def test_every_widget_variant_has_a_title_and_a_known_group():
    assert all(v.group in ("attention", "contributions") and v.title and v.quantity for v in WIDGET_VARIANTS.values())
    assert len({v.title for v in WIDGET_VARIANTS.values()}) == len(WIDGET_VARIANTS)


def test_norm_summed_goes_in_the_page_as_its_ratio_to_the_norms_sum_where_that_is_smaller(word_tokenizer):
    # a random model's attention is diffuse: the matrix itself compresses badly, its ratio to Σ_h ‖α f‖ does not
    model = random_bert(2, 4, 32, vocab=len(word_tokenizer))
    a = tw.analyze(" ".join([TEXT] * 5), model=model, tokenizer=word_tokenizer)
    page = to_html(a)
    manifest = json.loads(re.search(r'id="tw-pack">(.*?)</script>', page, re.S).group(1))
    texts = [re.search(rf'id="tw-data-{i}">(.*?)</script>', page, re.S).group(1) for i in (0, 1)]
    entry = manifest["contributions"]["views"]["norm_summed"]
    n = a.trace.sizes["n"]
    assert entry["ratio_to_norm_sum"], "expected the ratio code for a random model"
    for layer in entry["ratio_to_norm_sum"]:
        q = np.frombuffer(chunk(texts, manifest["chunks"], entry["layers"][layer]), np.uint8).reshape(n, n).T
        upper = view_of(a, "norm")[int(layer)].double().sum(0).numpy()
        want = view_of(a, "norm_summed")[int(layer), 0].double().numpy()
        assert (want <= upper * (1 + 1e-5) + 1e-7).all()  # the triangle inequality: a ratio in [0, 1]
        assert np.abs(q / 127 * upper - want).max() <= (upper / 254).max() + 1e-6
