"""Capture cost: every stage by hand versus the model's own eager pass with attentions and hidden states.

    python benchmarks/capture.py                 # MiniLM and a bert-base sized random BERT, n = 16 ... 512
    python benchmarks/capture.py --sizes 512 --models minilm
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import MODELS, SIZES, Row, encoding, interleaved, minilm, repeats_for, row_table

from transeasy_widget.trace import run_trace

TARGET = 1.3  # at n = 512


def measure(sizes: list[int], models: list[str], repeats: int = 0) -> list[Row]:
    torch.set_grad_enabled(False)
    tokenizer = minilm()[1]
    rows = []
    for name in models:
        model = MODELS[name]()
        for n in sizes:
            enc = encoding(tokenizer, n)
            ids = torch.tensor([enc.ids])

            def own(model: Any = model, ids: torch.Tensor = ids) -> object:
                with torch.inference_mode():
                    return model(input_ids=ids, output_attentions=True, output_hidden_states=True)

            def ours(model: Any = model, enc: Any = enc) -> object:
                return run_trace(model, tokenizer, "bert", enc)

            t = interleaved({"own": own, "ours": ours}, repeats or repeats_for(n))
            rows.append(Row("capture", name, n, t["ours"] * 1e3, t["own"] * 1e3, "ms", TARGET if n == 512 else None))
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--repeats", type=int, default=0, help="timed runs per size (default: 7, or 5 from 256 tokens)")
    args = p.parse_args(argv)
    print(row_table(measure(args.sizes, args.models, args.repeats), "every stage by hand", "model's own pass"))


if __name__ == "__main__":
    main()
