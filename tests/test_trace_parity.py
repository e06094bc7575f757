"""Every stage against the model's own computation: module outputs captured by forward hooks, and its output."""

from __future__ import annotations

from typing import Any

import pytest
import torch

import transeasy_widget as tw
from tests.conftest import SHAPES, random_bert

TOL = 1e-5
SINGLE = ("The cat sat on the mat because it was tired.", None)
PAIR = ("Where is the cat?", "The cat is in a box.")


def hooked_run(model: Any, a: tw.Analysis) -> dict[str, list[torch.Tensor]]:
    """Run the model itself (eager, eval) and capture what each of its modules computed."""
    seen: dict[str, list[torch.Tensor]] = {}
    handles = []

    def keep(name: str, what: str = "out"):
        def hook(_m: Any, args: tuple, out: Any) -> None:
            value = args[0] if what == "in" else (out[0] if isinstance(out, tuple) else out)
            seen.setdefault(name, []).append(value.detach()[0].clone())
        return hook

    emb = model.embeddings
    for name, mod in (("word", emb.word_embeddings), ("pos", emb.position_embeddings),
                      ("seg", emb.token_type_embeddings)):
        handles.append(mod.register_forward_hook(keep(name)))
    handles.append(emb.LayerNorm.register_forward_hook(keep("emb_sum", "in")))
    handles.append(emb.LayerNorm.register_forward_hook(keep("emb_norm")))
    for layer in model.encoder.layer:
        sa = layer.attention.self
        for name, mod in (("q", sa.query), ("k", sa.key), ("v", sa.value), ("dense1", layer.attention.output.dense),
                          ("norm1", layer.attention.output.LayerNorm), ("ffn", layer.intermediate.dense),
                          ("act", layer.intermediate), ("dense2", layer.output.dense),
                          ("norm2", layer.output.LayerNorm)):
            handles.append(mod.register_forward_hook(keep(name)))
        handles.append(layer.attention.output.dense.register_forward_hook(keep("concat", "in")))
        handles.append(layer.attention.output.LayerNorm.register_forward_hook(keep("add1", "in")))
        handles.append(layer.output.LayerNorm.register_forward_hook(keep("add2", "in")))
    try:
        enc = a.encoding
        with torch.no_grad():
            out = model(input_ids=torch.tensor([enc.ids]), token_type_ids=torch.tensor([enc.segment_ids]),
                        output_attentions=True, output_hidden_states=True)
    finally:
        for h in handles:
            h.remove()
    seen["hidden"] = [h[0] for h in out.hidden_states]
    seen["attn"] = [x[0] for x in out.attentions]
    return seen


def close(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return float((a - b).abs().max())


def assert_stages_match_model(a: tw.Analysis, model: Any) -> None:
    t, seen = a.trace, hooked_run(model, a)
    heads, dh = t.sizes["H"], t.sizes["dh"]
    n = t.sizes["n"]
    assert close(t.preemb_word_emb, seen["word"][0]) <= TOL
    assert close(t.preemb_pos_emb, seen["pos"][0]) <= TOL
    assert close(t.preemb_seg_emb, seen["seg"][0]) <= TOL
    assert close(t.preemb_sum_emb, seen["emb_sum"][0]) <= TOL
    assert close(t.preemb_norm_sum_emb, seen["emb_norm"][0]) <= TOL
    for layer in range(t.sizes["L"]):
        def per_head(x: torch.Tensor) -> torch.Tensor:
            return x.view(n, heads, dh).transpose(0, 1)

        lt = t.layer(layer)  # this layer's stages, recomputed from X_l
        q, k, v = (per_head(seen[x][layer]) for x in "qkv")
        assert close(lt.selfattn_query_hidden, q) <= TOL
        assert close(lt.selfattn_key_hidden, k) <= TOL
        assert close(lt.selfattn_value_hidden, v) <= TOL
        # the scores are not a module output: check them against their definition from the model's own Q, K
        qkt = torch.einsum("hid,hjd->hij", q, k)
        assert close(lt.selfattn_qkt_hidden, qkt) <= 1e-4 * max(1.0, float(qkt.abs().max()))
        scaled = qkt / dh ** 0.5
        assert close(lt.selfattn_qkt_scale_hidden, scaled) <= 1e-4 * max(1.0, float(scaled.abs().max()))
        assert close(lt.selfattn_attention, seen["attn"][layer]) <= TOL
        assert lt.selfattn_qkt_scale_soft_hidden is lt.selfattn_attention
        assert close(lt.selfattn_contvec, per_head(seen["concat"][layer])) <= TOL
        assert close(lt.selfattn_contvec_concat, seen["concat"][layer]) <= TOL
        for stage, key in (("addnorm1_dense_hidden", "dense1"), ("addnorm1_add_hidden", "add1"),
                           ("addnorm1_norm_hidden", "norm1"), ("ffnn_dense_hidden", "ffn"),
                           ("ffnn_dense_act", "act"), ("addnorm2_dense_hidden", "dense2"),
                           ("addnorm2_add_hidden", "add2"), ("addnorm2_norm_hidden", "norm2")):
            assert close(t[stage, layer], seen[key][layer]) <= TOL, (stage, layer)
    # the full-shape attributes stack the same layers
    for stage in ("selfattn_query_hidden", "selfattn_attention", "ffnn_dense_act", "addnorm2_norm_hidden"):
        assert torch.equal(t[stage], torch.stack([t[stage, layer] for layer in range(t.sizes["L"])])), stage
    for i, h in enumerate(seen["hidden"]):
        assert close(t.manual_hiddens[i], h) <= TOL


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("texts", [SINGLE, PAIR], ids=["single", "pair"])
def test_every_stage_equals_the_models_own_computation_on_random_configs(shape, texts, word_tokenizer):
    model = random_bert(*shape, vocab=len(word_tokenizer))
    a = tw.analyze(texts[0], texts[1], model=model, tokenizer=word_tokenizer)
    assert_stages_match_model(a, model)
    report = a.verify()
    assert report.ok and len(report.hidden_diff) == shape[0] + 1 and len(report.attention_diff) == shape[0]


@pytest.mark.parametrize("texts", [SINGLE, PAIR], ids=["single", "pair"])
def test_parity_on_the_pretrained_minilm(texts, minilm_path):
    from transformers import AutoModel

    a = tw.analyze(texts[0], texts[1], model=minilm_path)
    assert a.model_name and a.trace.sizes == {**a.trace.sizes, "L": 6, "H": 12, "d": 384}
    report = a.verify()
    assert report.max_hidden_diff <= TOL and report.max_attention_diff <= TOL
    # and against a model loaded separately by the user, with its default (sdpa) attention
    own = AutoModel.from_pretrained(minilm_path).eval()
    assert_stages_match_model(a, own.set_attn_implementation("eager") or own)


def test_pair_uses_segment_one_rows_for_the_second_text(word_tokenizer):
    model = random_bert(2, 4, 32, vocab=len(word_tokenizer))
    a = tw.analyze(*PAIR, model=model, tokenizer=word_tokenizer)
    seg = a.trace.sym_segment_ids
    first_sep = a.tokens.index("[SEP]")
    assert seg[: first_sep + 1].eq(0).all() and seg[first_sep + 1:].eq(1).all()
    table = model.embeddings.token_type_embeddings.weight
    assert torch.equal(a.trace.preemb_seg_emb[-1], table[1]) and torch.equal(a.trace.preemb_seg_emb[0], table[0])


def test_sdpa_and_training_mode_still_give_parity_and_the_model_is_left_as_it_was(word_tokenizer):
    model = random_bert(2, 4, 32, vocab=len(word_tokenizer), attn="sdpa")
    model.config.attention_probs_dropout_prob = 0.5
    model.train()
    a = tw.analyze(SINGLE[0], model=model, tokenizer=word_tokenizer)
    report = a.verify()
    assert report.ok
    assert len(a.trace.pipeline_attns) == 2 and a.trace.pipeline_attns[0].shape[-1] == a.trace.sizes["n"]
    assert model.training and model.config._attn_implementation == "sdpa"
    # the trace is deterministic even though the model is in training mode (no dropout by hand)
    b = tw.analyze(SINGLE[0], model=model, tokenizer=word_tokenizer)
    assert torch.equal(a.trace.manual_hiddens, b.trace.manual_hiddens)


def test_no_gradients_are_built(word_tokenizer):
    model = random_bert(2, 4, 32, vocab=len(word_tokenizer))
    a = tw.analyze(SINGLE[0], model=model, tokenizer=word_tokenizer)
    for stage in a.trace.stages:
        value = a.trace[stage.name]
        for t in (value if isinstance(value, (tuple, tw.trace.encoder.LayerStack)) else [value]):
            if isinstance(t, torch.Tensor):
                assert not t.requires_grad and t.grad_fn is None, stage.name
    a.trace.cache.clear()
    with torch.enable_grad():  # a layer recomputed while the user's code builds gradients builds none either
        lt = a.trace.layer(1)
        assert all(not lt[name].requires_grad and lt[name].grad_fn is None for name in lt.names)


def test_a_task_model_is_traced_through_its_encoder(word_tokenizer):
    from transformers import BertConfig, BertForMaskedLM

    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(word_tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=64, attn_implementation="eager")
    lm = BertForMaskedLM(cfg).eval()
    a = tw.analyze(SINGLE[0], model=lm, tokenizer=word_tokenizer)
    assert a.model is lm.bert and a.verify().ok


@pytest.mark.parametrize("act", ["relu", "gelu_new", "silu"])
def test_the_models_own_activation_function_is_used(act, word_tokenizer):
    model = random_bert(2, 4, 32, vocab=len(word_tokenizer), act=act)
    a = tw.analyze(SINGLE[0], model=model, tokenizer=word_tokenizer)
    assert_stages_match_model(a, model)
