"""Draw docs/img/weight_vs_norm.png with the offline MiniLM and print its numbers: ``python docs/make_contributions_figure.py``.

Kobayashi et al. (2020) found that BERT's large attention WEIGHTS on [CLS], [SEP] and punctuation go with vectors of
small NORM. Here the same measurement on all-MiniLM-L6-v2, averaged over the sentences below: per layer, the share
of each row that goes to those tokens by weight (α) and by norm (‖αf(x)‖ divided by its row's total), mean over rows
and heads, then over sentences.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

import transeasy_widget as tw
from transeasy_widget.contribution_figures import weight_vs_norm_figure

SENTENCES = (
    "The cat sat on the mat because it was tired.",
    "The salesman gave us a demo of the Huggingface course.",
    "After the storm, the old bridge was closed for repairs.",
    "She asked whether the results, which surprised everyone, could be repeated.",
    "Where did you put the keys to the car?",
    "He reads the paper every morning; then he walks the dog.",
    "Prices rose sharply in March, and the bank raised its rates.",
    "The committee will meet again next week to discuss the new plan.",
)
KINDS = ("cls", "sep", "punct")
OUT = Path(__file__).parent / "img" / "weight_vs_norm.png"


def measure() -> dict[str, tuple[list[float], list[float]]]:
    """Per token kind: (share by weight per layer, share by norm per layer), averaged over SENTENCES."""
    sums: dict[str, list[torch.Tensor]] = {kind: [torch.tensor(0.0), torch.tensor(0.0)] for kind in KINDS}
    for text in SENTENCES:
        shares = tw.analyze(text, model="all-MiniLM-L6-v2").attentions.contributions.weight_vs_norm(KINDS)
        for kind in KINDS:
            sums[kind][0] = sums[kind][0] + shares[kind]["weight"].mean(1)
            sums[kind][1] = sums[kind][1] + shares[kind]["norm"].mean(1)
    return {kind: ((w / len(SENTENCES)).tolist(), (n / len(SENTENCES)).tolist()) for kind, (w, n) in sums.items()}


def main(out: Path = OUT) -> Path:
    per_layer = measure()
    fig = weight_vs_norm_figure(per_layer, f"all-MiniLM-L6-v2, {len(SENTENCES)} sentences: weight against norm")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100, metadata={"Software": None})
    layers = len(next(iter(per_layer.values()))[0])
    print("| share of a row | " + " | ".join(f"layer {i}" for i in range(layers)) + " |")
    print("|---|" + "---|" * layers)
    for kind, (by_weight, by_norm) in per_layer.items():
        print(f"| {kind} by weight | " + " | ".join(f"{v:.2f}" for v in by_weight) + " |")
        print(f"| {kind} by norm | " + " | ".join(f"{v:.2f}" for v in by_norm) + " |")
    return out


if __name__ == "__main__":
    print(main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT))
