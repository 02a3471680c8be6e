"""Directed-DAG graph encoders over `ArchGraph`, differentiable in relaxed ``X`` and ``A``.

`DAGEncoder` is a GIN-style message-passing network (Xu et al. 2019) run in both edge directions, as in D-VAE /
GATES-like encoders of architecture DAGs (Zhang et al. 2019; Ning et al. 2020): each layer aggregates the states
of a node's predecessors (data flow) and of its successors (gradient flow) with separate MLPs, adds them to the node
state (residual) and normalises per node. Readout is the masked mean and max over existing nodes.

Two code paths compute the same function:

* `DAGEncoder.forward` (dense) treats ``A`` as a weighted adjacency: aggregation is ``Aᵀ h`` and ``A h``, so relaxed
  inputs (a diffusion state ``X = (x_t + 1) / 2``, ``A = (a_t + 1) / 2``) are accepted and gradients reach ``X`` and
  ``A``. Only the strict upper triangle of ``A`` between existing nodes is read (nodes are in topological order; the
  diffusion state holds a symmetric ``a_t``).
* `DAGEncoder.forward_pyg` (sparse) runs on a PyTorch Geometric ``Batch`` of discrete graphs with
  ``torch_geometric.utils.scatter`` aggregation and PyG pooling; on discrete graphs it equals the dense path (tested).

An optional sinusoidal embedding of the diffusion timestep ``t`` is added to every node's input state (noise-aware
predictors).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from nag.config import Config
from nag.graph import ArchGraph

__all__ = ["EncoderConfig", "DAGEncoder", "KLinear", "KLayerNorm", "timestep_embedding", "soft_adjacency"]


@dataclass(frozen=True)
class EncoderConfig(Config):
    """Size of a `DAGEncoder`.

    Attributes:
        num_ops: ``V``, the operation vocabulary size.
        hidden: node-state width ``H``.
        layers: message-passing layers (each in both directions).
        time_embedding: add an embedding of the diffusion timestep ``t`` to the node states.
    """

    num_ops: int
    hidden: int = 64
    layers: int = 3
    time_embedding: bool = False


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """Sinusoidal embedding of timesteps (Vaswani et al. 2017; as in DDPM): ``B`` -> ``B x dim``."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float().unsqueeze(-1) * freqs
    emb = torch.cat([torch.cos(args), torch.sin(args)], -1)
    return nn.functional.pad(emb, (0, dim - 2 * half))


def soft_adjacency(A: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``B x N x N``: the strict upper triangle of ``A`` restricted to pairs of existing nodes."""
    pair = (mask.unsqueeze(-1) & mask.unsqueeze(-2)).to(A.dtype)
    return torch.triu(A, diagonal=1) * pair


class KLinear(nn.Module):
    """``K`` independent linear maps applied at once: ``K x ... x I -> K x ... x O``.

    Each member's weights are initialised like ``nn.Linear`` from its own generator (seed ``seed + k``), so a
    member's initialisation does not depend on how many members there are.
    """

    def __init__(self, k: int, i: int, o: int, seed: int = 0) -> None:
        super().__init__()
        w, b = torch.empty(k, i, o), torch.empty(k, o)
        bound = 1 / math.sqrt(i)
        for m in range(k):
            g = torch.Generator().manual_seed(seed + m)
            # kaiming_uniform(a=√5) of nn.Linear reduces to U(-1/√i, 1/√i) for weights and biases
            w[m] = (torch.rand(i, o, generator=g) * 2 - 1) * bound
            b[m] = (torch.rand(o, generator=g) * 2 - 1) * bound
        self.weight, self.bias = nn.Parameter(w), nn.Parameter(b)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, i = self.weight.shape[:2]
        out = torch.baddbmm(self.bias.unsqueeze(1), x.reshape(k, -1, i), self.weight)
        return out.reshape(*x.shape[:-1], -1)


class KLayerNorm(nn.Module):
    """Per-member LayerNorm over the last dimension of ``K x ... x H`` (affine parameters ``K x H``)."""

    def __init__(self, k: int, h: int) -> None:
        super().__init__()
        self.weight, self.bias = nn.Parameter(torch.ones(k, h)), nn.Parameter(torch.zeros(k, h))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (x.shape[0],) + (1,) * (x.dim() - 2) + (x.shape[-1],)
        y = nn.functional.layer_norm(x, x.shape[-1:])
        return y * self.weight.view(shape) + self.bias.view(shape)


class _KMLP(nn.Module):
    def __init__(self, k: int, i: int, h: int, o: int, seed: int, act: type[nn.Module] = nn.ReLU) -> None:
        super().__init__()
        self.l1, self.act, self.l2 = KLinear(k, i, h, seed), act(), KLinear(k, h, o, seed + 7919)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.l2(self.act(self.l1(x)))


class _DAGLayer(nn.Module):
    """One bidirectional GIN layer: ``h ← LN(h + MLP_f((1+ε_f)h + Σ_pred h) + MLP_b((1+ε_b)h + Σ_succ h))``."""

    def __init__(self, k: int, h: int, seed: int) -> None:
        super().__init__()
        self.fwd, self.bwd = _KMLP(k, h, h, h, seed), _KMLP(k, h, h, h, seed + 104729)
        self.eps_f = nn.Parameter(torch.zeros(k))
        self.eps_b = nn.Parameter(torch.zeros(k))
        self.norm = KLayerNorm(k, h)

    def combine(self, h: torch.Tensor, from_pred: torch.Tensor, from_succ: torch.Tensor) -> torch.Tensor:
        shape = (h.shape[0],) + (1,) * (h.dim() - 1)
        ef, eb = self.eps_f.view(shape), self.eps_b.view(shape)
        out = h + self.fwd((1 + ef) * h + from_pred) + self.bwd((1 + eb) * h + from_succ)
        return self.norm(out)


def _aggregate(adj: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """``adj @ h`` for every member: ``B x N x N`` and ``K x B x N x H`` -> ``K x B x N x H``.

    Members are folded into the feature dimension so one batched product of ``B`` matrices ``N x N`` by
    ``N x KH`` replaces ``K·B`` tiny ones (several times faster on CPU).
    """
    k, b, n, d = h.shape
    flat = h.permute(1, 2, 0, 3).reshape(b, n, k * d)
    return torch.bmm(adj, flat).reshape(b, n, k, d).permute(2, 0, 1, 3)


class DAGEncoder(nn.Module):
    """Bidirectional GIN encoder of architecture DAGs (see the module docstring).

    ``members`` independent encoders (an ensemble) run as one batched network: every weight has a leading ``K``
    dimension, so ``K`` members cost about as many kernel launches as one.

    Args:
        cfg: sizes.
        members: ``K``, the number of independent encoders.
        seed: member ``k``'s weights are drawn from seeds derived from ``seed`` and ``k``.

    Attributes:
        out_dim: width of a graph embedding (``2 H``: masked mean and max of the final node states).
    """

    def __init__(self, cfg: EncoderConfig, members: int = 1, seed: int = 0) -> None:
        super().__init__()
        self.cfg = cfg
        self.members = members
        h = cfg.hidden
        base = seed * 1_000_003
        self.inp = KLinear(members, cfg.num_ops, h, base)
        self.time = _KMLP(members, h, h, h, base + 17, nn.SiLU) if cfg.time_embedding else None
        self.layers = nn.ModuleList(_DAGLayer(members, h, base + 1000 * (i + 1)) for i in range(cfg.layers))
        self.out_dim = 2 * h

    def _input(self, x: torch.Tensor, t: torch.Tensor | None, index: torch.Tensor | None) -> torch.Tensor:
        """``K x B x N x H`` (dense) or ``K x n x H`` (sparse) input states."""
        h = self.inp(x.unsqueeze(0).expand(self.members, *x.shape))
        if self.time is not None:
            if t is None:
                raise ValueError(
                    "t: this encoder embeds the diffusion timestep; pass t (B long), 0 for clean graphs"
                )
            emb = timestep_embedding(t, self.cfg.hidden)
            te = self.time(emb.unsqueeze(0).expand(self.members, *emb.shape))  # K x B x H
            h = h + (te[:, index] if index is not None else te.unsqueeze(2))
        return h

    def node_states(
        self, X: torch.Tensor, A: torch.Tensor, mask: torch.Tensor, t: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Dense message passing.

        Args:
            X: ``B x N x V`` operation one-hot or relaxed values.
            A: ``B x N x N`` adjacency (binary or relaxed; strict upper triangle used).
            mask: ``B x N`` bool, existing nodes.
            t: ``B`` timesteps (required iff the encoder has a time embedding).

        Returns:
            ``K x B x N x H`` node states (zero on padding nodes).
        """
        m = mask.unsqueeze(-1).to(X.dtype)
        adj = soft_adjacency(A, mask)
        adj_t = adj.transpose(1, 2)
        h = self._input(X, t, None) * m
        for layer in self.layers:
            h = layer.combine(h, _aggregate(adj_t, h), _aggregate(adj, h)) * m
        return h

    def embed_members(
        self, X: torch.Tensor, A: torch.Tensor, mask: torch.Tensor, t: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``K x B x 2H`` graph embeddings of every member (shapes as in `node_states`)."""
        h = self.node_states(X, A, mask, t)
        m = mask.unsqueeze(-1)
        mean = h.sum(-2) / m.sum(-2).clamp(min=1).to(h.dtype)
        mx = h.masked_fill(~m, float("-inf")).amax(-2)
        return torch.cat([mean, mx], -1)

    def forward(self, graph: ArchGraph, t: torch.Tensor | None = None) -> torch.Tensor:
        """``K x B x 2H`` graph embeddings of a (possibly relaxed) batch, differentiable in ``graph.X`` and
        ``graph.A`` (``B x 2H`` when ``members == 1``)."""
        z = self.embed_members(graph.X, graph.A, graph.mask, t)
        return z[0] if self.members == 1 else z

    def forward_pyg(self, batch, t: torch.Tensor | None = None) -> torch.Tensor:
        """Sparse path on a PyG ``Batch`` (``x: n x V``, ``edge_index: 2 x E``, ``batch: n``); output as `forward`."""
        from torch_geometric.nn import global_max_pool, global_mean_pool
        from torch_geometric.utils import scatter

        src, dst = batch.edge_index
        n = batch.x.shape[0]
        h = self._input(batch.x, t, batch.batch)  # K x n x H
        for layer in self.layers:
            from_pred = scatter(h[:, src], dst, dim=1, dim_size=n, reduce="sum")
            from_succ = scatter(h[:, dst], src, dim=1, dim_size=n, reduce="sum")
            h = layer.combine(h, from_pred, from_succ)
        z = torch.cat([global_mean_pool(h, batch.batch), global_max_pool(h, batch.batch)], -1)
        return z[0] if self.members == 1 else z
