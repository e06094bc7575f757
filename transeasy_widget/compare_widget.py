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

    def _answer(self, content: Any) -> tuple[dict[str, Any], list[bytes]]:
        """An ablation (of a) as the analysis widget's; the data of a, b or the difference by ``analysis``."""
        if isinstance(content, dict) and content.get("what") == "ablation":
            return super()._answer(content)
        return answer_compare(self._comparison, content)

    def save_html(self, path: str | Path, **options: Any) -> Path:
        selection = {name: getattr(self, name) for name in self.SELECTION}
        return export_comparison(self._comparison, path, selection=selection, **options)
