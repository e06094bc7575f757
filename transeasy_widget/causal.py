"""What the front end needs to draw a causal model's attention: which cells its mask hides, which key/value head
each query head reads, and which hidden states the logit lens can read out.

The mask is sent as a rule, not as n×n flags: a decoder layer lets query position i see key position j when
j <= i and, with a sliding window w, i - j < w (``trace.decoder.causal_mask``). Every row (column) of every
attention variant covers an interval of raw positions (one piece; a word's pieces for ``reduced``; a block of
rows for an overview thumbnail), and a cell is masked when no query of its row interval may see any key of its
column interval: ``masked_cell`` below, the same rule as ``maskedCell`` in ``js/causal.ts``.
"""

from __future__ import annotations

from typing import Any

from .errors import ModelError
from .stages import DECODERS


def is_causal(a: Any) -> bool:
    return bool(a.family in DECODERS)


def windows(a: Any) -> list[int | None]:
    """Each layer's sliding window (None: the whole causal prefix)."""
    return a.trace.windows


def kv_heads(a: Any) -> list[int] | None:
    """The key/value head each query head reads, where several query heads share one (grouped-query attention)."""
    t = a.trace
    if "selfattn_kv_head" not in t or t.sizes.get("Hkv", t.sizes["H"]) >= t.sizes["H"]:
        return None
    return [int(h) for h in t.selfattn_kv_head]


def word_pieces(a: Any) -> list[list[int]]:
    """[first, last] raw positions of each word's pieces (the rows of the ``reduced`` variant)."""
    return [[min(w.pieces), max(w.pieces)] for w in a.attentions.alignment.words]


def masked_cell(row: tuple[int, int], col: tuple[int, int], window: int | None) -> bool:
    """Whether the mask hides every key of positions ``col`` = [c, d] from every query of ``row`` = [a, b]:
    no pair q <= p with p - q < window (p in row, q in col)."""
    (a, b), (c, d) = row, col
    if c > b:  # every key comes after every query
        return True
    if window is None or a <= d:  # a key at or before a query, and the intervals touch: distance 0 is there
        return False
    return a - d >= window  # the nearest pair is the row's first query and the column's last key


def lens_kind(a: Any) -> str | None:
    """What the logit lens reads ("next token" for decoders, "token" for an MLM head), or None without a read-out."""
    from .logit_lens import lens_readout

    try:
        lens_readout(a)
    except ModelError:
        return None
    return "next token" if is_causal(a) else "token"


def causal_meta(a: Any) -> dict[str, Any]:
    """The ``meta`` keys of docs/PROTOCOL.md for causal models, key/value heads and the lens."""
    from .payload import LENS_K

    kind = lens_kind(a)
    return {
        "causal": {"windows": windows(a)} if is_causal(a) else None,
        "kv_heads": kv_heads(a),
        "lens": {"kind": kind, "k": LENS_K, "rows": ["emb", *map(str, range(a.trace.sizes["L"]))]} if kind else None,
    }
