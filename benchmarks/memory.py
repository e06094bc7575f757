"""Memory: peak resident memory added by ``tw.analyze`` against the model's own pass with attentions and hidden
states; what stays after many dropped analyses; and a long context (2,048 tokens on a 24-layer model).

- "peak added": each side in its own fresh process: the model loaded, then the kernel's peak-RSS mark reset and
  one call made; "cold" is that first call, "warm" a second call after the first was dropped.
- "RSS growth over D dropped analyses": resident memory after D analyses of varying length (the first the
  longest), each dropped, less what it was after the first; the model's own passes in the same loop beside it.
- "2k context" (``--long``): a random BERT of 24 layers, 16 heads, hidden 1024 and 2,048 positions, at 2,048
  tokens: ``analyze``, one layer's attention (``a.attentions.layer("raw", 0)``) and a head switch (another head
  of that layer), against the model's own pass with hidden states only (its 24×16×2048×2048 attentions would
  take 6.4 GB on their own) and that layer's own forward.

    python benchmarks/memory.py                  # MiniLM and bert-base at n = 16 ... 512
    python benchmarks/memory.py --sizes 512 --models bert-base --long
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import (
    MODELS,
    SIZES,
    Row,
    fresh_medians,
    minilm,
    own_pass,
    peak,
    random_bert,
    reset_peak,
    row_table,
    rss,
    text_of,
)

import transeasy_widget as tw
from transeasy_widget.trace.memory import release

TARGET = 1.3  # peak added at n = 512, warm
LONG = (24, 16, 1024, 2048)  # layers, heads, hidden, tokens
MB = 2**20


def _call(side: str, model: Any, tokenizer: Any, text: str, n: int) -> Any:
    if side == "ours":
        return tw.analyze(text, model=model, tokenizer=tokenizer, truncate=True)
    return own_pass(model, tokenizer, text, n)


def _peak_added(side: str, model: Any, tokenizer: Any, text: str, n: int) -> int:
    gc.collect()
    # both sides start with no freed heap to reuse: glibc keeps what the model's pass freed (a pool only that side
    # would have, as a dropped trace hands its memory back), so "warm" would time the pool, not the call
    release()
    before = rss()
    reset_peak()
    result = _call(side, model, tokenizer, text, n)
    added = peak() - before
    del result
    return added


def _fresh_peaks(side: str, name: str, n: int) -> dict[str, float]:
    model, tokenizer = MODELS[name](), minilm()[1]
    text = text_of(tokenizer, n)
    cold = _peak_added(side, model, tokenizer, text, n)
    warm = _peak_added(side, model, tokenizer, text, n)
    return {"cold": cold, "warm": warm}


def peaks(sizes: list[int], models: list[str], runs: int = 1) -> list[Row]:
    rows = []
    for name in models:
        for n in sizes:
            r = fresh_medians(__file__, ["own", "ours"], runs, "peaks", name, n)
            for when in ("warm", "cold"):
                rows.append(Row(f"peak memory added, {when}", name, n, r["ours"][when] / MB, r["own"][when] / MB, "MiB",
                                TARGET if n == 512 and when == "warm" else None))
    return rows


def _fresh_drops(side: str, name: str, n: int, drops: int) -> dict[str, float]:
    model, tokenizer = MODELS[name](), minilm()[1]
    sizes = [n] + [16 + (i * 37) % (n - 15) for i in range(1, drops)]  # the longest first, then 16 … n, varied
    texts = {size: text_of(tokenizer, size) for size in set(sizes)}
    after_first = 0
    for i, size in enumerate(sizes):
        result = _call(side, model, tokenizer, texts[size], size)
        if side == "ours":  # what a loop over a corpus reads: a layer, a view, the parity check now and then
            _ = result.trace.layer(i % result.trace.sizes["L"]).selfattn_attention, result.attentions.layer("reduced", 0)
            if i % 20 == 0:
                _ = result.head_stats["entropy"], result.verify()
        del result
        if i == 0:
            after_first = rss()
    return {"growth": rss() - after_first, "end": rss()}


def drops(n: int, models: list[str], count: int) -> list[Row]:
    rows = []
    for name in models:
        r = fresh_medians(__file__, ["own", "ours"], 1, "drops", name, n, count)
        rows.append(Row(f"RSS growth over {count} dropped analyses", name, n, r["ours"]["growth"] / MB,
                        r["own"]["growth"] / MB, "MiB"))
    return rows


def _fresh_long(side: str) -> dict[str, float]:
    layers, heads, hidden, n = LONG
    model, tokenizer = random_bert(layers, heads, hidden, max_pos=n), minilm()[1]
    text = text_of(tokenizer, n)
    base = rss()
    reset_peak()
    out: dict[str, float] = {}
    start = time.perf_counter()
    if side == "own":
        inputs = tokenizer(text, truncation=True, max_length=n, return_tensors="pt")
        with torch.no_grad():
            res = model(**inputs, output_hidden_states=True)
        out["analyze"] = time.perf_counter() - start
        x = res.hidden_states[0]
        start = time.perf_counter()
        with torch.no_grad():
            model.encoder.layer[0](x)
        out["layer"] = time.perf_counter() - start
        out["head"] = out["layer"]  # the model has no "another head": its layer again
    else:
        a = tw.analyze(text, model=model, tokenizer=tokenizer, truncate=True)
        out["analyze"] = time.perf_counter() - start
        start = time.perf_counter()
        a.attentions.layer("raw", 0)[0]
        out["layer"] = time.perf_counter() - start
        start = time.perf_counter()
        a.attentions.layer("raw", 0)[1]  # a head switch: another head of the same layer
        out["head"] = time.perf_counter() - start
    out["peak"] = float(peak())
    out["added"] = float(peak() - base)
    return out


def long_context() -> list[Row]:
    layers, heads, hidden, n = LONG
    name = f"{layers}x{heads}x{hidden}"
    r = fresh_medians(__file__, ["own", "ours"], 1, "long", name, n)
    ours, own = r["ours"], r["own"]
    return [
        Row("2k context: analyze (vs own pass, hidden states only)", name, n, ours["analyze"], own["analyze"], "s"),
        Row("2k context: one layer's attention (vs the layer's forward)", name, n, ours["layer"], own["layer"], "s"),
        Row("2k context: head switch, same layer (vs the layer's forward)", name, n, ours["head"], own["layer"], "s"),
        Row("2k context: peak RSS of the process (vs own pass)", name, n, ours["peak"] / 2**30, own["peak"] / 2**30,
            "GiB"),
    ]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--drops", type=int, default=200,
                   help="dropped analyses in the growth row, on the first of --models (0: none)")
    p.add_argument("--long", action="store_true", help="also the 2,048-token, 24-layer case (minutes)")
    p.add_argument("--fresh", nargs="+", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.fresh:
        side, what, *rest = args.fresh
        if what == "peaks":
            result = _fresh_peaks(side, rest[0], int(rest[1]))
        elif what == "drops":
            result = _fresh_drops(side, rest[0], int(rest[1]), int(rest[2]))
        else:
            result = _fresh_long(side)
        print(json.dumps(result))
        return
    rows = peaks(args.sizes, args.models)
    if args.drops:
        rows += drops(max(args.sizes), args.models[:1], args.drops)
    if args.long:
        rows += long_context()
    print(row_table(rows, "ours", "model's own pass"))


if __name__ == "__main__":
    main()
