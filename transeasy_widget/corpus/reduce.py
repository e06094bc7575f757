"""One batch of texts → a partial CorpusStats: the model's own padded, batched forward pass (eager attention, attention
mask), then every head statistic of every text reduced on the device, layer by layer, so that at most one layer of
one batch's attention is worked on at a time. Only the per-text values (statistics × L × H × batch numbers) leave the
device.

The per-text definitions are ``headstats.py``'s, on the same rows and columns: padding rows are left out of every
mean and padding columns hold no attention (the mask gives them exactly 0).

By norm (``norm=True``): the statistics of the rows (``ROW_STATS``) on each layer's norm shares
α_ij ‖f_h(x_j)‖ / Σ_j α_ij ‖f_h(x_j)‖, the norms caught in the same pass (``norms.py``), as
``Contributions.norm_shares`` makes them of one text's trace.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import AlignmentError, InputError, ModelError
from ..headstats import punctuation_pieces, special_roles
from ..models import Resolved, own_forward_mode
from ..tokens import Encoding, check_vocabulary, encode
from ..trace import FAMILIES
from ..words import Alignment, align, check_on_mismatch
from .dependencies import DependencyCounts
from .inputs import Item
from .norms import ValueNorms, head_outputs
from .stats import NORM_STATS, ROW_STATS, STATS, CorpusStats, ranges_for

MISALIGNED = ("skip", "error")


@dataclass(frozen=True)
class Prepared:
    item: Item
    enc: Encoding
    alignment: Alignment


class BatchReducer:
    """Holds the model; ``reducer(items)`` → the partial CorpusStats of those texts (``norm``: with the statistics
    by norm too)."""

    def __init__(self, resolved: Resolved, k: int = 5, misaligned: str = "skip", on_mismatch: str = "error",
                 truncate: bool = False, device: Any = None, norm: bool = True):
        if misaligned not in MISALIGNED:
            raise InputError(f"misaligned must be one of {', '.join(map(repr, MISALIGNED))}, got {misaligned!r}.")
        check_on_mismatch(on_mismatch)
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise InputError(f"k (examples kept per head) must be a positive integer, got {k!r}.")
        if not isinstance(norm, bool):
            raise InputError(f"norm must be True or False, got {norm!r}.")
        self.resolved, self.k, self.misaligned, self.on_mismatch, self.truncate = resolved, k, misaligned, on_mismatch, truncate
        self.model = resolved.model
        if device is not None:
            self.model.to(device)
        self.device = next(self.model.parameters()).device
        self.adapter = FAMILIES[resolved.family]
        self.max_tokens = int(self.adapter.max_tokens(self.model))
        check_vocabulary(resolved.tokenizer, int(self.model.config.vocab_size), resolved.name)
        config = self.model.config
        # ALBERT runs inner_group_num layers per hidden layer, and each gives its attention
        self.layers = (int(getattr(config, "num_hidden_layers", getattr(config, "n_layers", 0)))
                       * int(getattr(config, "inner_group_num", 1)))
        self.heads = int(getattr(config, "num_attention_heads", getattr(config, "n_heads", 0)))
        self.cls_id = getattr(resolved.tokenizer, "cls_token_id", None)
        pad = getattr(resolved.tokenizer, "pad_token_id", None)
        self.pad_id = int(pad) if pad is not None else 0
        self.norm = norm
        self.stats = STATS + NORM_STATS if norm else STATS
        self.head_outputs = self._head_outputs() if norm else []

    def _head_outputs(self) -> list[Any]:
        try:
            found = head_outputs(self.resolved.family, self.model, self.heads)
        except AttributeError as err:
            raise ModelError(f"{self.resolved.name} has no value and output projections where a "
                             f"{self.resolved.family} model keeps them ({err}): the statistics by norm need them. "
                             "Pass norm=False.") from None
        if len(found) != self.layers:
            raise ModelError(f"{self.resolved.name} lists {len(found)} attention layers for {self.layers} in its "
                             "config: the statistics by norm cannot follow it. Pass norm=False.")
        return found

    def empty(self) -> CorpusStats:
        return CorpusStats(self.resolved.name, self.layers, self.heads, self.k,
                           ranges_for(self.max_tokens, self.stats), stats=self.stats, resolved=self.resolved)

    def prepare(self, item: Item, out: CorpusStats) -> Prepared | None:
        """Tokenize and align one text; a CoNLL-U sentence whose words do not align is skipped (and counted) or raised."""
        try:
            enc = encode(self.resolved.tokenizer, item.text, None, self.max_tokens, self.resolved.name, self.truncate)
        except InputError as err:
            raise InputError(f"Text {item.index} of the corpus: {err}") from None
        try:
            alignment = align(enc, item.words, self.on_mismatch)
        except AlignmentError as err:
            if enc.offsets is None or item.words is None or self.misaligned == "error":
                where = f" (sentence {item.sent_id})" if item.sent_id else ""
                raise AlignmentError(f"Text {item.index}{where} of the corpus: {err} Pass misaligned='skip' to skip "
                                     "such sentences (they are counted in cs.skipped).") from None
            out.skip(f"text {item.index}" + (f" ({item.sent_id})" if item.sent_id else "") + f": {err}")
            return None
        return Prepared(item, enc, alignment)

    def __call__(self, items: list[Item]) -> CorpusStats:
        out = self.empty()
        out.n_seen = len(items)
        ready = [p for p in (self.prepare(it, out) for it in items) if p is not None]
        if ready:
            values = self.values(ready, out)
            out.add_texts(values, [p.item for p in ready], sum(p.enc.n for p in ready),
                          sum(len(p.alignment.words) for p in ready))
        return out

    # -- the batched forward pass and the reduction -------------------------------------------------------------------
    def inputs(self, ready: list[Prepared]) -> dict[str, torch.Tensor]:
        """The model's own inputs of each text, padded at the end (ids with the pad id, the rest with 0)."""
        parts = [self.adapter.model_inputs(self.model, p.enc) for p in ready]
        width = max(p.enc.n for p in ready)
        out = {}
        for name in parts[0]:
            fill = self.pad_id if name == "input_ids" else 0
            out[name] = torch.stack([torch.nn.functional.pad(part[name][0], (0, width - part[name].shape[-1]), value=fill)
                                     for part in parts])
        return out

    def values(self, ready: list[Prepared], out: CorpusStats) -> torch.Tensor:
        """S×L×H×B per-text statistics (float64, on the CPU), and the dependency counts added to ``out``."""
        masks = Masks.build(ready, self.cls_id, self.device)
        caught = ValueNorms(self.head_outputs)
        with own_forward_mode(self.model), caught if self.norm else nullcontext():
            attentions = self.model(**self.inputs(ready), output_attentions=True, return_dict=True).attentions
        if attentions is None or len(attentions) != self.layers:
            raise ModelError(f"{self.resolved.name} returned no attention weights: it must run eager attention.")
        per_layer, argmaxes = [], []
        for layer, attn in enumerate(attentions):  # B×H×N×N
            stats, argmax = layer_values(attn.float(), masks)
            if self.norm:
                by_norm = row_values(norm_shares(attn.float(), caught.norms[layer], masks), masks)[0]
                stats = torch.cat([stats, torch.stack([by_norm[s].transpose(0, 1) for s in ROW_STATS])])
            per_layer.append(stats)
            argmaxes.append(argmax)
        values = torch.stack(per_layer, 1).to("cpu", torch.float64)  # S×L×H×B
        if not bool(torch.isfinite(values).all()):  # a NaN anywhere in a text's rows reaches its entropy
            raise ModelError(f"{self.resolved.name} gave non-finite attention weights on texts "
                             f"{ready[0].item.index}–{ready[-1].item.index}: the model's weights are broken.")
        if any(p.item.heads is not None for p in ready):
            if out.dependencies is None:
                out.dependencies = DependencyCounts(self.layers, self.heads)
            add_dependencies(out.dependencies, ready, torch.stack(argmaxes))
        return values


@dataclass(frozen=True)
class Masks:
    rows: torch.Tensor  # B×N: real pieces (padding 0)
    n: torch.Tensor  # B
    roles: torch.Tensor  # B×N×3: [CLS], other specials, punctuation columns
    kept: torch.Tensor  # B×N: non-special real pieces
    columns: torch.Tensor  # B×N×(4+M): roles, kept and cols_to_words side by side (one product with A gives all)
    rows_to_words: torch.Tensor  # B×M×N: 1/(pieces of word w) where piece i is in word w
    cols_to_words: torch.Tensor  # B×N×M: 1 where piece j is in word w
    words: torch.Tensor  # B×M: real words
    m: torch.Tensor  # B

    @classmethod
    def build(cls, ready: list[Prepared], cls_id: int | None, device: torch.device) -> Masks:
        b, n = len(ready), max(p.enc.n for p in ready)
        m = max(len(p.alignment.words) for p in ready)
        rows, kept, roles = torch.zeros(b, n), torch.zeros(b, n), torch.zeros(b, n, 3)
        to_rows, to_cols, words = torch.zeros(b, m, n), torch.zeros(b, n, m), torch.zeros(b, m)
        for i, p in enumerate(ready):
            rows[i, :p.enc.n] = 1
            first, others = special_roles(p.enc, cls_id)
            for column, positions in enumerate((first, others, punctuation_pieces(p.enc))):
                roles[i, positions, column] = 1
            for w, word in enumerate(p.alignment.words):
                to_rows[i, w, list(word.pieces)] = 1.0 / len(word.pieces)
                to_cols[i, list(word.pieces), w] = 1
            words[i, :len(p.alignment.words)] = 1
            kept[i, [q for q, s in enumerate(p.enc.special) if not s]] = 1  # nosep's columns, as AttentionViews.kept
        columns = torch.cat([roles, kept[..., None], to_cols], -1)
        return cls(*(t.to(device) for t in (rows, rows.sum(-1), roles, kept, columns, to_rows, to_cols, words,
                                            words.sum(-1))))


def norm_shares(attn: torch.Tensor, norms: torch.Tensor, masks: Masks) -> torch.Tensor:
    """α_ij ‖f_h(x_j)‖ with each row divided by its sum (B×H×N×N, from B×H×N×N weights and B×H×N norms); a row with
    nothing left becomes uniform over its text, as ``Contributions.norm_shares`` makes it."""
    shares = attn * norms[:, :, None, :]
    total = shares.sum(-1, keepdim=True)
    shares.div_(total.clamp_min(torch.finfo(attn.dtype).tiny))
    if bool(total.eq(0).any()):
        shares = torch.where(total > 0, shares, (masks.rows / masks.n[:, None])[:, None, None, :])
    return shares


def row_values(attn: torch.Tensor, masks: Masks) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """The statistics of one layer's rows (``ROW_STATS``, each B×H) of a B×H×N×N matrix, and the products of the
    matrix with the column sets (B×H×N×(4+M))."""
    rows, n = masks.rows[:, None, :], masks.n[:, None]
    # -Σ a log a with 0 log 0 = 0: a·log(max(a, tiny)) is xlogy's value for every normal float, at half its CPU time
    logs = attn.clamp_min(torch.finfo(attn.dtype).tiny).log_()
    entropy = (-torch.linalg.vecdot(attn, logs) * rows).sum(-1) / n
    products = attn @ masks.columns[:, None]  # B×H×N×(4+M): A times each column set, in one pass over A
    shares = (products[..., :3] * rows[..., None]).sum(-2) / n[..., None]  # B×H×3
    self_ = (torch.diagonal(attn, 0, -2, -1) * rows).sum(-1) / n
    pairs = rows[..., 1:]  # the rows (prev) and columns (next) that have a neighbour inside the text
    neighbours = (n - 1).clamp_min(1)
    prev = (torch.diagonal(attn, -1, -2, -1) * pairs).sum(-1) / neighbours
    next_ = (torch.diagonal(attn, 1, -2, -1) * pairs).sum(-1) / neighbours
    return {"entropy": entropy, "cls": shares[..., 0], "sep": shares[..., 1], "punct": shares[..., 2],
            "self": self_, "prev": prev, "next": next_}, products


def layer_values(attn: torch.Tensor, masks: Masks) -> tuple[torch.Tensor, torch.Tensor]:
    """One layer's attention (B×H×N×N) → its S×H×B per-text statistics and the word argmax (B×H×M)."""
    by_name, products = row_values(attn, masks)
    # reduced = P · nosep_linscale · Q: nosep_linscale's row i is row i over the non-special columns divided by
    # their sum t_i, so reduced = (P / t) · (A · Q), with Q zero on the special columns (no k×k copy of A is made)
    kept_total = products[..., 3:4]  # B×H×N×1
    if bool((kept_total[..., 0] * masks.kept[:, None]).eq(0).logical_and(masks.kept[:, None] > 0).any()):
        # a row with no attention left once the specials go becomes uniform (AttentionViews does the same)
        nosep = attn * masks.kept[:, None, None, :]
        total = nosep.sum(-1, keepdim=True)
        uniform = (masks.kept / masks.kept.sum(-1, keepdim=True))[:, None, None, :].expand_as(nosep)
        linscale = torch.where(total > 0, nosep / total.clamp_min(torch.finfo(attn.dtype).tiny), uniform)
        reduced = masks.rows_to_words[:, None] @ linscale @ masks.cols_to_words[:, None]
    else:
        scaled = masks.rows_to_words[:, None] / kept_total.clamp_min(torch.finfo(attn.dtype).tiny).transpose(-1, -2)
        reduced = scaled @ products[..., 4:]  # B×H×M×M
    # a real word's row sums to 1 over the real words and padding words' columns are 0 (and come after them), so
    # the argmax never lands on padding
    argmax = reduced.argmax(-1)  # B×H×M, ties to the leftmost word
    steps = (argmax - torch.arange(argmax.shape[-1], device=attn.device)).to(attn.dtype) * masks.words[:, None]
    m = masks.m[:, None]
    directed, absolute = steps.sum(-1) / m, steps.abs().sum(-1) / m
    by_name.update(distance_abs=absolute, distance_directed=directed, distance_abs_std=absolute / m,
                   distance_directed_std=directed / m)
    return torch.stack([by_name[s].transpose(0, 1) for s in STATS]), argmax  # S×H×B


def add_dependencies(counts: DependencyCounts, ready: list[Prepared], argmax: torch.Tensor) -> None:
    """Clark et al.'s dependency-head counts of one batch from the word argmax (L×B×H×M)."""
    b_idx, dep, head, relations, offsets = [], [], [], [], []
    for b, p in enumerate(ready):
        if p.item.heads is None or p.item.relations is None:
            continue
        unit = _unit_of_words(p)
        for w, (h, rel) in enumerate(zip(p.item.heads, p.item.relations, strict=True)):
            d, g = unit[w], (unit[h] if h >= 0 else None)
            if d is None or g is None or not rel or d == g:
                continue  # the root, a relation inside one unit, or words merged into one unit by on_mismatch="merge"
            b_idx.append(b)
            dep.append(d)
            head.append(g)
            relations.append(rel)
            offsets.append(g - d)
    if not relations:
        return
    device = argmax.device
    bi, di, hi = (torch.tensor(v, device=device) for v in (b_idx, dep, head))
    picked = argmax[:, bi]  # L×K×H×M
    from_dep = picked.gather(-1, di[None, :, None, None].expand(*picked.shape[:3], 1))[..., 0]  # L×K×H
    from_head = picked.gather(-1, hi[None, :, None, None].expand(*picked.shape[:3], 1))[..., 0]
    dep2head = (from_dep == hi[None, :, None]).permute(0, 2, 1).cpu()  # L×H×K
    head2dep = (from_head == di[None, :, None]).permute(0, 2, 1).cpu()
    counts.add(relations, dep2head, head2dep, offsets)


def _unit_of_words(p: Prepared) -> list[int | None]:
    """The aligned word (unit) each of the item's words is in: the same index, unless on_mismatch='merge' merged some."""
    assert p.item.words is not None
    if len(p.alignment.words) == len(p.item.words):
        return list(range(len(p.item.words)))
    text, pos, units = p.item.text.casefold(), 0, []
    for word in p.item.words:
        at = text.find(word.casefold(), pos)
        units.append(next((i for i, w in enumerate(p.alignment.words) if w.start <= at < w.end), None) if at >= 0 else None)
        pos = at + len(word) if at >= 0 else pos
    return units
