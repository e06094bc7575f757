"""Words of a text (or pair) and which pieces make each word, aligned by character offsets only.

The alignment never compares piece strings with words, so it holds for every tokenizer family
(WordPiece ``##``, byte-level BPE ``Ġ``, SentencePiece ``▁``), for accents the tokenizer strips
(``café`` → ``cafe``), ``[UNK]`` pieces, CJK characters, casing and repeated words.

Words are, by default, TransEasy's rule: the whitespace-separated words of the text, punctuation
attached (``mat.``); where the tokenizer deletes a character ``str.split()`` takes for a space (``\\x0c``,
``\\x85``, ...) and one piece spans two such words, they are one word (the default words always align).
Or the user's own list (e.g. Universal Dependencies tokens), which must follow the text in order and
cover every character but whitespace (letter case may differ). For a sentence pair, pass either one flat
list running through both texts, or a pair of lists ``(words_a, words_b)``.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .errors import AlignmentError, InputError
from .tokens import Encoding

ON_MISMATCH = ("error", "merge")
_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class Word:
    """One word (or one merged unit of words) and its pieces."""

    text: str  # the label: the user's word, or the text's own characters (a merged unit: the span it covers)
    sequence: int  # 0: the text, 1: the second text of a pair
    start: int  # character span in its own text
    end: int
    pieces: tuple[int, ...]  # positions of its pieces in the encoding (special tokens are never part of a word)


@dataclass(frozen=True)
class Alignment:
    """The words of an encoding: ``words[w].pieces``, and for each piece ``piece_word[p]`` (None: special token)."""

    words: tuple[Word, ...]
    piece_word: tuple[int | None, ...]
    notes: tuple[str, ...] = ()  # what on_mismatch="merge" merged, and words left out (no piece), one line each

    @property
    def labels(self) -> list[str]:
        return [w.text for w in self.words]

    @property
    def segments(self) -> list[int]:
        """Which text of a pair each word comes from (0 or 1)."""
        return [w.sequence for w in self.words]

    def word_of_pieces(self, positions: Sequence[int]) -> torch.Tensor:
        """The word index of each given (non-special) piece position, as a long tensor."""
        return torch.tensor([self.piece_word[p] for p in positions], dtype=torch.long)


@dataclass
class _Span:
    sequence: int
    start: int
    end: int
    label: str
    index: int  # position in the user's list (for messages)


def align(enc: Encoding, words: Sequence[str] | Sequence[Sequence[str]] | None = None,
          on_mismatch: str = "error") -> Alignment:
    """Map the pieces of ``enc`` to words (TransEasy's whitespace words when ``words`` is None).

    ``on_mismatch="error"`` (default): a piece that straddles two of the user's words, or a user's word that
    gets no piece, raises :class:`AlignmentError` naming both. ``on_mismatch="merge"``: straddled words
    become one unit (labelled with the text they span) and a word without a piece joins the word before it
    (after it, when it comes first); ``Alignment.notes`` says what was merged.
    Words that come after the last piece of their text (cut off by ``truncate=True``) are left out, noted.
    """
    check_on_mismatch(on_mismatch)
    if enc.offsets is None:
        raise AlignmentError(
            "This tokenizer gives no character offsets (a slow, pure-Python tokenizer), and words are aligned by "
            "them: load the fast tokenizer (AutoTokenizer.from_pretrained(name, use_fast=True)).")
    texts = [enc.text] if enc.text_pair is None else [enc.text, enc.text_pair]
    user = words is not None
    spans = _default_spans(texts) if words is None else _match_words(texts, _word_lists(words, len(texts)))
    # The default words are ours, so they always align: where a piece straddles two of them (the tokenizer deleted
    # a character str.split() took for a space, e.g. "\x0c" or "\x85"), they merge into one word, noted.
    merge = on_mismatch == "merge" or not user
    groups, pieces, notes = _assign_pieces(enc, spans, merge)
    return _build(enc, texts, spans, groups, pieces, notes, merge, user)


def check_on_mismatch(on_mismatch: str) -> str:
    if on_mismatch not in ON_MISMATCH:
        raise InputError(f"on_mismatch must be one of {', '.join(map(repr, ON_MISMATCH))}, got {on_mismatch!r}.")
    return on_mismatch


def _default_spans(texts: list[str]) -> list[_Span]:
    return [_Span(k, m.start(), m.end(), m.group(), i)
            for k, text in enumerate(texts) for i, m in enumerate(_WORD.finditer(text))]


def _word_lists(words: Sequence[str] | Sequence[Sequence[str]], n_texts: int) -> list[tuple[str, int | None]]:
    """(word, text it must be in or None: the next text that has characters left) for every word given."""
    if isinstance(words, str):
        raise InputError("words= takes a list of words, not one string: pass e.g. text.split() or your own list.")
    if not isinstance(words, Sequence):
        raise InputError(f"words= takes a list of words (strings), got {type(words).__name__}: pass e.g. "
                         "['The', 'cat', 'sat.'], or for a sentence pair a pair of lists (words_a, words_b).")
    items = list(words)
    if n_texts == 2 and len(items) == 2 and all(not isinstance(w, str) and isinstance(w, Sequence) for w in items):
        out: list[tuple[str, int | None]] = [(w, k) for k, part in enumerate(items) for w in part]  # type: ignore[misc]
    else:
        out = [(w, None) for w in items]  # type: ignore[misc]
    for i, (w, _) in enumerate(out):
        if not isinstance(w, str) or not w.strip():
            raise InputError(f"words= must hold non-empty strings; word {i} is {w!r}. For a sentence pair pass one "
                             "list through both texts, or a pair of lists (words_a, words_b).")
    return out


def _match_words(texts: list[str], words: list[tuple[str, int | None]]) -> list[_Span]:
    """Find each word in the text(s), in order, with only whitespace between; the whole text must be covered."""
    spans: list[_Span] = []
    seq, pos = 0, 0
    for i, (word, want) in enumerate(words):
        if want is not None and want != seq:
            _check_covered(texts, seq, pos)
            seq, pos = want, 0
        pos = _skip_space(texts[seq], pos)
        while want is None and pos == len(texts[seq]) and seq + 1 < len(texts):
            seq, pos = seq + 1, _skip_space(texts[seq + 1], 0)
        text = texts[seq]
        if pos == len(text):
            where = "the text" if len(texts) == 1 else ("the first text", "the second text")[seq]
            raise AlignmentError(f"Word {i} {word!r} comes after the end of {where}: words= has more words than the text.")
        found = text[pos:pos + len(word)]
        if found != word and found.casefold() != word.casefold():
            raise AlignmentError(
                f"Word {i} {word!r} does not match the text at character {pos}, which reads {_snippet(text, pos)!r}. "
                "words= must follow the text in order and cover every character but whitespace "
                "(pass on_mismatch='merge' only fixes words the tokenizer splits differently, not a different text).")
        spans.append(_Span(seq, pos, pos + len(word), word, i))
        pos += len(word)
    _check_covered(texts, seq, pos)
    for later in range(seq + 1, len(texts)):
        _check_covered(texts, later, 0)
    return spans


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def _check_covered(texts: list[str], seq: int, pos: int) -> None:
    rest = texts[seq][pos:]
    if rest.strip():
        where = "the text" if len(texts) == 1 else ("the first text", "the second text")[seq]
        start = pos + len(rest) - len(rest.lstrip())
        raise AlignmentError(f"words= ends before {where} does: {_snippet(texts[seq], start)!r} (from character {start}) "
                             "is in no word. Add the missing words.")


def _snippet(text: str, pos: int, width: int = 24) -> str:
    return text[pos:pos + width] + ("…" if len(text) > pos + width else "")


def _assign_pieces(enc: Encoding, spans: list[_Span], merge: bool) -> tuple[list[list[int]], dict[int, int], list[str]]:
    """Piece → span, and the groups of spans that form one unit (a straddled pair merged, or raised)."""
    assert enc.offsets is not None
    by_seq: dict[int, list[int]] = {}
    for s, span in enumerate(spans):
        by_seq.setdefault(span.sequence, []).append(s)
    starts = {k: [spans[s].start for s in idx] for k, idx in by_seq.items()}
    root = list(range(len(spans)))  # spans merged into one unit share a root: the unit's first span
    piece_span: dict[int, int] = {}
    notes: list[str] = []
    for p, (special, (lo, hi)) in enumerate(zip(enc.special, enc.offsets, strict=True)):
        seq = _seq(enc, p)
        if special or seq not in by_seq:
            continue
        hit = _spans_of_piece(spans, by_seq[seq], starts[seq], lo, hi)
        if len(hit) > 1:
            names = " and ".join(repr(spans[s].label) for s in hit)
            piece = f"{enc.tokens[p]!r} (position {p}, characters {lo}–{hi})"
            if not merge:
                raise AlignmentError(
                    f"The piece {piece} straddles the words {names}: the tokenizer splits the text differently from "
                    "words=. Join those words into one, or pass on_mismatch='merge' to merge them into one unit.")
            notes.append(f"merged {names} into one unit: the piece {piece} straddles them")
            for s in hit[1:]:
                root[s] = root[hit[0]]
        piece_span[p] = hit[0]
    groups: dict[int, list[int]] = {}
    for s in range(len(spans)):
        groups.setdefault(root[s], []).append(s)
    return sorted(groups.values()), {p: root[s] for p, s in piece_span.items()}, notes


def _spans_of_piece(spans: list[_Span], idx: list[int], starts: list[int], lo: int, hi: int) -> list[int]:
    """The spans of one text (``idx`` in text order, ``starts`` theirs) that the piece's characters [lo, hi)
    fall in. A piece of whitespace only, or of zero length (``Ġ`` or ``▁`` before an emoji), goes to the word
    that contains or follows its start, else to the last word of the text."""
    j = bisect.bisect_left(starts, max(hi, lo + 1)) - 1  # the last word that starts inside (or before) the piece
    hit = []
    while j >= 0 and spans[idx[j]].end > lo:
        hit.append(idx[j])
        j -= 1
    if hit:
        return hit[::-1]
    following = bisect.bisect_right(starts, lo)
    return [idx[following] if following < len(idx) else idx[-1]]


def _build(enc: Encoding, texts: list[str], spans: list[_Span], groups: list[list[int]], piece_root: dict[int, int],
           notes: list[str], merge: bool, user: bool) -> Alignment:
    pieces_of: dict[int, list[int]] = {}
    for p, r in piece_root.items():
        pieces_of.setdefault(r, []).append(p)
    last_end = [max((hi for p, (_, hi) in enumerate(enc.offsets or []) if p in piece_root and _seq(enc, p) == k), default=0)
                for k in range(len(texts))]
    units: list[list[int]] = []  # groups of spans that have pieces, in order
    waiting: list[list[int]] = []  # pieceless groups at the start of a text, to attach to the unit after them
    for group in groups:
        first = spans[group[0]]
        if group[0] in pieces_of:
            units.append(group + [s for w in waiting for s in w])
            waiting = []
            continue
        label = " ".join(spans[s].label for s in group)
        where = f"characters {first.start}–{spans[group[-1]].end}"
        if first.start >= last_end[first.sequence]:
            notes.append(f"left out {label!r} ({where}): it comes after the last piece of its text "
                         "(cut off by truncate=True, or dropped by the tokenizer)")
        elif not user:
            notes.append(f"left out {label!r} ({where}): the tokenizer gives it no piece")
        elif not merge:
            raise AlignmentError(
                f"The word {label!r} (word {first.index}, {where}) gets no piece from the tokenizer. "
                "Leave it out of words=, or pass on_mismatch='merge' to attach it to its neighbour.")
        else:
            before = units[-1] if units and spans[units[-1][0]].sequence == first.sequence else None
            if before is None:
                waiting.append(group)
            else:
                before.extend(group)
            notes.append(f"attached {label!r} ({where}, no piece of its own) to the word "
                         + ("before it" if before is not None else "after it"))
    words = []
    piece_word: list[int | None] = [None] * enc.n
    for w, unit in enumerate(units):
        unit.sort()
        first, last = spans[unit[0]], spans[unit[-1]]
        text = first.label if len(unit) == 1 else texts[first.sequence][first.start:last.end]
        ps = sorted(p for s in unit for p in pieces_of.get(s, []))
        for p in ps:
            piece_word[p] = w
        words.append(Word(text, first.sequence, first.start, last.end, tuple(ps)))
    return Alignment(tuple(words), tuple(piece_word), tuple(notes))


def _seq(enc: Encoding, p: int) -> int:
    """Which text a piece belongs to (special tokens: their segment id)."""
    s = enc.sequence[p]
    return int(s if s is not None else enc.segment_ids[p])
