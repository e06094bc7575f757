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
    assert xs[:3] == ["0 [CLS]", "1 the", "2 cat"] and ys[:3] == ["[CLS] 0", "the 1", "cat 2"]
    assert {t.get_rotation() for t in ax.get_xticklabels()} == {45.0}
    assert ax.get_xlabel() == "Layer-0, Head-0 (0-based) · raw"
    assert colorbar.get_ylim()[1] > 0


def test_caption_is_zero_based_says_so_and_every_method_draws_its_variant(a):
    views = a.attentions
    for method, variant in [("raw", "raw"), ("nosep", "nosep"), ("nosep_linscale", "nosep_linscale"),
                            ("nosep_softmax_scale", "nosep_softmax_scale"), ("nosep_linscale_reduced", "reduced")]:
        fig = getattr(a.viz, method)(1, 2)
        ax = fig.axes[0]
        assert ax.get_xlabel().startswith("Layer-1, Head-2 (0-based) · "), method
        assert ax.get_xticklabels()[0].get_text().startswith("0 ")  # positions from 0, as attn_row_by_pos takes them
        np.testing.assert_allclose(ax.images[0].get_array(), views.get(variant)[1, 2].numpy(), err_msg=method)
        assert [t.get_text().split(" ", 1)[1] for t in ax.get_xticklabels()] == views.labels(variant)
    assert [t.get_text() for t in a.viz.nosep_linscale_reduced(0, 0).axes[0].get_yticklabels()][-1] == "tired. 8"


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
    small = attention_figure(np.eye(10), [f"w{i}" for i in range(10)], "Layer-0, Head-0")
    a = long_analysis(tok, 128)
    fig = a.viz.raw(0, 0)
    labels = fig.axes[0].get_xticklabels()
    assert len(labels) == 128 and labels[127].get_text() == "127 [SEP]"
    assert min(t.get_fontsize() for t in labels) >= 6
    assert fig.get_figwidth() > 2 * small.get_figwidth()  # the figure grows with the tokens


def test_labels_are_thinned_beyond_128_tokens(tok):
    a = long_analysis(tok, 300)
    fig = a.viz.raw(0, 0)
    ax = fig.axes[0]
    assert ax.images[0].get_array().shape == (300, 300)
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert len(labels) <= MAX_LABELS and labels[0] == "0 [CLS]" and labels[1].startswith("3 ")


def test_long_labels_are_shortened_and_pairs_get_a_separator(tok):
    fig = attention_figure(torch.eye(3), ["a" * 40, "b", "c"], "Layer-0, Head-0", segments=[0, 0, 1])
    ax = fig.axes[0]
    assert ax.get_xticklabels()[0].get_text() == "0 " + "a" * 15 + "…"
    assert len(ax.lines) == 2  # one horizontal, one vertical line between the two texts


def test_readme_figure_script_draws_the_word_level_head(tmp_path: Path):
    import runpy

    script = runpy.run_path(str(Path(__file__).parents[1] / "docs" / "make_figures.py"))
    out = script["main"](tmp_path / "reduced.png")
    assert out.read_bytes().startswith(b"\x89PNG")


# -- display in a notebook, options --------------------------------------------------------------------------

def test_a_figure_displays_inline_as_png_without_pyplot_and_is_still_a_figure(a, tmp_path: Path):
    """IPython's display machinery (what Jupyter, VS Code and Colab run) turns the figure into image/png, with no
    %matplotlib set up; it stays a Figure that saves, and nothing goes through pyplot."""
    from IPython.core.formatters import DisplayFormatter

    fig = a.viz.raw(2 - 1, 1)
    data, _ = DisplayFormatter().format(fig)
    assert data["image/png"][:8] == b"\x89PNG\r\n\x1a\n" and len(data["image/png"]) > 2000
    assert isinstance(fig, Figure)
    fig.savefig(tmp_path / "f.svg")
    assert (tmp_path / "f.svg").read_bytes().startswith(b"<?xml")


def test_a_script_shows_nothing(tmp_path: Path):
    """Run as a script with an interactive backend asked for: no window, no pyplot figure; the PNG is written."""
    import subprocess
    import sys

    script = tmp_path / "script.py"
    script.write_text(
        "import matplotlib, sys\n"
        "from tests.conftest import random_bert, wordpiece_tokenizer\n"
        "import transeasy_widget as tw\n"
        "tok = wordpiece_tokenizer()\n"
        "a = tw.analyze('the cat sat', model=random_bert(1, 2, 16, vocab=len(tok)), tokenizer=tok)\n"
        "fig = a.viz.raw(0, 1)\n"
        "fig.savefig(sys.argv[1])\n"
        "print('pyplot' in sys.modules, fig.canvas.manager)\n")
    env = {**__import__("os").environ, "PYTHONPATH": str(Path(__file__).parents[1]), "MPLBACKEND": "TkAgg",
           "DISPLAY": ""}
    out = subprocess.run([sys.executable, str(script), str(tmp_path / "f.png")], capture_output=True, text=True,
                         env=env, cwd=Path(__file__).parents[1], timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "None"] and (tmp_path / "f.png").read_bytes().startswith(b"\x89PNG")


def test_options_caption_colour_map_range_and_labels(a):
    fig = a.viz.nosep_linscale_reduced(1, 2, caption="my head", cmap="viridis", vmin=0, vmax=1,
                                       labels=[f"w{i}" for i in range(9)])
    ax = fig.axes[0]
    image = ax.images[0]
    assert ax.get_xlabel() == "my head" and image.get_cmap().name == "viridis" and image.get_clim() == (0, 1)
    assert [t.get_text() for t in ax.get_xticklabels()] == [f"w{i}" for i in range(9)]
    assert [t.get_text() for t in ax.get_yticklabels()] == [f"w{i}" for i in range(9)]
    np.testing.assert_allclose(image.get_array(), a.attentions.reduced[1, 2].numpy())
    default = a.viz.nosep_linscale_reduced(1, 2).axes[0].images[0]
    assert default.get_clim() == pytest.approx((float(a.attentions.reduced[1, 2].min()),
                                                float(a.attentions.reduced[1, 2].max())))
    assert a.viz.raw(0, 0, caption="").axes[0].get_xlabel() == ""


@pytest.mark.parametrize(("options", "says"), [
    ({"cmap": "Greenz"}, r"cmap='Greenz' is not a matplotlib colour map"),
    ({"vmin": 1, "vmax": 0}, r"vmin=1 must be below vmax=0"),
    ({"vmax": float("nan")}, r"vmax= must be a finite number"),
    ({"labels": ["a", "b"]}, r"labels= must be a list of 9 strings, one per row of this matrix; got 2 labels"),
    ({"labels": "abc"}, r"labels= must be a list of 9 strings"),
])
def test_bad_options_are_input_errors(a, options, says):
    with pytest.raises(InputError, match=says):
        a.viz.nosep_linscale_reduced(0, 0, **options)
