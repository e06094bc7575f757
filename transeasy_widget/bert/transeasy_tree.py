"""TransEasy's ``bertplus_hier`` tree, as existing scripts use it, over an Analysis (views only, no copies).

The original's ``analyzer(sentence, words)`` result holds three trees (its ``bertplus_hier.py``)::

    analysis.attentions.raw.matrices                                  A, L×H×n×n
    analysis.attentions.noclssep.raw.matrices                         A without [CLS]/[SEP] rows and columns
    analysis.attentions.noclssep.scale.linear.raw.matrices            ... each row divided by its sum
    analysis.attentions.noclssep.scale.linear.reduced.matrices        ... merged to words (mean rows, summed columns)
    analysis.attentions.noclssep.scale.softmax.matrices               softmax over each row of the noclssep matrix
        each with .viz(layer, head) and .word_rows(word); the reduced one also .attn_row_by_pos(pos) and the
        properties attention_distance_mean_abs, _mean_directed, _mean_abs_std, _mean_directed_std (L×H)
    analysis.hidden_states.last / .all                                n×d, and the L layer outputs L×n×d
    analysis.tokenization.pre.raw / .spaced                           the text; its default (whitespace) words
    analysis.tokenization.bert.ids / .ids_noclssep / .wordpieces.raw / .wordpieces.noclssep
    analysis.tokenization.custom                                      the user's words ([] when none were given)
    analysis.tokenization.wordpos(word, wordpiece=True, noclssep=True, custom=False)

Every ``matrices`` is the package's own variant (``a.attentions.raw``, ``.nosep``, ``.nosep_linscale``,
``.reduced``, ``.nosep_softmax_scale``), every layer stacked on first access and then held by the node. Where the original differs from its
own names, the names' meaning is kept, not the original's slips, which are:

- ``wordpos(noclssep=True)`` counted positions among the pieces WITH [CLS]/[SEP] and ``noclssep=False`` among
  those without (swapped); so ``raw.word_rows`` and ``noclssep...word_rows`` picked rows one off. Here
  ``noclssep=True`` counts without them, and every ``word_rows`` picks the rows labelled ``word`` in its matrix.
- The text was lower-cased and split at single spaces (``split(' ')``, so two spaces made an empty word); here
  the text is given to the tokenizer as it is (an uncased model's tokenizer lower-cases it) and split at any
  whitespace (``pre.raw`` is the text, ``pre.spaced`` the words of the default word-level view).
- ``viz(layer, head)`` took 1-based numbers in its last version (0-based before), and drew with pyplot; here
  layer and head are 0-based as everywhere in the package, and it returns the figure (see ``viz.py``).
- ``attn_row_by_pos`` squeezed every size-1 dimension (a one-layer model lost its layer axis); here the result
  is L×H×m for one position, L×H×r×m for a list of r positions.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

import torch

from ..errors import InputError, check_index
from ..words import align

if TYPE_CHECKING:
    from ..analysis import Analysis
    from ..viz import AttentionFigure


class Matrices:
    """One node of the tree: ``matrices`` (L×H×m×m), ``viz(layer, head)`` and ``word_rows(word)``."""

    def __init__(self, analysis: Analysis, variant: str):
        self._analysis = analysis
        self._variant = variant

    @cached_property
    def matrices(self) -> torch.Tensor:
        # every layer stacked once and held: TransEasy scripts index ``matrices[layer][head]`` in loops
        return self._analysis.attentions.get(self._variant)

    def viz(self, layer: int, head: int, **options: Any) -> AttentionFigure:
        """The figure of one head (0-based); ``options`` as ``Viz.figure`` (caption, cmap, vmin, vmax, labels)."""
        return self._analysis.viz.figure(self._variant, layer, head, **options)

    def word_rows(self, word: str) -> torch.Tensor:
        """The rows of every position labelled ``word`` in this matrix (pieces; words for ``reduced``): L×H×r×m."""
        return self._analysis.attentions.word_rows(word, self._variant)

    def __repr__(self) -> str:
        return f"<TransEasy attentions node {self._variant}: matrices {tuple(self.matrices.shape)}>"


class ReducedMatrices(Matrices):
    """The word-level node: also ``attn_row_by_pos`` and TransEasy's four attention distances (each L×H)."""

    def attn_row_by_pos(self, pos: int | Sequence[int]) -> torch.Tensor:
        """The row of word ``pos`` (0-based): L×H×m; for a list of r positions, L×H×r×m."""
        if isinstance(pos, int) and not isinstance(pos, bool):
            return self._analysis.attentions.attn_row_by_pos(pos, self._variant)
        if isinstance(pos, str) or not isinstance(pos, Sequence):
            raise InputError(f"attn_row_by_pos takes a word position (an integer) or a list of them, got {pos!r}.")
        matrix = self.matrices
        rows = [check_index("position", p, matrix.shape[-2]) for p in pos]
        return matrix[..., torch.tensor(rows, dtype=torch.long, device=matrix.device), :]

    @property
    def attention_distance_mean_abs(self) -> torch.Tensor:
        """Per head, the mean over words i of |argmax_j R[i, j] - i|."""
        return self._analysis.head_stats["distance_abs"]

    @property
    def attention_distance_mean_directed(self) -> torch.Tensor:
        """Per head, the mean over words i of argmax_j R[i, j] - i (negative: looks left)."""
        return self._analysis.head_stats["distance_directed"]

    @property
    def attention_distance_mean_abs_std(self) -> torch.Tensor:
        """``attention_distance_mean_abs`` divided by the number of words."""
        return self._analysis.head_stats["distance_abs_std"]

    @property
    def attention_distance_mean_directed_std(self) -> torch.Tensor:
        """``attention_distance_mean_directed`` divided by the number of words."""
        return self._analysis.head_stats["distance_directed_std"]


class Linear:
    def __init__(self, analysis: Analysis):
        self.raw = Matrices(analysis, "nosep_linscale")
        self.reduced = ReducedMatrices(analysis, "reduced")


class Scale:
    def __init__(self, analysis: Analysis):
        self.linear = Linear(analysis)
        self.softmax = Matrices(analysis, "nosep_softmax_scale")


class NoClsSep:
    def __init__(self, analysis: Analysis):
        self.raw = Matrices(analysis, "nosep")
        self.scale = Scale(analysis)


class Attentions:
    """``raw`` and ``noclssep`` (with ``.raw`` and ``.scale.linear.raw / .reduced``, ``.scale.softmax``)."""

    def __init__(self, analysis: Analysis):
        self.raw = Matrices(analysis, "raw")
        self.noclssep = NoClsSep(analysis)

    def __repr__(self) -> str:
        return ("<TransEasy attentions: raw, noclssep.raw, noclssep.scale.linear.raw, noclssep.scale.linear.reduced, "
                "noclssep.scale.softmax (each .matrices, .viz, .word_rows)>")


class PreTokenization:
    """``raw``: the text given to the tokenizer; ``spaced``: its whitespace-separated words (the default words)."""

    def __init__(self, analysis: Analysis):
        self._analysis = analysis

    @property
    def raw(self) -> str | tuple[str, str]:
        enc = self._analysis.encoding
        return enc.text if enc.text_pair is None else (enc.text, enc.text_pair)

    @cached_property
    def spaced(self) -> list[str]:
        a = self._analysis
        return a.alignment.labels if a.words_given is None else align(a.encoding).labels


class WordPieces:
    def __init__(self, analysis: Analysis):
        self._analysis = analysis

    @property
    def raw(self) -> list[str]:
        """The pieces, [CLS] and [SEP] (or <s>, </s>) included."""
        return self._analysis.tokens

    @property
    def noclssep(self) -> list[str]:
        """The pieces without the special tokens (the rows of ``attentions.noclssep``)."""
        tokens = self._analysis.encoding.tokens
        return [tokens[p] for p in self._analysis.attentions.kept]


class BertTokenization:
    def __init__(self, analysis: Analysis):
        self._analysis = analysis
        self.wordpieces = WordPieces(analysis)

    @property
    def ids(self) -> list[int]:
        return list(self._analysis.encoding.ids)

    @property
    def ids_noclssep(self) -> list[int]:
        ids = self._analysis.encoding.ids
        return [ids[p] for p in self._analysis.attentions.kept]

    @property
    def obj(self) -> dict[str, torch.Tensor]:
        """The model's inputs as the tokenizer returns them with ``return_tensors='pt'`` (1×n each)."""
        enc = self._analysis.encoding
        ids = torch.tensor([enc.ids])
        return {"input_ids": ids, "token_type_ids": torch.tensor([enc.segment_ids]),
                "attention_mask": torch.ones_like(ids)}


class Tokenization:
    """``pre`` (the text, its words), ``bert`` (ids and pieces), ``custom`` (the user's words) and ``wordpos``."""

    def __init__(self, analysis: Analysis):
        self._analysis = analysis
        self.pre = PreTokenization(analysis)
        self.bert = BertTokenization(analysis)

    @property
    def custom(self) -> list[str]:
        """The words given (as the word-level view has them), or [] when the default words are used."""
        return [] if self._analysis.words_given is None else self._analysis.alignment.labels

    def wordpos(self, word: str, wordpiece: bool = True, noclssep: bool = True, custom: bool = False) -> list[int]:
        """The 0-based positions where ``word`` occurs: among the pieces (without [CLS]/[SEP] when ``noclssep``),
        or, with ``wordpiece=False``, among the words (the user's when ``custom``, else ``pre.spaced``)."""
        if wordpiece:
            where = self.bert.wordpieces.noclssep if noclssep else self.bert.wordpieces.raw
        else:
            where = self.custom if custom else self.pre.spaced
        return [i for i, label in enumerate(where) if label == word]

