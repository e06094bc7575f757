"""Memory: peak resident memory of a full trace versus the summed size of the stage tensors it holds.

Each configuration runs in its own process; the kernel's peak-RSS mark is reset right before the trace,
so the peak is the trace's own. Weights are views (0 new bytes); activations are counted once per storage.

    python benchmarks/memory.py                       # MiniLM and bert-base at n = 16 ... 512, bert-large at 512
    python benchmarks/memory.py --sizes 512 --models bert-large
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import SIZES, Row, row_table

TARGET = 1.5
CONFIGS = {"minilm": None, "bert-base": (12, 12, 768), "bert-large": (24, 16, 1024)}


def _status(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def held_bytes(trace: object) -> int:
    """Bytes of the distinct storages behind the activation stages (weights are views of the model)."""
    import torch

    seen: dict[int, int] = {}
    for stage in trace.stages:  # type: ignore[attr-defined]
        if stage.kind != "activation":
            continue
        value = trace[stage.name]  # type: ignore[index]
        if isinstance(value, torch.Tensor):
            storage = value.untyped_storage()
            seen[storage.data_ptr()] = storage.nbytes()
    return sum(seen.values())


def one(model_name: str, n: int) -> dict[str, float]:
    import torch
    from common import encoding, minilm, random_bert

    from transeasy_widget.trace import run_trace

    torch.set_grad_enabled(False)
    tokenizer = minilm()[1]
    model = minilm()[0] if CONFIGS[model_name] is None else random_bert(*CONFIGS[model_name])  # type: ignore[misc]
    enc = encoding(tokenizer, n)
    warm = run_trace(model, tokenizer, "bert", enc)  # library warm-up (same shapes), kept: its memory is not reused
    before = _status("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak-RSS mark (Linux)
    trace = run_trace(model, tokenizer, "bert", enc)
    peak = _status("VmHWM") - before
    held = held_bytes(trace)
    del warm
    return {"peak": peak, "held": held, "total_peak": _status("VmHWM")}


def measure(sizes: list[int] | None, models: list[str]) -> list[Row]:
    """Peak RSS of the trace (ours) against the bytes of the stage tensors it holds (baseline), per process."""
    rows = []
    for name in models:
        for n in sizes or ([512] if name == "bert-large" else list(SIZES)):
            out = subprocess.run([sys.executable, __file__, "--one", name, str(n)], capture_output=True, text=True,
                                 check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append(Row("memory", name, n, r["peak"] / 2**20, r["held"] / 2**20, "MiB", TARGET))
            if name == "bert-large":
                print(f"bert-large at n={n}: whole process peak {r['total_peak'] / 2**30:.2f} GiB "
                      "(model weights included) of this machine's 24 GiB", file=sys.stderr)
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+")
    p.add_argument("--models", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    p.add_argument("--one", nargs=2, metavar=("MODEL", "N"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.one:
        print(json.dumps(one(args.one[0], int(args.one[1]))))
        return
    print(row_table(measure(args.sizes, args.models), "peak RSS of the trace", "stage tensors held"))


if __name__ == "__main__":
    main()
