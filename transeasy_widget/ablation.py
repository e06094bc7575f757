"""Ablation in the widget: the ``ablated`` trait's rule and the ``ablation`` reply (the effect of ablating the set).

The widget's ``ablated`` trait is the set of heads ablated together, ``[[layer, head], ...]`` (sorted, each once).
The browser asks for the effect with ``{"what": "ablation", "heads": [[l, h], ...], "mode": "zero"}``; the kernel
ablates them with ``Analysis.ablate`` (interventions.py) and answers with ``Analysis.effect``'s numbers: for a model
with an LM or MLM head, the top predictions before and after and the probability of the token predicted before at
the read positions (the [MASK]s; the last piece that is not a special token where the text has none); for a bare
encoder, the cosine of each hidden state before and after. Every effect the widget computed is kept with it, so
its exported page can show those (and says that others were not computed before export).
"""

from __future__ import annotations

from typing import Any

import traitlets

from .errors import InputError

MODES = ("zero", "mean")
KEEP = 64  # effects a widget keeps (its exported page holds them): the most recent


def check_ablated(value: Any, layers: int, heads: int) -> list[list[int]]:
    """The ``ablated`` trait's value: a list of [layer, head] pairs in range, each once, sorted; a TraitError
    that names the valid form otherwise."""
    form = f"a list of [layer, head] pairs (layer in 0..{layers - 1}, head in 0..{heads - 1}), e.g. [[0, 1]]"
    if not isinstance(value, (list, tuple)):
        raise traitlets.TraitError(f"ablated must be {form}, got {value!r}.")
    out: set[tuple[int, int]] = set()
    for pair in value:
        ok = (isinstance(pair, (list, tuple)) and len(pair) == 2
              and all(isinstance(v, int) and not isinstance(v, bool) for v in pair))
        if not ok or not (0 <= pair[0] < layers and 0 <= pair[1] < heads):
            raise traitlets.TraitError(f"ablated must be {form}; {str(pair)[:40]!s} is not one.")
        out.add((int(pair[0]), int(pair[1])))
    return [list(p) for p in sorted(out)]


def ablation_key(heads: list[list[int]], mode: str) -> str:
    """The key a page files an effect under (js/ablation.ts ablationKey writes the same)."""
    return f"ablation|{','.join(f'{layer}.{head}' for layer, head in heads)}|{mode}"


def check_request(a: Any, req: dict[str, Any]) -> tuple[list[list[int]], str]:
    sizes = a.trace.sizes
    try:
        heads = check_ablated(req.get("heads"), sizes["L"], sizes["H"])
    except traitlets.TraitError as err:
        raise InputError(str(err).replace("ablated must be", "heads of an ablation request must be")) from None
    if not heads:
        raise InputError("An ablation request names at least one head.")
    mode = req.get("mode", "zero")
    if mode not in MODES:
        raise InputError(f"mode of an ablation request must be one of {', '.join(MODES)}, got {str(mode)[:40]!r}.")
    return heads, str(mode)


def _read_position(a: Any) -> list[int] | None:
    """Where the output is read: None (the default: the [MASK]s, a decoder's last position), or, for an MLM head on
    a text without [MASK], the last piece that is not a special token."""
    from .errors import InterventionError
    from .interventions import has_readout, readout_positions

    if not has_readout(a):
        return None
    try:
        readout_positions(a, None)
        return None
    except InterventionError:
        special = list(a.encoding.special)
        last = max((i for i, s in enumerate(special) if not s), default=len(special) - 1)
        return [last]


def effect_content(a: Any, heads: list[list[int]], mode: str) -> dict[str, Any]:
    """The reply's content: ``Analysis.ablate`` then ``Analysis.effect`` (its numbers, as JSON)."""
    after = a.ablate(heads=[tuple(p) for p in heads], mode=mode)
    position = _read_position(a)
    first = after.effect(position=position, k=5)
    token = first.positions[0].before[0][0] if first.positions else None
    eff = after.effect(token=token, position=position, k=5) if token is not None else first
    note = ""
    if eff.positions and position is not None:
        note = (f"the text has no {getattr(a.tokenizer, 'mask_token', '[MASK]')}: the output is read at its last "
                f"piece ({a.tokens[position[0]]!r}); put a {getattr(a.tokenizer, 'mask_token', '[MASK]')} in the "
                "text to read a prediction")
    return {
        "what": "ablation", "heads": heads, "mode": mode, "labels": list(eff.labels),
        "cosine": [float(c) for c in eff.cosine], "readout": bool(eff.positions), "token": eff.token,
        "predicts": eff.what, "note": note,
        "positions": [{"position": p.position, "input_token": p.input_token,
                       "before": [[t, float(q)] for t, q in p.before], "after": [[t, float(q)] for t, q in p.after],
                       "prob_before": p.prob_before, "prob_after": p.prob_after, "kl": p.kl, "changed": p.changed}
                      for p in eff.positions],
    }
