"""The step-by-step trace: one adapter per architecture family, all filling the registry's stages."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Collection
from types import ModuleType
from typing import Any

import torch

from ..stages import STAGES, Stage, absent_reason, by_group, stages_for
from ..tokens import Encoding
from . import albert, bert, distilbert, electra, gpt2, llama, roberta

# model_type → the module that traces it (each has trace, max_tokens, model_inputs, features)
FAMILIES: dict[str, ModuleType] = {
    "bert": bert, "roberta": roberta, "xlm-roberta": roberta, "distilbert": distilbert, "albert": albert,
    "electra": electra, "gpt2": gpt2, "llama": llama, "mistral": llama, "qwen2": llama, "qwen3": llama,
}
SUPPORTED: tuple[str, ...] = tuple(FAMILIES)

_PIPELINE = ("pipeline_res", "pipeline_attns", "pipeline_hiddens", "pipeline_logits")


def sizes_of(values: dict[str, Any]) -> dict[str, int]:
    """The dimension sizes, read off the traced tensors (never from literals)."""
    layers, heads, n, dh = values["selfattn_query_hidden"].shape
    vocab, e = values["preemb_vocab"].shape
    ffn = values["ffnn_dense_hidden"] if "ffnn_dense_hidden" in values else values["ffnn_gate_hidden"]  # SwiGLU
    return {"L": layers, "H": heads, "Hkv": values["selfattn_key_hidden"].shape[1], "n": n, "dh": dh,
            "d": values["manual_hiddens"].shape[-1], "a": values["selfattn_contvec_concat"].shape[-1],
            "f": ffn.shape[-1], "V": vocab, "e": e}


class Trace:
    """Every stage of one forward pass by its registry name: ``trace.selfattn_query_hidden`` or ``trace[name]``."""

    def __init__(self, family: str, values: dict[str, Any], run_pipeline: Callable[[], Any],
                 features: Collection[str] = frozenset()):
        self.family = family
        self.features = frozenset(features)  # the model's optional features (stages.FEATURES), e.g. a projection
        self._values = values
        self._run_pipeline = run_pipeline
        self._pipeline: Any = None
        self.sizes = sizes_of(values)

    @property
    def stages(self) -> tuple[Stage, ...]:
        """The stages of this trace, in data-flow order (``s.name, s.group, s.dims, s.formula, s.meaning``)."""
        return stages_for(self.family, self.features)

    @property
    def groups(self) -> dict[str, list[str]]:
        """Stage names by TransEasy's prefix groups (sym, preemb, selfattn, addnorm1, ffnn, addnorm2, ...)."""
        return by_group(self.stages)

    def shape(self, name: str) -> tuple[int, ...]:
        return STAGES[name].shape(self.sizes)

    @property
    def pipeline(self) -> Any:
        """The model's own output (eval mode, eager attention, no gradients), computed on first use."""
        if self._pipeline is None:
            self._pipeline = self._run_pipeline()
        return self._pipeline

    def __getitem__(self, name: str) -> Any:
        if name in self._values:
            return self._values[name]
        if name in _PIPELINE and STAGES[name].exists_in(self.family, self.features):
            res = self.pipeline
            if name == "pipeline_logits":
                return res.logits[0]
            return {"pipeline_res": res, "pipeline_attns": res.attentions, "pipeline_hiddens": res.hidden_states}[name]
        raise KeyError(self._missing(name))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError as err:
            raise AttributeError(err.args[0]) from None

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and STAGES.get(name) in self.stages

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | {s.name for s in self.stages})

    def _missing(self, name: str) -> str:
        reason = absent_reason(name, self.family, self.features)
        if reason:
            return f"{name} is not part of this {self.family} model: {reason}"
        close = difflib.get_close_matches(name, [s.name for s in self.stages], n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        return f"No stage named {name!r}.{hint} trace.stages lists them all."

    def __repr__(self) -> str:
        dims = ", ".join(f"{k}={v}" for k, v in self.sizes.items())
        return f"<Trace {self.family}: {len(self.stages)} stages; {dims}>"


def run_trace(model: Any, tokenizer: Any, family: str, enc: Encoding) -> Trace:
    adapter = FAMILIES[family]
    with torch.inference_mode():
        values = adapter.trace(model, enc)
    values.update(sym_sent=enc.text if enc.text_pair is None else (enc.text, enc.text_pair),
                  sym_token_ids=torch.tensor(enc.ids), sym_tokens=list(enc.tokens), sym_seq_len=enc.n,
                  model=model, tokenizer=tokenizer)
    if STAGES["sym_segment_ids"].exists_in(family):
        values["sym_segment_ids"] = torch.tensor(enc.segment_ids)

    def pipeline() -> Any:
        from ..models import own_forward_mode

        with own_forward_mode(model):
            return model(**adapter.model_inputs(model, enc), output_attentions=True,
                         output_hidden_states=True, return_dict=True)

    return Trace(family, values, pipeline, adapter.features(model))
