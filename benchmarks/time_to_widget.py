"""Time to widget: from ``analyze`` to the widget's first replies ready (state with meta, the overview of every
layer, the first layer), versus bertviz building its head_view page (the model's own pass with attentions, then
head_view), same input, bert-base sized random model.

- "warm" (n < ``--cold-from``): both sides warmed up once in one process, then interleaved runs (medians).
- "cold" (n ≥ ``--cold-from``, default 256, where bertviz takes tens of seconds): one run of each side, each in a
  fresh process (model loading not timed).

    python benchmarks/time_to_widget.py          # n = 16 ... 512
    python benchmarks/time_to_widget.py --sizes 128 --cold-from 1000   # warm at 128
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import SIZES, Row, bertviz_html, first_paint, fresh_medians, interleaved, minilm, random_bert, row_table
from payload import long_text

import transeasy_widget as tw


def _sides(model: Any, tokenizer: Any, n: int) -> dict[str, Any]:
    text = long_text(n)
    ids = tokenizer(text, truncation=True, max_length=n, return_tensors="pt")["input_ids"]

    def ours() -> None:
        first_paint(tw.analyze(text, model=model, tokenizer=tokenizer, truncate=True))

    def bertviz() -> None:
        with torch.no_grad():
            out = model(input_ids=ids, output_attentions=True)
        bertviz_html(out.attentions, tokenizer.convert_ids_to_tokens(ids[0]))

    return {"ours": ours, "bertviz": bertviz}


def _fresh(side: str, n: int) -> dict[str, float]:
    fn = _sides(random_bert(), minilm()[1], n)[side]
    start = time.perf_counter()
    fn()
    return {"s": time.perf_counter() - start}


def measure(sizes: list[int], repeats: int = 3, cold_from: int = 256) -> list[Row]:
    model, tokenizer = random_bert(), minilm()[1]
    rows = []
    for n in sizes:
        if n >= cold_from:
            t = {side: r["s"] for side, r in fresh_medians(__file__, ["ours", "bertviz"], 1, n).items()}
            rows.append(Row("time to widget, cold (fresh process, one run each)", "bert-base", n, t["ours"],
                            t["bertviz"], "s"))
        else:
            t = interleaved(_sides(model, tokenizer, n), repeats, warmup=1)
            rows.append(Row("time to widget, warm (medians)", "bert-base", n, t["ours"], t["bertviz"], "s"))
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--cold-from", type=int, default=256, help="from this n on, cold single runs in fresh processes")
    p.add_argument("--fresh", nargs=2, metavar=("SIDE", "N"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.fresh:
        print(json.dumps(_fresh(args.fresh[0], int(args.fresh[1]))))
        return
    print(row_table(measure(args.sizes, args.repeats, args.cold_from), "analyze → widget ready", "bertviz head_view"))


if __name__ == "__main__":
    main()
