"""transeasy-widget: a glass box for BERT-style language models, inside the notebook.

    import transeasy_widget as tw
    a = tw.analyze("The cat sat on the mat.")
    a.trace.selfattn_query_hidden, a.verify()
"""

from __future__ import annotations

from .analysis import Analysis, analyze
from .compare import Comparison, compare
from .corpus import CorpusStats, corpus_stats
from .errors import (
    AlignmentError,
    InputError,
    InterventionError,
    ModelError,
    TransEasyError,
    UnsupportedModelError,
)
from .stages import REGISTRY, STAGES, Stage
from .trace import SUPPORTED, Trace
from .verify import Verification

__version__ = "0.1.0"

__all__ = [
    "REGISTRY", "STAGES", "SUPPORTED", "AlignmentError", "Analysis", "Comparison", "CorpusStats", "InputError",
    "InterventionError", "ModelError", "Stage", "Trace",
    "TransEasyError", "UnsupportedModelError", "Verification", "__version__", "analyze", "compare", "corpus_stats",
]
