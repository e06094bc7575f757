"""The comparison widget: the attention widget of ``a`` with ``b`` and the difference b − a beside it
(``compare.py`` holds the data; ``js/compare.ts`` the views)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import traitlets

from .compare import Comparison, answer_compare, compare_meta, export_comparison
from .widget import AttentionWidget, widget_meta


class CompareWidget(AttentionWidget):
    """The attention widget of ``a`` with ``b`` and the difference b − a beside it, one selection for all three;
    ``meta["compare"]`` carries b's meta, the difference's rows and the head statistics' deltas."""

    def __init__(self, comparison: Comparison, **selection: Any):
        self._comparison = comparison
        super().__init__(comparison.a, **selection)

    @traitlets.default("meta")
    def _meta(self) -> dict[str, Any]:
        return {**widget_meta(self._comparison.a), "compare": compare_meta(self._comparison)}

    @property
    def comparison(self) -> Comparison:
        return self._comparison

    def _on_request(self, _widget: Any, content: Any, _buffers: Any) -> None:
        try:
            reply, buffers = answer_compare(self._comparison, content)
        except Exception as err:  # a defect, not bad input: the browser must still hear of it
            self.log.exception("transeasy-widget: a comparison request failed")
            rid = content.get("id") if isinstance(content, dict) and isinstance(content.get("id"), int) else None
            reply, buffers = {"type": "error", "id": rid, "message": f"The kernel failed on this request: "
                                                                     f"{type(err).__name__}: {str(err)[:300]}"}, []
        self.send(reply, buffers)

    def save_html(self, path: str | Path, **options: Any) -> Path:
        selection = {name: getattr(self, name) for name in self.SELECTION}
        return export_comparison(self._comparison, path, selection=selection, **options)
