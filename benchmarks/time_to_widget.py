"""Time to widget: from ``analyze`` to the widget's state being ready (meta, overview and the first layer answered),
versus bertviz building its head_view page (the model's own pass with attentions, then head_view), same input.

    python benchmarks/time_to_widget.py          # bert-base sized random model, n = 16 ... 512
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import SIZES, Row, bertviz_html, first_paint, interleaved, minilm, random_bert, row_table
from payload import long_text

import transeasy_widget as tw


def measure(sizes: list[int], repeats: int = 3) -> list[Row]:
    model, tokenizer = random_bert(), minilm()[1]
    rows = []
    for n in sizes:
        text = long_text(n)
        ids = tokenizer(text, truncation=True, max_length=n, return_tensors="pt")["input_ids"]

        def ours(text: str = text) -> None:
            first_paint(tw.analyze(text, model=model, tokenizer=tokenizer, truncate=True))

        def bertviz(ids: torch.Tensor = ids) -> None:
            with torch.inference_mode():
                out = model(input_ids=ids, output_attentions=True)
            bertviz_html(out.attentions, tokenizer.convert_ids_to_tokens(ids[0]))

        big = n >= 256  # bertviz takes tens of seconds there: one warm run each
        t = interleaved({"ours": ours, "bertviz": bertviz}, 1 if big else repeats, warmup=0 if big else 1)
        rows.append(Row("time to widget", "bert-base", n, t["ours"], t["bertviz"], "s"))
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    print(row_table(measure(args.sizes, args.repeats), "analyze → widget ready", "bertviz head_view"))


if __name__ == "__main__":
    main()
