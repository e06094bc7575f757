"""The standalone page: self-contained (no external reference), safe for any text, carrying every reply."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import transeasy_widget as tw
from tests.conftest import random_bert, wordpiece_tokenizer
from transeasy_widget.export import stage_key, to_html
from transeasy_widget.pack import chunk, read_attention_layer, read_stage_slice

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
    assert page.count("<script") == 6 and page.count("</script>") == 6
    assert "<img" not in page  # escaped in the caption and title, \u003c-escaped inside the JSON
    state = _script_json(page, "tw-state")
    assert "<img" in "".join(state["meta"]["tokens"]) or "<" in state["meta"]["tokens"]  # round-trips exactly
    assert state["meta"]["tokens"] == evil.tokens


def _page_pack(page: str) -> tuple[dict, list[str]]:
    """The manifest and the two texts of a page's pack (part 0, before the boot script: the first paint's)."""
    manifest = _script_json(page, "tw-pack")
    texts = []
    for part in (0, 1):
        match = re.search(rf'<script type="text/plain" id="tw-data-{part}">(.*?)</script>', page, re.S)
        assert match
        texts.append(match.group(1))
    return manifest, texts


def test_the_page_holds_the_raw_attention_of_every_layer_once_within_the_stated_error(evil):
    manifest, text = _page_pack(to_html(evil))
    att = manifest["attention"]
    n, k, heads = len(evil.tokens), len(evil.attentions.kept), 2
    assert att["kept"] == evil.attentions.kept and set(att["layers"]) == {"0", "1"}
    assert att["word_of_piece"] == evil.alignment.word_of_pieces(evil.attentions.kept).tolist()
    for layer in range(2):
        got, s, sigma = read_attention_layer(chunk(text, manifest["chunks"], att["layers"][str(layer)]), heads, n, k)
        want = evil.attentions.raw[layer].numpy()
        assert (np.abs(got - want) <= s[..., None] / 510 + 1e-7).all()  # per-row scaled 8-bit: half a step
        assert np.allclose(s, want.max(axis=-1)) and np.allclose(sigma, evil.attentions.nosep[layer].sum(-1).numpy())
    # every variant's overview, no variant's layers: the page derives them (js/derive.ts)
    assert set(att["overview"]) == set(evil.attentions.VARIANTS)
    assert "layer|nosep|0" not in "".join(text)
    # the first paint's chunks (the selected layer, the selected variant's overview) come before the boot script
    assert [manifest["chunks"][att["layers"]["0"]][2], manifest["chunks"][att["overview"]["raw"]["chunk"]][2]] == [0, 0]
    assert {span[2] for span in manifest["chunks"]} == {0, 1}


def test_stage_slices_are_8_bit_per_row_within_the_stated_error(evil):
    manifest, text = _page_pack(to_html(evil, weights=True))
    stages = manifest["stages"]
    assert manifest["stage_layers"] == [0, 1]
    entry = stages[stage_key("selfattn_query_hidden", 1, 1)]
    rows, cols = entry["content"]["shape"]
    got, norms = read_stage_slice(chunk(text, manifest["chunks"], entry["chunk"]), rows, cols, entry["norms"])
    want = evil.trace.selfattn_query_hidden[1, 1].numpy()
    scale = np.abs(want).max(axis=1)
    assert (np.abs(got - want) <= scale[:, None] / 254 + np.abs(want) * 2.0 ** -11 + 1e-6).all()
    assert np.allclose(norms, np.linalg.norm(want, axis=1), rtol=1e-5)
    assert entry["content"]["row_labels"] == "tokens"  # restored from meta in the page
    assert stage_key("selfattn_attention", 0, 1) not in stages  # the raw attention, derived in the page:
    assert manifest["attention_stage"]["dims"] == ["n", "n"] and "stats" not in manifest["attention_stage"]
    assert stage_key("preemb_word_emb", 0, 0) in stages and stage_key("preemb_word_emb", 1, 0) not in stages
    assert stage_key("ffnn_dense_weight", 1, 0) in stages
    assert stage_key("ffnn_dense_weight", 1, 0) not in _page_pack(to_html(evil))[0]["stages"]
    assert stages[stage_key("pipeline_hiddens", 0, 0)]["content"]["parity"]["ok"] is True


def test_stage_layers_beyond_the_budget_are_left_out_and_the_page_says_so(evil):
    page = to_html(evil, stage_mb=0)
    manifest, _ = _page_pack(page)
    assert manifest["stage_layers"] == [] and stage_key("selfattn_query_hidden", 0, 0) not in manifest["stages"]
    assert set(manifest["attention"]["layers"]) == {"0", "1"}  # the attention is never left out
    assert "layers 0–1 left out" in page
    page = to_html(evil, layers=[1], stage_mb=0)  # asked for: in, whatever the budget
    manifest, _ = _page_pack(page)
    assert manifest["stage_layers"] == [1] and "layer 0 left out" in page
    assert "left out" not in to_html(evil, layers=[0, 1])
    with pytest.raises(tw.TransEasyError, match=r"layers must be layer indices in 0\.\.1"):
        to_html(evil, layers=[2])


def test_a_model_giving_nan_still_exports_a_strict_json_page(word_tokenizer):
    import torch

    model = random_bert(3, 2, 16, vocab=len(word_tokenizer))
    with torch.no_grad():
        model.encoder.layer[1].output.dense.weight[0, 0] = float("nan")
    a = tw.analyze("The cat sat on the mat.", model=model, tokenizer=word_tokenizer)
    page = to_html(a)
    for element in ("tw-state", "tw-pack"):
        match = re.search(rf'<script type="application/json" id="{element}">(.*?)</script>', page, re.S)
        assert match
        json.loads(match.group(1), parse_constant=lambda c: pytest.fail(f"bare {c} in the page's JSON"))
    assert '"NaN"' in page


def test_save_html_writes_the_widget_as_it_is_now(evil, tmp_path):
    w = evil.widget(layer=1, head=1, variant="reduced", stage="ffnn_dense_act")
    path = w.save_html(tmp_path / "now.html")
    state = _script_json(path.read_text(encoding="utf-8"), "tw-state")
    assert (state["layer"], state["head"], state["variant"], state["stage"]) == (1, 1, "reduced", "ffnn_dense_act")
    w.head = 0
    state = _script_json(evil.save_html(tmp_path / "a.html", layers=[1]).read_text(encoding="utf-8"), "tw-state")
    assert (state["layer"], state["head"]) == (1, 0)
    evil.widget(layer=0, variant="raw", stage="selfattn_attention")


def test_the_cli_takes_layers_and_warns_about_a_large_page(tmp_path, capsys, monkeypatch, minilm_path):
    from transeasy_widget import cli, export

    out = tmp_path / "page.html"
    assert cli.main(["the cat sat", "--model", str(minilm_path), "-o", str(out), "--layers", "2", "3"]) == 0
    manifest, _ = _page_pack(out.read_text(encoding="utf-8"))
    assert manifest["stage_layers"] == [2, 3]
    assert "warning" not in capsys.readouterr().err
    monkeypatch.setattr(export, "LARGE_MB", 0.01)
    assert cli.main(["the cat sat", "--model", str(minilm_path), "-o", str(out)]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "the page is large (" in err[0] and "MB)" in err[0]
    with pytest.raises(SystemExit):
        cli.main(["the cat sat", "--layers", "1"])  # without -o
