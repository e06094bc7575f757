"""The widget's picture in its display bundle (snapshot.py): what a front end without the widget shows (issue 13)."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest
import torch
from PIL import Image

import transeasy_widget as tw
from tests.conftest import random_bert
from transeasy_widget import snapshot

TEXT = "the cat sat on the mat because it was tired ."


@pytest.fixture(scope="module")
def model(word_tokenizer):
    return random_bert(3, 4, 32, vocab=len(word_tokenizer))


@pytest.fixture(scope="module")
def a(model, word_tokenizer):
    return tw.analyze(TEXT, model=model, tokenizer=word_tokenizer)


def images(page: str) -> dict[str, np.ndarray]:
    """Each <img> of the HTML by its alt text, decoded by Pillow as RGB."""
    out = {}
    for src, alt in re.findall(r'<img src="data:image/png;base64,([^"]+)" width="\d+" height="\d+" alt="([^"]+)">', page):
        out[alt] = np.asarray(Image.open(io.BytesIO(base64.b64decode(src))).convert("RGB")).astype(int)
    return out


def read_through_bar(img: np.ndarray, bar: np.ndarray, cells: int, lo: float, hi: float) -> np.ndarray:
    """Each cell's centre pixel looked up on the colour bar (nearest colour), as a person reads the picture."""
    ramp = bar[0]
    zoom = img.shape[0] // cells
    centres = img[zoom // 2::zoom, zoom // 2::zoom][:cells, :cells]
    k = np.abs(centres[:, :, None, :] - ramp[None, None]).sum(-1).argmin(-1)
    return lo + (k + 0.5) / len(ramp) * (hi - lo)


def bundle_of(w):
    b = w._repr_mimebundle_()
    return b[0] if isinstance(b, tuple) else b


def test_the_bundle_keeps_the_widget_and_adds_a_picture_with_the_message(a):
    data = bundle_of(a.widget(layer=1, head=2))
    assert "application/vnd.jupyter.widget-view+json" in data and "text/plain" in data
    page = data["text/html"]
    assert "run the cell to explore further" in page
    assert "Attention · layer 1 · head 2 · raw" in page
    assert set(images(page)) == {"overview of every head, raw", "colour bar", "attention heatmap, layer 1, head 2, raw"}


def test_the_heatmap_shows_the_models_own_attention_through_its_colour_bar(minilm_path):
    from transformers import AutoModel, AutoTokenizer

    text = "The cat sat on the mat because it was tired."
    m = tw.analyze(text, model="all-MiniLM-L6-v2")
    pics = images(bundle_of(m.widget(layer=2, head=3))["text/html"])
    tok = AutoTokenizer.from_pretrained(minilm_path)
    with torch.no_grad():
        own = AutoModel.from_pretrained(minilm_path, attn_implementation="eager")(
            **tok(text, return_tensors="pt"), output_attentions=True).attentions[2][0]
    shown = read_through_bar(pics["attention heatmap, layer 2, head 3, raw"], pics["colour bar"], own.shape[-1], 0.0, 1.0)
    assert np.abs(shown - own[3].numpy()).max() <= 0.5 / snapshot.LUT_SIZE + 1e-5
    assert np.abs(shown - own[0].numpy()).max() > 0.1  # the picture tells this head from another


def test_the_per_head_scale_ends_at_the_heads_maximum(a):
    w = a.widget(layer=0, head=3, color_scale="head")
    page = bundle_of(w)["text/html"]
    top = float(a.attentions.raw[0, 3].max())
    assert "0.000 <img" in page and f"> {top:.3f}</p>" in page
    pics = images(page)
    values = a.attentions.raw[0, 3].numpy()
    shown = read_through_bar(pics["attention heatmap, layer 0, head 3, raw"], pics["colour bar"], values.shape[0], 0.0, top)
    assert np.abs(shown - values).max() <= 0.5 / snapshot.LUT_SIZE * top + 1e-6


def test_the_overview_is_every_head_of_every_layer_on_one_scale(a):
    pics = images(bundle_of(a.widget())["text/html"])
    ov = pics["overview of every head, raw"]
    layers, heads, m = 3, 4, len(a.tokens)
    zoom = max(1, snapshot.THUMB_PX // m)
    side = m * zoom
    assert ov.shape[:2] == (layers * (side + snapshot.GAP) - snapshot.GAP, heads * (side + snapshot.GAP) - snapshot.GAP)
    for layer, head in [(0, 0), (2, 3)]:
        y, x = layer * (side + snapshot.GAP), head * (side + snapshot.GAP)
        shown = read_through_bar(ov[y:y + side, x:x + side], pics["colour bar"], m, 0.0, 1.0)
        # the overview's thumbnails are 8-bit (payload.u8_thumbnails): half a step of 1/255 more
        assert np.abs(shown - a.attentions.raw[layer, head].numpy()).max() <= 0.5 / 256 + 0.5 / 255 + 1e-6


def test_a_long_input_is_shown_in_block_means_and_the_picture_stays_small():
    values = np.random.default_rng(0).random((1030, 1030)).astype(np.float32)
    indices, step = snapshot.heatmap_indices(values, 0.0, 1.0)
    assert step == 3 and indices.shape == (344, 344)
    assert abs(float(values[:3, :3].mean()) - (indices[0, 0] + 0.5) / 256) <= 0.5 / 256 + 1e-6
    ramp = snapshot.ramp()
    assert ramp.shape == (256, 3) and tuple(ramp[0]) == (255, 255, 255) and tuple(ramp[-1]) == (8, 48, 107)
    assert len(snapshot.png(indices, ramp)) < 400_000


def test_a_failing_picture_leaves_the_widget_showing_and_says_so_in_the_log(a, monkeypatch, caplog):
    def broken(_w):
        raise RuntimeError("boom")

    monkeypatch.setattr(snapshot, "fallback_html", broken)
    w = a.widget()
    with caplog.at_level("ERROR"):
        data = bundle_of(w)
    assert "application/vnd.jupyter.widget-view+json" in data and "text/html" not in data
    assert "saved picture" in caplog.text and "boom" in caplog.text
