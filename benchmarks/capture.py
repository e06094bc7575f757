"""Capture cost: every stage by hand versus the model's own eager pass with attentions and hidden states.

    python benchmarks/capture.py                 # both models, n = 16 ... 512
    python benchmarks/capture.py --sizes 512 --models minilm
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import MODELS, SIZES, encoding, interleaved, minilm, repeats_for, table

from transeasy_widget.trace import run_trace


def main(argv: list[str] | None = None) -> list[list[object]]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--repeats", type=int, default=0, help="timed runs per size (default: 7, or 5 from 256 tokens)")
    args = p.parse_args(argv)
    torch.set_grad_enabled(False)
    tokenizer = minilm()[1]
    rows: list[list[object]] = []
    for name in args.models:
        model = MODELS[name]()
        for n in args.sizes:
            enc = encoding(tokenizer, n)
            ids = torch.tensor([enc.ids])

            def own(model: object = model, ids: torch.Tensor = ids) -> object:
                with torch.inference_mode():
                    return model(input_ids=ids, output_attentions=True, output_hidden_states=True)

            def ours(model: object = model, enc: object = enc) -> object:
                return run_trace(model, tokenizer, "bert", enc)

            t = interleaved({"own": own, "ours": ours}, args.repeats or repeats_for(n))
            rows.append([name, n, f"{t['own'] * 1e3:.1f}", f"{t['ours'] * 1e3:.1f}", f"{t['ours'] / t['own']:.2f}x"])
            print(f"  {name} n={n}: own {t['own'] * 1e3:.1f} ms, trace {t['ours'] * 1e3:.1f} ms", file=sys.stderr)
    print(table(["model", "n", "model's own pass (ms)", "every stage by hand (ms)", "ratio"], rows))
    return rows


if __name__ == "__main__":
    main()
