"""Parity: the hand-computed hidden states and attentions against the model's own output, per layer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from .errors import ModelError

TOLERANCE = 1e-5


@dataclass(frozen=True)
class Verification:
    hidden_diff: tuple[float, ...]  # max |manual - model| of each hidden state: embeddings, then layer 0..L-1 outputs
    attention_diff: tuple[float, ...]  # max |manual - model| of each layer's attention weights
    tolerance: float = TOLERANCE

    @property
    def max_hidden_diff(self) -> float:
        return max(self.hidden_diff)

    @property
    def max_attention_diff(self) -> float:
        return max(self.attention_diff)

    @property
    def ok(self) -> bool:
        return self.max_hidden_diff <= self.tolerance and self.max_attention_diff <= self.tolerance

    def __bool__(self) -> bool:
        return self.ok

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "tolerance": self.tolerance, "hidden_diff": list(self.hidden_diff),
                "attention_diff": list(self.attention_diff), "max_hidden_diff": self.max_hidden_diff,
                "max_attention_diff": self.max_attention_diff}

    def __str__(self) -> str:
        verdict = "OK" if self.ok else "MISMATCH"
        lines = [f"parity {verdict}: max |manual - model| hidden {self.max_hidden_diff:.2e}, "
                 f"attention {self.max_attention_diff:.2e} (tolerance {self.tolerance:g})",
                 "  layer   hidden (output)   attention"]
        lines.append(f"  emb     {self.hidden_diff[0]:.2e}")
        for layer, (h, a) in enumerate(zip(self.hidden_diff[1:], self.attention_diff, strict=True)):
            lines.append(f"  {layer:<7} {h:.2e}          {a:.2e}")
        return "\n".join(lines)

    __repr__ = __str__


def _max_abs(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float().reshape(a.shape)).abs().max())


def verify(manual_hiddens: torch.Tensor, attention: torch.Tensor, model_hiddens: Any, model_attentions: Any,
           tolerance: float = TOLERANCE) -> Verification:
    if not model_attentions or not model_hiddens:
        raise ModelError("The model returned no attentions or hidden states to compare with.")
    return Verification(
        hidden_diff=tuple(_max_abs(manual_hiddens[i], h) for i, h in enumerate(model_hiddens)),
        attention_diff=tuple(_max_abs(attention[i], a) for i, a in enumerate(model_attentions)),
        tolerance=tolerance,
    )
