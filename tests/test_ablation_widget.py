"""Ablation in the widget: the ``ablated`` trait (validated, refused from the browser and sent back), the ablation
request's reply against Analysis.ablate / effect computed here, and the exported page's precomputed effects."""

from __future__ import annotations

import json
import re

import pytest
import traitlets

import transeasy_widget as tw
from tests.conftest import random_bert


@pytest.fixture()
def a(word_tokenizer):
    model = random_bert(3, 4, 32, vocab=len(word_tokenizer))
    return tw.analyze("The cat sat on the mat.", model=model, tokenizer=word_tokenizer)


def test_ablated_is_a_sorted_set_of_heads_in_range(a):
    w = a.widget()
    assert w.ablated == []
    w.ablated = [[2, 1], (0, 3), [2, 1]]
    assert w.ablated == [[0, 3], [2, 1]]
    assert a.widget(ablated=[[1, 1]]).ablated == [[1, 1]]
    for bad in ([[3, 0]], [[0, 4]], [[0]], [[True, 1]], [["0", 1]], "0,1", [[0, 1.0]]):
        with pytest.raises(traitlets.TraitError, match=r"ablated must be a list of \[layer, head\] pairs"):
            w.ablated = bad
    assert w.ablated == [[1, 1]]


def test_the_ablation_mode_is_zero_or_mean(a):
    w = a.widget()
    assert w.ablation_mode == "zero"
    w.ablation_mode = "mean"
    with pytest.raises(traitlets.TraitError, match="ablation_mode must be one of zero, mean"):
        w.ablation_mode = "half"
    assert w.ablation_mode == "mean"


def test_a_bad_ablated_set_from_the_browser_is_refused_and_sent_back(a, monkeypatch):
    w = a.widget(ablated=[[0, 1]])
    sent = []
    monkeypatch.setattr(w, "send_state", lambda key=None: sent.append(key))
    w.set_state({"ablated": [[9, 9]], "head": 2})
    assert w.ablated == [[0, 1]] and w.head == 2 and sent == [["ablated"]]
    w.set_state({"ablated": [[2, 3], [0, 0]]})  # kept, in Python's order, and that order sent back
    assert w.ablated == [[0, 0], [2, 3]] and sent[-1] == "ablated"


def ask(w, monkeypatch, request):
    sent = []
    monkeypatch.setattr(w, "send", lambda content, buffers=None: sent.append(content))
    w._on_request(w, {"type": "request", "id": 4, "what": "ablation", **request}, [])
    return sent[-1]


def test_a_bad_ablation_request_gets_an_error_reply(a, monkeypatch):
    w = a.widget()
    for request, message in (({"heads": [[7, 0]]}, "heads of an ablation request must be"),
                             ({"heads": []}, "at least one head"),
                             ({"heads": [[0, 0]], "mode": "x" * 300}, "mode of an ablation request")):
        reply = ask(w, monkeypatch, request)
        assert reply["type"] == "error" and reply["id"] == 4 and message in reply["message"], reply
        assert len(reply["message"]) < 400


def hooked(model, layer: int, head: int, dh: int):
    """A forward pre-hook on layer ``layer``'s attention output projection that zeroes head ``head``'s context
    vectors: the model's own pass with the head ablated (independent of the trace)."""
    def pre(_module, args):
        x = args[0].clone()
        x[..., head * dh:(head + 1) * dh] = 0
        return (x, *args[1:])

    encoder = getattr(model, "bert", model)
    return encoder.encoder.layer[layer].attention.output.dense.register_forward_pre_hook(pre)


def test_the_effect_of_a_bare_encoder_is_the_cosine_of_its_hidden_states(a, monkeypatch):
    import torch

    reply = ask(a.widget(), monkeypatch, {"heads": [[1, 2]], "mode": "zero"})
    assert reply["type"] == "reply" and reply["readout"] is False and reply["positions"] == []
    mean = ask(a.widget(), monkeypatch, {"heads": [[1, 2]], "mode": "mean"})
    expected_mean = a.ablate(heads=[(1, 2)], mode="mean").effect().cosine
    assert mean["mode"] == "mean" and mean["cosine"] == pytest.approx([float(c) for c in expected_mean])
    assert mean["cosine"] != pytest.approx(reply["cosine"], abs=1e-9)
    ids = torch.tensor([a.encoding.ids])
    with torch.no_grad():
        before = a.model(input_ids=ids, output_hidden_states=True).hidden_states
        handle = hooked(a.model, 1, 2, a.trace.sizes["dh"])
        try:
            after = a.model(input_ids=ids, output_hidden_states=True).hidden_states
        finally:
            handle.remove()
    expected = [float(torch.nn.functional.cosine_similarity(x[0], y[0], dim=-1).mean()) for x, y in zip(before, after, strict=True)]
    assert reply["cosine"] == pytest.approx(expected, abs=1e-5)
    assert reply["cosine"][:2] == pytest.approx([1.0, 1.0]) and reply["cosine"][-1] < 1 - 1e-6  # moved
    assert a.widget()._effects  # kept for the exported page


def test_an_mlm_shows_its_top_predictions_and_the_predicted_tokens_probability(word_tokenizer, monkeypatch):
    import torch
    from transformers import BertConfig, BertForMaskedLM

    torch.manual_seed(1)
    cfg = BertConfig(vocab_size=len(word_tokenizer), hidden_size=32, num_hidden_layers=3, num_attention_heads=4,
                     intermediate_size=64, max_position_embeddings=64, attn_implementation="eager")
    mlm = BertForMaskedLM(cfg).eval()
    m = tw.analyze("The cat [MASK] on the mat.", model=mlm, tokenizer=word_tokenizer)
    reply = ask(m.widget(), monkeypatch, {"heads": [[0, 1], [2, 3]]})
    assert reply["type"] == "reply" and reply["readout"] is True, reply
    mask = m.tokens.index("[MASK]")
    (pos,) = reply["positions"]
    assert pos["position"] == mask and pos["input_token"] == "[MASK]"
    ids = torch.tensor([m.encoding.ids])
    with torch.no_grad():
        p_before = torch.softmax(mlm(input_ids=ids).logits[0, mask], -1)
        handles = [hooked(mlm, 0, 1, 8), hooked(mlm, 2, 3, 8)]
        try:
            p_after = torch.softmax(mlm(input_ids=ids).logits[0, mask], -1)
        finally:
            for h in handles:
                h.remove()
    top = word_tokenizer.convert_ids_to_tokens(int(p_before.argmax()))
    assert reply["token"] == top and pos["before"][0][0] == top
    assert pos["prob_before"] == pytest.approx(float(p_before.max()), abs=1e-5)
    assert pos["prob_after"] == pytest.approx(float(p_after[int(p_before.argmax())]), abs=1e-5)
    assert [t for t, _ in pos["after"]] == word_tokenizer.convert_ids_to_tokens(p_after.topk(5).indices.tolist())


def test_the_exported_page_holds_the_effects_computed_and_that_of_its_set(a, tmp_path, monkeypatch):
    w = a.widget()
    ask(w, monkeypatch, {"heads": [[0, 0]]})
    w.ablated = [[2, 3]]
    text = w.save_html(tmp_path / "page.html").read_text(encoding="utf-8")
    manifest = json.loads(re.search(r'<script type="application/json" id="tw-pack">(.*?)</script>', text, re.S)[1])
    assert set(manifest["ablations"]) == {"ablation|0.0|zero", "ablation|2.3|zero"}
    state = json.loads(re.search(r'<script type="application/json" id="tw-state">(.*?)</script>', text, re.S)[1])
    assert state["ablated"] == [[2, 3]]
