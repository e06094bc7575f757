"""The texts of a corpus, read lazily: a list of strings (or any iterable of them, such as a Hugging Face
``datasets`` column), a text file (one text per line, blank lines skipped), or a CoNLL-U file.

A CoNLL-U sentence becomes its ``# text`` (or its surface tokens joined, ``SpaceAfter=No`` respected), its surface
tokens as ``words=`` (a multiword token such as "cannot" = "can" + "not" is one word), and for every word the word
its syntactic head is in (-1: the root, or a relation inside one multiword token) and its relation, subtype dropped
(``nmod:poss`` → ``nmod``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sized
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError

CONLLU_SUFFIXES = (".conllu", ".conll")


@dataclass(frozen=True)
class Item:
    """One text of the corpus; ``index`` is its place in the corpus (0-based, blank lines of a file not counted)."""

    index: int
    text: str
    words: tuple[str, ...] | None = None
    heads: tuple[int, ...] | None = None  # per word: the index of its syntactic head's word, -1 for none
    relations: tuple[str, ...] | None = None
    sent_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "text": self.text, "words": None if self.words is None else list(self.words),
                "heads": None if self.heads is None else list(self.heads),
                "relations": None if self.relations is None else list(self.relations), "sent_id": self.sent_id}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Item:
        def tup(v: Any) -> Any:
            return None if v is None else tuple(v)

        return cls(int(d["index"]), str(d["text"]), tup(d.get("words")), tup(d.get("heads")), tup(d.get("relations")),
                   d.get("sent_id"))


@dataclass(frozen=True)
class Corpus:
    """The items (an iterator, read as it goes), how many there are when that is known, and what was read."""

    items: Iterator[Item]
    total: int | None
    kind: str  # "texts", "text file", "CoNLL-U"
    source: str


def read_corpus(texts: Any) -> Corpus:
    if isinstance(texts, (str, os.PathLike)):
        path = Path(texts)
        if not path.is_file():
            if isinstance(texts, str) and not os.path.exists(texts) and (" " in texts or not texts.strip()):
                raise InputError("texts is one string and no such file exists: pass a list of strings "
                                 "(e.g. [text]), a text file with one text per line, or a CoNLL-U file.")
            what = "a folder" if path.is_dir() else "no such file"
            raise InputError(f"Cannot read the corpus {str(path)!r}: {what}. Pass a text file (one text per line) "
                             "or a CoNLL-U file (.conllu).")
        _check_readable(path)
        if path.suffix.lower() in CONLLU_SUFFIXES:
            return Corpus(_conllu_items(path), None, "CoNLL-U", str(path))
        return Corpus(_file_items(path), None, "text file", str(path))
    if isinstance(texts, dict) or hasattr(texts, "column_names"):
        raise InputError("texts is a table (a dict or a datasets.Dataset): pass one column of strings, "
                         "e.g. corpus_stats(dataset['text']).")
    if not isinstance(texts, Iterable):
        raise InputError(f"texts must be a list of strings, a text file or a CoNLL-U file, got {type(texts).__name__}.")
    total = len(texts) if isinstance(texts, Sized) else None
    return Corpus(_string_items(texts), total, "texts", type(texts).__name__)


def _check_readable(path: Path) -> None:
    try:
        with path.open(encoding="utf-8") as f:
            f.read(4096)
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"Cannot read the corpus {str(path)!r}: {err}. It must be a UTF-8 text file.") from err


def _string_items(texts: Iterable[Any]) -> Iterator[Item]:
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise InputError(f"Text {i} of the corpus is a {type(text).__name__}, not a string: pass strings only.")
        if not text.strip():
            raise InputError(f"Text {i} of the corpus is empty: leave empty texts out.")
        yield Item(i, text)


def _file_items(path: Path) -> Iterator[Item]:
    index = 0
    try:
        with path.open(encoding="utf-8") as f:
            for line in f:
                text = line.rstrip("\r\n")
                if text.strip():
                    yield Item(index, text)
                    index += 1
    except UnicodeDecodeError as err:
        raise InputError(f"Cannot read the corpus {str(path)!r} after text {index}: {err}. It must be UTF-8.") from err


def _conllu_items(path: Path) -> Iterator[Item]:
    try:
        import conllu
    except ImportError as err:
        raise InputError('Reading CoNLL-U needs the conllu package: pip install conllu.') from err
    with path.open(encoding="utf-8") as f:
        try:
            for index, sentence in enumerate(conllu.parse_incr(f)):
                yield conllu_item(index, sentence)
        except conllu.exceptions.ParseException as err:
            raise InputError(f"The CoNLL-U file {str(path)!r} cannot be parsed: {err}.") from err


def conllu_item(index: int, sentence: Any) -> Item:
    """One parsed sentence (a ``conllu.TokenList``) → an Item with its surface words, heads and relations."""
    units: list[str] = []
    space_after: list[bool] = []
    unit_of: dict[int, int] = {}  # syntactic word id → its surface unit
    words_of_unit: list[list[Any]] = []
    covered_until = 0
    for token in sentence:
        tid = token["id"]
        if isinstance(tid, tuple):
            if len(tid) == 3 and tid[1] == "-":  # a multiword token: one surface unit for its words
                units.append(token["form"])
                space_after.append(_space_after(token))
                words_of_unit.append([])
                for w in range(tid[0], tid[2] + 1):
                    unit_of[w] = len(units) - 1
                covered_until = tid[2]
            continue  # an empty node (8.1) has no surface form
        if tid <= covered_until:
            words_of_unit[unit_of[tid]].append(token)
            continue
        units.append(token["form"])
        space_after.append(_space_after(token))
        unit_of[tid] = len(units) - 1
        words_of_unit.append([token])
    heads, relations = [], []
    for u, tokens in enumerate(words_of_unit):
        head, rel = -1, ""
        if len(tokens) == 1 and isinstance(tokens[0]["head"], int) and tokens[0]["head"] > 0:
            target = unit_of.get(tokens[0]["head"], -1)
            if target != u:
                head, rel = target, str(tokens[0]["deprel"] or "").split(":")[0]
        heads.append(head)
        relations.append(rel)
    text = sentence.metadata.get("text") or "".join(w + (" " if s else "") for w, s in zip(units, space_after, strict=True))
    return Item(index, text.strip(), tuple(units), tuple(heads), tuple(relations), sentence.metadata.get("sent_id"))


def _space_after(token: Any) -> bool:
    misc = token.get("misc") or {}
    return misc.get("SpaceAfter") != "No"
