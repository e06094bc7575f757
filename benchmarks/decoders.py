"""Capture cost on the real decoder, SmolLM2-135M (30 layers, 9 heads sharing 3 key/value heads): ``analyze``'s
trace (X_0 … X_L kept, every other stage recomputed from X_l when asked for) versus the model's own eager pass with
attentions and hidden states, and the peak memory of each.

Cold: each side's first call in a fresh process of its own (the model loaded, nothing run yet), the two
processes one after the other, three such pairs, the median of each side. Warm: one process, both sides run
once, then interleaved (median). Peak memory: the rise of the cold process's peak RSS over what it held before
the call, the result kept (the kernel's peak mark reset before it).

    python benchmarks/decoders.py                 # n = 128, 512 (cold and warm), 2,048 (cold)
    python benchmarks/decoders.py --sizes 16      # a quick pass
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import Row, encoding, interleaved, repeats_for, row_table

TARGET = 1.2  # cold, every size
SIZES = (128, 512, 2048)
COLD_RUNS = 3  # fresh-process pairs (own, ours) one after the other: the median of each side
WARM_UP_TO = 512  # warm runs above this size take minutes each on the shared 2-core machine: cold only
MODEL = "SmolLM2-135M"
PAGE = 4096  # a peak rise under one page (the pass fitted in memory the process held already) counts as one page


def _status(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def _peak_of(fn: Any) -> tuple[Any, float, int]:
    """(result, seconds, rise of the peak RSS over the RSS before), the result kept alive."""
    before = _status("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak-RSS mark (Linux)
    start = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - start
    return result, seconds, _status("VmHWM") - before


def _setup(n: int) -> tuple[Any, Any]:
    """(the model's own pass, analyze's trace) as two functions of no argument, for a text of n tokens."""
    from transeasy_widget.models import _load_by_name
    from transeasy_widget.trace import run_trace

    model, tokenizer, _ = _load_by_name(MODEL)
    model.eval()
    enc = encoding(tokenizer, n)
    ids = torch.tensor([enc.ids])

    def own() -> Any:
        with torch.inference_mode():
            return model(input_ids=ids, attention_mask=torch.ones_like(ids), output_attentions=True,
                         output_hidden_states=True)

    return own, lambda: run_trace(model, tokenizer, "llama", enc)


def cold(n: int, side: str) -> dict[str, float]:
    """One side's first call in this (fresh) process: seconds and the peak RSS rise."""
    own, ours = _setup(n)
    result, seconds, peak = _peak_of(own if side == "own" else ours)
    del result
    return {"s": seconds, "peak": peak}


def warm(n: int) -> dict[str, float]:
    own, ours = _setup(n)
    return interleaved({"own": own, "ours": ours}, 3 if n > 128 else repeats_for(n))


def _run(*args: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def measure(sizes: list[int], cold_runs: int = COLD_RUNS) -> list[Row]:
    rows = []
    for n in sizes:
        pairs = [(_run("--cold", str(n), "own"), _run("--cold", str(n), "ours")) for _ in range(cold_runs)]
        own = {k: statistics.median(p[0][k] for p in pairs) for k in ("s", "peak")}
        ours = {k: statistics.median(p[1][k] for p in pairs) for k in ("s", "peak")}
        rows.append(Row("decoder capture, cold (fresh process per side)", MODEL, n, ours["s"] * 1e3,
                        own["s"] * 1e3, "ms", TARGET))
        if n <= WARM_UP_TO:
            t = _run("--warm", str(n))
            rows.append(Row("decoder capture, warm (interleaved)", MODEL, n, t["ours"] * 1e3, t["own"] * 1e3, "ms"))
        rows.append(Row("decoder peak memory (RSS rise, result kept)", MODEL, n, max(ours["peak"], PAGE) / 2**20,
                        max(own["peak"], PAGE) / 2**20, "MiB"))
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    p.add_argument("--cold-runs", type=int, default=COLD_RUNS, help="fresh-process pairs per size (median)")
    p.add_argument("--cold", nargs=2, help=argparse.SUPPRESS)
    p.add_argument("--warm", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    torch.set_grad_enabled(False)
    if args.cold:
        print(json.dumps(cold(int(args.cold[0]), args.cold[1])))
    elif args.warm:
        print(json.dumps(warm(args.warm)))
    else:
        print(row_table(measure(args.sizes, args.cold_runs), "analyze's trace", "model's own pass"))


if __name__ == "__main__":
    main()
