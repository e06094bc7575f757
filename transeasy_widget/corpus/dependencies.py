"""Dependency heads (Clark et al. 2019, "What Does BERT Look At?", section 4.2): each attention head as a parser.

On the word-level matrix R (``reduced``: specials left out, rows of a word's pieces averaged, columns summed), a head
predicts, for word i, the word it attends to most, argmax_j R[i, j] (ties: the leftmost). For each relation and head:

- ``dep2head``: the share of the relation's dependents whose prediction is their syntactic head;
- ``head2dep``: the share whose head's prediction is the dependent (the reverse direction);
- the baseline: always predicting the word at one fixed relative offset (head - dependent), the offset that is
  right most often for that relation.

Counts are integers, so partial counts of any split of a treebank add exactly.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import torch

from ..errors import InputError

DIRECTIONS = ("dep2head", "head2dep")


@dataclass
class Relation:
    total: int
    dep2head: torch.Tensor  # L×H int64: dependents whose most-attended word is their head
    head2dep: torch.Tensor  # L×H int64: dependents that their head attends to most
    offsets: Counter[int] = field(default_factory=Counter)  # head index - dependent index → count


@dataclass
class DependencyCounts:
    layers: int
    heads: int
    relations: dict[str, Relation] = field(default_factory=dict)

    def add(self, relations: list[str], dep2head: torch.Tensor, head2dep: torch.Tensor, offsets: list[int]) -> None:
        """One batch: per dependent word (K of them) its relation, whether each head got it (L×H×K bool), its offset."""
        for name in sorted(set(relations)):
            picks = torch.tensor([r == name for r in relations])
            rel = self.relations.setdefault(name, Relation(0, self._zeros(), self._zeros()))
            rel.total += int(picks.sum())
            rel.dep2head += dep2head[..., picks].sum(-1)
            rel.head2dep += head2dep[..., picks].sum(-1)
            rel.offsets.update(o for o, r in zip(offsets, relations, strict=True) if r == name)

    def _zeros(self) -> torch.Tensor:
        return torch.zeros(self.layers, self.heads, dtype=torch.int64)

    def merge(self, other: DependencyCounts) -> DependencyCounts:
        out = self.copy()
        for name, rel in other.relations.items():
            mine = out.relations.setdefault(name, Relation(0, self._zeros(), self._zeros()))
            mine.total += rel.total
            mine.dep2head += rel.dep2head
            mine.head2dep += rel.head2dep
            mine.offsets.update(rel.offsets)
        return out

    def copy(self) -> DependencyCounts:
        return DependencyCounts(self.layers, self.heads, {
            n: Relation(r.total, r.dep2head.clone(), r.head2dep.clone(), Counter(r.offsets)) for n, r in self.relations.items()})

    def state(self) -> dict[str, Any]:
        return {"layers": self.layers, "heads": self.heads,
                "relations": {n: {"total": r.total, "dep2head": r.dep2head, "head2dep": r.head2dep,
                                  "offsets": [[o, c] for o, c in sorted(r.offsets.items())]}
                              for n, r in self.relations.items()}}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> DependencyCounts:
        return cls(state["layers"], state["heads"], {
            n: Relation(r["total"], r["dep2head"], r["head2dep"], Counter({int(o): int(c) for o, c in r["offsets"]}))
            for n, r in state["relations"].items()})

    # -- reading ----------------------------------------------------------------------------------------------------
    def _relation(self, relation: str) -> Relation:
        if relation not in self.relations:
            raise InputError(f"No relation {relation!r} in the corpus: it has {', '.join(sorted(self.relations))}.")
        return self.relations[relation]

    def accuracy(self, relation: str, direction: str = "dep2head") -> torch.Tensor:
        """L×H: the share of the relation's dependents each head gets right in that direction."""
        if direction not in DIRECTIONS:
            raise InputError(f"direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}.")
        rel = self._relation(relation)
        return getattr(rel, direction).to(torch.float64) / rel.total

    def baseline(self, relation: str) -> tuple[int, float]:
        """(the best fixed offset head - dependent, its accuracy) for the relation; ties to the smaller offset."""
        rel = self._relation(relation)
        offset, count = min(rel.offsets.items(), key=lambda oc: (-oc[1], oc[0]))
        return offset, count / rel.total

    def best(self, relation: str) -> tuple[str, int, int, float]:
        """(direction, layer, head, accuracy) of the head that predicts the relation best, either direction."""
        found = []
        for direction in DIRECTIONS:
            acc = self.accuracy(relation, direction)
            i = int(torch.argmax(acc.flatten()))
            found.append((float(acc.flatten()[i]), -DIRECTIONS.index(direction), direction, i // self.heads, i % self.heads))
        value, _, direction, layer, head = max(found)
        return direction, layer, head, value

    def rows(self, min_count: int = 1) -> list[dict[str, Any]]:
        """One row per relation (most frequent first), as in Clark et al.'s Table 1."""
        out = []
        for name, rel in sorted(self.relations.items(), key=lambda nr: (-nr[1].total, nr[0])):
            if rel.total < min_count:
                continue
            direction, layer, head, acc = self.best(name)
            offset, base = self.baseline(name)
            out.append({"relation": name, "count": rel.total, "direction": direction, "layer": layer, "head": head,
                        "accuracy": acc, "baseline_offset": offset, "baseline": base})
        return out

    def table(self, min_count: int = 1) -> str:
        lines = [f"{'relation':<12} {'count':>6}  {'best head':<10} {'direction':<9} {'accuracy':>8}  "
                 f"{'baseline (offset)':>17}"]
        for r in self.rows(min_count):
            lines.append(f"{r['relation']:<12} {r['count']:>6}  {r['layer']}-{r['head']:<8} {r['direction']:<9} "
                         f"{100 * r['accuracy']:>7.1f}%  {100 * r['baseline']:>8.1f}% ({r['baseline_offset']:+d})")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<DependencyCounts: {len(self.relations)} relations, {sum(r.total for r in self.relations.values())} dependents>"
