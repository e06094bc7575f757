"""TransEasy's ``bertscope.analyzer``: every stage of the forward pass as an attribute, same names as the original.

    from transeasy_widget.bert import bertscope
    inst = bertscope.analyzer("an example sentence here")
    inst.selfattn_qkt_scale_soft_hidden, inst.manual_hiddens, inst.pipeline_hiddens
"""

from __future__ import annotations

from typing import Any

from ..analysis import Analysis, analyze


class analyzer:  # noqa: N801 - the original's class name
    """Analyse one sentence; every registry stage is an attribute (``inst.preemb_word_emb``, ...)."""

    def __init__(self, sentence: str, model: Any = None, tokenizer: Any = None, **kwargs: Any):
        self.analysis: Analysis = analyze(sentence, model=model, tokenizer=tokenizer, **kwargs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name == "analysis":
            raise AttributeError(name)
        return getattr(self.analysis.trace, name)

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | {s.name for s in self.analysis.trace.stages})

    def verify(self) -> Any:
        return self.analysis.verify()
