"""Head statistics over a corpus: batched, reduced on the device as it goes, merged exactly, on Ray when asked.

    cs = tw.corpus_stats(texts, model="all-MiniLM-L6-v2")
    cs.mean("prev"), cs.top("sep"), cs.example("prev", 3, 1), cs.dependencies.table()
"""

from __future__ import annotations

from .dependencies import DependencyCounts
from .inputs import Item, read_corpus
from .run import corpus_stats
from .stats import NORM_STATS, STATS, CorpusStats

__all__ = ["NORM_STATS", "STATS", "CorpusStats", "DependencyCounts", "Item", "corpus_stats", "read_corpus"]
