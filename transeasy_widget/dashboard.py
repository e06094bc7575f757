"""``a.dashboard()``: the widget beside bqplot panels (a layer×head grid of a head statistic, a per-layer line),
linked both ways through traitlets: a click in a panel selects in the widget, the widget's selection is marked.

``a.dashboard(stat, by_norm=True)`` reads the statistic on the norm-based view too (Kobayashi et al. 2020: each row's
‖α^h_ij f_h(x_j)‖ divided by its sum, ``Contributions.head_stats_by_norm``) and puts the two grids side by side on
one colour scale; the lines ``"<kind> share: weight vs norm"`` draw, per layer, the mean over heads of the share of
[CLS], [SEP] or punctuation by weight and by norm (``Contributions.weight_vs_norm``).
"""

from __future__ import annotations

import html
from typing import Any

import bqplot as bq
import ipywidgets as ipw
import numpy as np
import traitlets

from .errors import InputError

# bqplot's "viridis" scheme as a CSS gradient, for the grid's colour bar
_VIRIDIS = "linear-gradient(to right, #440154, #3b528b, #21918c, #5ec962, #fde725)"

# statistics offered in the grid (the four first), and the per-layer lines
GRID_STATS = ("entropy", "distance_abs", "cls", "sep", "punct", "self", "prev", "next", "distance_directed")
_KINDS = {"cls": "[CLS]", "sep": "[SEP]", "punct": "punctuation"}
LINES = {
    "mean entropy": "mean over heads of each layer's entropy (nats)",
    "hidden-state norm": "mean over tokens of ‖X_{l+1}‖, the layer output's norm",
    **{f"{kind} share: weight vs norm": f"mean over heads and rows of the share of {name}: by attention weight α "
                                        f"(first line) and by norm ‖αf(x)‖ (second; Kobayashi et al. 2020)"
       for kind, name in _KINDS.items()},
}


def layer_lines(a: Any, name: str) -> dict[str, np.ndarray]:
    """The line panel's series, one value per layer each: one series, or two (by weight, by norm)."""
    if name == "mean entropy":
        return {name: a.head_stats["entropy"].mean(dim=1).numpy()}
    if name == "hidden-state norm":
        return {name: a.trace.manual_hiddens[1:].norm(dim=-1).mean(dim=-1).numpy()}
    kind = name.split(" share")[0]
    if kind in _KINDS and name in LINES:
        shares = a.attentions.contributions.weight_vs_norm((kind,))[kind]
        return {f"{_KINDS[kind]} by weight": shares["weight"].mean(dim=1).numpy(),
                f"{_KINDS[kind]} by norm": shares["norm"].mean(dim=1).numpy()}
    raise InputError(f"Unknown line {name!r}: choose one of {', '.join(map(repr, LINES))}.")


def layer_series(a: Any, name: str) -> np.ndarray:
    """One value per layer for the line panel (the first series of ``layer_lines``: by weight where there are two)."""
    return next(iter(layer_lines(a, name).values()))


def grid_values(a: Any, stat: str, by: str = "weight") -> np.ndarray:
    """A head statistic per layer and head (L×H), read on the attention weights or on the norm-based view."""
    if by == "weight":
        return a.head_stats[stat].numpy()
    if by == "norm":
        if stat not in GRID_STATS:  # an added statistic (e.g. "ablation") is not a reading of one matrix
            raise InputError(f"{stat!r} has no norm-based reading: by='norm' takes one of {', '.join(GRID_STATS)}.")
        return a.attentions.contributions.head_stats_by_norm[stat].numpy()
    raise InputError(f"by must be 'weight' or 'norm', got {by!r}.")


def _check_stat(stat: Any, choices: tuple[str, ...] = GRID_STATS) -> str:
    if stat not in choices:
        raise traitlets.TraitError(f"stat must be one of {', '.join(choices)}, got {stat!r}.")
    return str(stat)


def _check_line(line: Any) -> str:
    if line not in tuple(LINES):
        raise traitlets.TraitError(f"line must be one of {', '.join(map(repr, LINES))}, got {line!r}.")
    return str(line)


class _GridHeatMap(bq.GridHeatMap):
    """bqplot's GridHeatMap with a click's selection kept as ints.

    A click in the browser sends ``selected`` as a list of lists, which bqplot reads into an object array that it
    then cannot serialise back ("Unsupported dtype object", bqplot/bqplot#1632): the kernel drops the update before
    any observer runs, and a click in the grid never reached the widget.
    """

    @traitlets.validate("selected")
    def _selected_as_ints(self, proposal: Any) -> Any:
        value = proposal["value"]
        return None if value is None else np.asarray(value, dtype=np.int64).reshape(-1, 2)


class Dashboard(ipw.VBox):
    """Two bqplot figures (a layer×head grid of a head statistic, a per-layer line) ABOVE the attention widget, so a
    click in a panel and its effect in the widget are on one screen; linked both ways. ``stat`` and ``line`` choose
    what the panels show."""

    stat = traitlets.Unicode("entropy")
    line = traitlets.Unicode("mean entropy")

    def __init__(self, a: Any, stat: str = "entropy", line: str = "mean entropy", by_norm: bool = False):
        # the built-in statistics, and those added to this analysis's (``a.ablation_importance()``'s "ablation"),
        # which have no norm-based reading to show beside them
        self.stats = GRID_STATS if by_norm else (*GRID_STATS, *a.head_stats.added)
        _check_stat(stat, self.stats)
        _check_line(line)
        self.analysis, self.widget = a, a.widget()
        self.by_norm = bool(by_norm)
        layers, heads = a.trace.sizes["L"], a.trace.sizes["H"]
        self._layers = np.arange(layers)

        colour = bq.ColorScale(scheme="viridis")  # one scale for both grids: one colour, one value

        def grid_figure(by: str) -> tuple[_GridHeatMap, bq.Figure]:
            grid = _GridHeatMap(
                row=np.arange(layers), column=np.arange(heads), color=grid_values(a, stat, by),
                scales={"row": bq.OrdinalScale(reverse=True), "column": bq.OrdinalScale(), "color": colour},
                interactions={"click": "select"}, selected_style={"stroke": "red", "stroke-width": "3"},
                unselected_style={"opacity": "1"}, tooltip=bq.Tooltip(fields=["row", "column", "color"],
                                                                     labels=["layer", "head", "value"]))
            figure = bq.Figure(
                marks=[grid], title=self._grid_title(stat, by),
                axes=[bq.Axis(scale=grid.scales["column"], label="head"),
                      bq.Axis(scale=grid.scales["row"], orientation="vertical", label="layer")],
                fig_margin={"top": 36, "bottom": 40, "left": 50, "right": 20},
                layout=ipw.Layout(width="100%", height="300px"))
            return grid, figure

        self.grid, self.grid_figure = grid_figure("weight")
        # by_norm: the same statistic on the norm-based view, beside it (None otherwise)
        self.norm_grid: _GridHeatMap | None = None
        self.norm_grid_figure: bq.Figure | None = None
        if self.by_norm:
            self.norm_grid, self.norm_grid_figure = grid_figure("norm")

        x, y = bq.LinearScale(min=-0.5, max=layers - 0.5), bq.LinearScale()
        series = layer_lines(a, line)
        values = next(iter(series.values()))
        self.points = bq.Scatter(x=self._layers, y=values, scales={"x": x, "y": y}, interactions={"click": "select"},
                                 selected_style={"fill": "red", "stroke": "red"}, default_size=48)
        # one curve per series (two for "… share: weight vs norm": by weight solid, by norm dashed), with a legend
        self.curve = bq.Lines(x=self._layers, y=np.stack(list(series.values())), scales={"x": x, "y": y},
                              labels=list(series), display_legend=len(series) > 1,
                              line_style="solid", colors=["#1f77b4", "#ff7f0e"])
        low, high = (float(f(np.stack(list(series.values())))) for f in (np.min, np.max))
        self.marker = bq.Lines(x=[0, 0], y=[low, high], scales={"x": x, "y": y},
                               colors=["red"], line_style="dashed")
        self.line_figure = bq.Figure(
            marks=[self.curve, self.points, self.marker], title=line,
            # one tick per layer, as integers (a linear axis would also tick the halves: "0 1 1 2 2 …")
            axes=[bq.Axis(scale=x, label="layer", tick_format="d", tick_values=self._layers),
                  bq.Axis(scale=y, orientation="vertical", tick_format=".3g")],
            fig_margin={"top": 36, "bottom": 40, "left": 60, "right": 20},
            layout=ipw.Layout(width="100%", height="300px"))

        # the dropdowns show the short names; the description of the chosen one is written out in full below
        self.stat_choice = ipw.Dropdown(options=list(self.stats), value=stat, description="statistic",
                                        layout=ipw.Layout(width="250px"))
        self.stat_help = ipw.HTML()
        # the grid's colour bar, written as HTML: bqplot's own ColorAxis prints its labels over each other in a
        # figure this size; the scale's ends are set to the statistic's range, the numbers printed beside it
        self.grid_legend = ipw.HTML()
        self.line_choice = ipw.Dropdown(options=list(LINES), value=line, description="per layer",
                                        layout=ipw.Layout(width="250px"))
        self.line_help = ipw.HTML()
        # two columns of 270 … 440 px: side by side down to JupyterLab's 668 px cell, wrapping below that
        column = {"flex": "1 1 270px", "min_width": "270px", "max_width": "440px"}
        grids = [self.grid_figure] if self.norm_grid_figure is None else [
            ipw.HBox([self.grid_figure, self.norm_grid_figure], layout=ipw.Layout(width="100%"))]
        stat_box = ipw.VBox([self.stat_choice, self.stat_help, *grids, self.grid_legend],
                            layout=ipw.Layout(**(column if not self.by_norm else {**column, "max_width": "880px"})))
        panels = ipw.HBox([stat_box,
                           ipw.VBox([self.line_choice, self.line_help, self.line_figure], layout=ipw.Layout(**column))],
                          layout=ipw.Layout(flex_flow="row wrap", align_items="flex-start"))
        super().__init__([panels, self.widget])
        self.stat, self.line = stat, line
        self._describe()
        traitlets.link((self.stat_choice, "value"), (self, "stat"))
        traitlets.link((self.line_choice, "value"), (self, "line"))
        self.grid.observe(self._on_grid_click, names=["selected"])
        if self.norm_grid is not None:
            self.norm_grid.observe(self._on_grid_click, names=["selected"])
        self.points.observe(self._on_point_click, names=["selected"])
        self.widget.observe(self._on_selection, names=["layer", "head"])
        self._on_selection(None)

    def _describe(self) -> None:
        self.stat_help.value = f"<small>{html.escape(self.analysis.head_stats.describe(self.stat))}</small>"
        self.line_help.value = f"<small>{html.escape(LINES[self.line])}</small>"
        grids = [self.grid] if self.norm_grid is None else [self.grid, self.norm_grid]
        values = np.concatenate([np.asarray(g.color, dtype=float).ravel() for g in grids])
        finite = values[np.isfinite(values)]  # an added statistic may leave layers out (NaN)
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        self.grid.scales["color"].min, self.grid.scales["color"].max = lo, hi if hi > lo else lo + 1
        self.grid_legend.value = (
            '<div style="display:flex;align-items:center;gap:6px;margin-left:10px;font-size:11px;white-space:nowrap">'
            f"<span>{self.stat}: {lo:.3g}</span><span style=\"width:110px;height:10px;background:{_VIRIDIS}\"></span>"
            f"<span>{hi:.3g}</span></div>")

    def _grid_values(self, stat: str) -> np.ndarray:
        return grid_values(self.analysis, stat)

    def _grid_title(self, stat: str, by: str) -> str:
        if not self.by_norm:
            return f"{stat} per head"
        return f"{stat} per head, by {'weight α' if by == 'weight' else 'norm ‖αf(x)‖'}"

    # validators, not observers: a refused value never becomes the trait's value
    @traitlets.validate("stat")
    def _valid_stat(self, proposal: Any) -> str:
        return _check_stat(proposal["value"], self.stats)

    @traitlets.validate("line")
    def _valid_line(self, proposal: Any) -> str:
        return _check_line(proposal["value"])

    @traitlets.observe("stat")
    def _show_stat(self, change: Any) -> None:
        self.grid.color = self._grid_values(change["new"])
        self.grid_figure.title = self._grid_title(change["new"], "weight")
        if self.norm_grid is not None and self.norm_grid_figure is not None:
            self.norm_grid.color = grid_values(self.analysis, change["new"], "norm")
            self.norm_grid_figure.title = self._grid_title(change["new"], "norm")
        self._describe()

    @traitlets.observe("line")
    def _show_line(self, change: Any) -> None:
        series = layer_lines(self.analysis, change["new"])
        with self.points.hold_sync(), self.curve.hold_sync():
            self.points.y = next(iter(series.values()))
            self.curve.y = np.stack(list(series.values()))
            self.curve.labels = list(series)
            self.curve.display_legend = len(series) > 1
        self.line_figure.title = change["new"]
        self._mark_layer()
        self._describe()

    def _on_grid_click(self, change: Any) -> None:
        selected = change["new"]
        if selected is None or len(selected) == 0:
            return
        layer, head = (int(v) for v in np.asarray(selected)[0])
        if (layer, head) == (self.widget.layer, self.widget.head):
            return
        with self.widget.hold_trait_notifications():
            self.widget.layer, self.widget.head = layer, head

    def _on_point_click(self, change: Any) -> None:
        selected = change["new"]
        if selected is not None and len(selected):
            self.widget.layer = int(np.asarray(selected)[0])

    def _on_selection(self, _change: Any) -> None:
        layer, head = self.widget.layer, self.widget.head
        for grid in (self.grid, self.norm_grid):
            if grid is None:
                continue
            current = grid.selected
            if current is None or len(current) != 1 or tuple(np.asarray(current)[0]) != (layer, head):
                grid.selected = np.array([[layer, head]])
        self._mark_layer()

    def _mark_layer(self) -> None:
        layer = self.widget.layer
        values = np.asarray(self.curve.y, dtype=float)
        with self.marker.hold_sync():
            self.marker.x = [layer, layer]
            self.marker.y = [float(values.min()), float(values.max())]
        if self.points.selected is None or list(np.asarray(self.points.selected)) != [layer]:
            self.points.selected = [layer]
