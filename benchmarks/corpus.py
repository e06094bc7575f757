"""Corpus statistics: throughput against the model's own batched forward pass with attentions (the floor), beside
a per-text loop of analyze + head_stats, and with the statistics by norm (the default) against without them; peak
memory at two corpus sizes (flat: independent of the size); Ray with 2 workers against local.

    python benchmarks/corpus.py                # 2,000 texts of 10–60 tokens (several minutes on 2 cores)
    python benchmarks/corpus.py --sizes 16     # a smoke run
"""

from __future__ import annotations

import argparse
import itertools
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import Row, interleaved, minilm, row_table
from common import peak as high_water

BATCH = 32
LOOP_TEXTS = 100  # the per-text loop runs on this many texts at most (it is the slow side)


def texts(n: int, tokenizer: Any) -> list[str]:
    """n real English sentences of 10–60 tokens: the Lee news corpus that gensim ships (the benchmark's own
    sentences, repeated, where gensim is not installed)."""
    sentences: list[str] = []
    try:
        import gensim

        path = Path(gensim.__file__).parent / "test" / "test_data" / "lee_background.cor"
        docs = path.read_text(encoding="utf-8").splitlines()
        sentences = [s for d in docs for s in re.split(r"(?<=[.!?])\s+(?=[A-Z\"])", d.strip()) if s]
    except ImportError:
        sentences = ["The quick brown fox jumps over the lazy dog while the cat sat on the mat.",
                     "Because it was tired, the salesman gave us a demo of the course before lunch."]
    fit = [s for s in sentences if 10 <= len(tokenizer(s)["input_ids"]) <= 60]
    return list(itertools.islice(itertools.cycle(fit), n))


def model_forward(model: Any, tokenizer: Any, corpus: list[str]) -> None:
    """The floor: the model's own padded batched forward pass with attentions, tokenizing included."""
    with torch.inference_mode():
        for i in range(0, len(corpus), BATCH):
            batch = tokenizer(corpus[i:i + BATCH], padding=True, return_tensors="pt")
            model(**batch, output_attentions=True)


def throughput(n: int) -> list[Row]:
    import transeasy_widget as tw

    model, tokenizer = minilm()
    corpus = texts(n, tokenizer)
    def run_ours(norm: bool) -> None:
        tw.corpus_stats(corpus, model=model, tokenizer=tokenizer, batch_size=BATCH, progress=False, norm=norm)

    times = interleaved({"ours": lambda: run_ours(True), "weights only": lambda: run_ours(False),
                         "model": lambda: model_forward(model, tokenizer, corpus)},
                        repeats=2, warmup=1 if n <= 64 else 0)
    few = corpus[:min(n, LOOP_TEXTS)]

    def loop() -> None:
        for text in few:
            stats = tw.analyze(text, model=model, tokenizer=tokenizer).head_stats
            for name in stats:
                stats[name]

    loop_time = interleaved({"loop": loop}, repeats=1, warmup=0)["loop"] / len(few)
    ours = times["ours"] / n
    return [Row("corpus: texts/s, ours vs model's batched forward (s per text)", "minilm", n, ours, times["model"] / n,
                "s", 1 / 0.7),
            Row("corpus: ours vs per-text analyze + head_stats loop (s per text)", "minilm", n, ours, loop_time, "s"),
            Row("corpus: statistics by norm too (norm=True, the default) vs norm=False (s per text)", "minilm", n,
                ours, times["weights only"] / n, "s"),
            Row("corpus: norm=False vs model's batched forward (s per text)", "minilm", n, times["weights only"] / n,
                times["model"] / n, "s", 1 / 0.7)]


def peak_child(n: int) -> None:
    """Run in a fresh process: corpus statistics over n texts; print the peak resident memory in MB."""
    import transeasy_widget as tw

    model, tokenizer = minilm()
    tw.corpus_stats(texts(n, tokenizer), model=model, tokenizer=tokenizer, batch_size=BATCH, progress=False)
    # this process's own high-water mark (ru_maxrss would also count the parent's memory at the fork)
    print(high_water() / 2**20)


def peak(n: int) -> float:
    out = subprocess.run([sys.executable, __file__, "--peak", str(n)], capture_output=True, text=True, timeout=1200)
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    return float(out.stdout.strip().splitlines()[-1])


def memory(n: int) -> list[Row]:
    """Peak memory over n texts against a quarter of them, cold against cold (fresh processes)."""
    small = max(BATCH, n // 4)
    return [Row(f"corpus: peak memory, {n} texts vs {small}", "minilm", n, peak(n), peak(small), "MB", 1.1)]


def ray_overhead(n: int) -> list[Row]:
    try:
        import ray
    except ImportError:
        print("ray is not installed: the Ray row is left out", file=sys.stderr)
        return []
    import transeasy_widget as tw

    model, tokenizer = minilm()
    corpus = texts(n, tokenizer)
    start = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False,
             configure_logging=False)
    started = time.perf_counter() - start
    try:
        times = interleaved({
            "ray": lambda: tw.corpus_stats(corpus, model=model, tokenizer=tokenizer, batch_size=BATCH, progress=False,
                                           backend="ray", workers=2),
            "local": lambda: tw.corpus_stats(corpus, model=model, tokenizer=tokenizer, batch_size=BATCH,
                                             progress=False)}, repeats=1, warmup=0)
    finally:
        ray.shutdown()
    print(f"(ray.init took {started:.1f} s, not counted)", file=sys.stderr)
    return [Row("corpus: Ray, 2 workers, vs local (s)", "minilm", n, times["ray"], times["local"], "s")]


def measure(sizes: list[int]) -> list[Row]:
    rows: list[Row] = []
    for n in sizes:
        rows += throughput(n) + memory(n) + ray_overhead(n)
    return rows


def main(argv: list[str] | None = None) -> list[Row]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[2000], help="numbers of texts")
    p.add_argument("--peak", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.peak:
        peak_child(args.peak)
        return []
    rows = measure(args.sizes)
    print(row_table(rows))
    return rows


if __name__ == "__main__":
    main()
