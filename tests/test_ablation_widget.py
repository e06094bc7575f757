"""Ablation in the widget: the ``ablated`` trait (validated, refused from the browser and sent back), the ablation
request's reply against Analysis.ablate / effect computed here, and the exported page's precomputed effects."""

from __future__ import annotations

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
