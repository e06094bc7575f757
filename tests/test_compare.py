"""tw.compare: two analyses side by side, the difference b − a against the model's own attentions, clear errors,
the comparison widget's requests and its exported page."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

import transeasy_widget as tw
from tests.conftest import random_bert
from transeasy_widget.compare import answer_compare
from transeasy_widget.pack import chunk, read_stage_slice


@pytest.fixture(scope="module")
def model(word_tokenizer):
    return random_bert(3, 4, 32, vocab=len(word_tokenizer))


@pytest.fixture(scope="module")
def pair(model, word_tokenizer):
    a = tw.analyze("The cat sat on the mat.", model=model, tokenizer=word_tokenizer)
    b = tw.analyze("The dog sat on the mat.", model=model, tokenizer=word_tokenizer)
    return tw.compare(a, b)


def model_attentions(x) -> tuple[torch.Tensor, ...]:
    """The model's own attention weights (its forward pass, not the trace), one L-tuple of H×n×n."""
    ids = torch.tensor([x.encoding.ids])
    with torch.no_grad():
        out = x.model(input_ids=ids, token_type_ids=torch.tensor([x.encoding.segment_ids]), output_attentions=True)
    return tuple(t[0] for t in out.attentions)


def test_the_difference_is_b_minus_a_of_the_models_own_attention(pair):
    assert pair.labels("raw") == ["[CLS]", "the", "cat→dog", "sat", "on", "the", "mat", ".", "[SEP]"]
    for layer in range(3):
        expected = model_attentions(pair.b)[layer] - model_attentions(pair.a)[layer]
        got = pair.difference("raw", layer)
        assert got.shape == (4, 9, 9)
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)
    assert float(pair.difference("raw", 1).abs().max()) > 1e-3  # the texts differ: so do their attentions


def test_pieces_that_differ_in_number_are_compared_word_by_word(model, word_tokenizer):
    a = tw.analyze("The cat was tired.", model=model, tokenizer=word_tokenizer)
    b = tw.analyze("The cat was understanding.", model=model, tokenizer=word_tokenizer)
    c = tw.compare(a, b)
    assert len(a.tokens) != len(b.tokens)
    assert c.shown_variant("raw") == "reduced" and c.shown_variant("reduced") == "reduced"
    assert c.labels("raw") == ["The", "cat", "was", "tired.→understanding."]
    torch.testing.assert_close(c.difference("nosep", 2), b.attentions.reduced[2] - a.attentions.reduced[2])
    meta = c.widget().meta["compare"]["diff"]
    assert meta["raw"]["shows"] == "reduced" and meta["raw"]["labels"][-1] == "tired.→understanding."


def test_no_difference_without_equal_tokens_or_words_says_what_to_do(model, word_tokenizer):
    a = tw.analyze("The cat sat.", model=model, tokenizer=word_tokenizer)
    b = tw.analyze("The cat sat on the mat.", model=model, tokenizer=word_tokenizer)
    c = tw.compare(a, b)  # the comparison itself is fine: each side shows
    with pytest.raises(tw.InputError, match=r"minimal pair.*words="):
        c.difference("raw", 0)
    meta = c.widget().meta["compare"]["diff"]
    assert meta["raw"]["shows"] is None and "minimal pair" in meta["raw"]["error"]
    reply, buffers = answer_compare(c, {"type": "request", "id": 3, "what": "layer", "variant": "raw", "layer": 0,
                                        "analysis": "diff"})
    assert reply["type"] == "error" and reply["id"] == 3 and "minimal pair" in reply["message"] and not buffers


def test_analyses_of_different_shapes_are_refused_clearly(pair, word_tokenizer):
    other = tw.analyze("The cat sat.", model=random_bert(2, 4, 32, vocab=len(word_tokenizer)), tokenizer=word_tokenizer)
    with pytest.raises(tw.InputError, match=r"different shapes.*3 layers × 4 heads.*2 × 4"):
        tw.compare(pair.a, other)
    with pytest.raises(tw.InputError, match="two analyses"):
        tw.compare(pair.a, "The dog sat.")


def test_head_statistic_deltas_are_b_minus_a_of_each_statistic(pair):
    deltas = pair.head_stat_deltas()
    for name in ("entropy", "cls", "prev"):
        torch.testing.assert_close(deltas[name]["delta"], pair.b.head_stats[name] - pair.a.head_stats[name])
    # entropy from the model's own attention, by its definition: mean over rows of −Σ p log p
    own = [-(t * torch.log(t.clamp_min(1e-30))).sum(-1).mean(-1) for t in model_attentions(pair.b)]
    torch.testing.assert_close(deltas["entropy"]["b"], torch.stack(own), rtol=0, atol=1e-4)
    stats = pair.widget().meta["compare"]["stats"]
    assert stats["entropy"]["delta"] == pytest.approx([float(x) for x in deltas["entropy"]["delta"].flatten()])


def test_requests_name_their_analysis_and_a_bad_one_is_refused(pair):
    base = {"type": "request", "id": 5, "what": "layer", "variant": "nosep", "layer": 1}
    for side, x in (("a", pair.a), ("b", pair.b)):
        reply, buffers = answer_compare(pair, {**base, "analysis": side})
        values = np.frombuffer(buffers[0], "<f2").reshape(reply["shape"])
        np.testing.assert_allclose(values, x.attentions.layer("nosep", 1).numpy(), atol=2e-3)
    reply, buffers = answer_compare(pair, {**base, "analysis": "diff"})
    assert reply["signed"] is True and reply["shows"] == "nosep"
    values = np.frombuffer(buffers[0], "<f2").reshape(reply["shape"])
    np.testing.assert_allclose(values, pair.difference("nosep", 1).numpy(), atol=1e-3)
    for bad in ("c", 1, None, "x" * 500):
        reply, _ = answer_compare(pair, {**base, "analysis": bad})
        assert reply["type"] == "error" and "analysis must be one of a, b, diff" in reply["message"]
        assert len(reply["message"]) < 300
    reply, _ = answer_compare(pair, {**base, "what": "overview", "analysis": "diff"})
    assert reply["type"] == "error" and "layer requests only" in reply["message"]
    reply, _ = answer_compare(pair, {**base, "layer": 7, "analysis": "diff"})
    assert reply["type"] == "error" and "out of range" in reply["message"]


def test_the_comparison_widget_is_one_selection_validated_as_the_analysis_widget(pair, monkeypatch):
    w = pair.widget(layer=2, head=3, variant="reduced")
    assert pair.widget() is w and w.comparison is pair and w.analysis is pair.a
    assert (w.layer, w.head, w.variant) == (2, 3, "reduced")
    meta = w.meta["compare"]
    assert meta["names"][0].startswith("The cat sat") and meta["b"]["tokens"] == pair.b.tokens
    sent = []
    monkeypatch.setattr(w, "send", lambda content, buffers=None: sent.append(content))
    monkeypatch.setattr(w, "send_state", lambda keys: sent.append(keys))
    w.set_state({"layer": 9, "head": 1})  # the kernel refuses layer 9 and sends layer back
    assert (w.layer, w.head) == (2, 1) and sent[-1] == ["layer"]
    w._on_request(w, {"type": "request", "id": 8, "what": "layer", "variant": "raw", "layer": 0, "analysis": "b"}, [])
    assert sent[-1]["id"] == 8 and sent[-1]["type"] == "reply"


def test_the_exported_page_holds_b_and_every_difference(pair, tmp_path):
    path = pair.save_html(tmp_path / "cmp.html")
    text = path.read_text(encoding="utf-8")
    manifest = json.loads(re.search(r'<script type="application/json" id="tw-pack">(.*?)</script>', text, re.S)[1])
    diff = manifest["compare"]["diff"]
    assert set(manifest["compare"]["b"]["manifest"]["attention"]["layers"]) == {"0", "1", "2"}
    for key in ("raw|0", "reduced|2"):
        variant, layer = key.split("|")
        entry = diff["layers"][key]
        heads, m, _ = entry["shape"]
        values, _ = read_stage_slice(chunk(diff["text"], diff["chunks"], entry["chunk"]), heads * m, m, 0)
        expected = pair.difference(variant, int(layer)).reshape(heads * m, m).numpy()
        bound = np.abs(expected).max(axis=1, keepdims=True) / 254 + 1e-7
        assert (np.abs(values - expected) <= bound).all()


def test_one_text_through_two_models_of_the_same_shape(word_tokenizer):
    first = random_bert(3, 4, 32, vocab=len(word_tokenizer), seed=1)
    second = random_bert(3, 4, 32, vocab=len(word_tokenizer), seed=2)
    a = tw.analyze("The cat sat on the mat.", model=first, tokenizer=word_tokenizer)
    b = tw.analyze("The cat sat on the mat.", model=second, tokenizer=word_tokenizer)
    c = tw.compare(a, b, names=("seed 1", "seed 2"))
    assert c.labels("raw") == a.tokens  # the same pieces: no a→b labels
    expected = model_attentions(b)[2] - model_attentions(a)[2]
    torch.testing.assert_close(c.difference("raw", 2), expected, rtol=0, atol=1e-5)
    assert c.widget().meta["compare"]["names"] == ["seed 1", "seed 2"]


def test_an_ablation_importance_kept_by_both_is_a_delta_too(pair):
    pair.a.ablation_importance(layers=[1])
    pair.b.ablation_importance(layers=[1])
    deltas = pair.head_stat_deltas()
    torch.testing.assert_close(deltas["ablation"]["delta"][1],
                               pair.b.head_stats["ablation"][1] - pair.a.head_stats["ablation"][1])
    stats = tw.compare(pair.a, pair.b).widget().meta["compare"]["stats"]["ablation"]
    assert stats["delta"][:4] == [None] * 4 and all(isinstance(x, float) for x in stats["delta"][4:8])
    json.dumps(stats, allow_nan=False)  # strict JSON: the rows not computed are null


def test_a_malformed_difference_request_is_refused_as_any_other(pair):
    reply, _ = answer_compare(pair, {"type": "request", "id": 6, "what": "layer", "variant": "raw", "layer": True,
                                     "analysis": "diff"})
    assert reply["type"] == "error" and reply["id"] == 6 and "layer of a layer request must be an integer" in reply["message"]
    reply, _ = answer_compare(pair, {"type": "request", "id": "x", "what": "layer", "analysis": "diff"})
    assert reply["type"] == "error" and reply["id"] is None
    reply, _ = answer_compare(pair, ["not", "a", "request"])
    assert reply["type"] == "error" and "a request is a JSON object" in reply["message"]


def test_a_decoders_minimal_pair_and_its_ablation_in_the_widget(monkeypatch):
    """A decoder (GPT-2 shape, random weights): the difference against the model's own attentions, and the widget's
    ablation reply reading the next token before and after, as the model with the head zeroed gives it."""
    from tests.test_decoders import gpt2
    from tests.tokenizers_for_tests import byte_level_bpe

    tok = byte_level_bpe()
    model = gpt2(len(tok))
    a = tw.analyze("the cat sat on", model=model, tokenizer=tok)
    b = tw.analyze("the dog sat on", model=model, tokenizer=tok)
    c = tw.compare(a, b)
    assert "Ġcat→Ġdog" in c.labels("raw")
    ids = [torch.tensor([x.encoding.ids]) for x in (a, b)]
    with torch.no_grad():
        att = [model(input_ids=i, output_attentions=True).attentions[1][0] for i in ids]
    torch.testing.assert_close(c.difference("raw", 1), att[1] - att[0], rtol=0, atol=1e-5)
    w = a.widget()
    sent = []
    monkeypatch.setattr(w, "send", lambda content, buffers=None: sent.append(content))
    w._on_request(w, {"type": "request", "id": 2, "what": "ablation", "heads": [[1, 0]], "mode": "zero"}, [])
    reply = sent[-1]
    assert reply["type"] == "reply" and reply["readout"] and reply["predicts"] == "next token", reply
    dh = 15 // 3

    def zero_head(_m, args):
        x = args[0].clone()
        x[..., 0:dh] = 0
        return (x, *args[1:])

    ids = torch.tensor([a.encoding.ids])
    handle = model.transformer.h[1].attn.c_proj.register_forward_pre_hook(zero_head)
    try:
        with torch.no_grad():
            p_after = torch.softmax(model(input_ids=ids).logits[0, -1], -1)
    finally:
        handle.remove()
    (pos,) = reply["positions"]
    assert pos["position"] == len(a.tokens) - 1
    assert [t for t, _ in pos["after"]] == tok.convert_ids_to_tokens(p_after.topk(5).indices.tolist())
    assert pos["after"][0][1] == pytest.approx(float(p_after.max()), abs=1e-5)
