"""The exceptions a user may catch: each message says what went wrong and what to do."""

from __future__ import annotations


class TransEasyError(ValueError):
    """Base class of every error this package raises on purpose."""


class InputError(TransEasyError):
    """The text, the word list, or a requested position does not fit."""


class ModelError(TransEasyError):
    """The model cannot be loaded, is not supported, or does not match its tokenizer."""


class UnsupportedModelError(ModelError):
    """The model is not one of the supported BERT-like encoders."""


class InterventionError(InputError):
    """An ablation or a patch that does not fit the model or the text (a head, a stage, a value's shape)."""


class AlignmentError(InputError):
    """The user's word list does not line up with the text's pieces."""


def check_index(what: str, value: object, size: int) -> int:
    """A layer / head / position index in 0..size-1 (negative values count from the end)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{what} must be an integer in 0..{size - 1}, got {value!r}.")
    if not -size <= value < size:
        raise InputError(f"{what} {value} is out of range: this model has {size} ({what}s 0..{size - 1}).")
    return value % size
