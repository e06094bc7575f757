"""The stage registry is the one source: the trace's attributes, shapes, docs and the original's names."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import transeasy_widget as tw
from tests.conftest import SHAPES, random_bert
from transeasy_widget.stages import REGISTRY, stage_table
from transeasy_widget.trace.encoder import LayerStack

# TransEasy's bertscope attributes, as its README and the semantics note list them (written out here on purpose,
# so that a stage dropped from the registry fails this test)
SEED_NAMES = [
    "model",
    "tokenizer",
    "pipeline_res",
    "pipeline_attns",
    "pipeline_hiddens",
    "sym_sent",
    "sym_token_ids",
    "sym_tokens",
    "sym_seq_len",
    "preemb_vocab",
    "preemb_word_emb",
    "preemb_pos_emb",
    "preemb_seg_emb",
    "preemb_sum_emb",
    "preemb_norm_sum_emb",
    "preemb_norm_weight",
    "preemb_norm_bias",
    "selfattn_query_weight",
    "selfattn_key_weight",
    "selfattn_value_weight",
    "selfattn_query_bias",
    "selfattn_key_bias",
    "selfattn_value_bias",
    "selfattn_query_hidden",
    "selfattn_key_hidden",
    "selfattn_value_hidden",
    "selfattn_qkt_hidden",
    "selfattn_qkt_scale_hidden",
    "selfattn_qkt_scale_soft_hidden",
    "selfattn_attention",
    "selfattn_contvec",
    "selfattn_contvec_concat",
    "addnorm1_dense_weight",
    "addnorm1_dense_bias",
    "addnorm1_dense_hidden",
    "addnorm1_add_hidden",
    "addnorm1_norm_hidden",
    "addnorm1_norm_weight",
    "addnorm1_norm_bias",
    "ffnn_dense_weight",
    "ffnn_dense_bias",
    "ffnn_dense_hidden",
    "ffnn_dense_act",
    "addnorm2_dense_weight",
    "addnorm2_dense_bias",
    "addnorm2_dense_hidden",
    "addnorm2_add_hidden",
    "addnorm2_norm_hidden",
    "addnorm2_norm_weight",
    "addnorm2_norm_bias",
    "manual_hiddens",
]


# the shapes the semantics note gives, per attribute, in terms of the config
def expected_shape(name: str, L: int, H: int, n: int, d: int, f: int, V: int) -> tuple[int, ...]:  # noqa: N803
    dh = d // H
    table = {
        "preemb_vocab": (V, d),
        "preemb_norm_weight": (d,),
        "preemb_norm_bias": (d,),
        "selfattn_query_weight": (L, H, dh, d),
        "selfattn_query_bias": (L, H, dh),
        "selfattn_query_hidden": (L, H, n, dh),
        "selfattn_qkt_hidden": (L, H, n, n),
        "selfattn_contvec": (L, H, n, dh),
        "selfattn_contvec_concat": (L, n, d),
        "addnorm1_dense_weight": (L, d, d),
        "addnorm1_dense_bias": (L, d),
        "addnorm1_norm_weight": (L, d),
        "ffnn_dense_weight": (L, d, f),
        "ffnn_dense_bias": (L, f),
        "ffnn_dense_hidden": (L, n, f),
        "ffnn_dense_act": (L, n, f),
        "addnorm2_dense_weight": (L, f, d),
        "addnorm2_dense_bias": (L, d),
        "addnorm2_norm_hidden": (L, n, d),
        "manual_hiddens": (L + 1, n, d),
        "preemb_word_emb": (n, d),
        "preemb_seg_emb": (n, d),
        "preemb_norm_sum_emb": (n, d),
    }
    return table[name]


def test_every_original_attribute_is_a_registry_stage():
    names = {s.name for s in REGISTRY}
    assert set(SEED_NAMES) <= names
    assert len(SEED_NAMES) == len(set(SEED_NAMES)) == 51


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_shapes_come_from_the_config(shape, word_tokenizer):
    L, H, d = shape  # noqa: N806
    f = 3 * d + 4  # a feed-forward size that is no multiple of anything on purpose
    model = random_bert(L, H, d, vocab=len(word_tokenizer), ffn=f)
    a = tw.analyze("the cat sat on the mat", model=model, tokenizer=word_tokenizer)
    n, V = len(a.tokens), len(word_tokenizer)  # noqa: N806
    for name in (
        "preemb_vocab",
        "preemb_norm_weight",
        "selfattn_query_weight",
        "selfattn_query_bias",
        "selfattn_query_hidden",
        "selfattn_qkt_hidden",
        "selfattn_contvec",
        "selfattn_contvec_concat",
        "addnorm1_dense_weight",
        "addnorm1_dense_bias",
        "addnorm1_norm_weight",
        "ffnn_dense_weight",
        "ffnn_dense_bias",
        "ffnn_dense_hidden",
        "ffnn_dense_act",
        "addnorm2_dense_weight",
        "addnorm2_dense_bias",
        "addnorm2_norm_hidden",
        "manual_hiddens",
        "preemb_word_emb",
        "preemb_seg_emb",
        "preemb_norm_sum_emb",
    ):
        assert tuple(a.trace[name].shape) == expected_shape(name, L, H, n, d, f, V), name
    # and every stage's value has the shape its registry template says
    for stage in a.trace.stages:
        if stage.kind in ("activation", "weight") or stage.name in ("sym_token_ids", "sym_segment_ids"):
            assert tuple(a.trace[stage.name].shape) == a.trace.shape(stage.name), stage.name


def test_trace_attributes_are_exactly_the_registry(word_tokenizer):
    a = tw.analyze("the cat", model=random_bert(2, 4, 32, vocab=len(word_tokenizer)), tokenizer=word_tokenizer)
    listed = [s.name for s in a.trace.stages]
    assert listed == [s.name for s in REGISTRY if s.exists_in("bert")]
    for name in listed:
        value = getattr(a.trace, name)  # a per-layer activation is stacked anew on each access: equal, not the same
        assert value is a.trace[name] or name == "pipeline_res" or torch.equal(value, a.trace[name]), name
    assert set(a.trace.groups) >= {"sym", "preemb", "selfattn", "addnorm1", "ffnn", "addnorm2", "manual", "pipeline"}
    assert a.trace.groups["ffnn"] == ["ffnn_dense_weight", "ffnn_dense_bias", "ffnn_dense_hidden", "ffnn_dense_act"]
    with pytest.raises(AttributeError, match="Did you mean selfattn_query_hidden"):
        _ = a.trace.selfattn_querry_hidden
    with pytest.raises(AttributeError, match="exists only in albert, electra"):
        _ = a.trace.preemb_proj_hidden


def test_weights_are_views_of_the_parameters_not_copies(word_tokenizer):
    model = random_bert(3, 2, 48, vocab=len(word_tokenizer))
    a = tw.analyze("the cat", model=model, tokenizer=word_tokenizer)
    t = a.trace

    def same_memory(view: torch.Tensor, param: torch.Tensor) -> bool:
        return view.untyped_storage().data_ptr() == param.untyped_storage().data_ptr()

    assert same_memory(t.preemb_vocab, model.embeddings.word_embeddings.weight)
    for layer, block in enumerate(model.encoder.layer):
        assert same_memory(t.selfattn_query_weight[layer], block.attention.self.query.weight)
        assert same_memory(t.ffnn_dense_weight[layer], block.intermediate.dense.weight)
        assert same_memory(t.addnorm2_norm_weight[layer], block.output.LayerNorm.weight)
    assert isinstance(t.selfattn_key_weight, LayerStack)
    # the views hold the weights in the original's layout: head h = rows h*dh..(h+1)*dh; dense stored transposed
    w = model.encoder.layer[1].attention.self.key.weight
    assert torch.equal(t.selfattn_key_weight[1, 1], w[24:48])
    assert torch.equal(t.addnorm1_dense_weight[2], model.encoder.layer[2].attention.output.dense.weight.T)
    # and behave like a stacked tensor where one is needed
    assert torch.equal(torch.as_tensor(t.selfattn_key_bias.to_tensor()), torch.stack(list(t.selfattn_key_bias)))
    assert torch.allclose(t.selfattn_key_bias, t.selfattn_key_bias.to_tensor())
    assert t.selfattn_key_weight.numpy().shape == (3, 2, 24, 48)


def test_the_readme_stage_table_is_generated_from_the_registry():
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    assert stage_table() in readme, "run `python -m transeasy_widget.stages --readme` to refresh the README"
