"""The standalone page: self-contained (no external reference), safe for any text, carrying every reply."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pytest

import transeasy_widget as tw
from tests.conftest import random_bert, wordpiece_tokenizer
from tests.decoders import f16 as from_f16
from transeasy_widget.export import replies, to_html

EVIL = "The cat <img src=x onerror=alert(1)> sat </script> on the mat."


@pytest.fixture(scope="module")
def evil():
    tok = wordpiece_tokenizer(("<", ">", "/", "img", "src", "=", "x", "onerror", "alert", "(", "1", ")", "script"))
    return tw.analyze(EVIL, model=random_bert(2, 2, 16, vocab=len(tok)), tokenizer=tok)


def _script_json(page: str, element_id: str) -> object:
    match = re.search(rf'<script type="application/json" id="{element_id}">(.*?)</script>', page, re.S)
    assert match, element_id
    return json.loads(match.group(1))


def test_the_page_references_nothing_outside_itself(evil):
    page = re.sub(r'(<script type="application/json"[^>]*>).*?(</script>)', r"\1\2", to_html(evil), flags=re.S)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert not re.search(r"""@import|<link|<script src|require\.js""", page)


def test_hostile_text_cannot_end_a_script_element_or_inject_markup(evil):
    page = to_html(evil)
    # the only script elements are the page's own four, whatever the text says
    assert page.count("<script") == 4 and page.count("</script>") == 4
    assert "<img" not in page  # escaped in the caption and title, \u003c-escaped inside the JSON
    state = _script_json(page, "tw-state")
    assert "<img" in "".join(state["meta"]["tokens"]) or "<" in state["meta"]["tokens"]  # round-trips exactly
    assert state["meta"]["tokens"] == evil.tokens


def test_the_page_carries_every_layer_of_every_variant_with_the_right_numbers(evil):
    table = replies(evil)
    for variant in evil.attentions.VARIANTS:
        assert f"overview|{variant}" in table
        for layer in range(2):
            entry = table[f"layer|{variant}|{layer}"]
            got = from_f16(base64.b64decode(entry["buffers"][0]), tuple(entry["content"]["shape"]))
            assert np.abs(got - evil.attentions.get(variant)[layer].numpy()).max() <= 2.0 ** -11
    # stages: per layer and head where they have them, once otherwise; weights only on request
    assert "stage|selfattn_query_hidden|1|1" in table and "stage|preemb_word_emb|0|0" in table
    assert "stage|preemb_word_emb|1|0" not in table and "stage|ffnn_dense_weight|0|0" not in table
    assert "stage|ffnn_dense_weight|1|0" in replies(evil, weights=True)
    assert table["stage|pipeline_hiddens|0|0"]["content"]["parity"]["ok"] is True
