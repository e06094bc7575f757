"""TransEasy's bertplus_hier tree (analysis.attentions.noclssep.scale.linear.reduced.matrices, ...), checked
against each name's meaning computed here from the model's own output, by explicit loops where the original
defines a merge or a distance."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from tests.conftest import random_bert, wordpiece_tokenizer
from transeasy_widget import InputError
from transeasy_widget.bert import bertplus_hier

# the original's own example (its bertplus_hier.py), lower-cased as its scripts pass it, with UD tokens
SENTENCE = "the salesman gave us a demo of the huggingface course, and it is a seemmingly working very well."
UD = ["the", "salesman", "gave", "us", "a", "demo", "of", "the", "huggingface", "course", ",", "and", "it", "is", "a",
      "seemmingly", "working", "very", "well", "."]
ATOL = 1e-5


@pytest.fixture(scope="module")
def model_and_tokenizer(minilm_path: str) -> tuple[Any, Any]:
    from transformers import AutoModel, AutoTokenizer

    return AutoModel.from_pretrained(minilm_path, attn_implementation="eager").eval(), AutoTokenizer.from_pretrained(minilm_path)


@pytest.fixture(scope="module")
def own(model_and_tokenizer) -> dict[str, Any]:
    """The model's own pass over the sentence: what every name is defined from."""
    model, tok = model_and_tokenizer
    inputs = tok(SENTENCE, return_tensors="pt")
    with torch.no_grad():
        out = model(**inputs, output_attentions=True, output_hidden_states=True)
    ids = inputs["input_ids"][0].tolist()
    return {"A": torch.stack([a[0] for a in out.attentions]), "ids": ids, "pieces": tok.convert_ids_to_tokens(ids),
            "last": out.last_hidden_state[0], "all": torch.stack([h[0] for h in out.hidden_states[1:]])}


@pytest.fixture(scope="module", params=["ud", "default"])
def case(request, model_and_tokenizer, own) -> tuple[Any, list[str]]:
    """(analysis, its words): with the UD words, and with the default words (the text split at spaces)."""
    model, tok = model_and_tokenizer
    words = UD if request.param == "ud" else SENTENCE.split(" ")
    analysis = bertplus_hier.analyzer(SENTENCE, UD if request.param == "ud" else None, model=model, tokenizer=tok)
    return analysis, words


def glued_word_of_pieces(pieces: list[str], words: list[str]) -> list[int]:
    """The original's rule, written out: glue pieces (without ##) until they spell the next word."""
    out, w, buffer = [], 0, ""
    for piece in pieces:
        buffer += piece.removeprefix("##")
        out.append(w)
        if buffer == words[w]:
            w, buffer = w + 1, ""
    assert w == len(words) and buffer == "", (pieces, words)
    return out


def reduced_by_loops(linscale: torch.Tensor, word_of: list[int], m: int) -> torch.Tensor:
    layers, heads, k, _ = linscale.shape
    out = torch.zeros(layers, heads, m, m, dtype=torch.float64)
    for layer in range(layers):
        for head in range(heads):
            for w in range(m):
                rows = [i for i in range(k) if word_of[i] == w]
                row = sum(linscale[layer, head, i].double() for i in rows) / len(rows)  # mean over the word's pieces
                for v in range(m):
                    out[layer, head, w, v] = sum(row[j] for j in range(k) if word_of[j] == v)  # sum over the other's
    return out


def distances_by_loops(reduced: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    layers, heads, m, _ = reduced.shape
    absolute, directed = torch.zeros(layers, heads), torch.zeros(layers, heads)
    for layer in range(layers):
        for head in range(heads):
            steps = []
            for i in range(m):
                row = reduced[layer, head, i].tolist()
                steps.append(row.index(max(row)) - i)
            absolute[layer, head] = sum(abs(s) for s in steps) / m
            directed[layer, head] = sum(steps) / m
    return absolute, directed


def test_attention_matrices_mean_what_their_names_say(case, own):
    analysis, _ = case
    attention = own["A"]
    noclssep = attention[..., 1:-1, 1:-1]
    tree = analysis.attentions
    torch.testing.assert_close(tree.raw.matrices, attention, atol=ATOL, rtol=0)
    torch.testing.assert_close(tree.noclssep.raw.matrices, noclssep, atol=ATOL, rtol=0)
    linear = tree.noclssep.scale.linear.raw.matrices
    torch.testing.assert_close(linear.sum(-1), torch.ones(linear.shape[:-1]), atol=1e-5, rtol=0)  # rows sum to 1
    torch.testing.assert_close(linear, noclssep / noclssep.sum(-1, keepdim=True), atol=ATOL, rtol=0)
    torch.testing.assert_close(tree.noclssep.scale.softmax.matrices, torch.softmax(noclssep, -1), atol=ATOL, rtol=0)


def test_reduced_is_the_mean_of_rows_and_the_sum_of_columns_over_each_words_pieces(case, own):
    analysis, words = case
    attention = own["A"]
    noclssep = attention[..., 1:-1, 1:-1]
    word_of = glued_word_of_pieces(own["pieces"][1:-1], words)
    expected = reduced_by_loops(noclssep / noclssep.sum(-1, keepdim=True), word_of, len(words))
    reduced = analysis.attentions.noclssep.scale.linear.reduced.matrices
    assert reduced.shape == (6, 12, len(words), len(words))
    torch.testing.assert_close(reduced.double(), expected, atol=ATOL, rtol=0)


def test_attention_distances_by_explicit_argmax_loops(case):
    analysis, words = case
    node = analysis.attentions.noclssep.scale.linear.reduced
    absolute, directed = distances_by_loops(node.matrices)
    m = len(words)
    torch.testing.assert_close(node.attention_distance_mean_abs, absolute)
    torch.testing.assert_close(node.attention_distance_mean_directed, directed)
    torch.testing.assert_close(node.attention_distance_mean_abs_std, absolute / m)
    torch.testing.assert_close(node.attention_distance_mean_directed_std, directed / m)
    assert float(node.attention_distance_mean_abs.min()) >= 0 and float(node.attention_distance_mean_directed.min()) < 0


def test_word_rows_and_attn_row_by_pos_pick_the_rows_of_that_word(case, own):
    analysis, words = case
    tree = analysis.attentions
    pieces = own["pieces"]
    for node, labels in [(tree.raw, pieces), (tree.noclssep.raw, pieces[1:-1]),
                         (tree.noclssep.scale.linear.raw, pieces[1:-1]), (tree.noclssep.scale.softmax, pieces[1:-1]),
                         (tree.noclssep.scale.linear.reduced, words)]:
        where = [i for i, label in enumerate(labels) if label == "the"]
        assert len(where) == 2
        rows = node.word_rows("the")
        assert rows.shape == (6, 12, 2, len(labels))
        for r, i in enumerate(where):
            torch.testing.assert_close(rows[:, :, r], node.matrices[:, :, i])
    reduced = tree.noclssep.scale.linear.reduced
    torch.testing.assert_close(reduced.attn_row_by_pos(9), reduced.matrices[:, :, 9])
    torch.testing.assert_close(reduced.attn_row_by_pos([9, 1]), reduced.matrices[:, :, [9, 1]])
    with pytest.raises(InputError, match="position 40 is out of range"):
        reduced.attn_row_by_pos(40)
    with pytest.raises(InputError, match="No words labelled 'zebra'"):
        reduced.word_rows("zebra")


def test_viz_of_every_node_draws_its_own_matrix_zero_based(case):
    analysis, _ = case
    tree = analysis.attentions
    for node in (tree.raw, tree.noclssep.raw, tree.noclssep.scale.linear.raw, tree.noclssep.scale.linear.reduced,
                 tree.noclssep.scale.softmax):
        ax = node.viz(2, 11).axes[0]
        np.testing.assert_allclose(ax.images[0].get_array(), node.matrices[2, 11].numpy())
        assert ax.get_xlabel().startswith("Layer-2, Head-11 (0-based)")


def test_hidden_states_are_the_models_last_and_layer_outputs(case, own):
    analysis, _ = case
    torch.testing.assert_close(analysis.hidden_states.last, own["last"], atol=ATOL, rtol=0)
    torch.testing.assert_close(analysis.hidden_states.all, own["all"], atol=ATOL, rtol=0)
    assert analysis.hidden_states.all.shape == (6, len(own["ids"]), 384)


def test_tokenization_names(case, own):
    analysis, words = case
    t = analysis.tokenization
    assert t.pre.raw == SENTENCE and t.pre.spaced == SENTENCE.split(" ")
    assert t.bert.ids == own["ids"] and t.bert.ids_noclssep == own["ids"][1:-1]
    assert t.bert.wordpieces.raw == own["pieces"] and t.bert.wordpieces.noclssep == own["pieces"][1:-1]
    assert torch.equal(t.bert.obj["input_ids"], torch.tensor([own["ids"]]))
    assert t.custom == (words if words is UD else [])
    assert t.wordpos("the") == [0, 7]  # among the pieces without [CLS]/[SEP]
    assert t.wordpos("the", noclssep=False) == [1, 8]  # with them
    assert t.wordpos("course,", wordpiece=False) == [9]  # among the default (space-separated) words
    assert t.wordpos("course", wordpiece=False, custom=True) == ([9] if words is UD else [])


def test_the_tree_is_views_of_the_analysis_not_copies(case):
    analysis, _ = case
    a, tree = analysis.analysis, analysis.attentions
    nodes = {"raw": tree.raw, "nosep": tree.noclssep.raw, "nosep_linscale": tree.noclssep.scale.linear.raw,
             "reduced": tree.noclssep.scale.linear.reduced, "nosep_softmax_scale": tree.noclssep.scale.softmax}
    for variant, node in nodes.items():
        assert torch.equal(node.matrices, a.attentions.get(variant))
        assert node.matrices is node.matrices  # stacked once, then held (scripts index it in loops)
    assert tree.noclssep.scale.linear.reduced.attention_distance_mean_abs is a.head_stats["distance_abs"]


def test_one_layer_model_keeps_its_layer_axis():
    tok = wordpiece_tokenizer()
    analysis = bertplus_hier.analyzer("the cat sat", model=random_bert(1, 1, 8, vocab=len(tok)), tokenizer=tok)
    assert analysis.attentions.noclssep.scale.linear.reduced.attn_row_by_pos(0).shape == (1, 1, 3)
