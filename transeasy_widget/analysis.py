"""``analyze``: text → tokens → trace, and the Analysis object that every view and presenter reads."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .models import Resolved, resolve
from .tokens import Encoding, check_text, check_vocabulary, encode
from .trace import FAMILIES, Trace, run_trace
from .verify import TOLERANCE, Verification, verify


class Analysis:
    """One text (or pair) through one model: its tokens, every stage of the forward pass, and its views."""

    def __init__(self, resolved: Resolved, encoding: Encoding, trace: Trace, words: Sequence[str] | None = None):
        self.resolved = resolved
        self.encoding = encoding
        self.trace = trace
        self.words_given = None if words is None else list(words)

    @property
    def model(self) -> Any:
        return self.resolved.model

    @property
    def tokenizer(self) -> Any:
        return self.resolved.tokenizer

    @property
    def model_name(self) -> str:
        return self.resolved.name

    @property
    def family(self) -> str:
        return self.resolved.family

    @property
    def text(self) -> str:
        return self.encoding.text

    @property
    def text_pair(self) -> str | None:
        return self.encoding.text_pair

    @property
    def tokens(self) -> list[str]:
        """Word pieces, special tokens included."""
        return list(self.encoding.tokens)

    def verify(self, tolerance: float = TOLERANCE) -> Verification:
        """Per layer, max |manual - model| of the hidden states and the attentions (runs the model once)."""
        t = self.trace
        return verify(t.manual_hiddens, t.selfattn_attention, t.pipeline_hiddens, t.pipeline_attns, tolerance)

    def summary(self) -> str:
        s = self.trace.sizes
        text = repr(self.text) if self.text_pair is None else f"{self.text!r} + {self.text_pair!r}"
        lines = [
            f"model     {self.model_name} ({self.family}: {s['L']} layers × {s['H']} heads, hidden {s['d']}, "
            f"head size {s['dh']}, feed-forward {s['f']})",
            f"text      {text}",
            f"tokens    {s['n']}: {' '.join(self.tokens)}",
            "stages    " + ", ".join(f"{g} {len(names)}" for g, names in self.trace.groups.items()),
        ]
        for name in ("preemb_norm_sum_emb", "selfattn_query_hidden", "selfattn_attention", "ffnn_dense_act",
                     "manual_hiddens"):
            stage = next(st for st in self.trace.stages if st.name == name)
            shape = "×".join(f"{d}={v}" for d, v in zip(stage.dims, self.trace.shape(name), strict=True))
            lines.append(f"  {name:<24} {shape}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Analysis of {self.text!r}: {self.model_name}, {len(self.tokens)} tokens>"


def analyze(text: str, text_pair: str | None = None, *, model: Any = None, tokenizer: Any = None,
            words: Sequence[str] | None = None, truncate: bool = False) -> Analysis:
    """Trace one text (or a pair) through a model, every stage by hand.

    ``model``: None (bert-base-uncased, or the offline MiniLM where that cannot be loaded), a name, a local
    path, or a model object (then pass ``tokenizer`` too, unless it is saved beside the model).
    ``truncate=True`` keeps the first tokens that fit the model's position table instead of raising.
    """
    check_text(text, "The text")  # before any model is loaded
    if text_pair is not None:
        check_text(text_pair, "The second text (text_pair)")
    resolved = resolve(model, tokenizer)
    adapter = FAMILIES[resolved.family]
    check_vocabulary(resolved.tokenizer, int(resolved.model.config.vocab_size), resolved.name)
    enc = encode(resolved.tokenizer, text, text_pair, adapter.max_tokens(resolved.model), resolved.name, truncate)
    return Analysis(resolved, enc, run_trace(resolved.model, resolved.tokenizer, resolved.family, enc), words)
