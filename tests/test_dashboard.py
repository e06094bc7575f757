"""The dashboard's links: a bqplot selection moves the widget; the widget's selection is marked in the panels."""

from __future__ import annotations

import numpy as np
import pytest
import traitlets

import transeasy_widget as tw
from tests.conftest import random_bert


@pytest.fixture()
def dash(word_tokenizer):
    model = random_bert(4, 3, 24, vocab=len(word_tokenizer))
    a = tw.analyze("The cat sat on the mat because it was tired.", model=model, tokenizer=word_tokenizer)
    return a.dashboard()


def test_the_grid_shows_the_chosen_statistic_per_layer_and_head(dash):
    stats = dash.analysis.head_stats
    assert np.array_equal(dash.grid.color, stats["entropy"].numpy()) and dash.grid.color.shape == (4, 3)
    dash.stat_choice.value = "cls"  # the dropdown, as a click would
    assert dash.stat == "cls" and np.array_equal(dash.grid.color, stats["cls"].numpy())
    assert "cls" in dash.grid_figure.title
    with pytest.raises(traitlets.TraitError, match="stat must be one of entropy"):
        dash.stat = "bogus"


def test_setting_the_widgets_head_moves_the_grid_mark(dash):
    w = dash.widget
    w.layer, w.head = 2, 1
    assert np.asarray(dash.grid.selected).tolist() == [[2, 1]]
    assert list(dash.marker.x) == [2, 2] and list(dash.points.selected) == [2]


def test_a_click_selection_in_the_grid_sets_the_widgets_layer_and_head(dash):
    dash.grid.selected = np.array([[3, 2]])  # what bqplot's front end sets on a click
    assert (dash.widget.layer, dash.widget.head) == (3, 2)
    dash.grid.selected = None  # a deselecting click leaves the selection alone
    assert (dash.widget.layer, dash.widget.head) == (3, 2)


def test_a_click_on_the_layer_line_selects_that_layer(dash):
    dash.points.selected = [1]
    assert dash.widget.layer == 1 and np.asarray(dash.grid.selected).tolist() == [[1, dash.widget.head]]


def test_the_line_shows_mean_entropy_or_hidden_state_norm_per_layer(dash):
    a = dash.analysis
    assert np.allclose(dash.points.y, a.head_stats["entropy"].mean(dim=1).numpy())
    dash.line_choice.value = "hidden-state norm"
    expected = [float(a.trace.manual_hiddens[layer + 1].norm(dim=-1).mean()) for layer in range(4)]
    assert np.allclose(dash.points.y, expected, rtol=1e-5) and dash.line_figure.title == "hidden-state norm"


def test_the_dashboard_holds_the_same_widget_as_the_analysis(dash):
    assert dash.widget is dash.analysis.widget() and dash.children[-1] is dash.widget


def test_a_click_arriving_from_the_browser_as_json_lists_reaches_the_widget(dash):
    """The front end sends `selected` as JSON lists; bqplot would make an object array it cannot send back."""
    dash.grid.set_state({"selected": [[2, 2]]})
    assert (dash.widget.layer, dash.widget.head) == (2, 2)
    assert dash.grid.selected.dtype.kind == "i"
    state = dash.grid.get_state(key="selected")  # and it serialises back to the front end
    assert state["selected"] is not None


def test_a_refused_stat_or_line_leaves_the_trait_as_it_was(dash):
    with pytest.raises(traitlets.TraitError, match="stat must be one of entropy"):
        dash.stat = "bogus"
    assert dash.stat == "entropy" and np.array_equal(dash.grid.color, dash.analysis.head_stats["entropy"].numpy())
    with pytest.raises(traitlets.TraitError, match="line must be one of 'mean entropy', 'hidden-state norm'"):
        dash.line = "bogus"
    assert dash.line == "mean entropy"


@pytest.mark.parametrize(("kwargs", "message"), [({"stat": "bogus"}, "stat must be one of"),
                                                 ({"line": "bogus"}, "line must be one of"),
                                                 ({"line": ["x"]}, "line must be one of")])
def test_a_bad_stat_or_line_keyword_is_a_clear_error(dash, kwargs, message):
    with pytest.raises(traitlets.TraitError, match=message):
        dash.analysis.dashboard(**kwargs)


def test_layer_series_names_the_lines_it_knows(dash):
    from transeasy_widget.dashboard import layer_series

    with pytest.raises(tw.TransEasyError, match="Unknown line 'bogus'"):
        layer_series(dash.analysis, "bogus")
def test_the_panels_sit_above_the_widget_side_by_side_wrapping_when_narrow(dash):
    panels, widget = dash.children
    assert widget is dash.widget and panels.layout.flex_flow == "row wrap"
    assert dash.grid_figure in panels.children[0].children and dash.line_figure in panels.children[1].children


def test_a_refused_statistic_or_line_leaves_the_dashboard_as_it_was(dash, word_tokenizer):
    with pytest.raises(traitlets.TraitError, match="stat must be one of entropy"):
        dash.stat = "bogus"
    assert dash.stat == "entropy" and dash.stat_choice.value == "entropy"
    with pytest.raises(traitlets.TraitError, match="line must be one of 'mean entropy', 'hidden-state norm'"):
        dash.line = "bogus"
    assert dash.line == "mean entropy"
    with pytest.raises(traitlets.TraitError, match="line must be one of"):
        dash.analysis.dashboard(line="bogus")


def test_the_axes_read_as_integers_and_the_descriptions_are_whole(dash):
    x_axis = dash.line_figure.axes[0]
    assert list(x_axis.tick_values) == [0, 1, 2, 3] and x_axis.tick_format == "d"
    from transeasy_widget.dashboard import GRID_STATS
    from transeasy_widget.headstats import DESCRIPTIONS

    assert list(dash.stat_choice.options) == list(GRID_STATS)  # short names: nothing for the dropdown to cut
    dash.stat = "cls"
    assert DESCRIPTIONS["cls"].replace("<", "&lt;").replace(">", "&gt;") in dash.stat_help.value
    # the colour bar's printed ends are the statistic's range, and the scale spans exactly that
    cls = dash.analysis.head_stats["cls"].numpy()
    assert f"cls: {cls.min():.3g}</span>" in dash.grid_legend.value and f"<span>{cls.max():.3g}</span>" in dash.grid_legend.value
    assert (dash.grid.scales["color"].min, dash.grid.scales["color"].max) == pytest.approx((cls.min(), cls.max()))
