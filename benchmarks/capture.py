"""Capture cost: every stage by hand versus the model's own eager pass with attentions and hidden states.

Rows "capture" are steady state: runs interleaved, a dropped trace's memory reused (as the model's own pass reuses
its temporaries'). Rows "capture, cold" time the first trace of a fresh process, which must touch all of its
memory for the first time (expensive on virtual machines), against the model's own pass (its second call).

    python benchmarks/capture.py                 # MiniLM and a bert-base sized random BERT, n = 16 ... 512
    python benchmarks/capture.py --sizes 512 --models minilm
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
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


def _cold_one(name: str, n: int) -> dict[str, float]:
    torch.set_grad_enabled(False)
    model, tokenizer = MODELS[name](), minilm()[1]
    enc = encoding(tokenizer, n)
    ids = torch.tensor([enc.ids])
    for _ in range(2):  # the model's own pass, warm
        start = time.perf_counter()
        with torch.inference_mode():
            model(input_ids=ids, output_attentions=True, output_hidden_states=True)
        own = time.perf_counter() - start
    start = time.perf_counter()
    run_trace(model, tokenizer, "bert", enc)
    return {"own": own, "ours": time.perf_counter() - start}


def cold(sizes: list[int], models: list[str]) -> list[Row]:
    """The first trace of a fresh process, each in its own process."""
    rows = []
    for name in models:
        for n in sizes:
            out = subprocess.run([sys.executable, __file__, "--cold-one", name, str(n)], capture_output=True, text=True,
                                 check=True)
            t = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append(Row("capture, cold (first trace of a process)", name, n, t["ours"] * 1e3, t["own"] * 1e3, "ms"))
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--repeats", type=int, default=0, help="timed runs per size (default: 7, or 5 from 256 tokens)")
    p.add_argument("--cold-one", nargs=2, metavar=("MODEL", "N"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.cold_one:
        print(json.dumps(_cold_one(args.cold_one[0], int(args.cold_one[1]))))
        return
    rows = measure(args.sizes, args.models, args.repeats) + cold([max(args.sizes)], args.models)
    print(row_table(rows, "every stage by hand", "model's own pass"))


if __name__ == "__main__":
    main()
