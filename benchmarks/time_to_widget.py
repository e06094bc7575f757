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
from common import SIZES, bertviz_html, first_paint, interleaved, minilm, random_bert, table
from payload import long_text

import transeasy_widget as tw


def main(argv: list[str] | None = None) -> list[list[object]]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    model, tokenizer = random_bert(), minilm()[1]
    rows: list[list[object]] = []
    for n in args.sizes:
        text = long_text(n)
        ids = tokenizer(text, truncation=True, max_length=n, return_tensors="pt")["input_ids"]

        def ours(text: str = text) -> None:
            a = tw.analyze(text, model=model, tokenizer=tokenizer, truncate=True)
            first_paint(a)

        def bertviz(ids: torch.Tensor = ids) -> None:
            with torch.inference_mode():
                out = model(input_ids=ids, output_attentions=True)
            bertviz_html(out.attentions, tokenizer.convert_ids_to_tokens(ids[0]))

        t = interleaved({"ours": ours, "bertviz": bertviz}, args.repeats if n < 512 else 1, warmup=0 if n >= 256 else 1)
        rows.append([n, f"{t['ours']:.2f}", f"{t['bertviz']:.2f}", f"{t['ours'] / t['bertviz']:.3f}x"])
        print(f"  n={n}: {t}", file=sys.stderr)
    print(table(["n", "analyze → widget ready (s)", "bertviz head_view (s)", "ours / bertviz"], rows))
    return rows


if __name__ == "__main__":
    main()
