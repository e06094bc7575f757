"""The step-by-step trace: one adapter per architecture family, and the Trace that serves every stage by name.

A trace keeps what the model's own pass keeps: the inputs, the embedding stages and the residual stream
X_0 … X_L (``manual_hiddens``). Any other stage of layer l is recomputed from X_l when it is first asked for,
by the very function that computed X_{l+1}, so it is bit-identical to computing every stage up front; a
bounded cache (``trace.cache``) keeps the layers used last.
"""

from __future__ import annotations

import difflib
import weakref
from collections.abc import Callable, Collection, Iterator
from types import ModuleType
from typing import Any

import torch

from ..errors import check_index
from ..families import SUPPORTED
from ..models import own_forward_mode
from ..stages import STAGES, Stage, absent_reason, by_group, stages_for
from ..tokens import Encoding
from . import albert, bert, distilbert, electra, gpt2, llama, roberta
from .cache import DEFAULT_MB, LayerCache
from .decoder import FINAL_STAGES
from .encoder import Layers, LayerStack
from .memory import release

# model_type → the module that traces it (each has trace, max_tokens, model_inputs, features)
FAMILIES: dict[str, ModuleType] = {
    "bert": bert, "roberta": roberta, "xlm-roberta": roberta, "distilbert": distilbert, "albert": albert,
    "electra": electra, "gpt2": gpt2, "llama": llama, "mistral": llama, "qwen2": llama, "qwen3": llama,
}
assert tuple(FAMILIES) == SUPPORTED, "families.SUPPORTED lists the families traced here"

_PIPELINE = ("pipeline_res", "pipeline_attns", "pipeline_hiddens", "pipeline_logits")


def sizes_of(values: dict[str, Any], layers: Layers) -> dict[str, int]:
    """The dimension sizes, read off the kept tensors and the model's modules (never from literals)."""
    hiddens = values["manual_hiddens"]
    vocab, e = values["preemb_vocab"].shape
    return {**layers.dims(), "n": hiddens.shape[1], "d": hiddens.shape[-1], "V": vocab, "e": e}


class StagesAsAttributes:
    """``x.name`` reads ``x[name]``; a missing stage is an AttributeError carrying the KeyError's message."""

    def __getitem__(self, key: Any) -> Any:
        raise NotImplementedError

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError as err:
            raise AttributeError(err.args[0]) from None


class Trace(StagesAsAttributes):
    """Every stage of one forward pass by its registry name: ``trace.selfattn_query_hidden`` or ``trace[name]``;
    one layer of it: ``trace.layer(3).selfattn_query_hidden`` or ``trace["selfattn_query_hidden", 3]``.

    Kept from the start: the symbolic and embedding stages, ``manual_hiddens`` (X_0 … X_L) and the weight
    stages (views of the model's parameters). Computed when asked for, from X_l: the other activation stages.
    Asking for one layer computes that layer only (once: ``trace.cache`` keeps recent layers, up to
    ``cache.budget_mb``), and only as far as needed: Q, K, the scores and the attention weights first, then the
    attention block (values, context, dense, the first add & norm), the feed-forward when one of its stages is
    asked for.

    The full-shape attribute of a per-layer activation stage (``trace.selfattn_attention``, L×H×n×n) computes
    every layer not in the cache and stacks them into a new tensor on each access: in a loop over layers, ask
    ``trace.layer(l)`` instead.
    """

    def __init__(self, family: str, values: dict[str, Any], layers: Layers, run_pipeline: Callable[[], Any],
                 features: Collection[str] = frozenset(), cache_mb: float = DEFAULT_MB,
                 source: Trace | None = None, shared_below: int = 0):
        self.family = family
        # an intervention's trace (interventions.py): layers below ``shared_below`` are its source's, served by it
        self.source = source
        self.shared_below = shared_below if source is not None else 0
        self.features = frozenset(features)  # the model's optional features (stages.FEATURES), e.g. a projection
        self._values = values
        self._layers = layers
        self._run_pipeline = run_pipeline
        self._kept_pipeline: list[Any] = []  # the model's own output once asked for (a box that release empties)
        self.cache = LayerCache(cache_mb)
        self.sizes = sizes_of(values, layers)
        # when this trace dies, its memory goes back to the system (see memory.py)
        weakref.finalize(self, release, self._values, self.cache, self._kept_pipeline).atexit = False

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
    def windows(self) -> list[int | None]:
        """Each layer's sliding attention window (a query sees its last ``w`` keys); None: no window (an encoder,
        or a decoder layer that sees the whole causal prefix)."""
        return [getattr(p, "window", None) for p in self._layers.parts]

    @property
    def pipeline(self) -> Any:
        """The model's own output (eval mode, eager attention, no gradients), computed on first use and kept."""
        if not self._kept_pipeline:
            self._kept_pipeline.append(self.run_pipeline())
        return self._kept_pipeline[0]

    def run_pipeline(self) -> Any:
        """The model's own output, computed now and not kept (``verify`` reads it once)."""
        return self._kept_pipeline[0] if self._kept_pipeline else self._run_pipeline()

    # -- one layer ----------------------------------------------------------------------------------------------
    def layer(self, layer: int) -> LayerTrace:
        """Layer ``layer``'s stages (``.selfattn_query_hidden`` is H×n×dh): computed from X_l on first access."""
        return LayerTrace(self, check_index("layer", layer, self.sizes["L"]))

    def layer_stages(self, layer: int, attention_only: bool = False,
                     held: dict[str, torch.Tensor] | None = None, block_only: bool = False) -> dict[str, torch.Tensor]:
        """Every activation stage of one layer (a new dict of the cached tensors): from the cache, or computed.

        ``attention_only``: the layers' ``attention_names`` suffice (Q, K, the scores, the weights: what the attention
        views read), so a layer not in the cache is computed that far only; ``block_only``: the ``block_names``
        suffice (the attention block up to its residual and norm, no feed-forward: what the contribution views read).
        The rest of the layer follows from such a part when asked for (``held``: a part of this layer the caller
        holds, where the cache has none). Either way the numbers are those of the full pass.
        """
        layer = check_index("layer", layer, self.sizes["L"])
        if layer < self.shared_below:  # not edited: the very tensors of the source's trace
            assert self.source is not None
            return self.source.layer_stages(layer, attention_only, held, block_only)
        stages = self.cache.get(layer)
        if stages is None and held:
            stages = held
        block_end = self._layers.block_names[-1]
        if stages is not None and (attention_only or (block_only and block_end in stages)
                                   or self._layers.OUTPUT in stages):
            return dict(stages)
        x = self._values["manual_hiddens"][layer]
        if stages is None:
            stages = (self._layers.attention(layer, x) if attention_only or block_only
                      else self._layers.layer(layer, x))
        if not attention_only and block_end not in stages:  # the attention part is held: the rest (or block) from it
            stages = {**stages, **self._layers.rest(layer, x, stages, block_only=block_only)}
        elif not (attention_only or block_only) and self._layers.OUTPUT not in stages:  # the block is: the feed-forward
            stages = {**stages, **self._layers.ffn(layer, stages)}
        self.cache.put(layer, stages)
        return dict(stages)

    def layers(self, name: str) -> Iterator[Any]:
        """One stage layer by layer (layer 0 first), each computed when the loop reaches it."""
        return (self[name, layer] for layer in range(self.shape(name)[0]))

    # -- by name ------------------------------------------------------------------------------------------------
    def __getitem__(self, key: str | tuple[str, int]) -> Any:
        if isinstance(key, tuple):
            return self._one_layer(*key)
        name = key
        if name in self._values:
            return self._values[name]
        if name == self._layers.OUTPUT:  # the layer outputs are kept: X_1 … X_L
            return self._values["manual_hiddens"][1:]
        if name in self._layers.layer_names and name in self:
            return torch.stack([self[name, layer] for layer in range(self.sizes["L"])])
        if name in FINAL_STAGES and name in self:  # from X_L, computed on each access (the logits are n×V)
            return self._layers.final(self._values["manual_hiddens"][-1], logits=name == "final_logits")[name]  # type: ignore[attr-defined]
        if name in _PIPELINE and STAGES[name].exists_in(self.family, self.features):
            res = self.pipeline
            if name == "pipeline_logits":
                return res.logits[0]
            return {"pipeline_res": res, "pipeline_attns": res.attentions, "pipeline_hiddens": res.hidden_states}[name]
        raise KeyError(self._missing(name))

    def _one_layer(self, name: str, layer: int) -> Any:
        stage = STAGES.get(name)
        if stage is None or name not in self:
            raise KeyError(self._missing(name))
        if not stage.per_layer:
            raise KeyError(f"{name} has no layer axis (dims {', '.join(stage.dims) or 'none'}): ask trace.{name}.")
        layer = check_index("layer" if stage.dims[0] == "L" else "hidden state", layer, self.shape(name)[0])
        if name in self._layers.layer_names:
            return self.layer_stages(layer, attention_only=name in self._layers.attention_names,
                                     block_only=name in self._layers.block_names)[name]
        return self._values[name][layer]  # the hidden states and the weight views are kept

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


class LayerTrace(StagesAsAttributes):
    """The stages of one layer: ``trace.layer(3).selfattn_attention`` (H×n×n), ``.addnorm1_dense_weight`` (d×d).

    The layer's activation stages are computed from X_l on first access (or taken from the trace's cache) and
    then held by this object while it lives; ``.input`` is X_l and ``.output`` X_{l+1}.
    """

    def __init__(self, trace: Trace, layer: int):
        self.trace = trace
        self.index = layer
        self._stages: dict[str, torch.Tensor] = {}

    @property
    def names(self) -> list[str]:
        """The stages with a layer axis (dims L ...) of this model."""
        return [s.name for s in self.trace.stages if s.per_layer and s.dims[0] == "L"]

    @property
    def input(self) -> torch.Tensor:
        return self.trace["manual_hiddens", self.index]

    @property
    def output(self) -> torch.Tensor:
        return self.trace["manual_hiddens", self.index + 1]

    def __getitem__(self, name: str) -> Any:
        layers = self.trace._layers
        if name in layers.layer_names and name in self.trace:
            if name not in self._stages:
                self._stages = self.trace.layer_stages(self.index, name in layers.attention_names, held=self._stages,
                                                       block_only=name in layers.block_names)
            return self._stages[name]
        if name in self.names:
            return self.trace[name, self.index]
        if name in self.trace:
            raise KeyError(f"{name} is not a stage of one layer (dims {', '.join(STAGES[name].dims) or 'none'}): "
                           f"ask trace.{name}" + (f", or .input / .output for X_{self.index} / X_{self.index + 1}"
                                                  if name == "manual_hiddens" else "") + ".")
        raise KeyError(self.trace._missing(name))

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self.names))

    def __repr__(self) -> str:
        return f"<LayerTrace: layer {self.index} of {self.trace.sizes['L']}; {len(self.names)} stages>"


def run_trace(model: Any, tokenizer: Any, family: str, enc: Encoding, cache_mb: float = DEFAULT_MB) -> Trace:
    adapter = FAMILIES[family]
    # no_grad, not inference_mode: the stages are ordinary tensors that mix with the user's own (no autograd graph)
    with torch.no_grad():
        values, layers = adapter.trace(model, enc)
    values.update(sym_sent=enc.text if enc.text_pair is None else (enc.text, enc.text_pair),
                  sym_token_ids=torch.tensor(enc.ids), sym_tokens=list(enc.tokens), sym_seq_len=enc.n,
                  model=model, tokenizer=tokenizer)
    if STAGES["sym_segment_ids"].exists_in(family):
        values["sym_segment_ids"] = torch.tensor(enc.segment_ids)

    def pipeline() -> Any:
        # own_forward_mode runs under inference_mode; the output is made of ordinary tensors, as the trace's
        with own_forward_mode(model), torch.inference_mode(False), torch.no_grad():
            return model(**adapter.model_inputs(model, enc), output_attentions=True,
                         output_hidden_states=True, return_dict=True)

    return Trace(family, values, layers, pipeline, adapter.features(model), cache_mb)


__all__ = ["FAMILIES", "SUPPORTED", "LayerStack", "LayerTrace", "Layers", "Trace", "run_trace", "sizes_of"]
