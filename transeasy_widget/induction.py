"""Head statistics of causal models: the BOS share (the attention sink) and the induction score.

With A a layer × head × n × n attention (rows: queries, each row sums to 1, causal: A[i, j] = 0 for j > i):

- ``bos_share(A)``: mean over rows i = 1..n-1 of A[i, 0], the attention to the first token (the BOS token where
  the input starts with one). Many heads of trained decoders park most of their attention there, a "sink"
  (Xiao et al. 2023). Row 0 is left out: a causal first row can only attend to itself.
- ``induction_score(A, period, start)``: on an input whose tokens at ``start .. start+period-1`` repeat at
  ``start+period .. start+2·period-1`` (a random sequence, then the same again), the mean over the second copy's
  positions i of A[i, i - period + 1]: the attention from a token to the token that FOLLOWED its earlier
  occurrence. An induction head (Olsson et al. 2022) does exactly that (it predicts the repeat), scoring near 1;
  other heads score about 1/i on average.

``induction_heads(model=..., period=...)`` builds such an input from random vocabulary ids (the tokenizer's BOS
first where it has one), traces it, and returns both statistics for every head.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from .errors import InputError, ModelError

Tensor = torch.Tensor


def bos_share(attn: Tensor) -> Tensor:
    """Mean over rows 1..n-1 of the attention to position 0 (… × n × n → …); 0 for a single token."""
    if attn.shape[-1] < 2:
        return attn.new_zeros(attn.shape[:-2])
    return attn[..., 1:, 0].mean(-1)


def induction_score(attn: Tensor, period: int, start: int = 0) -> Tensor:
    """Mean over the second copy's rows i = start+period .. start+2·period-1 of A[i, i - period + 1]."""
    n = attn.shape[-1]
    if period < 1 or start < 0 or start + 2 * period > n:
        raise InputError(f"A repeated sequence of period {period} from position {start} needs "
                         f"{start + 2 * period} tokens; the attention has {n}.")
    rows = torch.arange(start + period, start + 2 * period, device=attn.device)
    return attn[..., rows, rows - period + 1].mean(-1)


def repeated_random_ids(tokenizer: Any, period: int, seed: int = 0) -> tuple[list[int], int]:
    """([BOS] + r + r, start of r) with r ``period`` random ids that are no special token (BOS only where the
    tokenizer has one)."""
    if isinstance(period, bool) or not isinstance(period, int) or period < 2:
        raise InputError(f"period must be an integer of at least 2, got {period!r}.")
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    pool = torch.tensor([i for i in range(len(tokenizer)) if i not in special])
    if len(pool) < period:
        raise InputError(f"The tokenizer has only {len(pool)} ordinary tokens; choose a period of at most that.")
    generator = torch.Generator().manual_seed(seed)
    r = pool[torch.randperm(len(pool), generator=generator)[:period]].tolist()  # distinct: one match each
    bos = getattr(tokenizer, "bos_token_id", None)
    prefix = [int(bos)] if bos is not None else []
    return [*prefix, *r, *r], len(prefix)


@dataclass(frozen=True)
class InductionHeads:
    """Per-head (L×H) induction scores and BOS shares on a repeated random sequence, and the analysis itself."""

    scores: Tensor
    bos: Tensor
    period: int
    start: int
    analysis: Any

    def top(self, k: int = 5) -> list[tuple[int, int, float]]:
        """The k heads with the highest induction score, as (layer, head, score)."""
        flat = self.scores.flatten()
        best = torch.argsort(flat, descending=True, stable=True)[: max(0, int(k))]
        heads = self.scores.shape[1]
        return [(int(i) // heads, int(i) % heads, float(flat[i])) for i in best]

    def __repr__(self) -> str:
        found = ", ".join(f"({layer}, {head}) {score:.2f}" for layer, head, score in self.top(5))
        return (f"<InductionHeads: period {self.period}; top induction scores (layer, head) {found}; "
                f"mean BOS share {float(self.bos.mean()):.2f}>")


def induction_heads(model: Any = None, tokenizer: Any = None, period: int = 50, seed: int = 0) -> InductionHeads:
    """Trace a random sequence of ``period`` tokens repeated once (after the BOS token where the tokenizer has one)
    and score every head: induction score and BOS share."""
    from .analysis import Analysis
    from .models import resolve
    from .stages import DECODERS
    from .tokens import Encoding
    from .trace import FAMILIES, run_trace

    resolved = resolve(model, tokenizer)
    if resolved.family not in DECODERS:
        raise ModelError(f"Induction heads are a property of causal (decoder) models; {resolved.name} is a "
                         f"{resolved.family} encoder, whose attention looks both ways.")
    ids, start = repeated_random_ids(resolved.tokenizer, period, seed)
    limit = FAMILIES[resolved.family].max_tokens(resolved.model)
    if len(ids) > limit:
        raise InputError(f"{len(ids)} tokens exceed {resolved.name}'s {limit}: choose a period of at most "
                         f"{(limit - start) // 2}.")
    tokens = resolved.tokenizer.convert_ids_to_tokens(ids)
    special = set(getattr(resolved.tokenizer, "all_special_ids", []) or [])
    enc = Encoding(text=resolved.tokenizer.decode(ids), text_pair=None, ids=ids, tokens=tokens,
                   segment_ids=[0] * len(ids), special=[i in special for i in ids], offsets=None,
                   sequence=[None if i in special else 0 for i in ids])
    a = Analysis(resolved, enc, run_trace(resolved.model, resolved.tokenizer, resolved.family, enc))
    attn = a.trace.selfattn_attention
    return InductionHeads(induction_score(attn, period, start), bos_share(attn), period, start, a)
