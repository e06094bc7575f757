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
from common import SIZES, bertviz_html, first_paint, minilm, random_bert, table

import transeasy_widget as tw


def long_text(n: int) -> str:
    return " ".join(["The quick brown fox jumps over the lazy dog while the cat sat on the mat."] * (n // 8 + 2))


def main(argv: list[str] | None = None) -> list[list[object]]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    args = p.parse_args(argv)
    model, tokenizer = random_bert(), minilm()[1]
    rows: list[list[object]] = []
    for n in args.sizes:
        from transeasy_widget.models import Resolved
        from transeasy_widget.tokens import encode
        from transeasy_widget.trace import run_trace

        enc = encode(tokenizer, long_text(n), None, n, "bert-base (random)", truncate=True)
        a = tw.Analysis(Resolved(model, tokenizer, "bert-base (random)", "bert"), enc,
                        run_trace(model, tokenizer, "bert", enc))
        ours, per_layer = first_paint(a)
        attn = tuple(x[None] for x in a.trace.selfattn_attention)
        theirs = len(bertviz_html(attn, a.tokens).encode())
        gc.collect()
        rows.append([n, f"{ours / 1e6:.3f}", f"{per_layer / 1e6:.3f}", f"{theirs / 1e6:.1f}", f"{100 * ours / theirs:.2f}%"])
        print(f"  n={n}: ours {ours} B, per layer {per_layer} B, bertviz {theirs} B", file=sys.stderr)
    print(table(["n", "ours before first paint (MB)", "ours per further layer (MB)", "bertviz head_view (MB)",
                 "ours / bertviz"], rows))
    return rows


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    main()
