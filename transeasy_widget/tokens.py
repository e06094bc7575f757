"""The input: pieces, ids, segments, special-token mask and character offsets of a text (or pair)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from .errors import InputError, ModelError


@dataclass(frozen=True)
class Encoding:
    text: str
    text_pair: str | None
    ids: list[int]
    tokens: list[str]
    segment_ids: list[int]
    special: list[bool]
    offsets: list[tuple[int, int]] | None  # character span of each piece in its own text; None: slow tokenizer
    sequence: list[int | None]  # which text a piece comes from (0, 1) or None for special tokens

    @property
    def n(self) -> int:
        return len(self.ids)

    def ids_tensor(self, device: torch.device | str = "cpu") -> torch.Tensor:
        return torch.tensor(self.ids, dtype=torch.long, device=device)


def check_text(text: object, what: str) -> str:
    if not isinstance(text, str):
        raise InputError(f"{what} must be a string, got {type(text).__name__}.")
    if not text.strip():
        raise InputError(f"{what} is empty: pass a sentence, e.g. tw.analyze('The cat sat on the mat.').")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:  # a lone surrogate: no tokenizer (nor the browser) can take it
        raise InputError(
            f"{what} holds {text[err.start]!r} at character {err.start}, half of a UTF-16 surrogate pair and not a "
            "character (text decoded with errors='surrogateescape', or a JSON '\\ud83d' escape without its other "
            "half). Remove it, or repair the text, e.g. text.encode('utf-8', 'replace').decode().") from None
    return text


def encode(tokenizer: Any, text: str, text_pair: str | None, max_tokens: int, model_name: str,
           truncate: bool = False) -> Encoding:
    """Tokenize one text or a pair, checking the length against the model's position table."""
    text = check_text(text, "The text")
    if text_pair is not None:
        text_pair = check_text(text_pair, "The second text (text_pair)")
    kwargs: dict[str, Any] = {"return_special_tokens_mask": True, "return_token_type_ids": True}
    if truncate:
        kwargs.update(truncation="longest_first" if text_pair is not None else True, max_length=max_tokens)
    try:
        enc = tokenizer(text, text_pair, return_offsets_mapping=True, **kwargs)
        offsets = [tuple(o) for o in enc["offset_mapping"]]
    except NotImplementedError:  # slow (Python) tokenizers have no offsets: no word alignment then
        enc = tokenizer(text, text_pair, **kwargs)
        offsets = None
    ids = list(enc["input_ids"])
    if len(ids) > max_tokens:
        raise InputError(
            f"The text has {len(ids)} tokens (special tokens included), but {model_name} takes at most "
            f"{max_tokens}. Shorten it, or pass truncate=True to keep the first {max_tokens}.")
    n_special = sum(enc["special_tokens_mask"])
    if len(ids) == n_special:
        raise InputError(f"The text {text!r} gives no tokens but the special ones: pass words the tokenizer knows.")
    segments = list(enc.get("token_type_ids") or [0] * len(ids))
    try:
        sequence = list(enc.sequence_ids())
    except (AttributeError, ValueError):  # slow tokenizers: derive from the segments
        sequence = [None if s else seg for s, seg in zip(enc["special_tokens_mask"], segments, strict=True)]
    return Encoding(
        text=text, text_pair=text_pair, ids=ids,
        tokens=tokenizer.convert_ids_to_tokens(ids),
        segment_ids=segments,
        special=[bool(s) for s in enc["special_tokens_mask"]],
        offsets=offsets,  # type: ignore[arg-type]
        sequence=sequence,
    )


def check_vocabulary(tokenizer: Any, vocab_size: int, model_name: str) -> None:
    """A tokenizer with more entries than the model's embedding table belongs to another model."""
    size = len(tokenizer)
    if size > vocab_size:
        raise ModelError(
            f"The tokenizer has {size} entries but {model_name}'s word-embedding table has only {vocab_size} rows: "
            "they do not belong together. Pass the tokenizer saved with this model "
            "(AutoTokenizer.from_pretrained(<the model's path>)).")
