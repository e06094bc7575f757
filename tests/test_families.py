"""The BERT family: RoBERTa, XLM-RoBERTa, DistilBERT, ALBERT and ELECTRA traced stage by stage, under BERT's names.

Every stage is checked against what the model's own modules compute (forward hooks), for random configs of
several shapes built here (no download), single texts and pairs, with tokenizers of each family's own kind.
The module paths below are written out from each modeling file on purpose: they do not come from the adapters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest
import torch
from torch import nn

import transeasy_widget as tw
from tests.tokenizers_for_tests import byte_level_bpe, sentencepiece, wordpiece
from transeasy_widget.stages import REGISTRY, STAGES
from transeasy_widget.trace.encoder import LayerStack

TOL = 1e-5
# the scores are no module's output: they are checked against Q @ K.T from the model's own Q and K, relative to
# their size (the product of two rounded factors)
RELATIVE = {"selfattn_qkt_hidden": 1e-4, "selfattn_qkt_scale_hidden": 1e-4}
SINGLE = ("The cat sat on the mat because it was tired.", None)
PAIR = ("Where is the cat?", "The cat is in a box.")

BERT_LAYER = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
              "attn_out": "attention.output.dense", "norm1": "attention.output.LayerNorm",
              "ffn_in": "intermediate.dense", "ffn_out": "output.dense", "norm2": "output.LayerNorm"}


@dataclass(frozen=True)
class Shape:
    layers: int
    heads: int
    hidden: int
    emb: int  # embedding size e (ALBERT, ELECTRA; ignored elsewhere)
    groups: int = 1  # ALBERT's num_hidden_groups
    inner: int = 1  # ALBERT's inner_group_num

    def __str__(self) -> str:
        extra = f"-g{self.groups}i{self.inner}" if (self.groups, self.inner) != (1, 1) else ""
        return f"{self.layers}x{self.heads}x{self.hidden}e{self.emb}{extra}"


@dataclass(frozen=True)
class Family:
    name: str  # model_type
    tokenizer: Callable[[], Any]
    build: Callable[..., nn.Module]  # (shape, vocab, **config overrides) → the base model, eval mode
    layers: Callable[[Any], list[nn.Module]]  # the distinct layer modules (ALBERT: the shared ones)
    paths: dict[str, str]  # part → module path inside a layer
    projection: Callable[[Any], Any]  # the embedding projection module (nn.Linear), or None
    segments: bool = True


def _config(cls: Any, **kw: Any) -> Any:
    return cls(attn_implementation=kw.pop("attn", "eager"), **kw)


def _roberta(shape: Shape, vocab: int, xlm: bool = False, **kw: Any) -> nn.Module:
    from transformers import RobertaConfig, RobertaModel, XLMRobertaConfig, XLMRobertaModel

    config_cls, model_cls = (XLMRobertaConfig, XLMRobertaModel) if xlm else (RobertaConfig, RobertaModel)
    kw = {"max_position_embeddings": 66, "type_vocab_size": 1, "pad_token_id": 1, **kw}
    cfg = _config(config_cls, vocab_size=vocab, hidden_size=shape.hidden, num_hidden_layers=shape.layers,
                  num_attention_heads=shape.heads, intermediate_size=3 * shape.hidden + 4, **kw)
    return model_cls(cfg).eval()


def _distilbert(shape: Shape, vocab: int, **kw: Any) -> nn.Module:
    from transformers import DistilBertConfig, DistilBertModel

    cfg = _config(DistilBertConfig, vocab_size=vocab, dim=shape.hidden, n_layers=shape.layers, n_heads=shape.heads,
                  hidden_dim=3 * shape.hidden + 4, max_position_embeddings=64, **kw)
    return DistilBertModel(cfg).eval()


def _albert(shape: Shape, vocab: int, **kw: Any) -> nn.Module:
    from transformers import AlbertConfig, AlbertModel

    cfg = _config(AlbertConfig, vocab_size=vocab, embedding_size=shape.emb, hidden_size=shape.hidden,
                  num_hidden_layers=shape.layers, num_attention_heads=shape.heads,
                  intermediate_size=3 * shape.hidden + 4, num_hidden_groups=shape.groups,
                  inner_group_num=shape.inner, max_position_embeddings=64, **kw)
    return AlbertModel(cfg).eval()


def _electra(shape: Shape, vocab: int, **kw: Any) -> nn.Module:
    from transformers import ElectraConfig, ElectraModel

    cfg = _config(ElectraConfig, vocab_size=vocab, embedding_size=shape.emb, hidden_size=shape.hidden,
                  num_hidden_layers=shape.layers, num_attention_heads=shape.heads,
                  intermediate_size=3 * shape.hidden + 4, max_position_embeddings=64, **kw)
    return ElectraModel(cfg).eval()


def _seeded(build: Callable[..., nn.Module], **fixed: Any) -> Callable[..., nn.Module]:
    def seeded(shape: Shape, vocab: int, seed: int = 0, **kw: Any) -> nn.Module:
        torch.manual_seed(seed)
        return build(shape, vocab, **fixed, **kw)
    return seeded


FAMILIES = {
    "roberta": Family("roberta", byte_level_bpe, _seeded(_roberta), lambda m: list(m.encoder.layer), BERT_LAYER,
                      lambda m: None),
    "xlm-roberta": Family("xlm-roberta", lambda: sentencepiece("xlm-roberta"), _seeded(_roberta, xlm=True),
                          lambda m: list(m.encoder.layer), BERT_LAYER, lambda m: None),
    "distilbert": Family(
        "distilbert", lambda: wordpiece("distilbert"), _seeded(_distilbert), lambda m: list(m.transformer.layer),
        {"q": "attention.q_lin", "k": "attention.k_lin", "v": "attention.v_lin", "attn_out": "attention.out_lin",
         "norm1": "sa_layer_norm", "ffn_in": "ffn.lin1", "ffn_out": "ffn.lin2", "norm2": "output_layer_norm"},
        lambda m: None, segments=False),
    "albert": Family(
        "albert", lambda: sentencepiece("albert"), _seeded(_albert),
        lambda m: [layer for group in m.encoder.albert_layer_groups for layer in group.albert_layers],
        {"q": "attention.query", "k": "attention.key", "v": "attention.value", "attn_out": "attention.dense",
         "norm1": "attention.LayerNorm", "ffn_in": "ffn", "ffn_out": "ffn_output", "norm2": "full_layer_layer_norm"},
        lambda m: m.encoder.embedding_hidden_mapping_in),
    "electra": Family("electra", wordpiece, _seeded(_electra), lambda m: list(m.encoder.layer), BERT_LAYER,
                      lambda m: getattr(m, "embeddings_project", None)),
}

SHAPES = {
    "roberta": [Shape(2, 4, 32, 32), Shape(3, 2, 48, 48)],
    "xlm-roberta": [Shape(2, 4, 32, 32)],
    "distilbert": [Shape(2, 4, 32, 32), Shape(3, 2, 48, 48)],
    "albert": [Shape(3, 4, 32, 16), Shape(4, 2, 48, 24, groups=2, inner=2), Shape(2, 4, 32, 32)],
    "electra": [Shape(2, 4, 32, 16), Shape(3, 2, 48, 48)],
}
CASES = [(name, shape) for name, shapes in SHAPES.items() for shape in shapes]


@cache
def tokenizer_of(name: str) -> Any:
    return FAMILIES[name].tokenizer()


def model_of(name: str, shape: Shape | None = None, **kw: Any) -> Any:
    return FAMILIES[name].build(shape or SHAPES[name][0], len(tokenizer_of(name)), **kw)


def analyze(name: str, texts: tuple[str, str | None] = SINGLE, model: Any = None, **kw: Any) -> tw.Analysis:
    return tw.analyze(texts[0], texts[1], model=model_of(name) if model is None else model,
                      tokenizer=tokenizer_of(name), **kw)


def _module(root: nn.Module, path: str) -> nn.Module:
    for part in path.split("."):
        root = getattr(root, part)
    return root


def hooked_run(family: Family, model: Any, enc: Any) -> dict[str, list[torch.Tensor]]:
    """Run the model itself and capture, in call order, what each of its modules took and gave."""
    seen: dict[str, list[torch.Tensor]] = {}
    handles = []

    def keep(key: str, module: nn.Module, what: str = "out") -> None:
        def hook(_m: Any, args: tuple, out: Any) -> None:
            value = args[0] if what == "in" else (out[0] if isinstance(out, tuple) else out)
            seen.setdefault(key, []).append(value.detach()[0].clone())
        handles.append(module.register_forward_hook(hook))

    emb = model.embeddings
    keep("word", emb.word_embeddings)
    keep("pos", emb.position_embeddings)
    if family.segments:
        keep("seg", emb.token_type_embeddings)
    keep("emb_sum", emb.LayerNorm, "in")
    keep("emb_norm", emb.LayerNorm)
    if (projection := family.projection(model)) is not None:
        keep("proj", projection)
    for layer in family.layers(model):  # distinct modules: a shared layer's hooks fire at each of its runs
        parts = {part: _module(layer, path) for part, path in family.paths.items()}
        for key in ("q", "k", "v", "attn_out", "norm1", "ffn_in", "ffn_out", "norm2"):
            keep(key, parts[key])
        keep("concat", parts["attn_out"], "in")
        keep("add1", parts["norm1"], "in")
        keep("act", parts["ffn_out"], "in")
        keep("add2", parts["norm2"], "in")
    ids = torch.tensor([enc.ids])
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    if family.segments:
        inputs["token_type_ids"] = torch.tensor([enc.segment_ids])
    try:
        with torch.no_grad():
            out = model(**inputs, output_attentions=True, output_hidden_states=True)
    finally:
        for h in handles:
            h.remove()
    seen["hidden"] = [h[0] for h in out.hidden_states]
    seen["attn"] = [x[0] for x in out.attentions]
    return seen


def max_diff(a: Any, b: torch.Tensor) -> float:
    a = torch.as_tensor(a)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float((a - b).abs().max())


def stage_diffs(a: tw.Analysis, family: Family, model: Any) -> dict[str, float]:
    """max |trace - model| per stage over every layer (relative to the scores' size for the RELATIVE ones)."""
    t, seen = a.trace, hooked_run(family, model, a.encoding)
    n, heads, dh = t.sizes["n"], t.sizes["H"], t.sizes["dh"]
    diffs: dict[str, float] = {}

    def record(stage: str, value: float) -> None:
        diffs[stage] = max(diffs.get(stage, 0.0), value)

    for stage, key in (("preemb_word_emb", "word"), ("preemb_pos_emb", "pos"), ("preemb_sum_emb", "emb_sum"),
                       ("preemb_norm_sum_emb", "emb_norm")):
        record(stage, max_diff(t[stage], seen[key][0]))
    if family.segments:
        record("preemb_seg_emb", max_diff(t.preemb_seg_emb, seen["seg"][0]))
    if "proj" in seen:
        record("preemb_proj_hidden", max_diff(t.preemb_proj_hidden, seen["proj"][0]))

    def per_head(x: torch.Tensor) -> torch.Tensor:
        return x.view(n, heads, dh).transpose(0, 1)

    assert len(seen["q"]) == t.sizes["L"], "one captured run per traced layer"
    for layer in range(t.sizes["L"]):
        q, k, v = (per_head(seen[x][layer]) for x in "qkv")
        record("selfattn_query_hidden", max_diff(t.selfattn_query_hidden[layer], q))
        record("selfattn_key_hidden", max_diff(t.selfattn_key_hidden[layer], k))
        record("selfattn_value_hidden", max_diff(t.selfattn_value_hidden[layer], v))
        qkt = torch.einsum("hid,hjd->hij", q, k)
        size = max(1.0, float(qkt.abs().max()))
        record("selfattn_qkt_hidden", max_diff(t.selfattn_qkt_hidden[layer], qkt) / size)
        record("selfattn_qkt_scale_hidden", max_diff(t.selfattn_qkt_scale_hidden[layer], qkt / dh ** 0.5) / size)
        record("selfattn_attention", max_diff(t.selfattn_attention[layer], seen["attn"][layer]))
        record("selfattn_contvec", max_diff(t.selfattn_contvec[layer], per_head(seen["concat"][layer])))
        record("selfattn_contvec_concat", max_diff(t.selfattn_contvec_concat[layer], seen["concat"][layer]))
        for stage, key in (("addnorm1_dense_hidden", "attn_out"), ("addnorm1_add_hidden", "add1"),
                           ("addnorm1_norm_hidden", "norm1"), ("ffnn_dense_hidden", "ffn_in"),
                           ("ffnn_dense_act", "act"), ("addnorm2_dense_hidden", "ffn_out"),
                           ("addnorm2_add_hidden", "add2"), ("addnorm2_norm_hidden", "norm2")):
            record(stage, max_diff(t[stage][layer], seen[key][layer]))
    assert len(seen["hidden"]) == t.sizes["L"] + 1
    for i, h in enumerate(seen["hidden"]):
        record("manual_hiddens", max_diff(t.manual_hiddens[i], h))
    return diffs


def assert_every_stage_matches(a: tw.Analysis, name: str, model: Any) -> None:
    diffs = stage_diffs(a, FAMILIES[name], model)
    assert {k: v for k, v in diffs.items() if v > RELATIVE.get(k, TOL)} == {}


# --- parity: every stage, every family, several shapes, single texts and pairs ---------------------------------

@pytest.mark.parametrize("texts", [SINGLE, PAIR], ids=["single", "pair"])
@pytest.mark.parametrize(("name", "shape"), CASES, ids=[f"{n}-{s}" for n, s in CASES])
def test_every_stage_equals_the_models_own_computation(name, shape, texts):
    model = model_of(name, shape)
    a = analyze(name, texts, model)
    assert a.family == name
    assert_every_stage_matches(a, name, model)
    report = a.verify()
    layers = shape.layers * shape.inner
    assert report.ok and len(report.hidden_diff) == layers + 1 and len(report.attention_diff) == layers


@pytest.mark.parametrize("name", list(FAMILIES))
def test_default_sdpa_attention_and_training_mode_still_give_parity(name):
    model = model_of(name, attn="sdpa")
    model.train()
    a = analyze(name, PAIR, model)
    assert a.verify().ok and model.training and model.config._attn_implementation == "sdpa"


@pytest.mark.parametrize("name", list(FAMILIES))
@pytest.mark.parametrize("act", ["relu", "gelu_new", "silu"])
def test_the_activation_function_is_the_models_own(name, act):
    key = "activation" if name == "distilbert" else "hidden_act"
    model = model_of(name, **{key: act})
    a = analyze(name, SINGLE, model)
    assert_every_stage_matches(a, name, model)


@pytest.mark.parametrize(("name", "task"), [
    ("roberta", "RobertaForMaskedLM"), ("xlm-roberta", "XLMRobertaForMaskedLM"),
    ("distilbert", "DistilBertForMaskedLM"), ("albert", "AlbertForMaskedLM"), ("electra", "ElectraForPreTraining"),
    ("roberta", "RobertaForSequenceClassification"),
])
def test_a_task_model_is_traced_through_its_encoder(name, task):
    import transformers

    base = model_of(name)
    torch.manual_seed(0)
    lm = getattr(transformers, task)(base.config).eval()
    a = analyze(name, PAIR, lm)
    assert type(a.model).__name__ == type(base).__name__ and a.model is getattr(lm, lm.base_model_prefix)
    assert a.verify().ok


# --- the registry: one vocabulary, and every difference a stage of its own -------------------------------------

@pytest.mark.parametrize(("name", "shape"), CASES, ids=[f"{n}-{s}" for n, s in CASES])
def test_the_stages_are_the_registrys_with_the_shapes_it_gives(name, shape):
    a = analyze(name, PAIR, model_of(name, shape))
    t = a.trace
    listed = [s.name for s in t.stages]
    assert listed == [s.name for s in REGISTRY if s.exists_in(name, t.features)]
    for stage in t.stages:
        if stage.kind in ("activation", "weight") or stage.name in ("sym_token_ids", "sym_segment_ids"):
            assert tuple(t[stage.name].shape) == t.shape(stage.name), stage.name
    d, e = shape.hidden, shape.emb if name in ("albert", "electra") else shape.hidden
    assert (t.sizes["d"], t.sizes["e"], t.sizes["L"]) == (d, e, shape.layers * shape.inner)


def test_roberta_position_ids_start_after_the_padding_index():
    a = analyze("roberta", PAIR)
    n, pad = a.trace.sizes["n"], a.model.config.pad_token_id
    assert pad == 1 and a.trace.sym_position_ids.tolist() == list(range(pad + 1, pad + 1 + n))
    table = a.model.embeddings.position_embeddings.weight
    assert torch.equal(a.trace.preemb_pos_emb, table[pad + 1: pad + 1 + n])
    note = STAGES["sym_position_ids"].note("roberta")
    assert "after the padding index" in note and STAGES["sym_position_ids"].note("xlm-roberta") == note


def test_roberta_padding_inside_the_text_keeps_the_padding_position():
    a = analyze("roberta", ("The cat<pad> sat.", None))
    ids, pad = a.encoding.ids, a.model.config.pad_token_id
    assert pad in ids
    positions = a.trace.sym_position_ids.tolist()
    assert positions[ids.index(pad)] == pad and positions[-1] == pad + len(ids) - 1  # one position skipped
    assert a.verify().ok


def test_roberta_takes_at_most_the_position_table_less_the_padding_offset():
    model = model_of("roberta", max_position_embeddings=14)  # padding_idx 1: 12 usable positions
    long = "The cat sat on the mat because it was tired. " * 3
    with pytest.raises(tw.InputError, match="takes at most 12"):
        analyze("roberta", (long, None), model)
    a = analyze("roberta", (long, None), model, truncate=True)
    assert a.trace.sizes["n"] == 12 and a.tokens[0] == "<s>" and a.tokens[-1] == "</s>" and a.verify().ok


def test_special_tokens_come_from_the_tokenizer_not_from_bert():
    a = analyze("roberta", PAIR)
    assert a.tokens[0] == "<s>" and a.tokens.count("</s>") == 3 and "[CLS]" not in a.tokens
    assert [tok for tok, special in zip(a.tokens, a.encoding.special, strict=True) if special] == ["<s>"] + ["</s>"] * 3
    assert any(tok.startswith("Ġ") for tok in a.tokens)
    x = analyze("xlm-roberta", PAIR)
    assert x.tokens[0] == "<s>" and any(tok.startswith("▁") for tok in x.tokens)
    assert x.family == "xlm-roberta" and "xlm-roberta" in x.summary()


def test_distilbert_has_no_segment_stages_and_says_why():
    a = analyze("distilbert", PAIR)
    t = a.trace
    assert "preemb_seg_emb" not in t and "sym_segment_ids" not in t
    for name in ("preemb_seg_emb", "sym_segment_ids"):
        with pytest.raises(AttributeError, match="DistilBERT has no segment"):
            getattr(t, name)
    # the model takes no token_type_ids: the pair is told apart by its [SEP] only
    from transeasy_widget.trace import FAMILIES as ADAPTERS

    assert set(ADAPTERS["distilbert"].model_inputs(a.model, a.encoding)) == {"input_ids", "attention_mask"}
    assert torch.equal(t.preemb_sum_emb, t.preemb_word_emb + t.preemb_pos_emb)


@pytest.mark.parametrize("shape", [Shape(3, 4, 32, 16), Shape(4, 2, 48, 24, groups=2, inner=2)], ids=str)
def test_albert_layers_share_the_same_weight_views(shape):
    model = model_of("albert", shape)
    t = analyze("albert", SINGLE, model).trace
    distinct = [layer for group in model.encoder.albert_layer_groups for layer in group.albert_layers]
    for stage in t.stages:
        if stage.kind == "weight" and stage.per_layer:
            stack = t[stage.name]
            assert isinstance(stack, LayerStack) and len(stack) == shape.layers * shape.inner
            assert stack.distinct == len(distinct), stage.name
            assert "ALBERT shares weights" in stage.note("albert")
    # layer applications that run the same AlbertLayer read the very same view of its parameter
    per_group = shape.layers // shape.groups
    runs = [distinct[(i // per_group) * shape.inner + j] for i in range(shape.layers) for j in range(shape.inner)]
    for layer, module in enumerate(runs):
        view = t.selfattn_query_weight[layer]
        assert view is t.selfattn_query_weight[runs.index(module)]
        assert view.untyped_storage().data_ptr() == module.attention.query.weight.untyped_storage().data_ptr()
    assert "share" in repr(t.selfattn_query_weight)


@pytest.mark.parametrize("name", ["albert", "electra"])
def test_projected_embeddings_are_a_stage_and_x0_is_the_projection(name):
    model = model_of(name, Shape(2, 4, 32, 16))
    t = analyze(name, PAIR, model).trace
    projection = FAMILIES[name].projection(model)
    assert t.features == {"embedding_projection"}
    assert tuple(t.preemb_norm_sum_emb.shape) == (t.sizes["n"], 16) and t.sizes["e"] == 16
    assert t.preemb_proj_hidden.data_ptr() == t.manual_hiddens[0].data_ptr()
    assert torch.equal(t.preemb_proj_weight, projection.weight.T) and torch.equal(t.preemb_proj_bias, projection.bias)
    assert t.preemb_proj_weight.untyped_storage().data_ptr() == projection.weight.untyped_storage().data_ptr()


def test_electra_without_a_projection_has_no_projection_stages_and_says_why():
    t = analyze("electra", PAIR, model_of("electra", Shape(2, 4, 32, 32))).trace
    assert not t.features and "preemb_proj_hidden" not in t
    assert not any(s.name.startswith("preemb_proj") for s in t.stages)
    with pytest.raises(AttributeError, match="embedding_size != hidden_size"):
        _ = t.preemb_proj_hidden
    assert t.preemb_norm_sum_emb.data_ptr() == t.manual_hiddens[0].data_ptr()
    # ALBERT projects even where e = d
    albert = analyze("albert", SINGLE, model_of("albert", Shape(2, 4, 32, 32))).trace
    assert "preemb_proj_hidden" in albert and albert.sizes["e"] == albert.sizes["d"]


def test_segment_ids_the_model_has_no_rows_for_are_refused_clearly():
    from tests.conftest import wordpiece_tokenizer

    tok = wordpiece_tokenizer()
    model = FAMILIES["roberta"].build(Shape(1, 2, 16, 16), len(tok))  # one segment row, BERT's tokenizer
    model.config.pad_token_id = tok.pad_token_id  # past the padding-id check, which would catch it first
    with pytest.raises(tw.ModelError, match=r"segment .* ids up to 1.*1 row"):
        tw.analyze("the cat", "the mat", model=model, tokenizer=tok)


@pytest.mark.parametrize("kind", ["t5", "mamba", "mixtral"])
def test_an_unsupported_model_lists_every_supported_family(kind):
    from transformers import MambaConfig, MambaModel, MixtralConfig, MixtralForCausalLM, T5Config, T5Model

    model = {"t5": lambda: T5Model(T5Config(vocab_size=64, d_model=16, d_kv=4, d_ff=20, num_layers=1, num_heads=2)),
             "mamba": lambda: MambaModel(MambaConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1)),
             "mixtral": lambda: MixtralForCausalLM(MixtralConfig(  # mixture of experts
                 vocab_size=64, hidden_size=16, intermediate_size=20, num_hidden_layers=1, num_attention_heads=2,
                 num_key_value_heads=1, num_local_experts=2))}[kind]()
    with pytest.raises(tw.UnsupportedModelError) as err:
        tw.analyze("the cat", model=model, tokenizer=wordpiece())
    assert all(family in str(err.value) for family in (*FAMILIES, "bert", "gpt2", "llama", "mistral", "qwen2", "qwen3"))


def test_a_decoder_configured_roberta_is_refused():
    model = model_of("roberta", is_decoder=True)
    with pytest.raises(tw.UnsupportedModelError, match="RobertaModel is configured as a decoder"):
        analyze("roberta", SINGLE, model)


# --- word alignment with byte-level BPE (Ġ) and SentencePiece (▁) pieces --------------------------------------

TRICKY = ("The cat sat on the mat, understanding café.", "Where is the dog?")
TRICKY_WORDS = (["The", "cat", "sat", "on", "the", "mat", ",", "understanding", "café", "."],
                ["Where", "is", "the", "dog", "?"])


@pytest.mark.parametrize("name", ["roberta", "xlm-roberta", "albert", "distilbert"])
@pytest.mark.parametrize("texts", [TRICKY, (TRICKY[0], None)], ids=["pair", "single"])
def test_word_level_attention_has_one_row_per_word_summing_to_one(name, texts):
    a = analyze(name, texts)
    words = texts[0].split() + (texts[1].split() if texts[1] else [])
    reduced = a.attentions.reduced
    assert a.alignment.labels == words
    assert tuple(reduced.shape) == (a.trace.sizes["L"], a.trace.sizes["H"], len(words), len(words))
    assert torch.allclose(reduced.sum(-1), torch.ones(()), atol=1e-5)
    # every piece but the special ones belongs to a word (Ġ and ▁ pieces of zero or one character included)
    assert all((w is None) == special for w, special in zip(a.alignment.piece_word, a.encoding.special, strict=True))


@pytest.mark.parametrize("name", ["roberta", "xlm-roberta", "albert"])
def test_the_users_own_words_align_with_bpe_and_sentencepiece_pieces(name):
    a = analyze(name, TRICKY)
    a = tw.analyze(*TRICKY, model=a.model, tokenizer=a.tokenizer, words=TRICKY_WORDS)
    m = len(TRICKY_WORDS[0]) + len(TRICKY_WORDS[1])
    assert a.alignment.labels == [*TRICKY_WORDS[0], *TRICKY_WORDS[1]] and a.attentions.reduced.shape[-1] == m
    assert torch.allclose(a.attentions.reduced.sum(-1), torch.ones(()), atol=1e-5)
    # the pieces of "café" cover exactly its characters, whatever the tokenizer made of the accent
    cafe = a.alignment.words[TRICKY_WORDS[0].index("café")]
    assert TRICKY[0][cafe.start:cafe.end] == "café" and cafe.pieces
