"""Norm-based attention, ALTI, rollout and flow against the papers' definitions, written here as plain loops.

The references read only the model itself (its modules' weights, its own hidden states and attentions): never the
trace, never transeasy_widget.contributions. Every family gets a random config (tests/test_families.py builds them);
the real MiniLM is checked too. The identities (the parts add up to tensors the model computed) are checked as well.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import torch

import transeasy_widget as tw
from tests.conftest import random_bert, wordpiece_tokenizer
from tests.test_families import BERT_LAYER, FAMILIES, SINGLE, analyze, model_of
from transeasy_widget import contributions as C
from transeasy_widget import propagation as P
from transeasy_widget.attention import AttentionViews
from transeasy_widget.headstats import punctuation_pieces, special_roles

PAIR = ("Where is the cat?", "The cat is in a box.")
REL = 1e-5


def rel_err(x: torch.Tensor, ref: torch.Tensor) -> float:
    return float((x.double() - ref.double()).abs().max() / ref.double().abs().max().clamp_min(1e-30))


def with_random_biases(model: Any, seed: int = 1) -> Any:
    """Fresh configs start with zero biases and LayerNorms at (1, 0): give every vector parameter random values, so
    that the bias terms of the decompositions are tested too."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 1:
                p.add_(0.2 * torch.randn(p.shape, generator=generator, dtype=p.dtype))
    return model


def _module(root: Any, path: str) -> Any:
    for part in path.split("."):
        root = getattr(root, part)
    return root


def bert_family_analysis(texts: tuple[str, str | None] = SINGLE) -> tuple[tw.Analysis, dict[str, str], list[Any]]:
    tok = wordpiece_tokenizer(("salesman", "gave", "us", "demo"))
    model = with_random_biases(random_bert(2, 4, 32, vocab=len(tok)))
    return tw.analyze(texts[0], texts[1], model=model, tokenizer=tok), BERT_LAYER, list(model.encoder.layer)


def family_analysis(name: str, texts: tuple[str, str | None] = SINGLE) -> tuple[tw.Analysis, dict[str, str], list[Any]]:
    """An analysis of a random model of the family, the family's module paths and the module of each layer."""
    if name == "bert":
        return bert_family_analysis(texts)
    fam = FAMILIES[name]
    model = with_random_biases(model_of(name))
    a = analyze(name, texts, model=model)
    layers = fam.layers(model)
    if len(layers) == 1:  # ALBERT: one shared layer, run L times
        layers = layers * a.trace.sizes["L"]
    return a, fam.paths, layers


def own_run(a: tw.Analysis) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The model's own hidden states (inputs of each layer, n×d) and attentions (H×n×n)."""
    enc, model = a.encoding, a.model
    ids = torch.tensor([enc.ids])
    inputs: dict[str, torch.Tensor] = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    if "sym_segment_ids" in a.trace:
        inputs["token_type_ids"] = torch.tensor([enc.segment_ids])
    with torch.no_grad():
        out = model(**inputs, output_attentions=True, output_hidden_states=True)
    return [h[0] for h in out.hidden_states], [x[0] for x in out.attentions]


@torch.no_grad()
def reference(a: tw.Analysis, paths: dict[str, str], layers: list[Any]) -> list[dict[str, torch.Tensor]]:
    """Per layer, from the papers' definitions, token by token and head by head (float64)."""
    hiddens, attentions = own_run(a)
    heads = attentions[0].shape[0]
    out = []
    for layer, module in enumerate(layers):
        x, alpha = hiddens[layer].double(), attentions[layer].double()
        value, dense, norm = (_module(module, paths[k]) for k in ("v", "attn_out", "norm1"))
        wv, bv = value.weight.double(), value.bias.double()
        wo, bo = dense.weight.double(), dense.bias.double()
        gamma, beta, eps = norm.weight.double(), norm.bias.double(), norm.eps
        n, d = x.shape
        dh = d // heads
        # f_h(x_j) = (x_j W_V^h + b_V^h) W_O^h
        f = torch.zeros(heads, n, d, dtype=torch.float64)
        for h in range(heads):
            cols = slice(h * dh, (h + 1) * dh)
            for j in range(n):
                f[h, j] = (x[j] @ wv[cols].T + bv[cols]) @ wo[:, cols].T
        norms = torch.zeros(heads, n, n, dtype=torch.float64)
        summed = torch.zeros(n, n, dtype=torch.float64)
        mixed = torch.zeros(n, n, d, dtype=torch.float64)  # Σ_h α^h_ij f_h(x_j)
        for i in range(n):
            for j in range(n):
                for h in range(heads):
                    norms[h, i, j] = torch.linalg.norm(alpha[h, i, j] * f[h, j])
                    mixed[i, j] += alpha[h, i, j] * f[h, j]
                summed[i, j] = torch.linalg.norm(mixed[i, j])
        attn_out = mixed.sum(1) + bo
        u = attn_out + x
        y = torch.nn.functional.layer_norm(u, (d,), gamma, beta, eps)
        contrib = torch.zeros(n, n, dtype=torch.float64)
        transformed = torch.zeros(n, n, d, dtype=torch.float64)
        for i in range(n):
            sigma = torch.sqrt(((u[i] - u[i].mean()) ** 2).mean() + eps)
            for j in range(n):
                z = mixed[i, j] + (x[i] if i == j else 0)
                transformed[i, j] = gamma * (z - z.mean()) / sigma
                contrib[i, j] = max(0.0, float(y[i].abs().sum() - (y[i] - transformed[i, j]).abs().sum()))
            contrib[i] /= contrib[i].sum()
        out.append({"f": f, "norm": norms, "norm_summed": summed, "attn_out": attn_out, "y": y, "alti": contrib,
                    "transformed": transformed, "bias_part": gamma * (bo - bo.mean()) / torch.sqrt(
                        ((u - u.mean(-1, keepdim=True)) ** 2).mean(-1, keepdim=True) + eps) + beta,
                    "attention": alpha})
    return out


def rollout_reference(mats: list[torch.Tensor], add_identity: bool) -> list[torch.Tensor]:
    out: list[torch.Tensor] = []
    for m in mats:
        if add_identity:
            m = 0.5 * m.mean(0) + 0.5 * torch.eye(m.shape[-1], dtype=m.dtype)
            m = m / m.sum(-1, keepdim=True)
        out.append(m if not out else m @ out[-1])
    return out


FAMILY_NAMES = ["bert", *FAMILIES]


def assert_views_match(views: Any, ref: list[dict[str, torch.Tensor]]) -> None:
    """Norm, summed norm, ALTI and both rollouts of every layer against the reference built from the papers."""
    assert rel_err(views.norm, torch.stack([r["norm"] for r in ref])) < REL
    assert rel_err(views.norm_summed, torch.stack([r["norm_summed"] for r in ref])) < REL
    assert (views.alti.double() - torch.stack([r["alti"] for r in ref])).abs().max() < 1e-5
    alti_roll = rollout_reference([r["alti"] for r in ref], add_identity=False)
    assert (views.alti_rollout.double() - torch.stack(alti_roll)).abs().max() < 1e-5
    roll = rollout_reference([r["attention"] for r in ref], add_identity=True)
    assert (views.rollout.double() - torch.stack(roll)).abs().max() < 1e-5


@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_every_view_matches_the_papers_definition_on_every_family(name):
    a, paths, layers = family_analysis(name)
    ref = reference(a, paths, layers)
    assert_views_match(a.attentions, ref)


@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_head_vectors_add_up_to_the_attention_output_and_alti_parts_to_the_post_layernorm_output(name):
    a, paths, layers = family_analysis(name, PAIR)
    ref = reference(a, paths, layers)
    for layer in range(a.trace.sizes["L"]):
        vectors = C.head_vectors(a, layer)
        assert rel_err(vectors, ref[layer]["f"]) < REL
        # Σ_h Σ_j α^h_ij f_h(x_j) + b_O = the model's attention output (the stage addnorm1_dense_hidden)
        attention = a.trace.selfattn_attention[layer]
        total = torch.einsum("hij,hjd->id", attention, vectors) + a.trace.addnorm1_dense_bias[layer]
        assert rel_err(total, a.trace.addnorm1_dense_hidden[layer]) < REL
        # Σ_j T_i(x_j) + L_i(b_O) + β = the post-LayerNorm output (the stage addnorm1_norm_hidden)
        block = C.block(a, layer)
        parts = C.transformed_vectors(block)
        assert rel_err(parts, ref[layer]["transformed"]) < REL
        assert rel_err(block.rest, ref[layer]["bias_part"]) < REL
        assert rel_err(parts.sum(1) + block.rest, a.trace.addnorm1_norm_hidden[layer]) < REL
        assert rel_err(parts.sum(1) + block.rest, ref[layer]["y"]) < REL


def test_the_identities_hold_to_rounding_in_double_precision(word_tokenizer):
    model = with_random_biases(random_bert(2, 4, 32, vocab=len(word_tokenizer))).double()
    a = tw.analyze("The cat sat on the mat because it was tired.", model=model, tokenizer=word_tokenizer)
    for layer in range(2):
        block = C.block(a, layer)
        assert block.output.dtype == torch.float64
        assert rel_err(C.transformed_vectors(block).sum(1) + block.rest, block.output) < 1e-13
        total = torch.einsum("hij,hjd->id", block.attention, block.vectors) + a.trace.addnorm1_dense_bias[layer]
        assert rel_err(total, a.trace.addnorm1_dense_hidden[layer]) < 1e-13


def test_every_view_matches_the_papers_definition_on_minilm(minilm_path):
    a = tw.analyze("The salesman gave us a demo of the course.", model=minilm_path)
    ref = reference(a, BERT_LAYER, list(a.model.encoder.layer))
    assert_views_match(a.attentions, ref)
    for layer in range(a.trace.sizes["L"]):
        block = C.block(a, layer)
        assert rel_err(C.transformed_vectors(block).sum(1) + block.rest, block.output) < REL


def test_alti_distances_do_not_depend_on_the_chunk_size(word_tokenizer):
    model = random_bert(2, 4, 32, vocab=len(word_tokenizer))
    a = tw.analyze("The cat sat on the mat because it was tired.", model=model, tokenizer=word_tokenizer)
    block = C.block(a, 1)
    n, d = block.output.shape
    whole = (block.output[:, None] - C.transformed_vectors(block)).abs().sum(-1)
    # one row of one token at a time, five rows (the last block short), one token, three and a bit, all at once
    for chunk in (1, 5 * d, n * d, 3 * n * d + 5, 10 ** 9):
        assert (C.alti_distances(block, chunk) - whole).abs().max() < 1e-4


def test_a_row_no_token_is_closer_to_than_the_origin_stays_zero_not_nan():
    torch.manual_seed(0)
    n, d = 3, 4
    draft = C.Block(torch.full((1, n, n), 1 / n), torch.randn(1, n, d), torch.randn(n, d), None, None,
                    torch.zeros(n, d), torch.zeros(n, d))
    y = C.transformed_vectors(draft).sum(1)
    y[0] = 0  # ‖y_0‖₁ = 0: every T_0(x_j) is farther from y_0 than the origin is
    out = C.alti_layer(dataclasses.replace(draft, output=y))
    assert not out.isnan().any()
    assert (out[0] == 0).all()
    assert torch.allclose(out[1:].sum(-1), torch.ones(n - 1))


def max_flow(capacity: list[list[float]], source: int, sink: int) -> float:
    """Edmonds–Karp on a dense capacity matrix (written here, independent of networkx)."""
    size = len(capacity)
    residual = [row[:] for row in capacity]
    total = 0.0
    while True:
        parent = [-1] * size
        parent[source] = source
        queue = [source]
        for u in queue:
            for v in range(size):
                if parent[v] < 0 and residual[u][v] > 1e-15:
                    parent[v] = u
                    queue.append(v)
        if parent[sink] < 0:
            return total
        push, v = float("inf"), sink
        while v != source:
            push, v = min(push, residual[parent[v]][v]), parent[v]
        v = sink
        while v != source:
            residual[parent[v]][v] -= push
            residual[v][parent[v]] += push
            v = parent[v]
        total += push


def test_attention_flow_matches_an_independent_max_flow():
    torch.manual_seed(3)
    layers, n = 3, 4
    mats = torch.stack([P.residual_attention(torch.softmax(torch.randn(2, n, n), -1)) for _ in range(layers)]).double()
    size = (layers + 1) * n  # node k·n + i: token i after layer k (k = 0: the input)
    capacity = [[0.0] * size for _ in range(size)]
    for k in range(layers):
        for i in range(n):
            for j in range(n):
                capacity[(k + 1) * n + i][k * n + j] = float(mats[k, i, j])
    flow = P.attention_flow(mats)
    for k in range(layers):
        for i in range(n):
            values = torch.tensor([max_flow(capacity, (k + 1) * n + i, j) for j in range(n)], dtype=torch.float64)
            assert torch.allclose(flow[k, i], values / values.sum(), atol=1e-9)


def test_flow_through_one_layer_is_that_layers_residual_attention_and_rows_sum_to_one(minilm_path):
    a = tw.analyze("The cat sat.", model=minilm_path)
    flow, rollout = a.attentions.flow, a.attentions.rollout
    assert torch.allclose(flow[0], rollout[0], atol=1e-6)  # one layer: the max-flow is the edge itself
    assert torch.allclose(flow.sum(-1), torch.ones(flow.shape[:-1]), atol=1e-5)
    assert not torch.allclose(flow[-1], rollout[-1], atol=1e-3)  # deeper, max-flow and products differ


def test_flow_refuses_long_inputs_with_a_clear_error(word_tokenizer):
    model = random_bert(12, 2, 16, vocab=len(word_tokenizer))
    limit = P.flow_limit(12)
    a = tw.analyze(" ".join(["the cat sat"] * limit), model=model, tokenizer=word_tokenizer)
    assert a.trace.sizes["n"] > limit
    with pytest.raises(tw.TransEasyError, match=rf"too slow beyond {limit} tokens .* a\.attentions\.rollout"):
        _ = a.attentions.flow
    assert P.flow_work(limit, 12) <= P.FLOW_WORK < P.flow_work(limit + 1, 12)


def test_weight_vs_norm_shares_follow_their_definition(minilm_path):
    a = tw.analyze("The cat sat on the mat, because it was tired.", model=minilm_path)
    ref = reference(a, BERT_LAYER, list(a.model.encoder.layer))
    cls, sep = special_roles(a.encoding, a.tokenizer.cls_token_id)
    punct = punctuation_pieces(a.encoding)
    assert cls == [0] and sep == [a.trace.sizes["n"] - 1] and len(punct) == 2
    shares = a.attentions.contributions.weight_vs_norm()
    for name, columns in (("cls", cls), ("sep", sep), ("punct", punct)):
        for layer, r in enumerate(ref):
            norm, weight = r["norm"], r["attention"]
            by_norm = (norm[:, :, columns].sum(-1) / norm.sum(-1)).mean(-1)  # mean over rows, per head
            by_weight = weight[:, :, columns].sum(-1).mean(-1)
            assert torch.allclose(shares[name]["norm"][layer].double(), by_norm, atol=1e-6)
            assert torch.allclose(shares[name]["weight"][layer].double(), by_weight, atol=1e-6)
    # every head statistic reads the norm view too
    assert a.attentions.contributions.head_stats_by_norm["prev"].shape == (6, 12)


def test_the_views_per_layer_for_tools(word_tokenizer):
    model = random_bert(2, 4, 32, vocab=len(word_tokenizer))
    a = tw.analyze("The cat sat.", model=model, tokenizer=word_tokenizer)
    c = a.attentions.contributions
    n = a.trace.sizes["n"]
    for name, view in C.VIEWS.items():
        assert c.layer(name, 1).shape == ((4 if view.per_head else 1), n, n)
        if view.rows_sum_to_one:
            assert torch.allclose(c.layer(name, 1).sum(-1), torch.ones(1, n), atol=1e-5)
    assert c.labels() == a.tokens
    with pytest.raises(tw.TransEasyError, match="choose one of norm, norm_summed, alti"):
        c.layer("nrom", 0)
    with pytest.raises(tw.TransEasyError, match="layer 2 is out of range"):
        c.layer("alti", 2)
    bare = AttentionViews(a.trace.selfattn_attention, a.encoding, lambda: a.alignment)
    with pytest.raises(tw.TransEasyError, match="need the analysis"):
        _ = bare.norm


def test_figures_show_the_view_in_the_look_of_viz(minilm_path):
    from matplotlib.figure import Figure

    from transeasy_widget.contribution_figures import weight_vs_norm_figure

    a = tw.analyze("The cat sat.", model=minilm_path)
    c = a.attentions.contributions
    fig = c.figure("norm", 2, head=5)
    ax = fig.axes[0]
    assert isinstance(fig, Figure) and ax.get_xlabel() == "Layer-2, Head-5 (0-based) · norm"
    assert [t.get_text() for t in ax.get_yticklabels()] == [f"{t} {i}" for i, t in enumerate(a.tokens)]
    assert torch.allclose(torch.tensor(ax.images[0].get_array().data), c.layer("norm", 2)[5])
    assert c.figure("alti", 0).axes[0].get_xlabel() == "Layer-0 (0-based) · alti"
    with pytest.raises(tw.TransEasyError, match="one matrix per head: pass head="):
        c.figure("norm", 0)
    with pytest.raises(tw.TransEasyError, match="not per head"):
        c.figure("rollout", 0, head=1)
    lines = weight_vs_norm_figure({"cls": ([0.5, 0.6], [0.1, 0.2])}).axes[0].lines
    assert [list(line.get_ydata()) for line in lines] == [[0.5, 0.6], [0.1, 0.2]]


@torch.no_grad()
def decoder_reference(model: Any, a: tw.Analysis) -> list[dict[str, torch.Tensor]]:
    """Per layer of a pre-norm decoder, from the model's own modules (float64): f_h(x̃_j) of the normalised tokens,
    the norms, ALTI's parts T_i(x_j) = Σ_h α^h_ij f_h(x̃_j) + [i = j] x_i and contributions, and the block's output
    X_l + the attention module's own output (captured with a hook)."""
    gpt = hasattr(model, "transformer")
    blocks = list(model.transformer.h) if gpt else list(model.model.layers)
    outputs: list[torch.Tensor] = []
    hooks = [(b.attn if gpt else b.self_attn).register_forward_hook(lambda _m, _i, out: outputs.append(out[0][0]))
             for b in blocks]
    ids = torch.tensor([a.encoding.ids])
    run = model(input_ids=ids, output_attentions=True, output_hidden_states=True)
    for hook in hooks:
        hook.remove()
    out = []
    for layer, blk in enumerate(blocks):
        x, alpha = run.hidden_states[layer][0].double(), run.attentions[layer][0].double()
        heads, n, _ = alpha.shape
        d = x.shape[-1]
        if gpt:
            normed = blk.ln_1(run.hidden_states[layer][0]).double()
            value = normed @ blk.attn.c_attn.weight.double()[:, 2 * d:] + blk.attn.c_attn.bias.double()[2 * d:]
            w_out, b_out = blk.attn.c_proj.weight.double(), blk.attn.c_proj.bias.double()  # x @ W + b (Conv1D)
        else:
            normed = blk.input_layernorm(run.hidden_states[layer][0]).double()
            proj = blk.self_attn.v_proj
            value = normed @ proj.weight.double().T + (proj.bias.double() if proj.bias is not None else 0)
            o = blk.self_attn.o_proj
            w_out = o.weight.double().T
            b_out = o.bias.double() if o.bias is not None else torch.zeros(d, dtype=torch.float64)
        dh = w_out.shape[0] // heads
        kv_heads = value.shape[-1] // dh
        f = torch.zeros(heads, n, d, dtype=torch.float64)
        for h in range(heads):
            kv = h // (heads // kv_heads)
            for j in range(n):
                f[h, j] = value[j, kv * dh:(kv + 1) * dh] @ w_out[h * dh:(h + 1) * dh]
        norms = torch.zeros(heads, n, n, dtype=torch.float64)
        transformed = torch.zeros(n, n, d, dtype=torch.float64)
        for i in range(n):
            for j in range(n):
                for h in range(heads):
                    norms[h, i, j] = torch.linalg.norm(alpha[h, i, j] * f[h, j])
                    transformed[i, j] += alpha[h, i, j] * f[h, j]
                if i == j:
                    transformed[i, j] += x[i]
        y = x + outputs[layer].double()  # the block's output: residual + the attention module's own output
        contrib = torch.zeros(n, n, dtype=torch.float64)
        for i in range(n):
            for j in range(n):
                contrib[i, j] = max(0.0, float(y[i].abs().sum() - (y[i] - transformed[i, j]).abs().sum()))
            contrib[i] /= contrib[i].sum()
        out.append({"f": f, "norm": norms, "transformed": transformed, "bias": b_out.detach(), "y": y, "alti": contrib,
                    "attention": alpha})
    return out


DECODER_KINDS = ["gpt2", "llama", "mistral", "qwen2", "qwen3"]


@pytest.mark.parametrize("kind", DECODER_KINDS)
def test_pre_norm_decoders_decompose_the_block_output_as_the_papers_define_it(kind):
    from tests.test_decoders import TEXT, gpt2, llama_like
    from tests.tokenizers_for_tests import byte_level_bpe

    tok = byte_level_bpe()
    # in float64: without a LayerNorm after the block the residual stream is large, and ALTI's ‖y‖₁ − ‖y − T‖₁
    # cancels (float32 leaves about 1e-3 of a contribution); the float32 model is checked below at that precision
    model = (gpt2(len(tok)) if kind == "gpt2" else llama_like(kind, len(tok))).double()
    a = tw.analyze(TEXT, model=model, tokenizer=tok)
    ref = decoder_reference(model, a)
    views = a.attentions
    for layer, r in enumerate(ref):
        assert rel_err(C.head_vectors(a, layer), r["f"]) < REL
        block = C.block(a, layer)
        parts = C.transformed_vectors(block)
        assert rel_err(parts, r["transformed"]) < REL
        # the identity: the parts and the output bias add up to the block's output, as the model computed it
        assert rel_err(parts.sum(1) + block.rest, r["y"]) < REL
        assert rel_err(parts.sum(1) + r["bias"], r["y"]) < REL
    assert rel_err(views.norm, torch.stack([r["norm"] for r in ref])) < REL
    assert (views.alti.double() - torch.stack([r["alti"] for r in ref])).abs().max() < 1e-5
    alti_roll = rollout_reference([r["alti"] for r in ref], add_identity=False)
    assert (views.alti_rollout.double() - torch.stack(alti_roll)).abs().max() < 1e-5
    roll = rollout_reference([r["attention"] for r in ref], add_identity=True)
    assert (views.rollout.double() - torch.stack(roll)).abs().max() < 1e-5
    # causal: no token contributes to an earlier one
    assert (views.alti.triu(1) == 0).all() and (views.norm.triu(1) == 0).all()
    single = tw.analyze(TEXT, model=model.float(), tokenizer=tok)
    assert (single.attentions.alti.double() - torch.stack([r["alti"] for r in ref])).abs().max() < 5e-3


def test_the_views_compute_no_feed_forward(word_tokenizer):
    model = random_bert(2, 4, 32, vocab=len(word_tokenizer))
    a = tw.analyze("The cat sat on the mat because it was tired.", model=model, tokenizer=word_tokenizer)
    c = C.Contributions(a)
    _ = c.layer("norm", 1), c.layer("alti", 1), c.layer("norm_summed", 1)
    held = a.trace.layer_stages(1, block_only=True)  # what the cache holds of layer 1, computed nothing more
    assert "addnorm1_norm_hidden" in held and not any(name.startswith(("ffnn", "addnorm2")) for name in held)
