"""Corpus statistics: each statistic against the per-text trace (tw.analyze(...).head_stats), exact merges under any
split, save and resume, the input readers and their errors, dependency heads on a model whose attention is known by
construction, and Ray against local."""

from __future__ import annotations

import random
from types import SimpleNamespace
from typing import Any

import pytest
import torch

import transeasy_widget as tw
from tests.conftest import random_bert, wordpiece_tokenizer
from transeasy_widget import AlignmentError, InputError
from transeasy_widget.corpus import NORM_STATS, STATS, CorpusStats
from transeasy_widget.corpus.inputs import read_corpus
from transeasy_widget.corpus.reduce import BatchReducer
from transeasy_widget.models import resolve

TEXTS = ["The cat sat on the mat.", "Where is the box, dog?", "It was tired because the dog ran!",
         "un understanding played caf cafe.", "the dog", "Is it in a box? The cat is!", "do n't, the mat.",
         "A dog ran in the box because it was tired, and the cat sat."[:40]]

ENGLISH = ["The quick brown fox jumps over the lazy dog.", "She sells sea shells by the sea shore.",
           "In 1905, Einstein published four papers that changed physics!", "Where did you put my keys?",
           "The committee's decision, announced on Tuesday, surprised nobody.", "Rain.",
           "It's raining cats and dogs -- or so they say.", "Transformers attend to every token at once."]


@pytest.fixture(scope="module")
def small() -> tuple[Any, Any]:
    return random_bert(2, 4, 32), wordpiece_tokenizer()


def per_text(texts: list[str], **kw: Any) -> dict[str, torch.Tensor]:
    """The independent path: every statistic of every text from its own trace, stacked: T×L×H (float64)."""
    analyses = [tw.analyze(t, **kw) for t in texts]
    return {name: torch.stack([a.head_stats[name].double() for a in analyses]) for name in STATS}


@pytest.mark.parametrize("batch_size", [1, 3, 8])
def test_corpus_mean_and_variance_equal_those_of_the_per_text_statistics(small, batch_size):
    model, tok = small
    cs = tw.corpus_stats(TEXTS, model=model, tokenizer=tok, batch_size=batch_size, progress=False)
    ref = per_text(TEXTS, model=model, tokenizer=tok)
    assert cs.n_texts == len(TEXTS) and cs.skipped == 0
    assert cs.n_tokens == sum(len(tw.analyze(t, model=model, tokenizer=tok).tokens) for t in TEXTS)
    for name in STATS:
        torch.testing.assert_close(cs.mean(name), ref[name].mean(0), atol=1e-6, rtol=0, msg=name)
        torch.testing.assert_close(cs.var(name), ref[name].var(0, unbiased=False), atol=1e-6, rtol=0, msg=name)
        counts, edges = cs.histogram(name)
        assert int(counts.sum(-1).min()) == int(counts.sum(-1).max()) == len(TEXTS)
        lo, hi = cs.ranges[name]
        expected = ((ref[name] - lo) / (hi - lo) * cs.bins).floor().clamp(0, cs.bins - 1).long()
        for layer in range(2):
            for head in range(4):
                want = torch.bincount(expected[:, layer, head], minlength=cs.bins)
                assert torch.equal(counts[layer, head], want), (name, layer, head)
        assert edges[0] == lo and edges[-1] == hi


def test_on_the_pretrained_minilm_every_statistic_matches_the_trace(minilm_path):
    cs = tw.corpus_stats(ENGLISH, model=minilm_path, batch_size=4, progress=False)
    ref = per_text(ENGLISH, model=minilm_path)
    assert (cs.layers, cs.heads) == (6, 12)
    for name in STATS:
        torch.testing.assert_close(cs.mean(name), ref[name].mean(0), atol=1e-5, rtol=0, msg=name)
    by_norm = [tw.analyze(t, model=minilm_path).attentions.contributions.head_stats_by_norm for t in ENGLISH]
    for name in NORM_STATS:
        want = torch.stack([stats[name.removeprefix("norm_")].double() for stats in by_norm]).mean(0)
        torch.testing.assert_close(cs.mean(name), want, atol=1e-5, rtol=0, msg=name)
    # the most extreme text of a head is the per-text maximum (the first on ties), and opens in one call
    layer, head, _ = cs.top("prev", 1)[0]
    values = ref["prev"][:, layer, head]
    value, item = cs.examples("prev", layer, head)[0]
    assert item.text == ENGLISH[int(torch.argmax(values))] and value == pytest.approx(float(values.max()), abs=1e-5)
    a = cs.example("prev", layer, head)
    assert a.text == item.text and a.head_stats["prev"][layer, head].item() == pytest.approx(value, abs=1e-5)
    assert [v for v, _ in cs.examples("entropy", 0, 0)] == sorted(v for v, _ in cs.examples("entropy", 0, 0))


def test_batch_size_changes_the_result_only_by_the_models_float32_padding_difference(small):
    model, tok = small
    one = tw.corpus_stats(TEXTS, model=model, tokenizer=tok, batch_size=1, progress=False)
    all_ = tw.corpus_stats(TEXTS, model=model, tokenizer=tok, batch_size=len(TEXTS), progress=False)
    assert (one.sums - all_.sums).abs().max() < 1e-5
    assert one.n_tokens == all_.n_tokens and one.n_words == all_.n_words


def test_partials_of_any_split_and_order_merge_exactly(small):
    model, tok = small
    reducer = BatchReducer(resolve(model, tok), k=3)
    items = list(read_corpus(TEXTS * 3).items)
    whole = CorpusStats.merged([reducer([it]) for it in items])  # batches of one: no padding anywhere
    rng = random.Random(0)
    for _ in range(3):
        shuffled = items[:]
        rng.shuffle(shuffled)
        cuts = sorted(rng.sample(range(1, len(items)), 4))
        shards = [shuffled[a:b] for a, b in zip([0, *cuts], [*cuts, len(items)], strict=True)]
        parts = [CorpusStats.merged([reducer([it]) for it in shard]) for shard in shards]
        rng.shuffle(parts)
        merged = CorpusStats.merged(parts)
        assert (merged.n_texts, merged.n_tokens, merged.n_words, merged.n_seen) == (
            whole.n_texts, whole.n_tokens, whole.n_words, whole.n_seen)
        assert torch.equal(merged.hist, whole.hist)  # integer counts: exact
        assert torch.equal(merged.top_index, whole.top_index) and torch.equal(merged.top_value, whole.top_value)
        torch.testing.assert_close(merged.sums, whole.sums, atol=1e-12, rtol=1e-14)  # float64 rounding only
        torch.testing.assert_close(merged.sumsq, whole.sumsq, atol=1e-12, rtol=1e-14)
        assert merged.texts.keys() == set(merged.top_index.unique().tolist()) - {-1}


def test_a_run_resumes_from_its_saved_partial_and_loads_back(small, tmp_path):
    model, tok = small
    full = tw.corpus_stats(TEXTS, model=model, tokenizer=tok, batch_size=2, progress=False)
    path = tmp_path / "run.pt"
    first = tw.corpus_stats(TEXTS[:4], model=model, tokenizer=tok, batch_size=2, progress=False, checkpoint=path)
    assert path.exists() and CorpusStats.load(path).n_seen == 4 == first.n_texts
    resumed = tw.corpus_stats(TEXTS, model=model, tokenizer=tok, batch_size=2, progress=False, checkpoint=path,
                              resume=True)
    assert resumed.n_seen == len(TEXTS) and resumed.n_texts == full.n_texts
    torch.testing.assert_close(resumed.sums, full.sums, atol=1e-12, rtol=0)
    assert torch.equal(resumed.hist, full.hist) and torch.equal(resumed.top_index, full.top_index)
    loaded = CorpusStats.load(path)
    torch.testing.assert_close(loaded.mean("prev"), full.mean("prev"), atol=1e-12, rtol=0)
    assert loaded.examples("self", 1, 2) == resumed.examples("self", 1, 2)
    with pytest.raises(InputError, match="pass model="):
        loaded.example("self", 1, 2)
    assert loaded.example("self", 1, 2, model=model, tokenizer=tok).text == loaded.examples("self", 1, 2)[0][1].text
    other = tw.corpus_stats(TEXTS[:2], model=random_bert(3, 2, 48), tokenizer=tok, progress=False)
    with pytest.raises(InputError, match="different models"):
        other.merge(full)


def test_inputs_text_file_and_a_datasets_like_column(small, tmp_path):
    model, tok = small

    class Column:  # what a datasets Column offers: len and iteration, no list
        def __len__(self) -> int:
            return len(TEXTS)

        def __iter__(self):
            return iter(TEXTS)

    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(TEXTS[:3]) + "\n\n" + "\n".join(TEXTS[3:]) + "\n", encoding="utf-8")
    ref = tw.corpus_stats(TEXTS, model=model, tokenizer=tok, progress=False)
    for source in (path, str(path), Column(), iter(TEXTS), tuple(TEXTS)):
        cs = tw.corpus_stats(source, model=model, tokenizer=tok, progress=False)
        assert cs.n_texts == len(TEXTS)
        torch.testing.assert_close(cs.sums, ref.sums, atol=1e-12, rtol=0)


def test_bad_corpora_get_clear_errors(small, tmp_path):
    model, tok = small

    def run(texts: Any, **kw: Any) -> Any:
        return tw.corpus_stats(texts, model=model, tokenizer=tok, progress=False, **kw)

    with pytest.raises(InputError, match="empty"):
        run([])
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(InputError, match="empty"):
        run(empty)
    with pytest.raises(InputError, match="no such file"):
        run(tmp_path / "missing.txt")
    with pytest.raises(InputError, match="a folder"):
        run(tmp_path)
    binary = tmp_path / "latin1.txt"
    binary.write_bytes("caf\xe9 au lait\n".encode("latin-1"))
    with pytest.raises(InputError, match="UTF-8"):
        run(binary)
    with pytest.raises(InputError, match="one string"):
        run("The cat sat on the mat.")
    with pytest.raises(InputError, match=r"Text 1 .* not a string"):
        run(["The cat.", 3])
    with pytest.raises(InputError, match=r"Text 1 .* empty"):
        run(["The cat.", "  "])
    with pytest.raises(InputError, match="one column"):
        run({"text": TEXTS})
    with pytest.raises(InputError, match=r"Text 0 .* at most 64"):
        run(["the cat " * 40])
    assert run(["the cat " * 40], truncate=True).n_tokens == 64
    with pytest.raises(InputError, match="batch_size"):
        run(TEXTS, batch_size=0)
    with pytest.raises(InputError, match="backend"):
        run(TEXTS, backend="spark")
    with pytest.raises(InputError, match="resume=True needs"):
        run(TEXTS, resume=True)
    with pytest.raises(InputError, match="No corpus statistic"):
        run(TEXTS[:1]).mean("nope")


# -- CoNLL-U and dependency heads ---------------------------------------------------------------------------------------

def conllu(sentences: list[tuple[str, list[tuple[str, int, str]]]]) -> str:
    """CoNLL-U text: per sentence its text and (form, head id, relation) per word (ids from 1; head 0: root)."""
    out = []
    for s, (text, words) in enumerate(sentences):
        out += [f"# sent_id = s{s}", f"# text = {text}"]
        out += [f"{i}\t{form}\t_\t_\t_\t_\t{head}\t{rel}\t_\t_" for i, (form, head, rel) in enumerate(words, 1)]
        out.append("")
    return "\n".join(out) + "\n"


SENTENCES = [
    ("the cat sat on the mat .", [("the", 2, "det"), ("cat", 3, "nsubj"), ("sat", 0, "root"), ("on", 6, "case"),
                                  ("the", 6, "det"), ("mat", 3, "obl"), (".", 3, "punct")]),
    ("the dog ran in a box !", [("the", 2, "det"), ("dog", 3, "nsubj"), ("ran", 0, "root"), ("in", 6, "case"),
                                ("a", 6, "det"), ("box", 3, "obl"), ("!", 3, "punct")]),
    ("it was tired .", [("it", 3, "nsubj"), ("was", 3, "cop"), ("tired", 0, "root"), (".", 3, "punct")]),
    ("where is the box ?", [("where", 2, "advmod"), ("is", 0, "root"), ("the", 4, "det"), ("box", 2, "nsubj:pass"),
                            ("?", 2, "punct")]),
]


class RuleAttention(torch.nn.Module):
    """A BERT-shaped stand-in whose single layer's four heads attend by rule, so every answer is known:
    head 0 to the previous piece, head 1 to the next, head 2 to itself, head 3 to [CLS] (first and last rows of heads
    0 and 1 attend to themselves). Padding rows spread uniformly over the text; padding columns get 0. It has no
    value vectors, so its runs pass norm=False."""

    def __init__(self, vocab: int):
        super().__init__()
        self.config = SimpleNamespace(model_type="bert", max_position_embeddings=64, vocab_size=vocab,
                                      num_hidden_layers=1, num_attention_heads=4)
        self.embeddings = torch.nn.Module()
        self.embeddings.word_embeddings = torch.nn.Embedding(vocab, 2)

    def forward(self, input_ids, attention_mask, output_attentions=True, return_dict=True, **_: Any):
        b, n = input_ids.shape
        attn = torch.zeros(b, 4, n, n)
        for t in range(b):
            m = int(attention_mask[t].sum())
            attn[t, :, m:, :m] = 1.0 / m
            for i in range(m):
                attn[t, 0, i, max(i - 1, 0)] = attn[t, 1, i, min(i + 1, m - 1)] = attn[t, 2, i, i] = attn[t, 3, i, 0] = 1
        return SimpleNamespace(attentions=(attn,))


def predicted(rule: int, i: int, m: int) -> int:
    """The word head ``rule`` attends to most from word i of m, one piece per word: specials drop out of the
    word-level matrix, and a row left with no attention becomes uniform, whose argmax is the first word."""
    return {0: i - 1 if i > 0 else 0, 1: i + 1 if i < m - 1 else 0, 2: i, 3: 0}[rule]


@pytest.fixture(scope="module")
def rule_model() -> tuple[Any, Any]:
    tok = wordpiece_tokenizer()
    return RuleAttention(len(tok)), tok


def test_dependency_heads_of_rule_heads_are_the_known_counts(rule_model, tmp_path):
    model, tok = rule_model
    path = tmp_path / "sample.conllu"
    path.write_text(conllu(SENTENCES), encoding="utf-8")
    cs = tw.corpus_stats(path, model=model, tokenizer=tok, batch_size=3, progress=False, norm=False)
    deps = cs.dependencies
    assert cs.n_texts == 4 and deps is not None
    # expected counts straight from the rules and the treebank
    want: dict[str, dict[str, Any]] = {}
    for _, words in SENTENCES:
        m = len(words)
        for i, (_, head, rel) in enumerate(words):
            if head == 0:
                continue
            h, rel = head - 1, rel.split(":")[0]
            entry = want.setdefault(rel, {"total": 0, "dep2head": [0] * 4, "head2dep": [0] * 4, "offsets": []})
            entry["total"] += 1
            entry["offsets"].append(h - i)
            for rule in range(4):
                entry["dep2head"][rule] += predicted(rule, i, m) == h
                entry["head2dep"][rule] += predicted(rule, h, m) == i
    assert set(deps.relations) == set(want) == {"det", "nsubj", "case", "obl", "punct", "cop", "advmod"}
    for rel, entry in want.items():
        assert deps.relations[rel].total == entry["total"]
        for direction in ("dep2head", "head2dep"):
            got = deps.accuracy(rel, direction)[0]
            assert got.tolist() == [c / entry["total"] for c in entry[direction]], (rel, direction)
        offsets = entry["offsets"]
        best = min(set(offsets), key=lambda o: (-offsets.count(o), o))
        assert deps.baseline(rel) == (best, offsets.count(best) / entry["total"])
    # by hand: each of the 5 determiners comes right before its noun, so the next-word head finds all of them and the
    # previous-word head finds every one from its noun; the [CLS] head's uniform rows pick word 0, which is the
    # determiner of 2 of them; the fixed offset +1 is right for all
    assert deps.accuracy("det", "dep2head")[0].tolist() == [0.0, 1.0, 0.0, 0.0]
    assert deps.accuracy("det", "head2dep")[0].tolist() == [1.0, 0.0, 0.0, 0.4]
    assert deps.baseline("det") == (1, 1.0)
    assert deps.best("det") == ("dep2head", 0, 1, 1.0)
    rows = {r["relation"]: r for r in deps.rows()}
    assert rows["det"]["count"] == 5 and rows["det"]["head"] == 1 and "det" in deps.table()
    # the shares are known too: head 2 puts everything on itself, head 3 on [CLS]
    assert cs.mean("self")[0, 2] == 1.0 and cs.mean("cls")[0, 3] == 1.0 and cs.mean("entropy")[0].tolist() == [0.0] * 4


def test_dependency_counts_merge_exactly_and_survive_save(rule_model, tmp_path):
    model, tok = rule_model
    path = tmp_path / "sample.conllu"
    path.write_text(conllu(SENTENCES * 3), encoding="utf-8")
    whole = tw.corpus_stats(path, model=model, tokenizer=tok, batch_size=5, progress=False, norm=False)
    reducer = BatchReducer(resolve(model, tok), norm=False)
    items = list(read_corpus(path).items)
    parts = [reducer(items[i::3]) for i in range(3)]
    merged = CorpusStats.merged(parts[::-1])
    saved = tmp_path / "part.pt"
    merged.save(saved)
    for deps in (merged.dependencies, CorpusStats.load(saved).dependencies):
        assert deps is not None and whole.dependencies is not None
        assert deps.rows() == whole.dependencies.rows()
        for rel in whole.dependencies.relations:
            assert torch.equal(deps.relations[rel].dep2head, whole.dependencies.relations[rel].dep2head)
            assert torch.equal(deps.relations[rel].head2dep, whole.dependencies.relations[rel].head2dep)


def test_conllu_multiword_tokens_space_after_and_misaligned_sentences(rule_model, tmp_path):
    model, tok = rule_model
    text = ("# sent_id = mwt\n"
            "1-2\tdon't\t_\t_\t_\t_\t_\t_\t_\t_\n1\tdo\tdo\tAUX\t_\t_\t3\taux\t_\t_\n2\tn't\tnot\tPART\t_\t_\t3\tadvmod\t_\t_\n"
            "3\tsit\tsit\tVERB\t_\t_\t0\troot\t_\tSpaceAfter=No\n4\t.\t.\tPUNCT\t_\t_\t3\tpunct\t_\t_\n\n"
            "# sent_id = wrong\n# text = the cat sat .\n"
            "1\tthe\t_\t_\t_\t_\t2\tdet\t_\t_\n2\tdog\t_\t_\t_\t_\t3\tnsubj\t_\t_\n3\tsat\t_\t_\t_\t_\t0\troot\t_\t_\n"
            "4\t.\t_\t_\t_\t_\t3\tpunct\t_\t_\n\n")
    path = tmp_path / "mixed.conllu"
    path.write_text(text, encoding="utf-8")
    first = next(read_corpus(path).items)
    assert first.text == "don't sit." and first.words == ("don't", "sit", ".")
    # the multiword token's words attach inside it or to "sit" from two words: no single relation; the root has none
    assert first.heads == (-1, -1, 1) and first.relations == ("", "", "punct")
    cs = tw.corpus_stats(path, model=model, tokenizer=tok, progress=False, norm=False)
    assert (cs.n_texts, cs.skipped, cs.n_seen) == (1, 1, 2) and "wrong" in cs.skip_notes[0]
    with pytest.raises(AlignmentError, match=r"Text 1 \(sentence wrong\).*misaligned='skip'"):
        tw.corpus_stats(path, model=model, tokenizer=tok, progress=False, norm=False, misaligned="error")
    only_wrong = tmp_path / "wrong.conllu"
    only_wrong.write_text(text.split("\n\n", 1)[1], encoding="utf-8")
    with pytest.raises(InputError, match="Every text of the corpus was skipped"):
        tw.corpus_stats(only_wrong, model=model, tokenizer=tok, progress=False, norm=False)


def test_progress_bar_counts_texts_per_second(small, capsys):
    model, tok = small
    tw.corpus_stats(TEXTS, model=model, tokenizer=tok, batch_size=3, progress=True)
    err = capsys.readouterr().err
    assert "corpus statistics" in err and f"{len(TEXTS)}/{len(TEXTS)}" in err and "text/s" in err


# -- Ray ----------------------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_ray_backend_equals_local(small, tmp_path):
    import ray
    model, tok = small
    path = tmp_path / "sample.conllu"
    path.write_text(conllu(SENTENCES * 2), encoding="utf-8")
    texts = TEXTS * 2
    local = tw.corpus_stats(texts, model=model, tokenizer=tok, batch_size=3, progress=False)
    local_deps = tw.corpus_stats(path, model=model, tokenizer=tok, batch_size=3, progress=False)
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False,
             configure_logging=False)
    try:
        remote = tw.corpus_stats(texts, model=model, tokenizer=tok, batch_size=3, progress=False, backend="ray")
        remote_deps = tw.corpus_stats(path, model=model, tokenizer=tok, batch_size=3, progress=False, backend="ray")
    finally:
        ray.shutdown()
    assert (remote.n_texts, remote.n_tokens, remote.n_words) == (local.n_texts, local.n_tokens, local.n_words)
    torch.testing.assert_close(remote.sums, local.sums, atol=1e-5, rtol=0)  # Ray's batches may pad differently
    assert torch.equal(remote.top_index, local.top_index)
    assert remote_deps.dependencies is not None and local_deps.dependencies is not None
    assert remote_deps.dependencies.rows() == local_deps.dependencies.rows()
    assert remote.example("prev", 0, 0).text == local.example("prev", 0, 0).text


def test_unknown_relation_and_direction_are_clear(rule_model, tmp_path):
    model, tok = rule_model
    path = tmp_path / "s.conllu"
    path.write_text(conllu(SENTENCES[:1]), encoding="utf-8")
    deps = tw.corpus_stats(path, model=model, tokenizer=tok, progress=False, norm=False).dependencies
    assert deps is not None
    with pytest.raises(InputError, match=r"No relation 'amod'.*det"):
        deps.accuracy("amod")
    with pytest.raises(InputError, match="direction"):
        deps.accuracy("det", "sideways")



# -- the corpus dashboard ---------------------------------------------------------------------------------------------

def test_corpus_dashboard_grid_and_its_example_widget_follow_a_click(small):
    import numpy as np
    import traitlets

    model, tok = small
    cs = tw.corpus_stats(TEXTS, model=model, tokenizer=tok, batch_size=4, progress=False)
    dash = cs.dashboard("prev")
    assert np.array_equal(dash.grid.color, cs.mean("prev").numpy()) and dash.grid.color.shape == (2, 4)
    layer, head, _ = cs.top("prev", 1)[0]
    assert (dash.layer, dash.head) == (layer, head) and np.asarray(dash.grid.selected).tolist() == [[layer, head]]
    assert dash.analysis.text == cs.examples("prev", layer, head)[0][1].text and dash.children[1] is dash.widget
    dash.grid.selected = np.array([[1, 2]])  # what bqplot's front end sets on a click
    best = cs.examples("prev", 1, 2)[0][1].text
    assert (dash.widget.layer, dash.widget.head) == (1, 2) and dash.analysis.text == best
    assert best.replace("'", "&#x27;") in dash.examples.value and "layer 1, head 2" in dash.examples.value
    dash.choice.value = "entropy"  # the dropdown, as a click would
    assert np.array_equal(dash.grid.color, cs.mean("entropy").numpy())
    assert dash.analysis.text == cs.examples("entropy", 1, 2)[0][1].text and "entropy" in dash.figure.title
    with pytest.raises(traitlets.TraitError, match="stat must be one of"):
        dash.stat = "bogus"


def test_a_model_giving_nan_attention_is_a_clear_error_not_a_nan_result(rule_model):
    _, tok = rule_model

    class Broken(RuleAttention):
        def forward(self, input_ids, attention_mask, **kw: Any):
            out = super().forward(input_ids, attention_mask, **kw)
            out.attentions[0][0, 1, 1, :] = float("nan")
            return out

    with pytest.raises(tw.ModelError, match="non-finite attention weights on texts 0–1"):
        tw.corpus_stats(["the cat", "the dog"], model=Broken(len(tok)), tokenizer=tok, progress=False, norm=False)


# -- the statistics by norm ---------------------------------------------------------------------------------------------

def _bert() -> tuple[Any, Any]:
    return random_bert(2, 4, 32), wordpiece_tokenizer()


def _gpt2() -> tuple[Any, Any]:
    from tests.test_decoders import gpt2
    from tests.tokenizers_for_tests import byte_level_bpe

    tok = byte_level_bpe()
    return gpt2(len(tok)), tok


def _llama_gqa() -> tuple[Any, Any]:
    from tests.test_decoders import llama_like
    from tests.tokenizers_for_tests import byte_level_bpe

    tok = byte_level_bpe()
    # 4 query heads in 2 groups: heads 0, 1 read key/value head 0 and heads 2, 3 head 1
    return llama_like("llama", len(tok), hidden_size=16, num_attention_heads=4, num_key_value_heads=2), tok


def _albert_shared() -> tuple[Any, Any]:
    from tests.test_families import FAMILIES, Shape

    tok = FAMILIES["albert"].tokenizer()
    return FAMILIES["albert"].build(Shape(3, 2, 32, 16, inner=2), len(tok)), tok  # 6 layers: 2 modules, 3 runs each


NORM_MODELS = {"bert": _bert, "gpt2": _gpt2, "llama-gqa": _llama_gqa, "albert-shared": _albert_shared}


@pytest.mark.parametrize("family", list(NORM_MODELS))
def test_statistics_by_norm_equal_those_of_each_texts_trace(family):
    model, tok = NORM_MODELS[family]()
    cs = tw.corpus_stats(TEXTS, model=model, tokenizer=tok, batch_size=3, progress=False)  # texts of unequal length
    analyses = [tw.analyze(t, model=model, tokenizer=tok) for t in TEXTS]
    assert cs.stats == STATS + NORM_STATS and cs.layers == analyses[0].trace.sizes["L"]
    for name in STATS:
        by_weight = torch.stack([a.head_stats[name].double() for a in analyses])
        torch.testing.assert_close(cs.mean(name), by_weight.mean(0), atol=1e-5, rtol=0, msg=name)
    assert tuple(f"norm_{s}" for s in ("entropy", "cls", "sep", "punct", "self", "prev", "next")) == NORM_STATS
    for name in NORM_STATS:
        by_norm = torch.stack([a.attentions.contributions.head_stats_by_norm[name.removeprefix("norm_")].double()
                               for a in analyses])
        torch.testing.assert_close(cs.mean(name), by_norm.mean(0), atol=1e-5, rtol=0, msg=name)
        torch.testing.assert_close(cs.var(name), by_norm.var(0, unbiased=False), atol=1e-5, rtol=0, msg=name)
        assert int(cs.histogram(name)[0].sum(-1).min()) == len(TEXTS)
    # the norms reweight the columns: by norm is not by weight (else the checks above could not tell them apart)
    assert max(float((cs.mean(f"norm_{s}") - cs.mean(s)).abs().max()) for s in ("cls", "self", "prev")) > 5e-3


def test_statistics_by_norm_merge_exactly_save_load_and_open_their_examples(small, tmp_path):
    model, tok = small
    reducer = BatchReducer(resolve(model, tok), k=3)
    items = list(read_corpus(TEXTS).items)
    parts = [reducer(items[i:i + 3]) for i in range(0, len(items), 3)]  # padded batches
    whole = CorpusStats.merged(parts)
    halves = CorpusStats.merged(parts[2:]).merge(CorpusStats.merged(parts[:2]))  # the second half first
    assert torch.equal(halves.hist, whole.hist) and torch.equal(halves.top_index, whole.top_index)
    torch.testing.assert_close(halves.sums, whole.sums, atol=1e-12, rtol=1e-14)
    path = tmp_path / "norm.pt"
    halves.save(path)
    loaded = CorpusStats.load(path)
    assert loaded.stats == STATS + NORM_STATS and torch.equal(loaded.sums, halves.sums)
    assert loaded.examples("norm_prev", 1, 2) == halves.examples("norm_prev", 1, 2)
    # the most extreme text of a head by norm is its per-text maximum, and opens in one call
    ref = torch.stack([tw.analyze(t, model=model, tokenizer=tok).attentions.contributions.head_stats_by_norm["prev"]
                       for t in TEXTS]).double()
    layer, head, mean = whole.top("norm_prev", 1)[0]
    assert mean == pytest.approx(float(ref.mean(0).max()), abs=1e-6)
    value, item = whole.examples("norm_prev", layer, head)[0]
    assert item.text == TEXTS[int(ref[:, layer, head].argmax())]
    assert value == pytest.approx(float(ref[:, layer, head].max()), abs=1e-6)
    assert "norm_sep" in whole.summary() and "by norm" in whole.DESCRIPTIONS["norm_sep"]


def test_norm_false_leaves_the_statistics_by_norm_out_and_says_so(small, tmp_path):
    model, tok = small
    with_norm = tw.corpus_stats(TEXTS, model=model, tokenizer=tok, batch_size=4, progress=False)
    without = tw.corpus_stats(TEXTS, model=model, tokenizer=tok, batch_size=4, progress=False, norm=False)
    assert without.stats == STATS and without.sums.shape[0] == len(STATS)
    torch.testing.assert_close(without.sums, with_norm.sums[:len(STATS)], atol=0, rtol=0)  # the same pass
    with pytest.raises(InputError, match=r"run with norm=False.*norm=True"):
        without.mean("norm_sep")
    with pytest.raises(InputError, match="same norm="):
        with_norm.merge(without)
    path = tmp_path / "run.pt"
    without.save(path)
    with pytest.raises(InputError, match="same norm="):  # resuming a partial with the other setting
        tw.corpus_stats(TEXTS, model=model, tokenizer=tok, progress=False, checkpoint=path, resume=True)
    with pytest.raises(InputError, match="norm must be True or False"):
        tw.corpus_stats(TEXTS, model=model, tokenizer=tok, progress=False, norm="yes")
    # a partial saved before the statistics by norm (format 1: no "stats") loads as the statistics by weight
    state = torch.load(path, weights_only=True)
    state["format"] = 1
    del state["stats"]
    torch.save(state, path)
    old = CorpusStats.load(path)
    assert old.stats == STATS and torch.equal(old.sums, without.sums)
    resumed = tw.corpus_stats(TEXTS + ENGLISH[:2], model=model, tokenizer=tok, progress=False, checkpoint=path,
                              resume=True, norm=False)
    assert resumed.n_texts == len(TEXTS) + 2


def test_corpus_dashboard_shows_a_statistic_by_norm(small):
    import numpy as np

    model, tok = small
    cs = tw.corpus_stats(TEXTS, model=model, tokenizer=tok, batch_size=4, progress=False)
    dash = cs.dashboard("norm_sep")
    assert np.array_equal(dash.grid.color, cs.mean("norm_sep").numpy()) and "norm_sep" in dash.figure.title
    assert [value for _, value in dash.choice.options] == list(STATS + NORM_STATS)
    layer, head, _ = cs.top("norm_sep", 1)[0]
    assert dash.analysis.text == cs.examples("norm_sep", layer, head)[0][1].text


def test_a_model_without_value_projections_asks_for_norm_false(rule_model):
    model, tok = rule_model
    with pytest.raises(tw.ModelError, match=r"no value and output projections.*Pass norm=False"):
        tw.corpus_stats(TEXTS, model=model, tokenizer=tok, progress=False)
