"""Attention through the layers (Abnar & Zuidema 2020, "Quantifying Attention Flow in Transformers"): rollout and flow.

Both read the layers as a graph: the n tokens at the input and after each of the L layers are nodes, and output
token i of layer l is joined to input token j of that layer by the residual-augmented attention

    Â^l = rownorm(0.5 · mean_h α^{l,h} + 0.5 · I)      (heads averaged; the residual as an identity; rows sum to 1)

- ``rollout(mats)``: R^1 = M^1, R^l = M^l R^{l-1}: how much of input token j reaches token i after layer l,
  multiplying the matrices through the layers (L×n×n; layer l is the rollout up to and including layer l).
  Over Â it is attention rollout; over ALTI's contribution matrices C^l (which hold the residual already, so no
  identity is added) it is ALTI's own aggregation (``Contributions`` view ``alti_rollout``).
- ``attention_flow(mats)``: the edges carry capacities Â^l_ij, and F^l_ij is the maximum flow from input node j to
  node i after layer l (networkx), each row divided by its sum (as the authors' code does). One max-flow problem per
  (layer, i, j), each on a graph of up to L·n² edges: practical for short inputs only, see ``flow_limit``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .errors import InputError

# the largest Σ_l (n² problems × l·n² edges) that attention_flow takes on by default (about 15 s on one core here)
FLOW_WORK = 10_000_000


class FlowTooLargeError(InputError):
    """Attention flow would take too long for this many tokens and layers."""


def residual_attention(attention: torch.Tensor) -> torch.Tensor:
    """Â = rownorm(0.5 · mean over heads of A + 0.5 · I) of one layer's H×n×n attention: n×n."""
    n = attention.shape[-1]
    mixed = 0.5 * attention.mean(0) + 0.5 * torch.eye(n, dtype=attention.dtype, device=attention.device)
    return mixed / mixed.sum(-1, keepdim=True)


def rollout(mats: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
    """R^1 = M^1, R^l = M^l R^{l-1} for per-layer n×n matrices M: L×n×n."""
    out = [mats[0]]
    for m in mats[1:]:
        out.append(m @ out[-1])
    return torch.stack(out)


def flow_work(n: int, layers: int) -> int:
    """The size of the attention-flow computation: Σ_l n² problems × l·n² edges."""
    return n ** 4 * layers * (layers + 1) // 2


def flow_limit(layers: int, work: int = FLOW_WORK) -> int:
    """The most tokens attention flow takes on for a model of ``layers`` layers."""
    n = 1
    while flow_work(n + 1, layers) <= work:
        n += 1
    return n


def attention_flow(mats: torch.Tensor, work: int = FLOW_WORK) -> torch.Tensor:
    """Attention flow through per-layer capacity matrices ``mats`` (L×n×n, row i of layer l: node i after layer l
    to the tokens before it): L×n×n, row i of layer l the flow from each input token to node i, summing to 1.

    Raises FlowTooLargeError when ``flow_work(n, L)`` exceeds ``work`` (pass a larger ``work`` to wait longer).
    """
    import networkx as nx
    from networkx.algorithms.flow import build_residual_network, shortest_augmenting_path

    layers, n, _ = mats.shape
    if flow_work(n, layers) > work:
        raise FlowTooLargeError(
            f"Attention flow solves one max-flow problem per layer, output token and input token ({layers}·{n}² = "
            f"{layers * n * n:,} here, each on a graph of up to {layers * n * n:,} edges): too slow beyond "
            f"{flow_limit(layers, work)} tokens for this {layers}-layer model, and this input has {n}. Use "
            "a.attentions.rollout (the same graph, multiplied through instead of max-flow), a shorter text, or "
            "transeasy_widget.propagation.attention_flow(mats, work=...) with a larger work budget to wait longer.")
    capacity = mats.detach().double().cpu().numpy()
    graph = nx.DiGraph()
    graph.add_nodes_from((0, j) for j in range(n))
    out = torch.zeros(layers, n, n, dtype=torch.float64)
    for layer in range(layers):
        # node (k, i): token i after layer k (k = 0: the input); edges point down, towards the input
        graph.add_weighted_edges_from((((layer + 1, i), (layer, j), capacity[layer, i, j])
                                       for i in range(n) for j in range(n)), weight="capacity")
        residual = build_residual_network(graph, "capacity")
        for i in range(n):
            for j in range(n):
                out[layer, i, j] = nx.maximum_flow_value(graph, (layer + 1, i), (0, j), flow_func=shortest_augmenting_path,
                                                         residual=residual)
    total = out.sum(-1, keepdim=True)
    return (out / total.clamp_min(torch.finfo(out.dtype).tiny)).to(mats.device, mats.dtype)
