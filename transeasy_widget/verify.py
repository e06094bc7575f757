"""Parity: the hand-computed hidden states and attentions against the model's own output, layer by layer.

The model runs once; then each layer's attention is recomputed from X_l and compared, one layer at a time.
A difference that is not a finite number (NaN or inf: a layer that overflowed or diverged) fails the check and
is reported at its layer; ``to_dict`` writes it as None, so the dict stays strict JSON.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from .errors import ModelError

TOLERANCE = 1e-5

Diffs = tuple[tuple[float, ...], tuple[float, ...]]  # (hidden_diff, attention_diff)


def _worst(diffs: tuple[float, ...]) -> float:
    """The largest difference; NaN where any is NaN (Python's max() would drop it, depending on the order)."""
    return math.nan if any(math.isnan(d) for d in diffs) else max(diffs)


def _finite_or_none(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _fmt(x: float) -> str:
    return f"{x:.2e}" if math.isfinite(x) else f"{x!s:>8}"


@dataclass(frozen=True)
class Verification:
    hidden_diff: tuple[float, ...]  # max |manual - model| of each hidden state: embeddings, then layer 0..L-1 outputs
    attention_diff: tuple[float, ...]  # max |manual - model| of each layer's attention weights
    tolerance: float = TOLERANCE

    @property
    def max_hidden_diff(self) -> float:
        """The largest hidden-state difference (NaN if any layer's is NaN)."""
        return _worst(self.hidden_diff)

    @property
    def max_attention_diff(self) -> float:
        """The largest attention difference (NaN if any layer's is NaN)."""
        return _worst(self.attention_diff)

    @property
    def ok(self) -> bool:
        """Every difference finite and within the tolerance."""
        return all(math.isfinite(d) and d <= self.tolerance for d in (*self.hidden_diff, *self.attention_diff))

    @property
    def failing_layers(self) -> list[int]:
        """The layers whose output or attention is off (not finite, or beyond the tolerance), 0-based."""
        def off(d: float) -> bool:
            return not (math.isfinite(d) and d <= self.tolerance)

        return [layer for layer, (h, a) in enumerate(zip(self.hidden_diff[1:], self.attention_diff, strict=True))
                if off(h) or off(a)]

    def __bool__(self) -> bool:
        return self.ok

    def to_dict(self) -> dict[str, Any]:
        """Strict JSON: a difference that is NaN or infinite is None (and its layer is in ``failing_layers``)."""
        return {"ok": self.ok, "tolerance": self.tolerance,
                "hidden_diff": [_finite_or_none(d) for d in self.hidden_diff],
                "attention_diff": [_finite_or_none(d) for d in self.attention_diff],
                "max_hidden_diff": _finite_or_none(self.max_hidden_diff),
                "max_attention_diff": _finite_or_none(self.max_attention_diff),
                "embeddings_ok": math.isfinite(self.hidden_diff[0]) and self.hidden_diff[0] <= self.tolerance,
                "failing_layers": self.failing_layers}

    def __str__(self) -> str:
        verdict = "OK" if self.ok else "MISMATCH"
        lines = [f"parity {verdict}: max |manual - model| hidden {_fmt(self.max_hidden_diff)}, "
                 f"attention {_fmt(self.max_attention_diff)} (tolerance {self.tolerance:g})"]
        bad = self.failing_layers
        if not all(math.isfinite(d) for d in (*self.hidden_diff, *self.attention_diff)):
            lines[0] += "; not a finite number (NaN or inf) from " + (
                f"layer {bad[0]}" if bad else "the embeddings")
        elif bad:
            lines[0] += f"; off in layer{'s' if len(bad) > 1 else ''} {', '.join(map(str, bad))}"
        lines.append("  layer   hidden (output)   attention")
        lines.append(f"  emb     {_fmt(self.hidden_diff[0])}")
        for layer, (h, a) in enumerate(zip(self.hidden_diff[1:], self.attention_diff, strict=True)):
            mark = "   <- off" if layer in bad else ""
            lines.append(f"  {layer:<7} {_fmt(h)}          {_fmt(a)}{mark}")
        return "\n".join(lines)

    __repr__ = __str__


def max_abs_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| in float32 (NaN where either holds NaN, inf where they differ by inf)."""
    diff = (a.float() - b.float().reshape(a.shape)).abs()
    return float("nan") if bool(diff.isnan().any()) else float(diff.max())


def layer_diffs(trace: Any) -> Diffs:
    """Runs the model once, then compares X_0 … X_L and each layer's attention (recomputed in turn) with its output."""
    res = trace.run_pipeline()
    model_hiddens, model_attentions = res.hidden_states, res.attentions
    if not model_attentions or not model_hiddens:
        raise ModelError("The model returned no attentions or hidden states to compare with.")
    hiddens = trace.manual_hiddens
    if "final_norm_hidden" in trace:  # a decoder's model reports its last hidden state after the final norm
        hiddens = [*hiddens[:-1], trace.final_norm_hidden]
    hidden_diff = tuple(max_abs_diff(hiddens[i], h) for i, h in enumerate(model_hiddens))
    attention_diff = tuple(max_abs_diff(trace["selfattn_attention", layer], a)
                           for layer, a in enumerate(model_attentions))
    return hidden_diff, attention_diff
