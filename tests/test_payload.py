"""The binary payload: quantisation within its stated error, replies equal to the tensors they encode, sizes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import transeasy_widget as tw
from tests.conftest import random_bert
from tests.decoders import f16 as from_f16
from tests.decoders import f32 as from_f32
from tests.decoders import u8_thumbnails as from_u8
from transeasy_widget.payload import (
    MAX_VALUES,
    answer,
    block_mean,
    f16_bytes,
    steps_for,
    u8_thumbnails,
)
from transeasy_widget.widget import widget_meta


@pytest.fixture(scope="module")
def small(word_tokenizer):
    model = random_bert(3, 4, 32, vocab=len(word_tokenizer))
    return tw.analyze("The cat sat on the mat because it was tired.", model=model, tokenizer=word_tokenizer)


def test_float16_round_trip_is_within_its_stated_error():
    x = torch.cat([torch.rand(10_000), torch.rand(1000) * 1e-6, torch.randn(1000) * 100, torch.tensor([0.0, 1.0])])
    back = from_f16(f16_bytes(x), tuple(x.shape))
    err = np.abs(back - x.numpy())
    bound = np.maximum(np.abs(x.numpy()) * 2.0 ** -11, 2.0 ** -25)
    assert (err <= bound).all()
    assert len(f16_bytes(x)) == 2 * x.numel()


def test_uint8_thumbnails_are_block_maxima_on_one_scale_for_every_head():
    att = torch.rand(2, 3, 48, 48) * torch.tensor([1.0, 0.1, 0.5])[None, :, None, None]  # head 1: diffuse, pale
    data, head_max = u8_thumbnails(att, 24)
    vmax = 1.0
    assert len(data) == 2 * 3 * 24 * 24
    # independent reference: numpy 2×2 block maxima, on the shared 0 … 1 scale (not each head's own max)
    ref = att.numpy().reshape(2, 3, 24, 2, 24, 2).max(axis=(3, 5))
    back = from_u8(data, (2, 3, 24, 24), vmax)
    assert np.abs(back - ref).max() <= 1 / 510 + 1e-6
    assert back[:, 1].max() <= 0.1 + 1 / 510 < back[:, 0].max()  # the pale head stays pale
    assert np.allclose(head_max, ref.reshape(6, -1).max(axis=1), atol=1e-6)
    # fewer tokens than the thumbnail side: no upsampling
    data, _ = u8_thumbnails(torch.rand(1, 1, 5, 5), 24)
    assert len(data) == 25


def test_block_mean_handles_partial_blocks():
    x = torch.arange(35, dtype=torch.float32).reshape(5, 7)
    out = block_mean(x, 2, 3)
    assert out.shape == (3, 3)
    assert out[0, 0] == x[:2, :3].mean() and out[2, 2] == x[4:, 6:].mean() and out[1, 2] == x[2:4, 6:].mean()


def test_steps_bring_a_vocabulary_table_under_the_limit():
    r, c = steps_for(30522, 768)
    assert r > 1 and c == 1 and (30522 / r) * 768 <= MAX_VALUES * 1.01
    assert steps_for(512, 3072) == (1, 1)  # a feed-forward stage at 512 tokens goes whole


@pytest.mark.parametrize("variant", ["raw", "nosep", "nosep_linscale", "nosep_softmax_scale", "reduced"])
def test_layer_reply_carries_that_layer_of_that_variant(small, variant):
    content, buffers = answer(small, {"type": "request", "id": 4, "what": "layer", "variant": variant, "layer": 2})
    want = small.attentions.get(variant)[2]
    assert content["type"] == "reply" and content["id"] == 4 and content["shape"] == list(want.shape)
    got = from_f16(buffers[0], tuple(content["shape"]))
    assert np.abs(got - want.numpy()).max() <= 2.0 ** -11
    json.dumps(content)  # the JSON part is JSON


def test_overview_reply_has_every_head(small):
    content, buffers = answer(small, {"type": "request", "id": 1, "what": "overview", "variant": "raw"})
    L, H, n = 3, 4, len(small.tokens)  # noqa: N806
    assert content["shape"] == [L, H, n, n] and len(content["head_max"]) == L * H and len(buffers[0]) == L * H * n * n
    back = from_u8(buffers[0], (L, H, n, n), content["vmax"])  # n ≤ 48 tokens: every weight, on 0 … 1
    assert np.abs(back - small.attentions.raw.numpy()).max() <= 1 / 510 + 1e-6


def test_stage_replies_equal_the_slice_of_the_stage(small):
    t = small.trace
    content, buffers = answer(small, {"type": "request", "id": 2, "what": "stage", "stage": "selfattn_query_hidden",
                                      "layer": 1, "head": 3})
    got = from_f16(buffers[0], tuple(content["shape"]))
    assert content["dims"] == ["n", "dh"] and content["row_labels"] == small.tokens
    assert np.allclose(got, t.selfattn_query_hidden[1, 3].numpy(), atol=1e-2, rtol=1e-3)
    assert content["stats"]["max"] == pytest.approx(float(t.selfattn_query_hidden[1, 3].max()))
    assert np.allclose(content["row_norms"], t.selfattn_query_hidden[1, 3].norm(dim=1).numpy(), rtol=1e-5)
    content, buffers = answer(small, {"type": "request", "id": 3, "what": "stage", "stage": "ffnn_dense_weight",
                                      "layer": 2, "head": 0})
    assert content["dims"] == ["d", "f"] and content["shape"] == [32, 128]
    assert np.allclose(from_f16(buffers[0], (32, 128)), t.ffnn_dense_weight[2].numpy(), atol=1e-3)
    content, _ = answer(small, {"type": "request", "id": 5, "what": "stage", "stage": "pipeline_hiddens"})
    assert content["parity"]["ok"] is True and len(content["parity"]["hidden_diff"]) == 4
    content, _ = answer(small, {"type": "request", "id": 6, "what": "stage", "stage": "sym_tokens"})
    assert content["text"] == small.tokens


def test_a_vocabulary_table_is_aggregated_with_its_stats_on_the_whole(minilm_path):
    a = tw.analyze("the cat", model=minilm_path)
    content, buffers = answer(a, {"type": "request", "id": 1, "what": "stage", "stage": "preemb_vocab"})
    rows, cols = content["shape"]
    assert content["full_shape"] == [30522, 384] and content["row_step"] > 1 and rows * cols <= MAX_VALUES
    assert len(buffers[0]) == 2 * rows * cols and "aggregated" in content["note"]
    assert content["stats"]["min"] == pytest.approx(float(a.trace.preemb_vocab.min()))


@pytest.mark.parametrize("request_", [
    {"type": "request", "id": 9, "what": "layer", "variant": "raw", "layer": 3},
    {"type": "request", "id": 9, "what": "layer", "variant": "bogus", "layer": 0},
    {"type": "request", "id": 9, "what": "stage", "stage": "no_such_stage"},
    {"type": "request", "id": 9, "what": "nothing"},
])
def test_bad_requests_get_an_error_reply_not_an_exception(small, request_):
    content, buffers = answer(small, request_)
    assert content["type"] == "error" and content["id"] == 9 and content["message"] and buffers == []


def test_first_paint_at_512_tokens_is_under_one_percent_of_bertviz(word_tokenizer):
    """meta + overview + the first layer, for a 12-layer × 12-head model at 512 tokens."""
    model = random_bert(12, 12, 96, vocab=len(word_tokenizer), max_pos=512)
    text = " ".join(["the cat sat on the mat because it was tired ."] * 60)
    a = tw.analyze(text, model=model, tokenizer=word_tokenizer, truncate=True)
    n = len(a.tokens)
    assert n == 512
    meta = len(json.dumps(widget_meta(a)).encode())
    overview = answer(a, {"type": "request", "id": 1, "what": "overview", "variant": "raw"})
    layer = answer(a, {"type": "request", "id": 2, "what": "layer", "variant": "raw", "layer": 0})
    first_paint = meta + sum(len(b) for b in overview[1] + layer[1]) + len(json.dumps(overview[0]))
    bertviz = 43 * 12 * 12 * n * n  # bertviz's head_view: ~43 bytes of JSON per attention value
    assert first_paint <= 0.01 * bertviz, (first_paint, bertviz)


def test_hidden_states_stage_shows_the_selected_layers_output(small):
    content, buffers = answer(small, {"type": "request", "id": 1, "what": "stage", "stage": "manual_hiddens",
                                      "layer": 1, "head": 0})
    got = from_f16(buffers[0], tuple(content["shape"]))
    assert content["dims"] == ["n", "d"] and "output of layer 1" in content["note"]
    assert np.allclose(got, small.trace.manual_hiddens[2].numpy(), atol=1e-2)


def test_a_pair_shows_both_texts_not_a_tuple_repr(word_tokenizer):
    model = random_bert(2, 2, 16, vocab=len(word_tokenizer))
    a = tw.analyze("The cat's mat.", text_pair="Where?", model=model, tokenizer=word_tokenizer)
    content, _ = answer(a, {"type": "request", "id": 1, "what": "stage", "stage": "sym_sent", "layer": 0, "head": 0})
    assert content["text"] == ["The cat's mat.", "Where?"]


@pytest.fixture(scope="module")
def diverged(word_tokenizer):
    """A model whose layer 1 gives NaN (as a float16 overflow or a diverged fine-tune would)."""
    model = random_bert(3, 4, 32, vocab=len(word_tokenizer))
    with torch.no_grad():
        model.encoder.layer[1].output.dense.weight[0, 0] = float("nan")
    return tw.analyze("The cat sat on the mat.", model=model, tokenizer=word_tokenizer)


def test_non_finite_values_are_strict_json_written_as_strings(diverged):
    content, buffers = answer(diverged, {"type": "request", "id": 1, "what": "stage", "stage": "manual_hiddens",
                                         "layer": 2, "head": 0})
    text = json.dumps(content, allow_nan=False)  # raises on a bare NaN
    assert content["stats"]["max"] == "NaN" and "NaN" in content["row_norms"]
    assert np.isnan(from_f16(buffers[0], tuple(content["shape"]))).any()  # the float16 buffer carries NaN itself
    content, _ = answer(diverged, {"type": "request", "id": 2, "what": "overview", "variant": "raw"})
    json.dumps(content, allow_nan=False)
    assert all(isinstance(m, float) for m in content["head_max"][:4])  # layer 0 is finite
    assert set(content["head_max"][8:]) == {"NaN"}
    assert "NaN" in text
    json.dumps(answer(diverged, {"type": "request", "id": 3, "what": "stage", "stage": "pipeline_hiddens"})[0],
               allow_nan=False)


def test_json_safe_writes_each_kind_of_non_finite_value():
    from transeasy_widget.payload import json_safe

    value = {"a": [float("nan"), float("inf"), -float("inf"), 1.5], "b": (2, "NaN"), "c": {"d": float("-inf")}}
    assert json_safe(value) == {"a": ["NaN", "Infinity", "-Infinity", 1.5], "b": [2, "NaN"], "c": {"d": "-Infinity"}}


MALFORMED = [
    None, 7, "request", [], {"type": "request"}, {"type": "reply", "id": 1, "what": "layer"},
    {"type": "request", "id": 1, "what": ["layer"]}, {"type": "request", "id": 1, "what": {"a": 1}},
    {"type": "request", "id": 1, "what": "layer", "variant": ["raw"], "layer": 0},
    {"type": "request", "id": 1, "what": "layer", "variant": "raw", "layer": "0"},
    {"type": "request", "id": 1, "what": "layer", "variant": "raw", "layer": True},
    {"type": "request", "id": 1, "what": "layer", "variant": "raw", "layer": 1.5},
    {"type": "request", "id": 1, "what": "layer", "variant": "raw", "layer": 10**30},
    {"type": "request", "id": 1, "what": "overview", "variant": None},
    {"type": "request", "id": 1, "what": "stage", "stage": {"x": 1}, "layer": 0, "head": 0},
    {"type": "request", "id": 1, "what": "stage", "stage": "selfattn_attention", "layer": 0, "head": [0]},
    {"type": "request", "id": [1], "what": "layer", "variant": "raw", "layer": 0},
]


@pytest.mark.parametrize("message", MALFORMED)
def test_a_malformed_message_gets_an_error_reply(small, message):
    content, buffers = answer(small, message)
    assert content["type"] == "error" and content["message"] and buffers == []
    json.dumps(content, allow_nan=False)


def test_fuzzed_messages_always_get_a_bounded_reply(small):
    """Random structures in every field: a reply (or an error) every time, never an exception, never an echo."""
    rng = np.random.default_rng(0)
    atoms = [None, True, 0, -1, 2, 10**20, 1.5, float("nan"), "", "raw", "layer", "overview", "stage",
             "selfattn_attention", "x" * 100_000, [], [1], {}, {"a": [1, 2]}, "request"]

    def pick() -> object:
        return atoms[rng.integers(len(atoms))]

    for _ in range(400):
        message = {k: pick() for k in ("type", "id", "what", "variant", "layer", "head", "stage") if rng.random() < 0.8}
        if rng.random() < 0.5:
            message["type"] = "request"
        content, buffers = answer(small, message)
        text = json.dumps(content, allow_nan=False)
        assert content["type"] in ("reply", "error") and len(text) < 2000 + (20_000 if content["type"] == "reply" else 0)
        if content["type"] == "error":
            assert buffers == []


def test_an_error_never_echoes_a_large_request(small):
    huge = "v" * 2_000_000
    for message in ({"type": "request", "id": 1, "what": "layer", "variant": huge, "layer": 0},
                    {"type": "request", "id": 1, "what": huge}, {"type": huge, "id": 1},
                    {"type": "request", "id": 1, "what": "stage", "stage": huge}):
        content, _ = answer(small, message)
        assert content["type"] == "error" and len(json.dumps(content)) < 500
def test_row_reply_is_the_models_own_attention_row_step_by_step(small):
    """q, k_j, q∘k_j, q·k_j, the scaled score and the softmax for layer 1, head 2, query piece 3, against the
    model's own modules and output: Q = X W_Qᵀ + b_Q from the model's layer, its own attention row."""
    layer, head, query = 1, 2, 3
    content, buffers = answer(small, {"type": "request", "id": 9, "what": "row", "layer": layer, "head": head,
                                      "query": query})
    assert content["type"] == "reply" and content["what"] == "row"
    n, dh = len(small.tokens), 32 // 4
    assert (content["n"], content["dh"], content["shape"]) == (n, dh, [2 * n + 1, dh])
    rows = from_f32(buffers[0], (2 * n + 1, dh))
    model = small.model
    with torch.no_grad():
        ids = small.encoding.ids_tensor().reshape(1, -1)
        out = model(ids, output_hidden_states=True, output_attentions=True)
        x = out.hidden_states[layer][0]
        own = model.encoder.layer[layer].attention.self
        sl = slice(head * dh, (head + 1) * dh)
        q = (x @ own.query.weight.T + own.query.bias)[query, sl].numpy()
        k = (x @ own.key.weight.T + own.key.bias)[:, sl].numpy()
        attention_row = out.attentions[layer][0, head, query].numpy()
    assert np.allclose(rows[0], q, atol=1e-5)
    assert np.allclose(rows[1:n + 1], k, atol=1e-5)
    assert np.allclose(rows[n + 1:], k * q, atol=1e-5)
    assert np.allclose(content["dot"], k @ q, atol=1e-4)
    assert content["scale"] == pytest.approx(dh ** -0.5, rel=1e-5)
    assert np.allclose(content["scaled"], (k @ q) / np.sqrt(dh), atol=1e-4)
    assert np.allclose(content["softmax"], attention_row, atol=1e-6)
    assert content["labels"] == small.tokens
    assert set(content["stages"].values()) <= {s.name for s in small.trace.stages}  # the row view's links
    json.dumps(content)


@pytest.mark.parametrize("request_", [{"what": "row", "layer": 1, "head": 9, "query": 0},
                                      {"what": "row", "layer": 1, "head": 0, "query": 99},
                                      {"what": "row", "layer": 1, "head": 0}])
def test_a_row_request_out_of_range_gets_an_error_reply(small, request_):
    content, buffers = answer(small, {"type": "request", "id": 1, **request_})
    assert content["type"] == "error" and buffers == []


def test_stage_colours_follow_one_rule_per_quantity(small):
    t = small.trace

    def colour(stage):
        content, _ = answer(small, {"type": "request", "id": 1, "what": "stage", "stage": stage, "layer": 1, "head": 2})
        return content["colour"]

    # attention weights: the attention views' fixed 0 … 1 scale
    assert colour("selfattn_attention") == {"scale": "sequential", "lo": 0.0, "hi": 1.0}
    # signed: diverging, symmetric, at the 99th percentile of |x| (numpy's, independently)
    q = t.selfattn_query_hidden[1, 2].numpy()
    c = colour("selfattn_query_hidden")
    assert c["scale"] == "diverging" and c["lo"] == -c["hi"]
    assert c["hi"] == pytest.approx(float(np.quantile(np.abs(q), 0.99)), rel=1e-5)
    # non-negative (the attention's scaled scores are signed; the position ids are not): 0 … 99th percentile
    c = colour("sym_position_ids")
    assert c["scale"] == "sequential" and c["lo"] == 0.0
