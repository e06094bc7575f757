"""``analyze``: text → tokens → trace, and the Analysis object that every view and presenter reads."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from .models import Resolved, resolve
from .tokens import Encoding, check_text, check_vocabulary, encode
from .trace import FAMILIES, Trace, run_trace
from .trace.cache import DEFAULT_MB, check_budget
from .verify import TOLERANCE, Diffs, Verification, layer_diffs
from .words import Alignment, align, check_on_mismatch

if TYPE_CHECKING:
    import torch

    from .attention import AttentionViews, HiddenStates
    from .headstats import HeadStats
    from .interventions import Effect, Intervention
    from .logit_lens import LogitLens
    from .viz import Viz


class ModelOf:
    """``model``, ``tokenizer`` and ``family`` read from ``self.resolved`` (the resolved model)."""

    resolved: Resolved

    @property
    def model(self) -> Any:
        return self.resolved.model

    @property
    def tokenizer(self) -> Any:
        return self.resolved.tokenizer

    @property
    def family(self) -> str:
        return self.resolved.family


class Inputs(ModelOf):
    """What the views of an analysis read: the trace, the encoding, the model and tokenizer, the words.

    Views hold this, never the Analysis, so an Analysis is in no reference cycle: dropped, it is freed at once
    with its trace, while a view taken from it (``tw.analyze(text).attentions``) keeps working on its own.
    """

    def __init__(self, resolved: Resolved, encoding: Encoding, trace: Trace,
                 words: list[Any] | None, on_mismatch: str):
        self.resolved, self.encoding, self.trace = resolved, encoding, trace
        self.words, self.on_mismatch = words, on_mismatch

    @cached_property
    def alignment(self) -> Alignment:
        return align(self.encoding, self.words, self.on_mismatch)


class Analysis(ModelOf):
    """One text (or pair) through one model: its tokens, every stage of the forward pass, and its views."""

    def __init__(self, resolved: Resolved, encoding: Encoding, trace: Trace,
                 words: Sequence[str] | Sequence[Sequence[str]] | None = None, on_mismatch: str = "error",
                 source: Analysis | None = None, interventions: Sequence[Intervention] = ()):
        self.resolved = resolved
        self.source = source  # the analysis this one was made from by ablate() or patch(); None for analyze()
        self.interventions: tuple[Intervention, ...] = tuple(interventions)
        self.encoding = encoding
        self.trace = trace
        self.words_given = None if words is None else list(words)
        self.on_mismatch = check_on_mismatch(on_mismatch)
        self._diffs: Diffs | None = None
        self.inputs = Inputs(resolved, encoding, trace, self.words_given, self.on_mismatch)

    @property
    def model_name(self) -> str:
        return self.resolved.name

    @property
    def text(self) -> str:
        return self.encoding.text

    @property
    def text_pair(self) -> str | None:
        return self.encoding.text_pair

    @property
    def tokens(self) -> list[str]:
        """Word pieces, special tokens included."""
        return list(self.encoding.tokens)

    @cached_property
    def alignment(self) -> Alignment:
        """The words (TransEasy's whitespace words, or ``words=``) and their pieces, aligned by character offsets."""
        return self.inputs.alignment

    @cached_property
    def attentions(self) -> AttentionViews:
        """raw, nosep, nosep_linscale, nosep_softmax_scale, reduced (word level): one layer computed on request
        (``attentions.layer(variant, l)``, H×m×m), or every layer stacked (``attentions.raw``, L×H×m×m)."""
        from .attention import AttentionViews

        inputs = self.inputs  # not self: no reference cycle (see Inputs)
        return AttentionViews.of_trace(self.trace, self.encoding, lambda: inputs.alignment, inputs=inputs)

    @cached_property
    def head_stats(self) -> HeadStats:
        """Per-head statistics (L×H each): entropy, shares to [CLS]/[SEP]/punctuation/self/prev/next, distances."""
        from .headstats import HeadStats

        return HeadStats(self.attentions, getattr(self.tokenizer, "cls_token_id", None))

    @cached_property
    def hidden_states(self) -> HiddenStates:
        """``last`` (n×d) and ``all`` (L×n×d) layer outputs."""
        from .attention import HiddenStates

        return HiddenStates(self.trace.manual_hiddens)

    @cached_property
    def viz(self) -> Viz:
        """Matplotlib figures of one head: ``a.viz.nosep_linscale_reduced(layer, head).savefig(...)``."""
        from .viz import Viz

        return Viz(self.attentions)

    def verify(self, tolerance: float = TOLERANCE) -> Verification:
        """Per layer, max |manual - model| of the hidden states and the attentions: the model runs once (the first
        call), then each layer's attention is recomputed and compared in turn. NaN or inf anywhere fails."""
        if self._diffs is None:
            self._diffs = layer_diffs(self.trace)
        return Verification(*self._diffs, tolerance=tolerance)

    def logit_lens(self, k: int = 5) -> LogitLens:
        """Each hidden state read out as the model reads its last: the top-k next tokens (decoders: final norm and
        unembedding; encoders: the MLM head of a …ForMaskedLM) and their probabilities, per layer and position."""
        from .logit_lens import logit_lens

        return logit_lens(self, k)

    # -- interventions (interventions.py) ------------------------------------------------------------------------
    def ablate(self, heads: Any, mode: str = "zero", corpus: Sequence[str] | None = None) -> Analysis:
        """A new analysis with heads ablated, ``heads=[(layer, head), ...]``: each head's context vectors (its slice
        of the attention output before W_O) set to zero (``mode="zero"``) or to their mean over this text's positions
        (``mode="mean"``; over every position of the texts of ``corpus=`` where given). Recomputed from the first
        ablated layer on; the layers before it are this analysis's own. ``.effect()`` says what changed."""
        from .interventions import ablate

        return ablate(self, heads, mode, corpus)

    def patch(self, stage: str, layer: int, value: Any, head: int | None = None, positions: Any = None) -> Analysis:
        """A new analysis with one stage of one layer replaced: by ``value`` (a tensor of the slice's shape, or one
        that broadcasts to it), or by the same stage of another analysis (activation patching; equal token counts,
        or ``positions=[...]`` / ``positions={this: other}``). ``head``: that head's slice only; ``positions``: those
        rows only (the query rows of an n×n stage). ``manual_hiddens`` takes a hidden-state index (0: X_0)."""
        from .interventions import patch

        return patch(self, stage, layer, value, head, positions)

    @property
    def ablated(self) -> list[tuple[int, int, str]]:
        """The heads ablated in this analysis, as (layer, head, mode)."""
        return [iv.ablation for iv in self.interventions if iv.ablation is not None]

    def effect(self, before: Analysis | None = None, token: int | str | None = None, position: Any = None,
               k: int = 5) -> Effect:
        """What changed from ``before`` (default: the analysis this one was ablated or patched from) to this one:
        the cosine of each hidden state before/after and, for a model with an LM or MLM head, the top-k tokens and
        ``token``'s probability before and after at ``position`` (default: the last for decoders, the [MASK]s)."""
        from .interventions import effect

        return effect(self, before, token, position, k)

    def ablation_importance(self, layers: Sequence[int] | None = None, mode: str = "zero", metric: str | None = None,
                            token: int | str | None = None, position: Any = None,
                            corpus: Sequence[str] | None = None) -> torch.Tensor:
        """Every head of ``layers`` (default: all) ablated alone, scored by ``metric`` ("kl", the default with an
        output head; "prob", the drop in ``token``'s probability; "cosine", 1 − cos of the last hidden state, the
        default for bare encoders): an L×H tensor (NaN in the rows of layers not asked for). Each ablation
        recomputes its layer's attention output onwards, never the layers before it.

        The result is also kept as the head statistic "ablation" (``a.head_stats["ablation"]``), so that
        ``a.dashboard("ablation")`` shows it in its layer × head grid."""
        from .interventions import ablation_importance, describe_importance

        values, metric = ablation_importance(self, layers, mode, metric, token, position, corpus)
        self.head_stats.add("ablation", values, describe_importance(metric, mode, token, corpus))
        return values

    def summary(self) -> str:
        s = self.trace.sizes
        text = repr(self.text) if self.text_pair is None else f"{self.text!r} + {self.text_pair!r}"
        lines = [
            f"model     {self.model_name} ({self.family}: {s['L']} layers × {s['H']} heads"
            + (f" sharing {s['Hkv']} key/value heads" if s["Hkv"] != s["H"] else "") + f", hidden {s['d']}, "
            f"head size {s['dh']}, feed-forward {s['f']}" + (f", embeddings {s['e']}" if s['e'] != s['d'] else "") + ")",
            f"text      {text}",
            f"tokens    {s['n']}: {' '.join(self.tokens)}",
            "stages    " + ", ".join(f"{g} {len(names)}" for g, names in self.trace.groups.items()),
        ]
        shown = ("preemb_norm_sum_emb", "preemb_sum_emb", "preemb_word_emb", "selfattn_query_hidden",
                 "selfattn_attention", "ffnn_dense_act", "ffnn_glu_hidden", "manual_hiddens", "final_logits")
        stages = {st.name: st for st in self.trace.stages}
        first_x0 = next(name for name in shown[:3] if name in stages)  # X_0 (or what precedes it) of this family
        for name in (first_x0, *(n for n in shown[3:] if n in stages)):
            stage = stages[name]
            shape = "×".join(f"{d}={v}" for d, v in zip(stage.dims, self.trace.shape(name), strict=True))
            lines.append(f"  {name:<24} {shape}")
        return "\n".join(lines)

    def widget(self, **selection: Any) -> Any:
        """The linked attention widget of this analysis: one per analysis, so ``a.widget().head`` is what the
        view shows. Keywords set the selection: ``a.widget(layer=3, head=7, variant="reduced")``."""
        if getattr(self, "_widget", None) is None:
            from .widget import AttentionWidget

            self._widget = AttentionWidget(self)
        return self._widget.select(**selection)

    def save_html(self, path: Any, **options: Any) -> Any:
        """A self-contained page of this analysis's widget as it is now (``export_html``'s options); its path."""
        return self.widget().save_html(path, **options)

    def dashboard(self, stat: str = "entropy", line: str = "mean entropy", by_norm: bool = False) -> Any:
        """The widget beside bqplot panels (a layer×head grid of ``stat``, a per-layer ``line``), linked both ways;
        ``by_norm``: the grid of ``stat`` read on the norm-based view beside it (``dashboard.py``)."""
        from .dashboard import Dashboard

        return Dashboard(self, stat, line, by_norm)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> Any:
        return self.widget()._repr_mimebundle_(include=include, exclude=exclude)

    def __repr__(self) -> str:
        edits = f"; {'; '.join(iv.label for iv in self.interventions)}" if self.interventions else ""
        return f"<Analysis of {self.text!r}: {self.model_name}, {len(self.tokens)} tokens{edits}>"


def analyze(text: str, text_pair: str | None = None, *, model: Any = None, tokenizer: Any = None,
            words: Sequence[str] | Sequence[Sequence[str]] | None = None, on_mismatch: str = "error",
            truncate: bool = False, cache_mb: float = DEFAULT_MB) -> Analysis:
    """Trace one text (or a pair) through a model, every stage by hand.

    ``model``: None (bert-base-uncased, or the offline MiniLM where that cannot be loaded), a name, a local
    path, or a model object (then pass ``tokenizer`` too, unless it is saved beside the model).
    ``truncate=True`` keeps the first tokens that fit the model's position table instead of raising.
    ``words``: the words for the word-level views (default: the text's whitespace-separated words, as TransEasy);
    for a pair, one list through both texts or a pair of lists. ``on_mismatch="merge"`` merges words that a piece
    straddles into one unit instead of raising :class:`AlignmentError` (``a.alignment.notes`` says which).
    ``cache_mb``: how many MB of computed layers the trace keeps (least recently used out; ``a.trace.cache``).
    The trace keeps the hidden states X_0 … X_L; any other stage of a layer is recomputed from X_l when asked for.
    """
    check_text(text, "The text")  # before any model is loaded
    check_on_mismatch(on_mismatch)
    check_budget(cache_mb)
    if text_pair is not None:
        check_text(text_pair, "The second text (text_pair)")
    resolved = resolve(model, tokenizer)
    adapter = FAMILIES[resolved.family]
    check_vocabulary(resolved.tokenizer, int(resolved.model.config.vocab_size), resolved.name)
    enc = encode(resolved.tokenizer, text, text_pair, adapter.max_tokens(resolved.model), resolved.name, truncate)
    if words is not None:  # a word list that does not fit fails before the trace runs
        align(enc, words, on_mismatch)
    trace = run_trace(resolved.model, resolved.tokenizer, resolved.family, enc, cache_mb)
    return Analysis(resolved, enc, trace, words, on_mismatch)
