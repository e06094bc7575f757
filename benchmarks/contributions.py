"""Norm-based and ALTI views of every layer against the model's own eager pass, side by side: time and peak memory.

Rows "norm + ALTI views": from a trace already made, ``norm`` (‖α f(x)‖ per head) and ``alti`` (ALTI contributions)
of all L layers, computed afresh each run (no cache: neither the views' nor the trace's computed layers), against
the model's own eager pass with attentions and hidden states; medians of interleaved runs in one process, both
warm. Rows "..., peak memory added": in a fresh process, after a warm-up at the same shapes, the rise of peak
resident memory while computing the views (the results they keep included: L×H×n×n for norm, L×n×n for ALTI)
against the size of ONE layer's n×n×d tensor of ALTI's vectors T_i(x_j) in float32, which a non-streamed ALTI holds
(805 MB at n = 512, d = 768).

    python benchmarks/contributions.py                 # a bert-base sized random BERT, n = 16 ... 512
    python benchmarks/contributions.py --sizes 512
    python benchmarks/contributions.py --sizes 512 --threads 1    # both sides on one thread (a busy machine)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import SIZES, Row, encoding, interleaved, minilm, random_bert, repeats_for, row_table

TARGET = 3.0  # at n = 512


def analysis(n: int) -> Any:
    """A bert-base sized random BERT traced at exactly n tokens."""
    from transeasy_widget.analysis import Analysis
    from transeasy_widget.models import resolve
    from transeasy_widget.trace import run_trace

    tokenizer = minilm()[1]
    resolved = resolve(random_bert(), tokenizer)
    enc = encoding(tokenizer, n)
    return Analysis(resolved, enc, run_trace(resolved.model, tokenizer, "bert", enc))


def views(a: Any) -> Any:
    """norm and alti of every layer, from scratch: the trace's cache of computed layers emptied first."""
    from transeasy_widget.contributions import Contributions

    a.trace.cache.clear()
    c = Contributions(a)
    for layer in range(c.num_layers):
        c.layer("norm", layer)
        c.layer("alti", layer)
    return c


def own_pass(a: Any) -> Any:
    ids = torch.tensor([a.encoding.ids])
    with torch.inference_mode():
        return a.model(input_ids=ids, output_attentions=True, output_hidden_states=True)


def measure(sizes: list[int], repeats: int = 0) -> list[Row]:
    torch.set_grad_enabled(False)
    rows = []
    for n in sizes:
        a = analysis(n)
        print(f"norm + ALTI views at n = {n} ...", file=sys.stderr, flush=True)
        t = interleaved({"own": lambda a=a: own_pass(a), "ours": lambda a=a: views(a)}, repeats or repeats_for(n))
        rows.append(Row("norm + ALTI views, all layers", "bert-base", n, t["ours"] * 1e3, t["own"] * 1e3, "ms",
                        TARGET if n == 512 else None))
    for n in sizes:
        out = subprocess.run([sys.executable, __file__, "--memory-one", str(n)], capture_output=True, text=True,
                             check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(Row("norm + ALTI views, peak memory added", "bert-base", n, r["ours"] / 2**20,
                        n * n * r["d"] * 4 / 2**20, "MiB"))
    return rows


def _status(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def _peak_added(fn: Any) -> int:
    before = _status("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak-RSS mark (Linux)
    kept = fn()
    peak = _status("VmHWM") - before
    del kept
    return peak


def _memory_one(n: int) -> dict[str, int]:
    torch.set_grad_enabled(False)
    a = analysis(n)
    views(a)  # warm-up at these shapes, results dropped
    return {"ours": _peak_added(lambda: views(a)), "d": a.trace.sizes["d"]}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    p.add_argument("--repeats", type=int, default=0, help="timed runs per size (default: 7, or 5 from 256 tokens)")
    p.add_argument("--threads", type=int, default=0, help="torch threads for both sides (default: torch's own)")
    p.add_argument("--memory-one", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.memory_one:
        print(json.dumps(_memory_one(args.memory_one)))
        return
    print(row_table(measure(args.sizes, args.repeats), "norm + ALTI views", "model's own pass"))


if __name__ == "__main__":
    main()
