"""``corpus_stats``: read the corpus, run the batch reducer over it (here, or on Ray), merge the partials."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..models import resolve
from .inputs import Item, read_corpus
from .reduce import BatchReducer
from .stats import CorpusStats

BACKENDS = ("local", "ray")


def corpus_stats(texts: Any, *, model: Any = None, tokenizer: Any = None, batch_size: int = 32, device: Any = None,
                 backend: str = "local", progress: bool = True, k: int = 5, misaligned: str = "skip",
                 on_mismatch: str = "error", truncate: bool = False, checkpoint: str | os.PathLike[str] | None = None,
                 checkpoint_every: int = 20, resume: bool = False, workers: int = 2, norm: bool = True) -> CorpusStats:
    """Head statistics over a corpus: per layer and head, the mean, variance and histogram of every statistic of
    ``tw.analyze(text).head_stats`` over the texts, and the texts where each head is most extreme.

    ``texts``: a list (or any iterable) of strings, e.g. a ``datasets`` column; a text file, one text per line; or a
    CoNLL-U file (``.conllu``), whose words become each sentence's ``words=`` and whose dependency relations give
    ``cs.dependencies`` (Clark et al. 2019's dependency heads).
    ``batch_size`` texts run through the model at once (padded, with the attention mask); ``device`` moves the model
    there first (None: where it is). ``backend="ray"`` runs the batches on Ray Data actors (``workers`` of them, one
    model each, a GPU each where the cluster has GPUs) and merges their partials here.
    ``k`` example texts are kept per head and statistic. A CoNLL-U sentence whose words do not align with the
    tokenizer's pieces is skipped and counted (``misaligned="skip"``, ``cs.skipped``/``cs.skip_notes``) or raises
    (``misaligned="error"``); ``on_mismatch="merge"`` merges straddled words first, as in ``tw.analyze``.
    ``checkpoint``: a file the partial result is saved to every ``checkpoint_every`` batches and at the end; with
    ``resume=True`` a run starts from the saved partial and skips the texts it already holds.
    ``norm=True`` adds the entropy and the shares by norm (``cs.mean("norm_sep")``, …: on the shares of
    ‖α_ij f(x_j)‖, as ``a.attentions.contributions.head_stats_by_norm``); ``norm=False`` leaves them out.
    """
    if backend not in BACKENDS:
        raise InputError(f"backend must be one of {', '.join(map(repr, BACKENDS))}, got {backend!r}.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InputError(f"batch_size must be a positive integer, got {batch_size!r}.")
    if resume and checkpoint is None:
        raise InputError("resume=True needs checkpoint=<the file a previous run saved to>.")
    corpus = read_corpus(texts)
    items = corpus.items
    first = next(items, None)
    if first is None:
        raise InputError(f"The corpus is empty: {corpus.kind} {corpus.source!r} holds no text.")
    items = itertools.chain([first], items)
    reducer = BatchReducer(resolve(model, tokenizer), k, misaligned, on_mismatch, truncate, device, norm)
    done = reducer.empty()
    if resume and Path(checkpoint).exists():  # type: ignore[arg-type]
        done = CorpusStats.load(checkpoint)  # type: ignore[arg-type]
        done.resolved = reducer.resolved
        done.merge(reducer.empty())  # raises now if the saved partial is of another model or settings
        items = itertools.islice(items, done.n_seen, None)
    total = None if corpus.total is None else max(0, corpus.total - done.n_seen)
    bar = _progress(total, progress, corpus.kind)
    try:
        if backend == "local":
            parts: Iterator[CorpusStats] = (reducer(batch) for batch in _batches(items, batch_size))
        else:
            from .ray_backend import ray_partials

            parts = ray_partials(list(items), model, tokenizer, reducer, batch_size, workers)
        for i, part in enumerate(parts, 1):
            done = done.merge(part)
            bar.update(part.n_seen)
            if checkpoint is not None and i % max(1, checkpoint_every) == 0:
                done.save(checkpoint)
    finally:
        bar.close()
    if checkpoint is not None:
        done.save(checkpoint)
    if done.n_texts == 0:
        why = f" The first: {done.skip_notes[0]}" if done.skip_notes else ""
        raise InputError(f"Every text of the corpus was skipped ({done.skipped}).{why}")
    return done


def _batches(items: Iterator[Item], size: int) -> Iterator[list[Item]]:
    while batch := list(itertools.islice(items, size)):
        yield batch


def _progress(total: int | None, show: bool, kind: str) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="text", desc="corpus statistics", disable=not show, dynamic_ncols=True,
                leave=True, postfix=None if kind == "texts" else kind)
