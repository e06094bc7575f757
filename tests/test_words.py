"""Words and their pieces, aligned by character offsets: defaults, user lists, pairs, every tokenizer family."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from tests.conftest import random_bert, wordpiece_tokenizer
from transeasy_widget import AlignmentError, InputError, analyze
from transeasy_widget.tokens import Encoding, encode
from transeasy_widget.words import Alignment, align

CORPUS = ["The cat sat on the mat because it was tired.", "Where is the café? In the box.", "Don't stop the dog!"] * 20


def pieces(enc: Encoding, al: Alignment) -> list[tuple[str, list[str]]]:
    return [(w.text, [enc.tokens[p] for p in w.pieces]) for w in al.words]


@pytest.fixture(scope="module")
def tok() -> Any:
    return wordpiece_tokenizer(("don", "東", "京"))


@pytest.fixture(scope="module")
def minilm_tok(minilm_path: str) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(minilm_path)


def fast_tokenizer(backend: Any) -> Any:
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="</s>", cls_token="<s>",
                                   sep_token="</s>", unk_token="<unk>", pad_token="<pad>")


@pytest.fixture(scope="module")
def bpe_tok() -> Any:
    """A byte-level BPE tokenizer (RoBERTa's kind: ``Ġ`` pieces, <s> … </s></s> … </s>), trained in the test."""
    from tokenizers import ByteLevelBPETokenizer, processors

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(CORPUS, vocab_size=300, special_tokens=["<s>", "<pad>", "</s>", "<unk>"])
    bpe.post_processor = processors.RobertaProcessing(("</s>", bpe.token_to_id("</s>")), ("<s>", bpe.token_to_id("<s>")))
    return fast_tokenizer(bpe._tokenizer)


@pytest.fixture(scope="module")
def sp_tok() -> Any:
    """A SentencePiece-style tokenizer (``▁`` pieces, <unk> for unseen characters), trained in the test."""
    from tokenizers import SentencePieceBPETokenizer, processors

    sp = SentencePieceBPETokenizer()
    sp.train_from_iterator(CORPUS, vocab_size=200, special_tokens=["<s>", "</s>", "<unk>", "<pad>"])
    s, e = ("<s>", sp.token_to_id("<s>")), ("</s>", sp.token_to_id("</s>"))
    sp.post_processor = processors.TemplateProcessing(single="<s> $A </s>", pair="<s> $A </s> $B </s>", special_tokens=[s, e])
    return fast_tokenizer(sp._tokenizer)


def test_default_words_split_on_whitespace_with_punctuation_attached(tok):
    enc = encode(tok, "The  cat sat on the mat.", None, 64, "t")
    al = align(enc)
    assert al.labels == ["The", "cat", "sat", "on", "the", "mat."]
    assert pieces(enc, al)[-1] == ("mat.", ["mat", "."])
    assert al.piece_word == (None, 0, 1, 2, 3, 4, 5, 5, None)


def test_accented_word_aligns_to_its_stripped_pieces(tok):
    enc = encode(tok, "the café sat", None, 64, "t")
    assert enc.tokens[2:4] == ["caf", "##e"]
    assert pieces(enc, align(enc, ["the", "café", "sat"])) == [("the", ["the"]), ("café", ["caf", "##e"]), ("sat", ["sat"])]


def test_unknown_pieces_cjk_casing_and_repeated_words_align_on_minilm(minilm_tok):
    text = "The THE the 😀 東京 café."
    enc = encode(minilm_tok, text, None, 512, "minilm")
    al = align(enc, ["The", "THE", "the", "😀", "東京", "café", "."])
    assert pieces(enc, al) == [("The", ["the"]), ("THE", ["the"]), ("the", ["the"]), ("😀", ["[UNK]"]),
                               ("東京", ["東", "京"]), ("café", ["cafe"]), (".", ["."])]
    assert [(w.start, w.end) for w in al.words][:3] == [(0, 3), (4, 7), (8, 11)]


def test_user_words_match_case_insensitively_and_keep_their_spelling(tok):
    enc = encode(tok, "The Cat sat.", None, 64, "t")
    assert align(enc, ["the", "cat", "sat", "."]).labels == ["the", "cat", "sat", "."]


def test_word_list_that_differs_from_the_text_names_the_word_and_the_place(tok):
    enc = encode(tok, "the cat sat on the mat", None, 64, "t")
    with pytest.raises(AlignmentError, match=r"Word 2 'dog' does not match the text at character 8, which reads 'sat on"):
        align(enc, ["the", "cat", "dog", "on", "the", "mat"])
    with pytest.raises(AlignmentError, match=r"words= ends before the text does: 'mat' \(from character 19\)"):
        align(enc, ["the", "cat", "sat", "on", "the"])
    with pytest.raises(AlignmentError, match=r"Word 6 'again' comes after the end of the text"):
        align(enc, ["the", "cat", "sat", "on", "the", "mat", "again"])


def test_piece_straddling_two_words_is_an_error_naming_both(tok):
    enc = encode(tok, "don't play", None, 64, "t")
    assert enc.tokens[1:4] == ["don", "'", "t"]
    with pytest.raises(AlignmentError, match=r"The piece 'don' \(position 1, characters 0–3\) straddles the words 'do' and \"n't\""):
        align(enc, ["do", "n't", "play"])


def test_merge_option_merges_straddled_words_into_one_unit_and_says_which(tok):
    enc = encode(tok, "don't play", None, 64, "t")
    al = align(enc, ["do", "n't", "play"], on_mismatch="merge")
    assert pieces(enc, al) == [("don't", ["don", "'", "t"]), ("play", ["play"])]
    assert len(al.notes) == 1 and "merged 'do' and \"n't\"" in al.notes[0] and "'don'" in al.notes[0]


def test_chained_straddles_merge_into_one_unit(tok):
    enc = encode(tok, "understanding dog", None, 64, "t")  # un ##der ##stand ##ing
    al = align(enc, ["unders", "tand", "ing", "dog"], on_mismatch="merge")
    assert pieces(enc, al) == [("understand", ["un", "##der", "##stand"]), ("ing", ["##ing"]), ("dog", ["dog"])]


def test_word_without_a_piece_is_an_error_or_attached_on_merge(tok):
    enc = encode(tok, "the \u200b cat", None, 64, "t")  # the tokenizer drops the zero-width space
    with pytest.raises(AlignmentError, match=r"The word '\\u200b' \(word 1, characters 4–5\) gets no piece"):
        align(enc, ["the", "\u200b", "cat"])
    al = align(enc, ["the", "\u200b", "cat"], on_mismatch="merge")
    assert pieces(enc, al) == [("the \u200b", ["the"]), ("cat", ["cat"])]
    assert "attached '\\u200b'" in al.notes[0]
    first = align(encode(tok, "\u200b the cat", None, 64, "t"), ["\u200b", "the", "cat"], on_mismatch="merge")
    assert first.labels == ["\u200b the", "cat"] and "after it" in first.notes[0]


def test_default_words_without_a_piece_are_left_out_with_a_note(tok):
    al = align(encode(tok, "the \u200b cat", None, 64, "t"))
    assert al.labels == ["the", "cat"] and "left out '\\u200b'" in al.notes[0]


def test_words_cut_off_by_truncation_are_left_out(tok):
    enc = encode(tok, "the cat sat on the mat", None, 5, "t", truncate=True)
    al = align(enc, ["the", "cat", "sat", "on", "the", "mat"])
    assert al.labels == ["the", "cat", "sat"]
    assert "left out 'on'" in al.notes[0] and "truncate=True" in al.notes[0]


def test_pair_default_words_cover_both_texts_with_segments(tok):
    enc = encode(tok, "the cat sat.", "where is it?", 64, "t")
    al = align(enc)
    assert al.labels == ["the", "cat", "sat.", "where", "is", "it?"]
    assert al.segments == [0, 0, 0, 1, 1, 1]
    assert all(enc.sequence[p] == w.sequence for w in al.words for p in w.pieces)


def test_pair_words_as_two_lists_or_one_list_through_both_texts(tok):
    enc = encode(tok, "the cat sat .", "where is it ?", 64, "t")
    a, b = ["the", "cat", "sat", "."], ["where", "is", "it", "?"]
    two = align(enc, (a, b))
    one = align(enc, a + b)
    assert two == one and two.segments == [0] * 4 + [1] * 4
    with pytest.raises(AlignmentError, match="the first text"):
        align(enc, (a[:3], b))


def test_byte_level_bpe_pieces_align_by_offsets(bpe_tok):
    enc = encode(bpe_tok, "The café 😀 sat.", "Where is it?", 512, "bpe")
    assert any(t.startswith("Ġ") for t in enc.tokens)
    al = align(enc, (["The", "café", "😀", "sat", "."], ["Where", "is", "it", "?"]))
    text_of = {w.text: "".join(enc.tokens[p] for p in w.pieces) for w in al.words}
    assert text_of["café"] == "ĠcafÃ©" and text_of["😀"].startswith("Ġ") and text_of["Where"] == "Where"
    assert sorted(p for w in al.words for p in w.pieces) == [p for p in range(enc.n) if not enc.special[p]]
    assert al.segments == [0] * 5 + [1] * 4


def test_sentencepiece_pieces_align_by_offsets(sp_tok):
    enc = encode(sp_tok, "The café 😀 sat.", None, 512, "sp")
    al = align(enc)
    assert al.labels == ["The", "café", "😀", "sat."]
    emoji = pieces(enc, al)[2][1]
    assert emoji[-1] == "<unk>"  # the lone "▁" before it (whitespace only) joins the word that follows
    assert sorted(p for w in al.words for p in w.pieces) == [p for p in range(enc.n) if not enc.special[p]]


def test_tokenizer_without_offsets_asks_for_the_fast_tokenizer(tok):
    enc = encode(tok, "the cat", None, 64, "t")
    slow = Encoding(enc.text, None, enc.ids, enc.tokens, enc.segment_ids, enc.special, None, enc.sequence)
    with pytest.raises(AlignmentError, match="use_fast=True"):
        align(slow)


def test_words_given_as_one_string_or_with_empty_words_are_input_errors(tok):
    enc = encode(tok, "the cat", None, 64, "t")
    with pytest.raises(InputError, match="not one string"):
        align(enc, "the cat")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="word 1 is ''"):
        align(enc, ["the", "", "cat"])
    with pytest.raises(InputError, match="on_mismatch must be one of 'error', 'merge'"):
        align(enc, None, on_mismatch="ignore")


def test_analyze_rejects_a_bad_word_list_before_tracing(tok, monkeypatch):
    import transeasy_widget.analysis as analysis

    def no_trace(*args: Any) -> None:
        raise AssertionError("the trace must not run")

    monkeypatch.setattr(analysis, "run_trace", no_trace)
    model = random_bert(1, 2, 16, vocab=len(tok))
    with pytest.raises(AlignmentError, match="straddles"):
        analyze("don't play", model=model, tokenizer=tok, words=["do", "n't", "play"])
    with pytest.raises(InputError, match="on_mismatch"):
        analyze("the cat", model=model, tokenizer=tok, on_mismatch="skip")


def test_analyze_passes_words_and_merge_through(tok):
    model = random_bert(1, 2, 16, vocab=len(tok))
    a = analyze("don't play", model=model, tokenizer=tok, words=["do", "n't", "play"], on_mismatch="merge")
    assert a.alignment.labels == ["don't", "play"] and a.attentions.labels("reduced") == ["don't", "play"]



# Every character str.split() takes for whitespace, and a few that the tokenizers delete or keep and it does not.
SPACES = [chr(c) for c in range(0x110000) if chr(c).isspace()]
ODD = ["\x00", "\x1b", "\x7f", "\u00ad", "\u0301", "\u200b", "\u200d", "\ufeff", "\ufffd"]


@pytest.fixture(scope="module")
def every_tokenizer(minilm_tok, bpe_tok, sp_tok) -> list[tuple[str, Any]]:
    from tests import tokenizers_for_tests as tt

    return [("MiniLM (BERT uncased)", minilm_tok), ("byte-level BPE", bpe_tok), ("SentencePiece BPE", sp_tok),
            ("RoBERTa byte-level BPE", tt.byte_level_bpe()), ("ALBERT SentencePiece", tt.sentencepiece("albert")),
            ("XLM-R SentencePiece", tt.sentencepiece("xlm")), ("WordPiece", tt.wordpiece())]


def check_default_words(enc: Encoding) -> Alignment:
    """The default words align (no raise) and every non-special piece is in exactly one word, whose label is the
    text's own characters at its span."""
    al = align(enc)
    texts = [enc.text, enc.text_pair]
    assert sorted(p for w in al.words for p in w.pieces) == [p for p in range(enc.n) if not enc.special[p]]
    for w in al.words:
        assert w.pieces and w.text == texts[w.sequence][w.start:w.end] and w.text.strip() == w.text
        assert all(enc.sequence[p] == w.sequence for p in w.pieces)
    return al


@pytest.mark.parametrize("char", SPACES + ODD, ids=lambda c: f"U+{ord(c):04X}")
def test_default_words_always_align_whatever_the_separator(char, every_tokenizer):
    """str.split() breaks at \\x0b \\x0c \\x1c-\\x1f \\x85, which BERT's tokenizer deletes: "in\\x0cto" is one piece
    'into' over two default words. The default words are ours, so they merge (noted) and never raise."""
    text = f"Page one ends in{char}to the next café 東京 page.{char}Don't{char}{char}stop 😀{char}"
    pair = f"{char}Où{char}est-il ?"
    for name, tokenizer in every_tokenizer:
        for second in (None, pair):
            try:
                check_default_words(encode(tokenizer, text, second, 512, name))
            except Exception as err:
                raise AssertionError(f"{name}, pair={second is not None}: {err}") from err


def test_default_words_merge_where_the_tokenizer_deleted_the_separator(minilm_tok):
    enc = encode(minilm_tok, "Page one ends in\x0cto the next page.", None, 512, "minilm")
    assert "into" in enc.tokens
    al = align(enc)
    assert al.labels == ["Page", "one", "ends", "in\x0cto", "the", "next", "page."]
    assert pieces(enc, al)[3] == ("in\x0cto", ["into"])
    assert len(al.notes) == 1 and "merged 'in' and 'to'" in al.notes[0]
    with pytest.raises(AlignmentError, match="straddles the words 'in' and 'to'"):  # the user's own words still raise
        align(enc, ["Page", "one", "ends", "in", "to", "the", "next", "page."])


def test_analyze_and_its_word_level_views_work_on_control_characters(minilm_path):
    a = analyze("Page one ends in\x0cto the\x85next\x1cpage.", model=minilm_path)
    reduced = a.attentions.reduced
    assert a.alignment.labels == ["Page", "one", "ends", "in\x0cto", "the\x85next\x1cpage."]
    assert reduced.shape[-1] == 5
    torch.testing.assert_close(reduced.sum(-1), torch.ones(reduced.shape[:-1]))
    assert a.widget().variant == "raw" and a.viz.nosep_linscale_reduced(0, 0) is not None


def test_default_words_align_on_random_texts_of_odd_characters(every_tokenizer):
    """Seeded random texts (and pairs) of letters, punctuation, every whitespace, deleted and combining
    characters, accents, CJK and emoji: the default words cover every piece, on every tokenizer kind."""
    import random

    alphabet = [*"abcdefghij ABC.,!?'-", *SPACES, *ODD, "é", "e\u0301", "東", "京", "😀", "ß", "İ", "ﬁ", "Ⅻ", "①", "ـ"]
    rng = random.Random(11)
    checked = 0
    for trial in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 25)))
        pair = None if trial % 2 else "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 10)))
        if not text.strip() or (pair is not None and not pair.strip()):
            continue
        for name, tokenizer in every_tokenizer:
            try:
                enc = encode(tokenizer, text, pair, 512, name)
            except InputError as err:  # only the special tokens: nothing to align
                assert "gives no tokens" in str(err)
                continue
            try:
                check_default_words(enc)
            except Exception as err:
                raise AssertionError(f"{name}: text={text!r} pair={pair!r}: {err}") from err
            checked += 1
    assert checked > 1000
