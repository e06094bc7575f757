"""The dashboard reads head statistics on the norm-based view too: both grids side by side, and per layer the share
of [CLS], [SEP] and punctuation by weight and by norm, against a computation from the model's own modules."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import transeasy_widget as tw
from tests.test_contributions import bert_family_analysis, reference
from transeasy_widget.dashboard import grid_values, layer_lines
from transeasy_widget.headstats import entropy, punctuation_pieces, special_roles


@pytest.fixture(scope="module")
def analysed():
    a, paths, layers = bert_family_analysis(("Where is the cat, the salesman?", "The cat is in a box."))
    return a, reference(a, paths, layers)


def by_norm_shares(ref: list[dict[str, torch.Tensor]], columns: list[int]) -> np.ndarray:
    """Per layer and head: the mean over rows of Σ_{j in columns} ‖α_ij f(x_j)‖ / Σ_j ‖α_ij f(x_j)‖."""
    return np.stack([(r["norm"][:, :, columns].sum(-1) / r["norm"].sum(-1)).mean(-1).numpy() for r in ref])


def test_the_grids_read_a_statistic_by_weight_and_by_norm(analysed):
    a, ref = analysed
    _, sep = special_roles(a.encoding, a.tokenizer.cls_token_id)
    assert len(sep) == 2  # a pair: both [SEP]s together
    assert np.allclose(grid_values(a, "sep", "norm"), by_norm_shares(ref, sep), atol=1e-6)
    assert np.allclose(grid_values(a, "sep", "weight"),
                       np.stack([r["attention"][:, :, sep].sum(-1).mean(-1).numpy() for r in ref]), atol=1e-6)
    # any statistic: the entropy of each row's norm shares
    want = np.stack([entropy(r["norm"] / r["norm"].sum(-1, keepdim=True)).numpy() for r in ref])
    assert np.allclose(grid_values(a, "entropy", "norm"), want, atol=1e-5)
    with pytest.raises(tw.TransEasyError, match="by must be 'weight' or 'norm'"):
        grid_values(a, "sep", "nrom")


def test_the_weight_vs_norm_lines_are_the_per_layer_means(analysed):
    a, ref = analysed
    punct = punctuation_pieces(a.encoding)
    assert len(punct) == 3
    lines = layer_lines(a, "punct share: weight vs norm")
    assert list(lines) == ["punctuation by weight", "punctuation by norm"]
    assert np.allclose(lines["punctuation by norm"], by_norm_shares(ref, punct).mean(1), atol=1e-6)
    weight = np.stack([r["attention"][:, :, punct].sum(-1).mean(-1).numpy() for r in ref]).mean(1)
    assert np.allclose(lines["punctuation by weight"], weight, atol=1e-6)


def test_the_dashboard_puts_both_grids_side_by_side_and_links_them(analysed):
    a, ref = analysed
    dash = a.dashboard("cls", line="cls share: weight vs norm", by_norm=True)
    cls, _ = special_roles(a.encoding, a.tokenizer.cls_token_id)
    assert np.allclose(dash.norm_grid.color, by_norm_shares(ref, cls), atol=1e-6)
    assert "by norm" in dash.norm_grid_figure.title and "by weight" in dash.grid_figure.title
    assert dash.norm_grid.scales["color"] is dash.grid.scales["color"]  # one colour, one value in both
    lo = min(dash.grid.color.min(), dash.norm_grid.color.min())
    assert dash.grid.scales["color"].min == pytest.approx(lo)
    assert np.asarray(dash.curve.y).shape == (2, a.trace.sizes["L"])
    assert list(dash.curve.labels) == ["[CLS] by weight", "[CLS] by norm"] and dash.curve.display_legend
    dash.norm_grid.selected = np.array([[1, 2]])  # a click in the norm grid selects in the widget
    assert (dash.widget.layer, dash.widget.head) == (1, 2)
    assert np.asarray(dash.grid.selected).tolist() == [[1, 2]]  # and is marked in the weight grid too
    dash.stat = "sep"
    _, sep = special_roles(a.encoding, a.tokenizer.cls_token_id)
    assert np.allclose(dash.norm_grid.color, by_norm_shares(ref, sep), atol=1e-6)
    dash.line = "mean entropy"
    assert not dash.curve.display_legend and np.asarray(dash.curve.y).shape[-1] == a.trace.sizes["L"]
    plain = a.dashboard()
    assert plain.norm_grid is None
