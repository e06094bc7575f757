"""``cs.dashboard()``: the corpus mean of a statistic per head (a bqplot layer×head grid, as in ``a.dashboard()``),
linked to the attention widget of the selected head's most extreme text: a click in the grid opens that text at that
head; the list under the grid names the head's other extreme texts."""

from __future__ import annotations

from html import escape
from typing import Any

import bqplot as bq
import ipywidgets as ipw
import numpy as np
import traitlets

from ..dashboard import _GridHeatMap
from .stats import CorpusStats


class CorpusDashboard(ipw.HBox):
    """``stat``, ``layer`` and ``head`` say what is shown; ``widget`` is the attention widget of the example text."""

    stat = traitlets.Unicode("prev")
    layer = traitlets.Int(0)
    head = traitlets.Int(0)

    def __init__(self, cs: CorpusStats, stat: str = "prev"):
        self.cs = cs
        self._values(stat)  # a clear error for an unknown statistic, before anything is built
        layer, head, _ = cs.top(stat, 1)[0]
        self.grid = _GridHeatMap(
            row=np.arange(cs.layers), column=np.arange(cs.heads), color=self._values(stat),
            scales={"row": bq.OrdinalScale(reverse=True), "column": bq.OrdinalScale(),
                    "color": bq.ColorScale(scheme="viridis")},
            interactions={"click": "select"}, selected_style={"stroke": "red", "stroke-width": "3"},
            unselected_style={"opacity": "1"}, tooltip=bq.Tooltip(fields=["row", "column", "color"],
                                                                 labels=["layer", "head", "corpus mean"]))
        self.figure = bq.Figure(
            marks=[self.grid], title=self._title(stat),
            axes=[bq.Axis(scale=self.grid.scales["column"], label="head"),
                  bq.Axis(scale=self.grid.scales["row"], orientation="vertical", label="layer"),
                  bq.ColorAxis(scale=self.grid.scales["color"], orientation="vertical", side="right")],
            fig_margin={"top": 40, "bottom": 40, "left": 50, "right": 70},
            layout=ipw.Layout(width="420px", height="360px"))
        self.choice = ipw.Dropdown(options=[(f"{s}: {cs.DESCRIPTIONS.get(s, s)}", s) for s in cs.stats], value=stat,
                                   description="statistic", layout=ipw.Layout(width="410px"))
        self.examples = ipw.HTML(layout=ipw.Layout(width="410px"))
        self.analysis: Any = None
        self.widget: Any = ipw.Box()
        self.panel = ipw.VBox([self.choice, self.figure, self.examples])
        super().__init__([self.panel, self.widget],
                         layout=ipw.Layout(flex_flow="row wrap", align_items="flex-start"))
        self.stat, self.layer, self.head = stat, layer, head
        traitlets.link((self.choice, "value"), (self, "stat"))
        self.grid.observe(self._on_click, names=["selected"])
        self._show()

    def _values(self, stat: str) -> np.ndarray:
        if stat not in self.cs.stats:
            raise traitlets.TraitError(f"stat must be one of {', '.join(self.cs.stats)}, got {stat!r}.")
        return self.cs.mean(stat).numpy()

    def _title(self, stat: str) -> str:
        return f"{stat}: corpus mean per head ({self.cs.n_texts} texts)"

    @traitlets.observe("stat")
    def _show_stat(self, change: Any) -> None:
        if not hasattr(self, "grid"):
            return
        self.grid.color = self._values(change["new"])
        self.figure.title = self._title(change["new"])
        self._show()

    @traitlets.observe("layer", "head")
    def _show_head(self, _change: Any) -> None:
        if hasattr(self, "grid"):
            self._show()

    def _on_click(self, change: Any) -> None:
        selected = change["new"]
        if selected is None or len(selected) == 0:
            return
        layer, head = (int(v) for v in np.asarray(selected)[0])
        with self.hold_trait_notifications():
            self.layer, self.head = layer, head

    def _show(self) -> None:
        """The selected head marked in the grid, its extreme texts listed, the first opened in the widget."""
        layer, head = self.layer, self.head
        current = self.grid.selected
        if current is None or len(current) != 1 or tuple(np.asarray(current)[0]) != (layer, head):
            self.grid.selected = np.array([[layer, head]])
        found = self.cs.examples(self.stat, layer, head)
        rows = "".join(f"<li><code>{value:.3f}</code> {escape(item.text)}</li>" for value, item in found)
        self.examples.value = (f"<b>{escape(self.stat)}, layer {layer}, head {head}</b>: corpus mean "
                               f"{float(self.cs.mean(self.stat)[layer, head]):.3f}; most extreme texts<ol>{rows}</ol>")
        if not found or self.cs.resolved is None:
            return
        self.analysis = self.cs.example(self.stat, layer, head)
        self.widget = self.analysis.widget(layer=layer, head=head)
        self.children = (self.panel, self.widget)
