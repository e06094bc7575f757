"""Tiny tokenizers of the BERT family's three kinds, built in memory from a handful of words (no download).

- ``byte_level_bpe``: RoBERTa's byte-level BPE (``Ġ``-prefixed pieces, ``<s>``/``</s>``), trained on ``CORPUS``.
- ``sentencepiece``: ALBERT's and XLM-RoBERTa's SentencePiece-style Unigram (``▁``-prefixed pieces, Metaspace).
- ``wordpiece``: BERT's WordPiece (``##`` continuations), for DistilBERT and ELECTRA.
"""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import wordpiece_tokenizer

CORPUS = [
    "The cat sat on the mat because it was tired.",
    "Where is the cat? The cat is in a box.",
    "A dog ran, and the dog played.",
    "understanding the café, don't!",
]

_SP_WORDS = ["the", "cat", "sat", "on", "mat", "because", "it", "was", "tired", "where", "is", "in", "a", "box", "dog",
             "ran", "played", "and"]


def byte_level_bpe() -> Any:
    """RoBERTa's kind: byte-level BPE trained on CORPUS; <s>=0, <pad>=1, </s>=2 as in roberta-base."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import RobertaTokenizer

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=1000, min_frequency=1, show_progress=False,
                                  special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator(CORPUS, trainer)
    model = json.loads(bpe.to_str())["model"]
    merges: Any = [tuple(m) for m in model["merges"]]  # pairs, as the tokenizers library takes them
    return RobertaTokenizer(vocab=model["vocab"], merges=merges)


def _unigram_pieces(cased: bool) -> list[tuple[str, float]]:
    words = _SP_WORDS + ([w.capitalize() for w in _SP_WORDS] if cased else [])
    chars = sorted(set("".join(words)) | set(".,?!'"))
    # whole words are likelier than their letters, so known words stay one piece and others split into letters
    return ([(f"▁{w}", -3.0) for w in words] + [("▁under", -4.0), ("stand", -4.0), ("ing", -4.0), ("▁", -6.0)]
            + [(c, -10.0) for c in chars])


def sentencepiece(kind: str) -> Any:
    """ALBERT's (lower-cased, [CLS]/[SEP]) or XLM-RoBERTa's (cased, <s>/</s>) SentencePiece-style Unigram."""
    from transformers import AlbertTokenizer, XLMRobertaTokenizer

    if kind == "albert":
        specials = [("<pad>", 0.0), ("<unk>", 0.0), ("[CLS]", 0.0), ("[SEP]", 0.0), ("[MASK]", 0.0)]
        return AlbertTokenizer(vocab=[*specials, *_unigram_pieces(cased=False)])
    specials = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    return XLMRobertaTokenizer(vocab=[*specials, *_unigram_pieces(cased=True), ("<mask>", 0.0)])


def wordpiece(kind: str = "bert") -> Any:
    """BERT's WordPiece; DistilBertTokenizer (which asks for no token_type_ids) for kind='distilbert'."""
    if kind != "distilbert":
        return wordpiece_tokenizer()
    from transformers import DistilBertTokenizer

    vocab = wordpiece_tokenizer().get_vocab()
    return DistilBertTokenizer(vocab=vocab, do_lower_case=True)
