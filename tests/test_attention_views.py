"""The attention variants equal TransEasy's definitions (checked against plain-loop references), for tools too."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest
import torch

from tests.conftest import random_bert, wordpiece_tokenizer
from transeasy_widget import InputError, analyze
from transeasy_widget.attention import VARIANTS, AttentionViews
from transeasy_widget.bert import bertplus_hier
from transeasy_widget.tokens import encode
from transeasy_widget.words import align


def reference(attn: torch.Tensor, special: list[bool], word_of: list[int | None]) -> dict[str, np.ndarray]:
    """TransEasy's variants, written out with loops over numpy arrays (no code of the package)."""
    a = attn.double().numpy()
    layers, heads, n, _ = a.shape
    kept = [i for i in range(n) if not special[i]]
    k = len(kept)
    words = sorted({word_of[i] for i in kept})  # type: ignore[type-var]
    m = len(words)
    nosep = np.zeros((layers, heads, k, k))
    linscale = np.zeros_like(nosep)
    softmax = np.zeros_like(nosep)
    reduced = np.zeros((layers, heads, m, m))
    for layer in range(layers):
        for head in range(heads):
            for r, i in enumerate(kept):
                for c, j in enumerate(kept):
                    nosep[layer, head, r, c] = a[layer, head, i, j]
                row = nosep[layer, head, r]
                linscale[layer, head, r] = row / row.sum()
                softmax[layer, head, r] = np.exp(row) / np.exp(row).sum()
            for w in range(m):
                rows = [r for r, i in enumerate(kept) if word_of[i] == w]
                mean_row = sum(linscale[layer, head, r] for r in rows) / len(rows)
                for v in range(m):
                    reduced[layer, head, w, v] = sum(mean_row[c] for c, j in enumerate(kept) if word_of[j] == v)
    return {"raw": a, "nosep": nosep, "nosep_linscale": linscale, "nosep_softmax_scale": softmax, "reduced": reduced}


def check_against_reference(a: Any) -> None:
    ref = reference(a.trace.selfattn_attention, a.encoding.special, list(a.alignment.piece_word))
    for variant in VARIANTS:
        got = a.attentions.get(variant).double().numpy()
        assert got.shape == ref[variant].shape, variant
        np.testing.assert_allclose(got, ref[variant], atol=2e-6, err_msg=variant)


@pytest.fixture(scope="module")
def tok() -> Any:
    return wordpiece_tokenizer(("don",))


@pytest.fixture(scope="module")
def model(tok: Any) -> Any:
    return random_bert(2, 3, 24, vocab=len(tok))


@pytest.fixture(scope="module")
def minilm(minilm_path: str) -> Any:
    from transformers import AutoModel, AutoTokenizer

    return AutoModel.from_pretrained(minilm_path), AutoTokenizer.from_pretrained(minilm_path)


def test_every_variant_equals_its_definition_on_a_random_model(tok, model):
    a = analyze("the cat sat on the mat because it was tired , understanding", model=model, tokenizer=tok)
    check_against_reference(a)


def test_nosep_of_one_sentence_is_exactly_the_original_slice(tok, model):
    a = analyze("the cat played.", model=model, tokenizer=tok)
    raw = a.attentions.raw
    assert torch.equal(raw, a.trace.selfattn_attention)
    assert torch.equal(a.attentions.nosep, raw[:, :, 1:-1, 1:-1])
    one = a.attentions.layer("raw", 1)
    assert one is a.trace.layer(1).selfattn_attention  # the trace's own tensor (from its cache), no copy
    assert a.attentions.layer("nosep", 1).data_ptr() == one[:, 1:-1, 1:-1].data_ptr()  # a view, not a copy


def test_every_variant_equals_its_definition_for_a_pair_without_any_special_token(tok, model):
    a = analyze("the cat sat.", text_pair="where is it?", model=model, tokenizer=tok)
    assert a.tokens.count("[SEP]") == 2
    check_against_reference(a)
    labels = a.attentions.labels("nosep")
    assert "[SEP]" not in labels and "[CLS]" not in labels and len(labels) == len(a.tokens) - 3
    assert a.attentions.segments("nosep") == [0, 0, 0, 0, 1, 1, 1, 1]
    assert a.attentions.segments("raw") == [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1]
    assert a.attentions.labels("reduced") == ["the", "cat", "sat.", "where", "is", "it?"]
    assert a.attentions.segments("reduced") == [0, 0, 0, 1, 1, 1]


def test_every_variant_equals_its_definition_on_minilm_with_accents_unknown_pieces_and_cjk(minilm):
    model, tokenizer = minilm
    text = "The café owner gave us a 😀 demo of the Huggingface course in 東京."
    words = ["The", "café", "owner", "gave", "us", "a", "😀", "demo", "of", "the", "Huggingface", "course", "in", "東京", "."]
    a = analyze(text, model=model, tokenizer=tokenizer, words=words)
    assert "[UNK]" in a.tokens and "cafe" in a.tokens
    assert a.attentions.labels("reduced") == words
    check_against_reference(a)


def test_reduced_rows_sum_to_one_with_accented_words(minilm):
    model, tokenizer = minilm
    a = analyze("Café crème brûlée, s'il vous plaît!", model=model, tokenizer=tokenizer)
    reduced = a.attentions.reduced
    assert reduced.shape[-1] == 6 and not torch.isnan(reduced).any()
    torch.testing.assert_close(reduced.sum(-1), torch.ones(reduced.shape[:-1]))


def test_reduced_is_the_product_of_the_assignment_matrices(tok, model):
    a = analyze("understanding the cat , un play", model=model, tokenizer=tok)
    views = a.attentions
    # m×k, 1 where the kept piece i belongs to word w (from the alignment's own piece → word map)
    word = views.alignment.word_of_pieces(views.kept)
    assign = torch.zeros(len(views.alignment.words), len(views.kept))
    assign[word, torch.arange(len(views.kept))] = 1.0
    rows = assign / assign.sum(1, keepdim=True)
    torch.testing.assert_close(views.reduced, rows @ views.nosep_linscale @ assign.T)


def test_row_with_all_attention_on_special_tokens_becomes_uniform_not_nan(tok):
    enc = encode(tok, "the cat sat", None, 64, "t")
    attn = torch.full((1, 1, 5, 5), 0.2)
    attn[0, 0, 2] = torch.tensor([0.5, 0.0, 0.0, 0.0, 0.5])  # "cat" looks only at [CLS] and [SEP]
    views = AttentionViews(attn, enc, lambda: align(enc))
    torch.testing.assert_close(views.nosep_linscale[0, 0, 1], torch.full((3,), 1 / 3))
    assert not torch.isnan(views.reduced).any()


def test_get_labels_and_segments_agree_for_every_variant(tok, model):
    a = analyze("the cat sat, dog!", model=model, tokenizer=tok)
    views = a.attentions
    assert views.VARIANTS == VARIANTS == ("raw", "nosep", "nosep_linscale", "nosep_softmax_scale", "reduced")
    for variant in VARIANTS:
        matrix = views.get(variant)
        assert isinstance(matrix, torch.Tensor) and matrix.shape[:2] == (2, 3)
        assert matrix.shape[-1] == matrix.shape[-2] == len(views.labels(variant)) == len(views.segments(variant))
    assert views.labels("raw") == a.tokens
    assert views.labels("reduced") == ["the", "cat", "sat,", "dog!"]
    with pytest.raises(InputError, match="Unknown attention variant 'nosep_reduced': choose one of raw, nosep"):
        views.get("nosep_reduced")


def test_word_rows_returns_every_matching_position(tok, model):
    a = analyze("The cat sat on the mat.", model=model, tokenizer=tok)
    views = a.attentions
    rows = views.word_rows("the")  # exact: the second "the" only; "The" differs in case
    assert rows.shape == (2, 3, 1, 6) and torch.equal(rows[:, :, 0], views.reduced[:, :, 4])
    both = views.word_rows("THE")  # no exact match: case-insensitive, both
    assert both.shape == (2, 3, 2, 6) and torch.equal(both, views.reduced[:, :, [0, 4]])
    assert torch.equal(views.word_rows("mat"), views.reduced[:, :, [5]])  # "mat." without its punctuation
    pieces = views.word_rows("the", variant="raw")
    assert torch.equal(pieces, views.raw[:, :, [1, 5]])
    with pytest.raises(InputError, match=r"No words labelled 'dog' in the reduced view; its 6 labels are: 'The', 'cat'"):
        views.word_rows("dog")


def test_attn_row_by_pos_checks_the_range(tok, model):
    a = analyze("the cat sat on the mat", model=model, tokenizer=tok)
    views = a.attentions
    assert torch.equal(views.attn_row_by_pos(2), views.reduced[:, :, 2])
    assert torch.equal(views.attn_row_by_pos(-1, "raw"), views.raw[:, :, 7])
    with pytest.raises(InputError, match=r"position 6 is out of range: this model has 6 \(positions 0..5\)"):
        views.attn_row_by_pos(6)


def test_hidden_states_are_the_layer_outputs(tok, model):
    a = analyze("the cat sat", model=model, tokenizer=tok)
    own = a.trace.pipeline_hiddens
    torch.testing.assert_close(a.hidden_states.last, own[-1][0])
    assert a.hidden_states.all.shape == (2, 5, 24)
    for layer in range(2):
        torch.testing.assert_close(a.hidden_states.all[layer], own[layer + 1][0])


def test_the_views_objects_are_made_once(tok, model):
    a = analyze("the cat sat", model=model, tokenizer=tok)
    assert a.attentions is a.attentions and a.head_stats is a.head_stats and a.viz is a.viz


@pytest.mark.parametrize("texts", [("the cat sat, dog!", None), ("the cat sat.", "where is it?")], ids=["single", "pair"])
def test_one_layer_of_a_variant_is_that_layer_of_the_whole_and_computes_that_layer_only(tok, model, texts):
    a = analyze(texts[0], text_pair=texts[1], model=model, tokenizer=tok)
    whole = AttentionViews(a.trace.selfattn_attention, a.encoding, lambda: a.alignment)  # the L×H×n×n tensor itself
    a.trace.cache.clear()
    for variant in VARIANTS:
        one = a.attentions.layer(variant, 1)
        m = len(a.attentions.labels(variant))
        assert one.shape == (3, m, m) and a.trace.cache.layers == [1], variant
        assert torch.equal(one, whole.get(variant)[1]), variant
    for variant in VARIANTS:
        assert torch.equal(a.attentions.get(variant), whole.get(variant)), variant
    assert torch.equal(a.attentions.layer("reduced", -1), a.attentions.layer("reduced", 1))
    with pytest.raises(InputError, match="layer 2 is out of range"):
        a.attentions.layer("raw", 2)
    with pytest.raises(InputError, match="Unknown attention variant"):
        a.attentions.layer("bogus", 0)
    assert "2 layers × 3 heads" in repr(a.attentions)


def test_bertplus_hier_face_has_the_original_names(minilm_path):
    analysis = bertplus_hier.analyzer("sentence to be analyzed", ["sentence", "to", "be", "analyzed"], model=minilm_path)
    att = analysis.bert.attentions
    assert att.raw.shape == (6, 12, 6, 6) and att.nosep.shape == (6, 12, 4, 4)
    assert att.nosep_linscale.shape == att.nosep_softmax_scale.shape == (6, 12, 4, 4)
    reduced = att.reduced
    assert type(reduced) is torch.Tensor and torch.equal(reduced, analysis.analysis.attentions.reduced)
    for name in ("attention_distance_mean_abs", "attention_distance_mean_directed", "attention_distance_mean_abs_std",
                 "attention_distance_mean_directed_std"):
        assert getattr(reduced, name).shape == (6, 12), name
    torch.testing.assert_close(reduced.attention_distance_mean_abs_std, reduced.attention_distance_mean_abs / 4)
    assert not hasattr(analysis.analysis.attentions.reduced, "attention_distance_mean_abs")  # the package's stays plain
    assert reduced.numpy().shape == (6, 12, 4, 4) and torch.softmax(reduced, -1).shape == (6, 12, 4, 4)
    assert analysis.bert.hidden_states.last.shape == (6, 384) and analysis.bert.hidden_states.all.shape == (6, 6, 384)
    assert att.word_rows("analyzed").shape == (6, 12, 1, 4)
    assert analysis.words == ["sentence", "to", "be", "analyzed"]
    figure = analysis.viz.nosep_linscale_reduced(0, 0)
    assert figure.axes[0].get_xlabel().startswith("Layer-0, Head-0 (0-based)")


def test_every_variant_of_one_layer_is_fast_at_512_tokens_on_12_layers_by_12_heads():
    tok = wordpiece_tokenizer()
    model = random_bert(12, 12, 96, vocab=len(tok), max_pos=512)  # the variants' cost depends on L, H and n only
    text = " ".join(["the cat sat on the mat because it was tired , understanding"] * 60)
    a = analyze(text, model=model, tokenizer=tok, truncate=True)
    assert len(a.tokens) == 512
    for layer, variant in enumerate(VARIANTS):  # each a layer not computed yet: the layer's recomputation included
        start = time.perf_counter()
        matrix = a.attentions.layer(variant, layer)
        assert time.perf_counter() - start < 1.0, variant
        assert matrix.shape[0] == 12
    torch.testing.assert_close(a.attentions.reduced.sum(-1), torch.ones(a.attentions.reduced.shape[:-1]))
