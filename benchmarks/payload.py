"""Payload: bytes sent to the browser before the first paint and per on-demand layer, versus bertviz's head_view
page for the same attention (bertviz writes every value as JSON text).

    python benchmarks/payload.py                 # bert-base sized random model, n = 16 ... 512
    python benchmarks/payload.py --sizes 128
"""

from __future__ import annotations

import argparse
import gc
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import SIZES, Row, bertviz_html, first_paint, minilm, random_bert, row_table

import transeasy_widget as tw


def long_text(n: int) -> str:
    return " ".join(["The quick brown fox jumps over the lazy dog while the cat sat on the mat."] * (n // 8 + 2))


def analysis_of(model: object, tokenizer: object, n: int) -> tw.Analysis:
    """An Analysis of exactly n tokens of English text (the model object as it is, no loading)."""
    from transeasy_widget.models import Resolved
    from transeasy_widget.tokens import encode
    from transeasy_widget.trace import run_trace

    enc = encode(tokenizer, long_text(n), None, n, "bert-base (random)", truncate=True)
    return tw.Analysis(Resolved(model, tokenizer, "bert-base (random)", "bert"), enc, run_trace(model, tokenizer, "bert", enc))


def measure(sizes: list[int]) -> list[Row]:
    torch.set_grad_enabled(False)
    model, tokenizer = random_bert(), minilm()[1]
    rows = []
    for n in sizes:
        a = analysis_of(model, tokenizer, n)
        ours, per_layer = first_paint(a)
        theirs = len(bertviz_html(tuple(x[None] for x in a.trace.selfattn_attention), a.tokens).encode())
        gc.collect()
        rows.append(Row("payload: first paint", "bert-base", n, ours / 1e6, theirs / 1e6, "MB", 0.01 if n == 512 else None))
        rows.append(Row("payload: per further layer", "bert-base", n, per_layer / 1e6, theirs / 1e6, "MB"))
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    args = p.parse_args(argv)
    print(row_table(measure(args.sizes), "ours", "bertviz head_view"))


if __name__ == "__main__":
    main()
