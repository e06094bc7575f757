"""The logit lens (nostalgebraist 2020): every layer's residual stream read out as if it were the last.

For a decoder, hidden state X_i (i = 0 the embeddings, i = l + 1 the output of layer l) goes through the model's
final norm and unembedding, ``softmax(norm(X_i) @ W_U)``: row i = L is exactly the model's own next-token
distribution. For an encoder task model with a masked-language-model head (BertForMaskedLM, RobertaForMaskedLM,
DistilBertForMaskedLM, AlbertForMaskedLM, ElectraForMaskedLM), X_i goes through that head (the model's own
module), so each layer's predictions for a [MASK] show how they form; the last row is the model's own logits.

One layer's logits (n×V) are computed at a time, so the lens never holds (L+1)×n×V numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from .errors import InputError, ModelError, check_index
from .stages import DECODERS
from .trace.decoder import normalize

Tensor = torch.Tensor


def _mlm_head(task: Any) -> Callable[[Tensor], Tensor] | None:
    """The masked-language-model head of an encoder task model (its own modules), or None where it has none."""
    if task is None or not type(task).__name__.endswith("ForMaskedLM"):
        return None
    if hasattr(task, "cls"):  # BERT
        return task.cls  # type: ignore[no-any-return]
    if hasattr(task, "lm_head"):  # RoBERTa, XLM-RoBERTa
        return task.lm_head  # type: ignore[no-any-return]
    if hasattr(task, "predictions"):  # ALBERT
        return task.predictions  # type: ignore[no-any-return]
    if hasattr(task, "vocab_projector"):  # DistilBERT
        return lambda h: task.vocab_projector(task.vocab_layer_norm(task.activation(task.vocab_transform(h))))
    if hasattr(task, "generator_lm_head"):  # ELECTRA's generator
        return lambda h: task.generator_lm_head(task.generator_predictions(h))
    return None


def lens_readout(a: Any) -> Callable[[Tensor], Tensor]:
    """hidden state (n×d) → logits (n×V), the way the model reads out its last one."""
    t = a.trace
    if a.family in DECODERS:
        if "final_unembed_weight" not in t:
            raise ModelError(
                f"This {type(a.model).__name__} has no unembedding (no LM head, and its word embeddings are not tied "
                "to one): load it as a causal language model (AutoModelForCausalLM) for the logit lens.")
        norm = _final_norm(a.model)
        weight = t.final_unembed_weight.t()
        head = a.model.get_output_embeddings() if hasattr(a.model, "get_output_embeddings") else None
        bias = getattr(head, "bias", None)
        return lambda h: torch.nn.functional.linear(normalize(h, norm)[0], weight, bias)
    head_fn = _mlm_head(getattr(a.resolved, "task_model", None))
    if head_fn is None:
        raise ModelError(
            f"The logit lens reads hidden states through the model's own output head, and this {a.family} model has "
            "none: pass the task model with its masked-language-model head, e.g. "
            "tw.analyze(text, model=BertForMaskedLM.from_pretrained(...), tokenizer=...).")
    return head_fn


def _final_norm(model: Any) -> Any:
    base = getattr(model, getattr(model, "base_model_prefix", ""), model)
    return base.ln_f if hasattr(base, "ln_f") else base.norm  # GPT-2's ln_f, the Llama family's norm


def lens_logits(a: Any, index: int) -> Tensor:
    """The logits (n×V) of hidden state X_index (0: the embeddings; L: the last layer's output)."""
    hiddens = a.trace.manual_hiddens
    index = check_index("hidden state", index, hiddens.shape[0])
    with torch.inference_mode():
        return lens_readout(a)(hiddens[index])


@dataclass(frozen=True)
class LogitLens:
    """The top-k tokens of every hidden state (rows: embeddings, then each layer's output) at every position.

    ``ids``, ``probs``: (L+1)×n×k tensors, most likely first; ``tokens``: the same ids as strings;
    ``rows``: the row labels ("emb", then the layer whose output the row reads); ``table()``: a readable grid.
    """

    ids: Tensor
    probs: Tensor
    tokens: list[list[list[str]]]
    input_tokens: list[str]
    rows: list[str]
    what: str  # "next token" (decoders) or "token" (encoders' MLM head: the token at the position itself)

    @property
    def k(self) -> int:
        return int(self.ids.shape[-1])

    def top(self, layer: int, position: int) -> list[tuple[str, float]]:
        """The k tokens and probabilities of one row (``layer`` counts rows: -1 the model's output) and position."""
        layer = check_index("row", layer, len(self.rows))
        position = check_index("position", position, len(self.input_tokens))
        return [(tok, float(p)) for tok, p in zip(self.tokens[layer][position], self.probs[layer, position], strict=True)]

    def table(self, positions: Sequence[int] | None = None, width: int = 12) -> str:
        """Rows: hidden states; columns: positions (default: the last 8); each cell the top token and its probability."""
        n = len(self.input_tokens)
        cols = list(range(max(0, n - 8), n)) if positions is None else [check_index("position", p, n) for p in positions]

        def cell(token: str, suffix: str = "") -> str:
            room = width - len(suffix)
            text = repr(token)[1:-1]  # escapes newlines and tabs, so the grid stays a grid
            text = text[: room - 1] + "…" if len(text) > room else text
            return (text + suffix).ljust(width)

        head = f"{'':>6} " + " ".join(cell(self.input_tokens[c]) for c in cols)
        where = "after each position" if self.what == "next token" else "at each position"
        lines = [f"logit lens: the top {self.what} {where} (columns), read from each hidden state (rows)", head]
        for r, label in enumerate(self.rows):
            lines.append(f"{label:>6} " + " ".join(
                cell(self.tokens[r][c][0], f" {float(self.probs[r, c, 0]):.2f}") for c in cols))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.table()


def logit_lens(a: Any, k: int = 5) -> LogitLens:
    """Top-k tokens and probabilities of every hidden state at every position (see the module's docstring)."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InputError(f"k must be a positive integer, got {k!r}.")
    readout = lens_readout(a)
    hiddens = a.trace.manual_hiddens
    ids, probs = [], []
    with torch.inference_mode():
        for i in range(hiddens.shape[0]):
            p = torch.softmax(readout(hiddens[i]).float(), dim=-1)
            best = p.topk(min(k, p.shape[-1]), dim=-1)
            ids.append(best.indices)
            probs.append(best.values)
    ids_t, probs_t = torch.stack(ids).cpu(), torch.stack(probs).cpu()
    convert = a.tokenizer.convert_ids_to_tokens
    tokens = [[convert(row.tolist()) for row in layer] for layer in ids_t]
    rows = ["emb", *(str(layer) for layer in range(hiddens.shape[0] - 1))]
    return LogitLens(ids_t, probs_t, tokens, list(a.tokens), rows, "next token" if a.family in DECODERS else "token")
