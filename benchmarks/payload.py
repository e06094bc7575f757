"""Payload: bytes sent to the browser before the first paint and per on-demand layer, and the size of the exported
page (what ``-o`` writes), versus bertviz's head_view page for the same attention, measured in the same run
(bertviz writes every value as JSON text).

    python benchmarks/payload.py                 # n = 16 ... 512
    python benchmarks/payload.py --sizes 128

Rows:
- payload: first paint / per further layer (the live widget, bert-base sized random model).
- page: exported page vs bertviz: the whole page (every layer's attention, every head and variant, the stage
  tensors within the default budget) for the pretrained MiniLM (6 × 12) and a bert-base sized random model
  (12 × 12), beside bertviz's page. Target at 16 tokens: no bigger than bertviz's.
- page: exported page vs target: at 512 tokens, the page beside the issue's targets (12.5 MB for MiniLM,
  50 MB for the random 12 × 12, whose near-uniform attention does not compress).
The time to write each page goes to stderr.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import SIZES, Row, bertviz_html, first_paint, minilm, random_bert, row_table

import transeasy_widget as tw


def long_text(n: int) -> str:
    return " ".join(["The quick brown fox jumps over the lazy dog while the cat sat on the mat."] * (n // 8 + 2))


def analysis_of(model: object, tokenizer: object, n: int, name: str) -> tw.Analysis:
    """An Analysis of exactly n tokens of English text (the model object as it is, no loading), named ``name``."""
    from transeasy_widget.models import Resolved
    from transeasy_widget.tokens import encode
    from transeasy_widget.trace import run_trace

    enc = encode(tokenizer, long_text(n), None, n, name, truncate=True)
    return tw.Analysis(Resolved(model, tokenizer, name, "bert"), enc, run_trace(model, tokenizer, "bert", enc))


PAGE_TARGET_MB = {"minilm": 12.5, "bert-base": 50.0}  # at 512 tokens (issue 13)


def page_mb(a: tw.Analysis) -> tuple[float, float]:
    """(MB, seconds) of the exported page, as the CLI writes it."""
    from transeasy_widget.export import to_html

    start = time.perf_counter()
    size = len(to_html(a).encode())
    return size / 1e6, time.perf_counter() - start


def measure(sizes: list[int]) -> list[Row]:
    torch.set_grad_enabled(False)
    small, tokenizer = minilm()
    models = {"bert-base": random_bert(), "minilm": small}
    rows = []
    for name, model in models.items():
        for n in sizes:
            a = analysis_of(model, tokenizer, n, name)
            start = time.perf_counter()
            theirs = len(bertviz_html(tuple(x[None] for x in a.trace.selfattn_attention), a.tokens).encode()) / 1e6
            bertviz_s = time.perf_counter() - start
            gc.collect()
            if name == "bert-base":
                ours, per_layer = first_paint(a)
                rows.append(Row("payload: first paint", name, n, ours / 1e6, theirs, "MB", 0.01 if n == 512 else None))
                rows.append(Row("payload: per further layer", name, n, per_layer / 1e6, theirs, "MB"))
            page, seconds = page_mb(a)
            rows.append(Row("page: exported page vs bertviz", name, n, page, theirs, "MB", 1.0 if n == 16 else None))
            if n == 512:
                rows.append(Row("page: exported page vs target", name, n, page, PAGE_TARGET_MB[name], "MB", 1.0))
            print(f"  {name} n={n}: page {page:.2f} MB written in {seconds:.1f} s; bertviz {theirs:.1f} MB in "
                  f"{bertviz_s:.1f} s", file=sys.stderr)
            del a
            gc.collect()
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    args = p.parse_args(argv)
    print(row_table(measure(args.sizes), "ours", "bertviz head_view"))


if __name__ == "__main__":
    main()
