"""Figures: TransEasy's look, built without pyplot, readable up to 128 tokens, saved as PNG, SVG and PDF."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from tests.conftest import random_bert, wordpiece_tokenizer
from transeasy_widget import InputError, analyze
from transeasy_widget.viz import MAX_LABELS, attention_figure


@pytest.fixture(scope="module")
def tok() -> Any:
    return wordpiece_tokenizer()


@pytest.fixture(scope="module")
def a(tok: Any) -> Any:
    return analyze("the cat sat on the mat, it was tired.", model=random_bert(2, 3, 24, vocab=len(tok)), tokenizer=tok)


def long_analysis(tok: Any, pieces: int) -> Any:
    text = " ".join(["the", "cat", "understanding"] * 200)
    model = random_bert(1, 2, 16, vocab=len(tok), max_pos=pieces)
    return analyze(text, model=model, tokenizer=tok, truncate=True)


def test_figure_has_the_original_look(a):
    fig = a.viz.raw(0, 0)
    assert isinstance(fig, Figure)
    ax, colorbar = fig.axes  # the matrix and its colorbar
    image = ax.images[0]
    assert image.get_cmap().name == "Greens"
    np.testing.assert_allclose(image.get_array(), a.attentions.raw[0, 0].numpy())
    xs = [t.get_text() for t in ax.get_xticklabels()]
    ys = [t.get_text() for t in ax.get_yticklabels()]
    assert xs[:3] == ["1 [CLS]", "2 the", "3 cat"] and ys[:3] == ["[CLS] 1", "the 2", "cat 3"]
    assert {t.get_rotation() for t in ax.get_xticklabels()} == {45.0}
    assert ax.get_xlabel() == "Layer-1, Head-1"
    assert colorbar.get_ylim()[1] > 0


def test_caption_is_one_based_and_every_method_draws_its_variant(a):
    views = a.attentions
    for method, variant in [("raw", "raw"), ("nosep", "nosep"), ("nosep_linscale", "nosep_linscale"),
                            ("nosep_softmax_scale", "nosep_softmax_scale"), ("nosep_linscale_reduced", "reduced")]:
        fig = getattr(a.viz, method)(1, 2)
        ax = fig.axes[0]
        assert ax.get_xlabel() == "Layer-2, Head-3"
        np.testing.assert_allclose(ax.images[0].get_array(), views.get(variant)[1, 2].numpy(), err_msg=method)
        assert [t.get_text().split(" ", 1)[1] for t in ax.get_xticklabels()] == views.labels(variant)
    assert [t.get_text() for t in a.viz.nosep_linscale_reduced(0, 0).axes[0].get_yticklabels()][-1] == "tired. 9"


def test_no_pyplot_figure_is_left_open(a):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    a.viz.raw(0, 0)
    a.viz.nosep_linscale_reduced(1, 1)
    assert plt.get_fignums() == before


@pytest.mark.parametrize(("fmt", "magic"), [("png", b"\x89PNG"), ("svg", b"<?xml"), ("pdf", b"%PDF")])
def test_figure_saves_as_png_svg_and_pdf(a, tmp_path: Path, fmt: str, magic: bytes):
    path = tmp_path / f"head.{fmt}"
    a.viz.nosep_linscale_reduced(0, 1).savefig(path)
    assert path.read_bytes().startswith(magic) and path.stat().st_size > 1000


def test_layer_or_head_out_of_range_says_the_valid_range(a):
    with pytest.raises(InputError, match=r"layer 2 is out of range: this model has 2 \(layers 0..1\)"):
        a.viz.raw(2, 0)
    with pytest.raises(InputError, match=r"head 3 is out of range: this model has 3 \(heads 0..2\)"):
        a.viz.nosep_linscale(0, 3)
    with pytest.raises(InputError, match="head must be an integer"):
        a.viz.raw(0, "1")


def test_labels_stay_readable_up_to_128_tokens(tok):
    small = attention_figure(np.eye(10), [f"w{i}" for i in range(10)], "Layer-1, Head-1")
    a = long_analysis(tok, 128)
    fig = a.viz.raw(0, 0)
    labels = fig.axes[0].get_xticklabels()
    assert len(labels) == 128 and labels[127].get_text() == "128 [SEP]"
    assert min(t.get_fontsize() for t in labels) >= 6
    assert fig.get_figwidth() > 2 * small.get_figwidth()  # the figure grows with the tokens


def test_labels_are_thinned_beyond_128_tokens(tok):
    a = long_analysis(tok, 300)
    fig = a.viz.raw(0, 0)
    ax = fig.axes[0]
    assert ax.images[0].get_array().shape == (300, 300)
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert len(labels) <= MAX_LABELS and labels[0] == "1 [CLS]" and labels[1].startswith("4 ")


def test_long_labels_are_shortened_and_pairs_get_a_separator(tok):
    fig = attention_figure(torch.eye(3), ["a" * 40, "b", "c"], "Layer-1, Head-1", segments=[0, 0, 1])
    ax = fig.axes[0]
    assert ax.get_xticklabels()[0].get_text() == "1 " + "a" * 15 + "…"
    assert len(ax.lines) == 2  # one horizontal, one vertical line between the two texts


def test_readme_figure_script_draws_the_word_level_head(tmp_path: Path):
    import runpy

    script = runpy.run_path(str(Path(__file__).parents[1] / "docs" / "make_figures.py"))
    out = script["main"](tmp_path / "reduced.png")
    assert out.read_bytes().startswith(b"\x89PNG")
