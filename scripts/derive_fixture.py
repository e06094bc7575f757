"""Writes js/test/fixtures/derive.json: a page's attention chunks and Python's variants with their stated error.

    PYTHONPATH=. .venv/bin/python scripts/derive_fixture.py

js/test/derive.test.ts derives every variant in TypeScript from the chunks and compares value by value with
Python's (transeasy_widget/attention.py), within the bound pack.py states. A random model, a sentence pair and
words of several pieces, so that nosep drops three special tokens and reduced merges pieces.
"""

from __future__ import annotations

import base64
import json
import sys
import zlib
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import transeasy_widget as tw  # noqa: E402
from tests.conftest import random_bert, wordpiece_tokenizer  # noqa: E402
from transeasy_widget.pack import attention_info, attention_layer, read_attention_layer  # noqa: E402


def bounds(a: tw.Analysis, layer: int, s: np.ndarray, sigma: np.ndarray) -> dict[str, np.ndarray]:
    """The error pack.py states for each value of each variant."""
    kept = a.attentions.kept
    sk = s[:, kept]  # H×k: the scale of each kept row
    with np.errstate(divide="ignore"):
        lin = np.where(sigma > 0, sk / (510 * sigma), 0.0)  # a zero row is uniform on both sides
    word = a.alignment.word_of_pieces(kept).numpy()
    m = len(a.alignment.words)
    counts = np.bincount(word, minlength=m)
    row = np.stack([np.bincount(word, weights=lin[h], minlength=m) / counts for h in range(lin.shape[0])])  # H×m
    soft = a.attentions.nosep_softmax_scale[layer].numpy()
    return {
        "raw": np.broadcast_to((s / 510)[..., None], (s.shape[0], s.shape[1], s.shape[1])),
        "nosep": np.broadcast_to((sk / 510)[..., None], (*sk.shape, sk.shape[1])),
        "nosep_linscale": np.broadcast_to(lin[..., None], (*lin.shape, lin.shape[1])),
        "nosep_softmax_scale": soft * (np.exp(sk / 255) - 1)[..., None],
        "reduced": row[..., None] * counts[None, None, :],
    }


def main() -> None:
    torch.manual_seed(0)
    tok = wordpiece_tokenizer()
    model = random_bert(2, 3, 24, vocab=len(tok))
    a = tw.analyze("The cat was understanding, the dog played.", text_pair="Where is the cafe?", model=model,
                   tokenizer=tok)
    info = attention_info(a)
    layers = []
    for layer in range(2):
        data = attention_layer(a.attentions.raw[layer], info["kept"])
        _, s, sigma = read_attention_layer(data, 3, len(a.tokens), len(info["kept"]))
        b = bounds(a, layer, s, sigma)
        layers.append({
            "chunk": base64.b64encode(zlib.compress(data)).decode("ascii"),
            "variants": {v: {"values": np.round(a.attentions.get(v)[layer].numpy().astype(float), 9).ravel().tolist(),
                             "bound": np.round(np.asarray(b[v], dtype=float), 9).ravel().tolist(),
                             "m": len(a.attentions.labels(v))} for v in a.attentions.VARIANTS},
        })
    out = {"heads": 3, "n": len(a.tokens), "tokens": a.tokens, "info": info, "layers": layers}
    path = REPO / "js" / "test" / "fixtures" / "derive.json"
    path.write_text(json.dumps(out, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"{path}: {path.stat().st_size} bytes, {len(a.tokens)} tokens, words {a.alignment.words}")


if __name__ == "__main__":
    main()
