"""Capture cost on the real decoder, SmolLM2-135M (30 layers, 9 heads sharing 3 key/value heads): every stage by
hand versus the model's own eager pass with attentions and hidden states, and the peak memory of each.

Each size runs in a fresh process (the model loads in ~16 s). "cold" is the first trace of the process against the
model's own pass (its second call, so its library code is warm too); "warm" is the steady state, runs interleaved,
a dropped trace's memory reused. Peak memory: the rise of the process's peak RSS over what it held before, for the
model's own pass (outputs kept) and for a cold trace (kept), the kernel's peak mark reset before each.

    python benchmarks/decoders.py                 # n = 128, 512
    python benchmarks/decoders.py --sizes 16      # a quick pass
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
from common import Row, encoding, interleaved, repeats_for, row_table

TARGET = 1.2  # cold, every size
SIZES = (128, 512)
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


def one(n: int) -> dict[str, float]:
    from transeasy_widget.models import _load_by_name
    from transeasy_widget.trace import run_trace

    torch.set_grad_enabled(False)
    model, tokenizer, _ = _load_by_name(MODEL)
    model.eval()
    enc = encoding(tokenizer, n)
    ids = torch.tensor([enc.ids])

    def own() -> Any:
        with torch.inference_mode():
            return model(input_ids=ids, output_attentions=True, output_hidden_states=True)

    own()  # the model's own pass, warm (its second call is timed)
    result, own_s, own_peak = _peak_of(own)
    del result
    trace, ours_s, ours_peak = _peak_of(lambda: run_trace(model, tokenizer, "llama", enc))
    del trace
    warm = interleaved({"own": own, "ours": lambda: run_trace(model, tokenizer, "llama", enc),
                        "stream": lambda: residual_stream(model, enc)}, repeats_for(n))
    return {"own": own_s, "ours": ours_s, "own_peak": own_peak, "ours_peak": ours_peak,
            "own_warm": warm["own"], "ours_warm": warm["ours"], "stream_warm": warm["stream"]}


def residual_stream(model: Any, enc: Any) -> list[torch.Tensor]:
    """X_0 .. X_L alone, each layer's other stages computed and dropped: what a trace that recomputes a layer's
    stages on access (from X_l) computes up front."""
    from transeasy_widget.trace import llama
    from transeasy_widget.trace.decoder import layer_stages, masks_for

    with torch.inference_mode():
        parts = llama.layer_parts(model)
        x = torch.nn.functional.embedding(enc.ids_tensor(), llama.base_of(model).embed_tokens.weight)
        rope, masks = llama.rope_tables(model, enc.n, x), masks_for(parts, enc.n, x.device)
        stream = [x]
        for p, mask in zip(parts, masks, strict=True):
            stream.append(layer_stages(p, stream[-1], rope, mask)["next_hidden"])
        return stream


def measure(sizes: list[int]) -> list[Row]:
    rows = []
    for n in sizes:
        out = subprocess.run([sys.executable, __file__, "--one", str(n)], capture_output=True, text=True, check=True)
        t = json.loads(out.stdout.strip().splitlines()[-1])
        rows += [Row("decoder capture, cold (first trace of a process)", MODEL, n, t["ours"] * 1e3, t["own"] * 1e3,
                     "ms", TARGET),
                 Row("decoder capture, warm", MODEL, n, t["ours_warm"] * 1e3, t["own_warm"] * 1e3, "ms"),
                 Row("decoder residual stream only (X_0..X_L), warm", MODEL, n, t["stream_warm"] * 1e3,
                     t["own_warm"] * 1e3, "ms"),
                 Row("decoder peak memory (RSS rise)", MODEL, n, max(t["ours_peak"], PAGE) / 2**20,
                     max(t["own_peak"], PAGE) / 2**20, "MiB")]
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    p.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.one:
        print(json.dumps(one(args.one)))
        return
    print(row_table(measure(args.sizes), "every stage by hand", "model's own pass"))


if __name__ == "__main__":
    main()
