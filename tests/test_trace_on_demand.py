"""The trace on demand: X_0 … X_L kept, any layer's stages recomputed bit-identically, a bounded cache, no pool.

"Up front" here is every stage of every layer computed in one pass by the model's own modules, called by the
test (``up_front``): the on-demand stages must be torch.equal to it, whatever order the layers are asked in.
"""

from __future__ import annotations

import gc
import json
import math
import weakref
from typing import Any

import pytest
import torch

import transeasy_widget as tw
from tests.conftest import random_bert, wordpiece_tokenizer
from tests.test_families import BERT_LAYER, CASES, PAIR, SINGLE, Family, Shape, _config, _seeded
from tests.test_families import FAMILIES as OTHERS
from transeasy_widget.trace import encoder as encoder_module
from transeasy_widget.trace.cache import nbytes
from transeasy_widget.trace.encoder import LAYER_STAGES, LayerStack


def _bert(shape: Shape, vocab: int, **kw: Any) -> Any:
    from transformers import BertConfig, BertModel

    cfg = _config(BertConfig, vocab_size=vocab, hidden_size=shape.hidden, num_hidden_layers=shape.layers,
                  num_attention_heads=shape.heads, intermediate_size=3 * shape.hidden + 4, max_position_embeddings=64,
                  **kw)
    return BertModel(cfg).eval()


# every family: test_families' five, and BERT itself
FAMILIES = {"bert": Family("bert", lambda: wordpiece_tokenizer(), _seeded(_bert), lambda m: list(m.encoder.layer),
                           BERT_LAYER, lambda m: None), **OTHERS}
ALL_CASES = [("bert", Shape(2, 4, 32, 32)), ("bert", Shape(3, 2, 48, 48)), *CASES]
# where each family keeps its activation function (the other parts: test_families' tables)
ACT = {"distilbert": "ffn.activation", "albert": "activation"}


def _module(root: Any, path: str) -> Any:
    for part in path.split("."):
        root = getattr(root, part)
    return root


def layer_runs(name: str, model: Any, shape: Shape) -> list[Any]:
    """The layer modules in the order the model runs them (ALBERT: shared ones, repeated)."""
    distinct = FAMILIES[name].layers(model)
    if name != "albert":
        return distinct
    per_group = shape.layers // shape.groups
    return [distinct[(i // per_group) * shape.inner + j] for i in range(shape.layers) for j in range(shape.inner)]


def up_front(name: str, model: Any, shape: Shape, x0: torch.Tensor, heads: int) -> list[dict[str, torch.Tensor]]:
    """Every stage of every layer, computed in one pass from X_0 by the model's own modules."""
    paths = FAMILIES[name].paths
    n, d = x0.shape
    dh = d // heads

    def per_head(t: torch.Tensor) -> torch.Tensor:
        return t.view(n, heads, dh).transpose(0, 1)

    out, x = [], x0
    with torch.no_grad():
        for layer in layer_runs(name, model, shape):
            part = {key: _module(layer, path) for key, path in paths.items()}
            act = _module(layer, ACT.get(name, "intermediate.intermediate_act_fn"))
            scaling = _module(layer, paths["q"].rsplit(".", 1)[0] + ".scaling")
            q, k, v = part["q"](x), part["k"](x), part["v"](x)
            qkt = per_head(q) @ per_head(k).transpose(1, 2)
            scaled = qkt * scaling
            attention = scaled.softmax(-1)
            concat = (attention @ per_head(v)).transpose(0, 1).reshape(n, d)
            dense1 = part["attn_out"](concat)
            add1 = dense1 + x
            norm1 = part["norm1"](add1)
            ffn = part["ffn_in"](norm1)
            ffn_act = act(ffn)
            dense2 = part["ffn_out"](ffn_act)
            add2 = dense2 + norm1
            x = part["norm2"](add2)
            out.append({
                "selfattn_query_hidden": per_head(q), "selfattn_key_hidden": per_head(k),
                "selfattn_value_hidden": per_head(v), "selfattn_qkt_hidden": qkt, "selfattn_qkt_scale_hidden": scaled,
                "selfattn_qkt_scale_soft_hidden": attention, "selfattn_attention": attention,
                "selfattn_contvec": per_head(concat), "selfattn_contvec_concat": concat,
                "addnorm1_dense_hidden": dense1, "addnorm1_add_hidden": add1, "addnorm1_norm_hidden": norm1,
                "ffnn_dense_hidden": ffn, "ffnn_dense_act": ffn_act, "addnorm2_dense_hidden": dense2,
                "addnorm2_add_hidden": add2, "addnorm2_norm_hidden": x})
    return out


# --- bit-identical on demand, every family, every stage --------------------------------------------------------

@pytest.mark.parametrize("texts", [SINGLE, PAIR], ids=["single", "pair"])
@pytest.mark.parametrize(("name", "shape"), ALL_CASES, ids=[f"{n}-{s}" for n, s in ALL_CASES])
def test_every_stage_on_demand_is_bit_identical_to_computing_everything_up_front(name, shape, texts):
    family = FAMILIES[name]
    tokenizer = family.tokenizer()
    model = family.build(shape, len(tokenizer))
    a = tw.analyze(*texts, model=model, tokenizer=tokenizer, cache_mb=0)  # no cache: each access recomputes
    assert a.family == name
    t = a.trace
    expected = up_front(name, model, shape, t.manual_hiddens[0], t.sizes["H"])
    assert set(expected[0]) == set(LAYER_STAGES)
    for layer, stages in enumerate(expected):  # the residual stream kept by analyze is the up-front one
        assert torch.equal(t.manual_hiddens[layer + 1], stages["addnorm2_norm_hidden"]), layer
    # layers asked for out of order, twice (recomputed each time), one at a time and by full shape
    for layer in [*reversed(range(t.sizes["L"])), *range(t.sizes["L"])]:
        one = t.layer(layer)
        for stage in LAYER_STAGES:
            assert torch.equal(one[stage], expected[layer][stage]), (stage, layer)
            assert torch.equal(t[stage, layer], expected[layer][stage]), (stage, layer)
    for stage in LAYER_STAGES:
        assert torch.equal(t[stage], torch.stack([e[stage] for e in expected])), stage


# --- per-layer access ------------------------------------------------------------------------------------------

def count_calls(monkeypatch: pytest.MonkeyPatch, *parts: str) -> dict[str, int]:
    """Counts the calls of the encoder's ``<part>_stages`` functions, for each part named."""
    calls = dict.fromkeys(parts, 0)

    def counting(part: str) -> Any:
        original = getattr(encoder_module, f"{part}_stages")

        def run(*args: Any) -> dict[str, torch.Tensor]:
            calls[part] += 1
            return original(*args)  # type: ignore[no-any-return]
        return run

    for part in parts:
        monkeypatch.setattr(encoder_module, f"{part}_stages", counting(part))
    return calls


@pytest.fixture()
def counted(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Counts the layer computations: their first part (up to the attention weights) and the rest."""
    return count_calls(monkeypatch, "attention", "rest")


def test_one_layer_is_computed_once_and_alone(word_tokenizer, counted):
    model = random_bert(4, 4, 32, vocab=len(word_tokenizer))
    a = tw.analyze(SINGLE[0], model=model, tokenizer=word_tokenizer)
    assert counted == {"attention": 4, "rest": 4}  # the pass that computes X_1 … X_4
    t, n = a.trace, a.trace.sizes["n"]
    q = t.layer(3).selfattn_query_hidden
    assert q.shape == (4, n, 8) and t.cache.layers == [3]
    assert counted == {"attention": 5, "rest": 4}  # that far only: the attention weights need no feed-forward
    assert torch.equal(t["selfattn_query_hidden", 3], q) and t["selfattn_attention", -1].shape == (4, n, n)
    assert t.layer(3).ffnn_dense_act.shape == (n, 128)
    assert counted == {"attention": 5, "rest": 5}  # the rest of the layer, from its attention part in the cache
    _ = t.layer(3).selfattn_value_hidden, t["addnorm1_norm_hidden", 3]
    assert counted == {"attention": 5, "rest": 5}
    assert t.layer(3).selfattn_query_weight is t.selfattn_query_weight[3]  # weights: the kept views
    assert torch.equal(t.layer(3).output, t.manual_hiddens[4]) and torch.equal(t.layer(3).input, t.manual_hiddens[3])
    assert torch.equal(t["manual_hiddens", 4], t.manual_hiddens[4])
    _ = t.selfattn_query_hidden  # the full shape: every layer (layer 3 from the cache)
    assert counted == {"attention": 8, "rest": 5}
    _ = t.ffnn_dense_act
    assert counted == {"attention": 8, "rest": 8}


def test_the_attention_block_is_computed_without_the_feed_forward(word_tokenizer, monkeypatch):
    calls = count_calls(monkeypatch, "block", "ffn")
    model = random_bert(3, 4, 32, vocab=len(word_tokenizer))
    a = tw.analyze(SINGLE[0], model=model, tokenizer=word_tokenizer)
    full = tw.analyze(SINGLE[0], model=model, tokenizer=word_tokenizer).trace.layer_stages(2)  # the whole layer
    t, before = a.trace, dict(calls)
    norm1 = t["addnorm1_norm_hidden", 2]  # what the contribution views read: the block, no feed-forward
    assert calls == {"block": before["block"] + 1, "ffn": before["ffn"]}
    assert not any(name.startswith(("ffnn", "addnorm2")) for name in t.layer_stages(2, block_only=True))
    assert torch.equal(norm1, full["addnorm1_norm_hidden"])
    assert torch.equal(t["ffnn_dense_act", 2], full["ffnn_dense_act"])  # then the feed-forward from the held block
    assert calls == {"block": before["block"] + 1, "ffn": before["ffn"] + 1}
    assert torch.equal(t["addnorm2_norm_hidden", 2], t.manual_hiddens[3])


def test_per_layer_access_refuses_what_it_cannot_give(word_tokenizer):
    a = tw.analyze(SINGLE[0], model=random_bert(2, 4, 32, vocab=len(word_tokenizer)), tokenizer=word_tokenizer)
    t = a.trace
    with pytest.raises(tw.InputError, match=r"layer 2 is out of range: this model has 2"):
        t.layer(2)
    with pytest.raises(tw.InputError, match="layer 5 is out of range"):
        t["selfattn_attention", 5]
    with pytest.raises(KeyError, match="preemb_word_emb has no layer axis"):
        t["preemb_word_emb", 0]
    with pytest.raises(AttributeError, match=r"not a stage of one layer .* \.input / \.output"):
        _ = t.layer(0).manual_hiddens
    with pytest.raises(AttributeError, match="Did you mean selfattn_query_hidden"):
        _ = t.layer(0).selfattn_query_hiden
    assert "selfattn_attention" in t.layer(0) and "selfattn_attention" in dir(t.layer(0))


# --- the cache -------------------------------------------------------------------------------------------------

def _layer_mb(t: Any) -> float:
    return nbytes(t.layer_stages(0)) / 2**20


def test_the_cache_keeps_the_most_recently_used_layers_within_its_budget(word_tokenizer, counted):
    model = random_bert(6, 4, 32, vocab=len(word_tokenizer))
    a = tw.analyze(SINGLE[0], model=model, tokenizer=word_tokenizer)
    t = a.trace
    t.cache.clear()
    per_layer = _layer_mb(t)
    t.cache.clear()
    t.cache.budget_mb = 2.5 * per_layer  # two whole layers
    for layer in (0, 1, 2, 0, 3):
        _ = t.layer(layer).ffnn_dense_act
    assert t.cache.layers == [0, 3] and t.cache.nbytes <= t.cache.budget_mb * 2**20
    before = counted["attention"]
    _ = t.layer(0).selfattn_attention, t.layer(3).selfattn_attention
    assert counted["attention"] == before  # both held
    _ = t.layer(1).ffnn_dense_act
    assert counted["attention"] == before + 1 and t.cache.layers == [3, 1]
    t.cache.budget_mb = 1.2 * per_layer  # shrinking evicts at once
    assert t.cache.layers == [1]
    t.cache.budget_mb = per_layer / 10  # a layer larger than the budget is kept alone, as the last one computed
    assert t.cache.layers == [1]
    t.cache.budget_mb = 0
    assert t.cache.layers == [] and t.cache.nbytes == 0
    _ = t.layer(2).selfattn_attention
    assert t.cache.layers == [] and "0 MB" in repr(t.cache)


def test_the_cache_budget_is_checked_before_any_work(word_tokenizer):
    for bad in (-1, float("nan"), "big", True):
        with pytest.raises(tw.InputError, match="cache_mb is the MB of computed layers"):
            tw.analyze("the cat", model="no/such/model", tokenizer=word_tokenizer, cache_mb=bad)
    a = tw.analyze("the cat", model=random_bert(2, 4, 32, vocab=len(word_tokenizer)), tokenizer=word_tokenizer,
                   cache_mb=7)
    assert a.trace.cache.budget_mb == 7
    with pytest.raises(tw.InputError):
        a.trace.cache.budget_mb = -3


def test_a_layer_object_holds_its_stages_while_the_cache_keeps_none(word_tokenizer, counted):
    a = tw.analyze(SINGLE[0], model=random_bert(2, 4, 32, vocab=len(word_tokenizer)), tokenizer=word_tokenizer,
                   cache_mb=0)
    before = dict(counted)
    one = a.trace.layer(1)
    _ = one.selfattn_query_hidden, one.selfattn_attention, one.ffnn_dense_act, one.addnorm1_add_hidden
    assert counted == {"attention": before["attention"] + 1, "rest": before["rest"] + 1}


# --- memory: nothing outlives an analysis; nothing a user keeps is overwritten -----------------------------------

def test_a_kept_tensor_is_never_overwritten(word_tokenizer):
    model = random_bert(3, 4, 32, vocab=len(word_tokenizer), max_pos=128)
    a = tw.analyze(SINGLE[0], model=model, tokenizer=word_tokenizer, cache_mb=0.01)
    kept = {name: a.trace[name, 0] for name in ("selfattn_attention", "ffnn_dense_act", "selfattn_query_hidden")}
    whole, hiddens = a.trace.selfattn_attention, a.trace.manual_hiddens
    copies = {name: t.clone() for name, t in kept.items()}
    whole_copy, hiddens_copy = whole.clone(), hiddens.clone()
    for layer in (1, 2, 0, 1):  # evictions and recomputations within the analysis
        _ = a.trace.layer(layer).selfattn_attention
    del a
    gc.collect()
    for text in (PAIR[0], SINGLE[0] * 3, "the cat sat on the mat"):  # later analyses, same and other sizes
        b = tw.analyze(text, model=model, tokenizer=word_tokenizer, truncate=True)
        _ = b.trace.selfattn_attention, b.attentions.reduced, b.head_stats["entropy"]
        del b
        gc.collect()
    for name, t in kept.items():
        assert torch.equal(t, copies[name]), name
    assert torch.equal(whole, whole_copy) and torch.equal(hiddens, hiddens_copy)


def test_a_dropped_analysis_is_freed_at_once_with_its_trace(word_tokenizer):
    a = tw.analyze(SINGLE[0], model=random_bert(2, 4, 32, vocab=len(word_tokenizer)), tokenizer=word_tokenizer)
    _ = a.attentions.layer("reduced", 1), a.head_stats["prev"], a.verify(), a.trace.layer(0).selfattn_attention
    trace, views = weakref.ref(a.trace), weakref.ref(a.attentions)
    gc.disable()  # no reference cycle: reference counting alone frees them
    try:
        del a
        assert trace() is None and views() is None
    finally:
        gc.enable()


def test_a_dropped_trace_gives_its_memory_back_to_the_system(word_tokenizer, monkeypatch):
    from transeasy_widget.trace import memory

    trims: list[int] = []
    monkeypatch.setattr(memory, "_TRIM", trims.append)
    a = tw.analyze(SINGLE[0], model=random_bert(2, 4, 32, vocab=len(word_tokenizer)), tokenizer=word_tokenizer)
    _ = a.trace.layer(1).ffnn_dense_act, a.trace.pipeline_attns
    kept = a.trace.layer(0).selfattn_attention
    copy = kept.clone()
    cache, values = a.trace.cache, a.trace._values
    del a
    assert trims == [0] and cache.layers == [] and values == {}  # the trace's references gone, then malloc_trim
    assert torch.equal(kept, copy)  # what the user holds stays


def _rss() -> int:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmRSS:"))


def test_resident_memory_comes_back_after_200_dropped_analyses():
    """Like a loop over a corpus that keeps nothing: the first analysis (the longest text) sets the mark."""
    tok = wordpiece_tokenizer()
    model = random_bert(2, 8, 64, vocab=len(tok), max_pos=512)
    words = "the cat sat on the mat because it was tired , understanding".split()
    texts = [" ".join(words * (40 if i == 0 else 2 + i % 29)) for i in range(200)]  # 512, then 26 … 362 tokens
    after_first = None
    for i, text in enumerate(texts):
        a = tw.analyze(text, model=model, tokenizer=tok, truncate=True)
        _ = a.trace.layer(i % 2).selfattn_attention, a.attentions.layer("reduced", 1)
        if i % 25 == 0:
            _ = a.head_stats["entropy"], a.verify(), a.trace.ffnn_dense_act
        del a
        if after_first is None:
            after_first = _rss()
    grown = (_rss() - after_first) / 2**20
    assert grown < 100, f"resident memory grew by {grown:.0f} MB over 200 dropped analyses"


# --- weight stages behave as tensors ---------------------------------------------------------------------------

def test_weight_stages_behave_as_tensors_without_copying_the_weights_up_front(word_tokenizer):
    model = random_bert(3, 4, 32, vocab=len(word_tokenizer))
    a = tw.analyze(SINGLE[0], model=model, tokenizer=word_tokenizer)
    w = a.trace.selfattn_query_weight
    assert isinstance(w, LayerStack) and w.shape == (3, 4, 8, 32)
    assert w[1].untyped_storage().data_ptr() == model.encoder.layer[1].attention.self.query.weight.data_ptr()
    stacked = torch.stack([layer.attention.self.query.weight.detach().view(4, 8, 32) for layer in model.encoder.layer])
    assert torch.equal(torch.as_tensor(w), stacked)
    assert torch.equal(w * 2, stacked * 2) and torch.equal(2 * w, stacked * 2) and torch.equal(w + w, stacked * 2)
    assert torch.equal(w.sum(), stacked.sum()) and torch.equal(w.sum(-1), stacked.sum(-1))
    assert w.float().dtype == torch.float32 and w.to(torch.float64).dtype == torch.float64
    assert torch.equal(w.to(torch.float64), stacked.double()) and w.mT.shape == stacked.mT.shape
    eq = w == w
    assert isinstance(eq, torch.Tensor) and eq.shape == w.shape and bool(eq.all())
    assert isinstance(w != stacked, torch.Tensor) and not bool((w != stacked).any())
    assert torch.equal(-w, -stacked) and torch.equal(abs(w), stacked.abs()) and torch.equal(w @ torch.ones(32),
                                                                                         stacked @ torch.ones(32))
    assert torch.equal(torch.softmax(w, -1), torch.softmax(stacked, -1))
    with pytest.raises(AttributeError, match="no attribute 'not_a_method'"):
        _ = w.not_a_method


# --- item 6: stages mix with the user's own modules and tensors ------------------------------------------------

def test_stages_are_ordinary_tensors_that_autograd_accepts(word_tokenizer):
    model = random_bert(2, 4, 32, vocab=len(word_tokenizer))
    a = tw.analyze(SINGLE[0], model=model, tokenizer=word_tokenizer)
    query = model.encoder.layer[0].attention.self.query
    x = a.trace.manual_hiddens[0]
    assert torch.is_grad_enabled() and not x.is_inference()
    q = query(x)  # Q = X W_Q^T + b, outside torch.no_grad(), with the model's own nn.Linear
    n = a.trace.sizes["n"]
    torch.testing.assert_close(q.view(n, 4, 8).transpose(0, 1), a.trace.layer(0).selfattn_query_hidden)
    q.sum().backward()
    assert query.weight.grad is not None
    own = a.trace.pipeline_hiddens[1][0]  # the model's own output too
    assert not own.is_inference()
    (model.encoder.layer[1].attention.self.key(own) * a.trace.selfattn_attention.mean()).sum().backward()
    for stage in a.trace.stages:
        value = a.trace[stage.name]
        if isinstance(value, torch.Tensor):
            assert not value.is_inference(), stage.name


# --- item 2: NaN fails parity, per layer, and stays JSON -------------------------------------------------------

def test_a_layer_that_gives_nan_fails_parity_at_that_layer(word_tokenizer):
    model = random_bert(4, 4, 32, vocab=len(word_tokenizer))
    with torch.no_grad():
        model.encoder.layer[2].intermediate.dense.weight[0, 0] = float("nan")
    a = tw.analyze(SINGLE[0], model=model, tokenizer=word_tokenizer)
    report = a.verify()
    assert not report.ok and not report and math.isnan(report.max_hidden_diff)
    assert report.failing_layers == [2, 3]
    text = str(report)
    assert text.startswith("parity MISMATCH") and "not a finite number (NaN or inf) from layer 2" in text
    assert "0.00e+00" in text.splitlines()[3] and "nan" in text.splitlines()[5]  # layer 0 fine, layer 2 NaN
    data = report.to_dict()
    json.dumps(data, allow_nan=False)  # strict JSON
    assert data["ok"] is False and data["max_hidden_diff"] is None and data["hidden_diff"][3] is None
    assert data["failing_layers"] == [2, 3] and data["hidden_diff"][1] is not None


@pytest.mark.parametrize("diffs", [(math.nan, 0.0), (0.0, math.nan), (0.0, math.inf)])
def test_a_non_finite_difference_fails_wherever_it_is(diffs):
    report = tw.Verification(hidden_diff=(0.0, *diffs), attention_diff=(0.0, 0.0))
    assert not report.ok and report.failing_layers == [diffs.index(next(d for d in diffs if d != 0.0))]
    json.dumps(report.to_dict(), allow_nan=False)
    assert "MISMATCH" in str(report)


# --- the import cycle (issue 11, item 18) ----------------------------------------------------------------------

def test_models_and_the_trace_do_not_import_each_other_in_a_cycle():
    import ast
    from pathlib import Path

    root = Path(tw.__file__).parent

    def imports(path: Path) -> set[str]:
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):  # every import, at the top or inside a function
            if isinstance(node, ast.ImportFrom) and node.level:
                base = path.parent.relative_to(root).parts[: len(path.parent.relative_to(root).parts) - node.level + 1]
                found.add(".".join([*base, *(node.module.split(".") if node.module else [])]))
        return found

    assert not any(name == "trace" or name.startswith("trace.") for name in imports(root / "models.py"))
    assert "models" in imports(root / "trace" / "__init__.py")


# --- readers stream: one layer per reply ------------------------------------------------------------------------

def test_the_widgets_replies_read_the_asked_layer_only(word_tokenizer):
    from transeasy_widget.payload import answer

    a = tw.analyze(SINGLE[0], model=random_bert(4, 4, 32, vocab=len(word_tokenizer)), tokenizer=word_tokenizer)
    a.trace.cache.clear()
    content, _ = answer(a, {"type": "request", "id": 1, "what": "layer", "variant": "reduced", "layer": 2})
    assert content["type"] == "reply" and a.trace.cache.layers == [2]
    content, _ = answer(a, {"type": "request", "id": 2, "what": "stage", "stage": "ffnn_dense_act", "layer": 1,
                            "head": 0})
    assert content["type"] == "reply" and a.trace.cache.layers == [2, 1]
    assert [q.shape for q in a.trace.layers("selfattn_query_hidden")] == [(4, a.trace.sizes["n"], 8)] * 4
    assert len(list(a.trace.layers("manual_hiddens"))) == 5


# --- decoders: the same trace on demand, every family, every stage ----------------------------------------------

DECODER_CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "gpt2": ("gpt2", {}),
    "llama": ("llama", {}),
    "mistral-window": ("mistral", {"sliding_window": 4}),
    "qwen2-window": ("qwen2", {"use_sliding_window": True, "sliding_window": 4, "max_window_layers": 1}),
    "qwen3": ("qwen3", {}),
}


def _decoder(case: str, vocab: int) -> Any:
    from tests.test_decoders import gpt2, llama_like

    kind, extra = DECODER_CASES[case]
    return gpt2(vocab, **extra) if kind == "gpt2" else llama_like(kind, vocab, **extra)


@pytest.mark.parametrize("case", list(DECODER_CASES))
def test_every_decoder_stage_on_demand_is_bit_identical_to_computing_everything_up_front(case):
    from tests.test_decoders import TEXT
    from tests.tokenizers_for_tests import byte_level_bpe
    from transeasy_widget.trace import decoder, gpt2, llama

    tok = byte_level_bpe()
    model = _decoder(case, len(tok))
    a = tw.analyze(TEXT, model=model, tokenizer=tok, cache_mb=0)  # no cache: each access recomputes
    t = a.trace
    # up front: every stage of every layer in one pass from X_0, each layer fed the previous one's output (what the
    # trace computed before it kept only the residual stream)
    adapter = gpt2 if a.family == "gpt2" else llama
    parts = adapter.layer_parts(model)
    rope = (t.selfattn_rope_cos, t.selfattn_rope_sin) if a.family != "gpt2" else None
    masks = decoder.masks_for(parts, t.sizes["n"], torch.device("cpu"))
    expected, x = [], t.manual_hiddens[0]
    with torch.no_grad():
        for p, mask in zip(parts, masks, strict=True):
            expected.append(decoder.layer_stages(p, x, rope, mask))
            x = expected[-1]["addnorm2_add_hidden"]
    names = [s.name for s in t.stages if s.per_layer and s.dims[0] == "L" and s.name in expected[0]]
    assert set(names) == set(expected[0]) and len(names) >= 20, names  # every activation stage of a layer
    # the residual stream kept by analyze, and the model's own (eager, float32): the same bits
    res = t.pipeline_res
    for layer, stages in enumerate(expected):
        assert torch.equal(t.manual_hiddens[layer + 1], stages["addnorm2_add_hidden"]), layer
        assert torch.equal(t.manual_hiddens[layer], res.hidden_states[layer][0]), layer
        assert torch.equal(t["selfattn_attention", layer], res.attentions[layer][0]), layer
    for layer in [*reversed(range(t.sizes["L"])), *range(t.sizes["L"])]:  # out of order, twice
        one = t.layer(layer)
        for stage in names:
            assert torch.equal(one[stage], expected[layer][stage]), (stage, layer)
            assert torch.equal(t[stage, layer], expected[layer][stage]), (stage, layer)
    for stage in names:
        assert torch.equal(t[stage], torch.stack([e[stage] for e in expected])), stage
    # the final norm and the logits: from X_L on access, not held; equal to the model's own
    assert not any(name in t._values for name in ("final_norm_hidden", "final_norm_scale", "final_logits"))
    assert torch.equal(t.final_norm_hidden, res.hidden_states[-1][0])
    assert torch.equal(t.final_logits, res.logits[0])
    assert a.verify().ok


def test_a_decoder_trace_keeps_only_the_residual_stream_and_the_inputs():
    from tests.test_decoders import TEXT
    from tests.tokenizers_for_tests import byte_level_bpe

    tok = byte_level_bpe()
    t = tw.analyze(TEXT, model=_decoder("llama", len(tok)), tokenizer=tok).trace
    n, heads = t.sizes["n"], t.sizes["H"]
    held = [name for name, v in t._values.items() if isinstance(v, torch.Tensor) and v.dim() >= 3]
    assert held == ["manual_hiddens"], held  # no L×H×n×n stage up front
    assert t.cache.layers == []
    assert t["selfattn_attention", 1].shape == (heads, n, n)
    assert t.cache.layers == [1]  # one layer computed, as far as its attention
