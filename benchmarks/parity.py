"""Parity per decoder family: max relative |manual − model| of the hidden states, attentions and logits.

Random configs of odd shapes (3 query heads sharing 1 key/value head, head size 6 set apart from the hidden size
15, feed-forward 23, sliding windows shorter than the input, Qwen3's q/k norms, GPT-2's fused Conv1D) and the
real SmolLM2-135M, float32. Relative: max |manual − model| / max |model| per tensor, the worst over all layers.

    python benchmarks/parity.py              # prints the table
    python benchmarks/parity.py README.md    # and writes it into the README between its parity-table markers
"""

from __future__ import annotations

import sys
from typing import Any

import torch

TEXT = "The cat sat on the mat because it was tired, and the dog ran after the ball."
_BEGIN, _END = "<!-- parity-table:begin -->", "<!-- parity-table:end -->"


def _rel(manual: Any, model: Any) -> float:
    manual, model = torch.as_tensor(manual).float(), torch.as_tensor(model).float().reshape(torch.as_tensor(manual).shape)
    return float((manual - model).abs().max() / model.abs().max().clamp_min(1e-30))


def _random(kind: str, vocab: int) -> Any:
    import transformers as tf

    torch.manual_seed(0)
    small = {"vocab_size": vocab, "hidden_size": 15, "intermediate_size": 23, "num_hidden_layers": 3,
             "num_attention_heads": 3, "num_key_value_heads": 1, "head_dim": 6, "max_position_embeddings": 64,
             "attn_implementation": "eager"}
    build = {
        "gpt2": lambda: tf.GPT2LMHeadModel(tf.GPT2Config(vocab_size=vocab, n_embd=15, n_layer=3, n_head=3, n_inner=23,
                                                         n_positions=64, attn_implementation="eager")),
        "llama": lambda: tf.LlamaForCausalLM(tf.LlamaConfig(**small, attention_bias=True, rope_parameters={
            "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
            "original_max_position_embeddings": 8, "rope_theta": 1000.0})),
        "mistral": lambda: tf.MistralForCausalLM(tf.MistralConfig(**small, sliding_window=5)),
        "qwen2": lambda: tf.Qwen2ForCausalLM(tf.Qwen2Config(**small, use_sliding_window=True, sliding_window=4,
                                                            max_window_layers=1)),
        "qwen3": lambda: tf.Qwen3ForCausalLM(tf.Qwen3Config(**small)),
    }[kind]
    model = build().eval()
    with torch.no_grad():  # random biases and norm scales, so that a dropped one would show
        for name, p in model.named_parameters():
            if name.endswith("bias") or "norm" in name or "ln_" in name:
                p.normal_(0.5, 0.3)
    return model


def worst(a: Any) -> tuple[float, float, float]:
    """(hidden states, attentions, logits): the worst relative difference of each."""
    t = a.trace
    res = t.pipeline_res
    hiddens = [*t.manual_hiddens[:-1], t.final_norm_hidden]
    return (max(_rel(m, h) for m, h in zip(hiddens, res.hidden_states, strict=True)),
            max(_rel(t.selfattn_attention[i], att) for i, att in enumerate(res.attentions)),
            _rel(t.final_logits, res.logits))


def rows() -> list[list[str]]:
    import transeasy_widget as tw

    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parents[1]))
    from tests.tokenizers_for_tests import byte_level_bpe

    tok = byte_level_bpe()
    out = []
    for kind in ("gpt2", "llama", "mistral", "qwen2", "qwen3"):
        a = tw.analyze(TEXT, model=_random(kind, len(tok)), tokenizer=tok)
        s = a.trace.sizes
        shape = f"random: L={s['L']}, H={s['H']}, Hkv={s['Hkv']}, dh={s['dh']}, d={s['d']}, n={s['n']}"
        out.append([kind, shape, *(f"{x:.1e}" for x in worst(a))])
    a = tw.analyze(TEXT, model="SmolLM2-135M")
    s = a.trace.sizes
    out.append(["llama", f"SmolLM2-135M (real): L={s['L']}, H={s['H']}, Hkv={s['Hkv']}, d={s['d']}, n={s['n']}",
                *(f"{x:.1e}" for x in worst(a))])
    return out


def table() -> str:
    lines = ["| family | model | hidden states | attentions | logits |", "|---|---|---|---|---|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows()]
    return "\n".join(lines)


def main() -> None:
    text = table()
    print(text)
    if len(sys.argv) > 1:
        path = sys.argv[1]
        with open(path, encoding="utf-8") as fh:
            readme = fh.read()
        head, rest = readme.split(_BEGIN, 1)
        _, tail = rest.split(_END, 1)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(f"{head}{_BEGIN}\n{text}\n{_END}{tail}")


if __name__ == "__main__":
    main()
