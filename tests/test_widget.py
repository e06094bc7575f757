"""The widget's traits: validated with messages that give the valid range, linked to the analysis, answering requests."""

from __future__ import annotations

import pytest
import traitlets

import transeasy_widget as tw
from tests.conftest import random_bert


@pytest.fixture()
def a(word_tokenizer):
    model = random_bert(3, 4, 32, vocab=len(word_tokenizer))
    return tw.analyze("The cat sat on the mat.", text_pair="Where is the dog?", model=model, tokenizer=word_tokenizer)


def test_the_analysis_has_one_widget_and_displays_it(a):
    w = a.widget()
    assert a.widget() is w and w.analysis is a
    bundle = a._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    assert data["application/vnd.jupyter.widget-view+json"]["model_id"] == w.model_id
    assert a.widget(layer=2, head=3) is w and (w.layer, w.head) == (2, 3)


def test_meta_carries_tokens_segments_variants_and_stages(a):
    meta = a.widget().meta
    assert meta["n_layers"] == 3 and meta["n_heads"] == 4 and meta["tokens"] == a.tokens
    assert meta["segments"].count(1) == len(a.tokens) - a.tokens.index("[SEP]") - 1
    assert list(meta["variants"]) == ["raw", "nosep", "nosep_linscale", "nosep_softmax_scale", "reduced",
                                      "norm", "norm_summed", "alti", "alti_rollout", "rollout", "flow"]
    assert meta["variants"]["raw"]["labels"] == a.tokens
    assert "[SEP]" not in meta["variants"]["nosep"]["labels"]
    assert [s["name"] for s in meta["stages"]] == [s.name for s in a.trace.stages]


@pytest.mark.parametrize(("trait", "value", "message"), [
    ("layer", 3, r"layer must be in 0\.\.2"), ("layer", -1, r"0\.\.2"), ("head", 4, r"head must be in 0\.\.3"),
    ("token", 99, r"token must be -1 \(none\) or in 0\.\."), ("token", -2, "token must be -1"),
    ("variant", "softmax", "variant must be one of raw, nosep"), ("stage", "selfattn_querry", "stage must be one of"),
])
def test_out_of_range_values_raise_a_trait_error_with_the_valid_range(a, trait, value, message):
    w = a.widget()
    before = getattr(w, trait)
    with pytest.raises(traitlets.TraitError, match=message):
        setattr(w, trait, value)
    assert getattr(w, trait) == before


def test_switching_to_a_shorter_variant_drops_a_token_beyond_it(a):
    w = a.widget()
    w.token = len(a.tokens) - 1
    w.variant = "reduced"
    assert w.token == -1
    w.token = 1
    w.variant = "raw"
    assert w.token == 1


def test_python_side_observers_see_every_change(a):
    w, seen = a.widget(), []
    w.observe(lambda c: seen.append((c["name"], c["new"])), names=["layer", "head", "stage"])
    w.layer, w.head, w.stage = 2, 1, "ffnn_dense_act"
    assert seen == [("layer", 2), ("head", 1), ("stage", "ffnn_dense_act")]


def test_a_request_from_the_browser_gets_its_reply_with_buffers(a, monkeypatch):
    w, sent = a.widget(), []
    monkeypatch.setattr(w, "send", lambda content, buffers=None: sent.append((content, buffers)))
    w._on_request(w, {"type": "request", "id": 11, "what": "layer", "variant": "nosep", "layer": 1}, [])
    content, buffers = sent[0]
    m = len(a.attentions.labels("nosep"))
    assert content["id"] == 11 and content["shape"] == [4, m, m] and len(buffers[0]) == 4 * m * m * 2


def test_meta_cannot_be_set_from_the_front_end_or_from_python(a):
    w, sent = a.widget(), []
    meta = w.meta
    w.send_state = lambda key=None: sent.append(key) if key != "_first_paint" else None  # back to the browser
    w.set_state({"meta": {}})
    assert w.meta == meta and sent == [["meta"]]
    w.layer = 1  # still validated against the real meta
    w.set_state({"meta": {**meta, "n_layers": 1000}, "layer": 999})
    assert w.layer == 1 and w.meta["n_layers"] == 3
    with pytest.raises(traitlets.TraitError, match="read-only"):
        w.meta = {}


def test_unknown_or_meta_keywords_are_refused_naming_the_valid_ones(a):
    with pytest.raises(TypeError, match=r"'haed'.*layer, head, token, variant, arcs_all_heads, stage"):
        a.widget(layer=2, haed=3)
    with pytest.raises(TypeError, match="'meta'"):
        a.widget(meta={})
    assert a.widget().layer == 0  # nothing of a refused call was applied


@pytest.mark.parametrize(("state", "trait"), [
    ({"layer": 99}, "layer"), ({"layer": True}, "layer"), ({"head": "2"}, "head"), ({"token": -5}, "token"),
    ({"variant": "softmax"}, "variant"), ({"stage": "bogus"}, "stage"), ({"head": False}, "head"),
])
def test_a_refused_value_from_the_front_end_is_sent_back_corrected(a, state, trait):
    w, sent = a.widget(), []
    w.send_state = lambda key=None: sent.append(key) if key != "_first_paint" else None
    before = getattr(w, trait)
    w.set_state(state)
    assert getattr(w, trait) == before and sent == [[trait]]


def test_the_valid_part_of_a_partly_refused_update_is_kept(a):
    w, sent = a.widget(), []
    w.send_state = lambda key=None: sent.append(key) if key != "_first_paint" else None
    w.set_state({"layer": 2, "head": 99})
    assert (w.layer, w.head) == (2, 0) and sent == [["head"]]
    w.set_state({"token": 3, "variant": "reduced"})  # the browser's store sends both at once
    assert (w.token, w.variant) == (3, "reduced") and sent == [["head"]]


def test_bools_are_not_indices(a):
    w = a.widget()
    for trait in ("layer", "head", "token"):
        with pytest.raises(traitlets.TraitError):
            setattr(w, trait, True)


def test_every_message_from_the_browser_gets_a_reply_at_once(a, monkeypatch):
    w, sent = a.widget(), []
    monkeypatch.setattr(w, "send", lambda content, buffers=None: sent.append(content))
    for message in ({"type": "request", "id": 1, "what": ["layer"]}, "junk", {"type": "request", "id": 2, "what": "layer",
                    "variant": "raw", "layer": {"a": 1}}):
        w._on_request(w, message, [])
    assert [c["type"] for c in sent] == ["error"] * 3 and sent[2]["id"] == 2

    def broken(*_args):
        raise RuntimeError("deep inside")

    monkeypatch.setattr("transeasy_widget.widget.answer", broken)
    w._on_request(w, {"type": "request", "id": 5, "what": "overview", "variant": "raw"}, [])
    assert sent[-1]["type"] == "error" and sent[-1]["id"] == 5 and "deep inside" in sent[-1]["message"]


def test_the_state_carries_the_first_paint_of_the_selection_compactly(a):
    """The overview of the shown variant and the raw attention of the shown layer, in the page's packed form."""
    import numpy as np

    from transeasy_widget.pack import chunk, read_attention_layer

    w = a.widget()
    state = w.get_state()
    saved = state["_first_paint"]
    manifest = saved["manifest"]
    assert set(manifest["attention"]["layers"]) == {"0"} and set(manifest["attention"]["overview"]) == {"raw"}
    got, s, _ = read_attention_layer(chunk(saved["data"], manifest["chunks"], 0), 4, len(a.tokens), len(a.attentions.kept))
    assert (np.abs(got - a.attentions.raw[0].numpy()) <= s[..., None] / 510 + 1e-7).all()
    assert manifest["attention_stage"]["stage"] == "selfattn_attention"  # derived from that layer in the browser
    w.layer, w.variant = 2, "reduced"  # it follows the selection
    manifest = w._first_paint["manifest"]
    assert set(manifest["attention"]["layers"]) == {"2"} and set(manifest["attention"]["overview"]) == {"reduced"}
    sent = []
    w.send_state = lambda key=None: sent.append(key) if key != "_first_paint" else None
    w.set_state({"_first_paint": {}})  # Python → browser only
    assert w._first_paint["manifest"] == manifest and sent == [["_first_paint"]]
    w.layer, w.variant = 0, "raw"
def test_the_stage_viewer_is_closed_by_default_and_panels_are_a_remembered_choice(a):
    w = a.widget()
    assert w.panels == ["overview", "heatmap", "arcs"] and "stages" not in w.panels
    w.panels = ["stages", "heatmap", "row"]
    assert w.panels == ["heatmap", "row", "stages"]  # display order, whatever order was given
    with pytest.raises(traitlets.TraitError, match="panels must be a list of overview, heatmap, arcs, row, lens, stages"):
        w.panels = ["heatmap", "stage"]
    assert w.panels == ["heatmap", "row", "stages"]
    w.panels = "heatmap"  # traitlets reads one name as a list of one
    assert w.panels == ["heatmap"]


def test_the_colour_scale_is_fixed_by_default_and_per_head_on_request(a):
    w = a.widget()
    assert w.color_scale == "fixed"
    w.color_scale = "head"
    with pytest.raises(traitlets.TraitError, match="color_scale must be one of fixed, head"):
        w.color_scale = "log"
    assert w.color_scale == "head"


def test_meta_sends_special_tokens_per_variant_and_the_diagram_steps_from_the_registry(a):
    from transeasy_widget.stages import STEPS

    meta = a.widget().meta
    assert meta["variants"]["raw"]["special"] == list(a.encoding.special)
    assert not any(meta["variants"]["nosep"]["special"]) and not any(meta["variants"]["reduced"]["special"])
    names = [s["name"] for s in meta["stages"]]
    drawn = [n for step in meta["steps"] for n in step["stages"]]
    assert sorted(drawn) == sorted(names)  # every stage of this model in exactly one row of the diagram
    assert [s["title"] for s in meta["steps"]] == [t for t, ns in STEPS if set(ns) & set(names)]
    qkv = next(s for s in meta["steps"] if "selfattn_query_hidden" in s["stages"])
    assert qkv["section"] == "encoder layer" and "selfattn_key_weight" in qkv["stages"]
