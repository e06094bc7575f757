"""Per-head statistics on hand-made attention matrices with known answers, and on models against a loop reference."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch

from tests.conftest import random_bert, wordpiece_tokenizer
from transeasy_widget import InputError, analyze
from transeasy_widget.attention import AttentionViews
from transeasy_widget.headstats import DESCRIPTIONS, HeadStats, distances
from transeasy_widget.tokens import Encoding
from transeasy_widget.words import align


def encoding(tokens: list[str], special: list[bool], text: str | None = None) -> Encoding:
    """An encoding of single-character pieces "a b c ..." (or of ``text``, one piece per space-separated word)."""
    inner = [t for t, s in zip(tokens, special, strict=True) if not s]
    text = text or " ".join(inner)
    offsets, pos = [], 0
    for t, s in zip(tokens, special, strict=True):
        if s:
            offsets.append((0, 0))
            continue
        start = text.index(t, pos)
        offsets.append((start, start + len(t)))
        pos = start + len(t)
    ids = [100 + i if not s else (0 if t in ("<s>", "[CLS]") else 2) for i, (t, s) in enumerate(zip(tokens, special, strict=True))]
    return Encoding(text, None, ids, tokens, [0] * len(tokens), special, offsets, [None if s else 0 for s in special])


def stats_of(attn: torch.Tensor, enc: Encoding, cls_token_id: int | None = 0) -> HeadStats:
    return HeadStats(AttentionViews(attn[None, None], enc, lambda: align(enc)), cls_token_id)


BERT_LIKE = encoding(["[CLS]", "a", "b", "c", "d", "[SEP]"], [True, False, False, False, False, True])


def test_uniform_attention_has_entropy_log_n_and_equal_shares():
    stats = stats_of(torch.full((6, 6), 1 / 6), BERT_LIKE)
    assert stats["entropy"].item() == pytest.approx(math.log(6), abs=1e-6)
    for name in ("cls", "sep", "self", "prev", "next"):
        assert stats[name].item() == pytest.approx(1 / 6, abs=1e-6), name
    assert stats["punct"].item() == 0.0


def test_identity_attention_is_all_self_with_zero_entropy_and_distance():
    stats = stats_of(torch.eye(6), BERT_LIKE)
    assert stats["self"].item() == 1.0 and stats["entropy"].item() == 0.0
    assert stats["prev"].item() == stats["next"].item() == 0.0
    assert stats["cls"].item() == pytest.approx(1 / 6)  # only [CLS]'s own row
    assert stats["distance_abs"].item() == stats["distance_directed"].item() == 0.0


def test_shift_matrix_attends_to_the_previous_token_and_looks_left():
    attn = torch.zeros(6, 6)
    attn[0, 0] = attn[1, 1] = 1.0  # [CLS] and the first word have nothing before them among their own kind
    for i in range(2, 6):
        attn[i, i - 1] = 1.0
    stats = stats_of(attn, BERT_LIKE)
    assert stats["prev"].item() == pytest.approx(4 / 5)  # rows 2..5 of the 5 rows that have a previous token
    m = 4  # words a b c d; on the word level: a→a, b→a, c→b, d→c
    assert stats["distance_directed"].item() == pytest.approx(-(m - 1) / m)
    assert stats["distance_abs"].item() == pytest.approx((m - 1) / m)
    assert stats["distance_directed_std"].item() == pytest.approx(-(m - 1) / m / m)
    assert stats["distance_abs_std"].item() == pytest.approx((m - 1) / m / m)


def test_pure_shift_matrices_give_prev_or_next_share_one():
    n = 5
    prev, nxt = torch.zeros(n, n), torch.zeros(n, n)
    prev[0, 0] = nxt[n - 1, n - 1] = 1.0
    for i in range(1, n):
        prev[i, i - 1] = nxt[i - 1, i] = 1.0
    plain = encoding(list("abcde"), [False] * n)
    assert stats_of(prev, plain)["prev"].item() == 1.0 and stats_of(prev, plain)["next"].item() == 0.0
    assert stats_of(nxt, plain)["next"].item() == 1.0 and stats_of(nxt, plain)["self"].item() == pytest.approx(1 / n)


def test_distances_of_hand_made_word_matrices():
    m = 5
    left, right = torch.zeros(m, m), torch.zeros(m, m)
    left[0, 0] = right[m - 1, m - 1] = 1.0
    for i in range(1, m):
        left[i, i - 1] = right[i - 1, i] = 1.0
    far = torch.zeros(m, m)
    far[:, m - 1] = 1.0  # every word looks at the last: steps 4, 3, 2, 1, 0
    d = distances(torch.stack([left, right, far])[None])
    torch.testing.assert_close(d["distance_directed"], torch.tensor([[-(m - 1) / m, (m - 1) / m, 2.0]]))
    torch.testing.assert_close(d["distance_abs"], torch.tensor([[(m - 1) / m, (m - 1) / m, 2.0]]))
    torch.testing.assert_close(d["distance_abs_std"], d["distance_abs"] / m)
    torch.testing.assert_close(d["distance_directed_std"], d["distance_directed"] / m)


def test_argmax_ties_go_to_the_first_word():
    d = distances(torch.full((1, 1, 4, 4), 0.25))
    assert d["distance_directed"].item() == pytest.approx(-(0 + 1 + 2 + 3) / 4)


def test_cls_and_sep_come_from_the_tokenizer_not_from_the_text():
    tokens = ["<s>", "a", "[CLS]", "</s>", "</s>", "b", "</s>"]
    special = [True, False, False, True, True, False, True]
    enc = encoding(tokens, special, text="a [CLS] b")  # "[CLS]" here is text, not a special token
    to_start = torch.zeros(7, 7)
    to_start[:, 0] = 1.0
    to_ends = torch.zeros(7, 7)
    to_ends[:, [3, 4, 6]] = 1 / 3
    to_text_cls = torch.zeros(7, 7)
    to_text_cls[:, 2] = 1.0
    assert stats_of(to_start, enc)["cls"].item() == 1.0 and stats_of(to_start, enc)["sep"].item() == 0.0
    assert stats_of(to_ends, enc)["sep"].item() == pytest.approx(1.0) and stats_of(to_ends, enc)["cls"].item() == 0.0
    assert stats_of(to_text_cls, enc)["cls"].item() == stats_of(to_text_cls, enc)["sep"].item() == 0.0
    assert stats_of(to_start, enc, cls_token_id=None)["cls"].item() == 1.0  # no cls id: the special first piece


def test_punctuation_share_counts_pieces_made_of_punctuation_characters():
    enc = encoding(["[CLS]", "cat", ",", "dog", "?!", "[SEP]"], [True, False, False, False, False, True], text="cat, dog?!")
    attn = torch.zeros(6, 6)
    attn[:, 2] = attn[:, 4] = 0.5
    assert stats_of(attn, enc)["punct"].item() == 1.0


def test_top_returns_the_most_notable_heads():
    enc = encoding(list("ab"), [False, False])
    stats = HeadStats(AttentionViews(torch.full((2, 3, 2, 2), 0.5), enc, lambda: align(enc)))
    stats._cache["prev"] = torch.tensor([[0.1, 0.9, 0.3], [0.8, 0.2, 0.0]])
    stats._cache["distance_directed"] = torch.tensor([[0.1, -2.0, 0.3], [1.5, 0.2, 0.0]])
    stats._cache["entropy"] = torch.tensor([[0.1, 0.9, 0.3], [0.8, 0.05, 0.0]])
    assert stats.top("prev", k=2) == [(0, 1, pytest.approx(0.9)), (1, 0, pytest.approx(0.8))]
    assert stats.top("prev", k=1, order="smallest") == [(1, 2, 0.0)]
    assert [(layer, head) for layer, head, _ in stats.top("distance_directed", k=2)] == [(0, 1), (1, 0)]  # by magnitude
    assert [(layer, head) for layer, head, _ in stats.top("entropy", k=2)] == [(1, 2), (1, 1)]  # the most focused
    with pytest.raises(InputError, match="order must be one of largest, smallest, abs"):
        stats.top("prev", order="biggest")
    with pytest.raises(InputError, match="No head statistic 'previous': choose one of entropy, cls"):
        stats["previous"]


def reference_stats(attn: np.ndarray, enc: Encoding, cls_id: int, reduced: np.ndarray) -> dict[str, np.ndarray]:
    """Clark et al.'s shares and TransEasy's distances, one head and one row at a time."""
    layers, heads, n, _ = attn.shape
    cls = [j for j in range(n) if enc.special[j] and enc.ids[j] == cls_id]
    sep = [j for j in range(n) if enc.special[j] and j not in cls]
    punct = [j for j in range(n) if enc.tokens[j] in {",", ".", "?", "!"}]
    out = {name: np.zeros((layers, heads)) for name in DESCRIPTIONS}
    m = reduced.shape[-1]
    for layer in range(layers):
        for head in range(heads):
            a = attn[layer, head]
            out["entropy"][layer, head] = np.mean([-sum(p * math.log(p) for p in row if p > 0) for row in a])
            out["cls"][layer, head] = np.mean([sum(row[j] for j in cls) for row in a])
            out["sep"][layer, head] = np.mean([sum(row[j] for j in sep) for row in a])
            out["punct"][layer, head] = np.mean([sum(row[j] for j in punct) for row in a])
            out["bos"][layer, head] = np.mean([a[i, 0] for i in range(1, n)])
            out["self"][layer, head] = np.mean([a[i, i] for i in range(n)])
            out["prev"][layer, head] = np.mean([a[i, i - 1] for i in range(1, n)])
            out["next"][layer, head] = np.mean([a[i, i + 1] for i in range(n - 1)])
            steps = [int(np.argmax(reduced[layer, head, i])) - i for i in range(m)]
            out["distance_abs"][layer, head] = np.mean(np.abs(steps))
            out["distance_directed"][layer, head] = np.mean(steps)
            out["distance_abs_std"][layer, head] = np.mean(np.abs(steps)) / m
            out["distance_directed_std"][layer, head] = np.mean(steps) / m
    return out


def check_stats(a: Any) -> None:
    ref = reference_stats(a.attentions.raw.double().numpy(), a.encoding, a.tokenizer.cls_token_id,
                          a.attentions.reduced.double().numpy())
    names = list(a.head_stats)
    assert names == list(DESCRIPTIONS) and len(a.head_stats) == len(names)
    layers, heads = a.attentions.raw.shape[:2]
    for name, value in a.head_stats.items():
        assert value.shape == (layers, heads), name
        np.testing.assert_allclose(value.double().numpy(), ref[name], atol=1e-5, err_msg=name)
        assert torch.equal(getattr(a.head_stats, name), value)


def test_every_statistic_matches_a_loop_reference_on_a_random_pair():
    tok = wordpiece_tokenizer()
    a = analyze("the cat sat, dog!", text_pair="where is it?", model=random_bert(2, 3, 24, vocab=len(tok)), tokenizer=tok)
    check_stats(a)


def test_every_statistic_matches_a_loop_reference_on_minilm(minilm_path):
    a = analyze("The salesman gave us a demo of the Huggingface course.", model=minilm_path)
    check_stats(a)
    (layer, head, value), = a.head_stats.top("prev", k=1)
    assert (layer, head) == (0, 2) and value > 0.9  # MiniLM has a previous-token head
    assert "prev" in a.head_stats.summary() and "distance_abs_std" in a.head_stats.summary()
