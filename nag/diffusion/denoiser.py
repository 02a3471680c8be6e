"""Time-conditioned graph transformer that predicts the clean operations (and edges) of a noisy graph.

Each node is a token: its noisy operation vector ``x_t`` (``V``), a learned position embedding (nodes are kept in
topological order, so the position is meaningful) and the diffusion-time embedding. Attention follows the DAG:

* fixed-topology spaces (NB201, MobileNetV3): a node attends to itself, its ancestors and its descendants in the
  space's one adjacency (``scaled_dot_product_attention`` with a boolean mask; the diagonal keeps every row
  non-empty), and each head adds learned biases for direct edges in either direction;
* generated-topology spaces (NB101, NAS-Bench-Graph): the adjacency is itself noisy, so no hard mask is used; each
  head adds ``w_fwd * A_t + w_bwd * A_tᵀ`` to its attention logits, and a pair head predicts the noise on every
  upper-triangular adjacency entry from ``[h_i, h_j, A_t[i, j]]``.

Small by design: the default configuration has about 0.2M parameters (the reference, DiffusionNAG's
graph-transformer, has 4M, 89% in its output head).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from nag.config import Config

__all__ = ["DenoiserConfig", "GraphDenoiser", "dag_attention_mask"]


@dataclass(frozen=True)
class DenoiserConfig(Config):
    """Shape and size of a `GraphDenoiser`.

    Attributes:
        num_nodes: ``N``, nodes per graph (padded).
        num_ops: ``V``, operation vocabulary size.
        generate_edges: also denoise the adjacency (generated-topology spaces).
        d_model: token width.
        n_layers: transformer blocks.
        n_heads: attention heads.
        ffn_mult: hidden width of the feed-forward block as a multiple of ``d_model``.
        dropout: dropout in attention and feed-forward blocks.
    """

    num_nodes: int
    num_ops: int
    generate_edges: bool = False
    d_model: int = 64
    n_layers: int = 3
    n_heads: int = 4
    ffn_mult: int = 2
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model: {self.d_model} is not divisible by n_heads={self.n_heads}")


def dag_attention_mask(adjacency: torch.Tensor) -> torch.Tensor:
    """``N x N`` bool: ``i`` may attend to ``j`` when ``j`` is ``i`` itself, an ancestor or a descendant.

    Args:
        adjacency: ``N x N`` 0/1 adjacency of a DAG.
    """
    n = adjacency.shape[-1]
    reach = (adjacency > 0.5).float()
    closure = reach.clone()
    for _ in range(n):  # transitive closure by repeated squaring-free propagation (N is tiny)
        closure = ((closure + closure @ reach) > 0).float()
    return (closure > 0) | (closure.T > 0) | torch.eye(n, dtype=torch.bool)


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """Sinusoidal embedding of (possibly fractional) timesteps: ``B`` -> ``B x dim``."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    return F.pad(emb, (0, dim % 2))


class _Block(nn.Module):
    def __init__(self, cfg: DenoiserConfig) -> None:
        super().__init__()
        d, h = cfg.d_model, cfg.n_heads
        self.n_heads = h
        self.norm1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.edge_bias = nn.Parameter(torch.zeros(2, h))  # per head: weight of A and of Aᵀ
        self.norm2 = nn.LayerNorm(d)
        self.ffn = nn.Sequential(
            nn.Linear(d, cfg.ffn_mult * d), nn.GELU(), nn.Dropout(cfg.dropout), nn.Linear(cfg.ffn_mult * d, d)
        )
        self.dropout = cfg.dropout
        self.time = nn.Linear(d, 2 * d)  # FiLM from the time embedding

    def forward(
        self, h: torch.Tensor, temb: torch.Tensor, adj: torch.Tensor, allowed: torch.Tensor
    ) -> torch.Tensor:
        b, n, d = h.shape
        scale, shift = self.time(temb).unsqueeze(1).chunk(2, dim=-1)
        x = self.norm1(h) * (1 + scale) + shift
        q, k, v = self.qkv(x).view(b, n, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        bias = torch.einsum("bij,h->bhij", adj, self.edge_bias[0]) + torch.einsum(
            "bji,h->bhij", adj, self.edge_bias[1]
        )
        bias = bias.masked_fill(~allowed.unsqueeze(1), float("-inf"))
        att = F.scaled_dot_product_attention(
            q, k, v, attn_mask=bias, dropout_p=self.dropout if self.training else 0.0
        )
        h = h + self.proj(att.transpose(1, 2).reshape(b, n, d))
        return h + self.ffn(self.norm2(h))


class GraphDenoiser(nn.Module):
    """Clean-graph classifier over batched noisy graphs: logits of each node's operation (and of each edge).

    `nag.diffusion.model.GraphDiffusionModel` turns these into the posterior mean ``E[x0 | x_t]`` and the implied
    noise ``ε̂`` (score interpolation), which keeps the probability-flow ODE samplers (DDIM, DPM-Solver) faithful to
    categorical data.

    Args:
        cfg: sizes and mode.
        fixed_adjacency: ``N x N`` adjacency for fixed-topology spaces (``None`` when edges are generated).
    """

    def __init__(self, cfg: DenoiserConfig, fixed_adjacency: torch.Tensor | None = None) -> None:
        super().__init__()
        if not cfg.generate_edges and fixed_adjacency is None:
            raise ValueError("fixed_adjacency: required when generate_edges is False")
        self.cfg = cfg
        d = cfg.d_model
        self.inp = nn.Linear(cfg.num_ops, d)
        self.pos = nn.Parameter(torch.randn(cfg.num_nodes, d) * 0.02)
        self.temb = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        self.blocks = nn.ModuleList(_Block(cfg) for _ in range(cfg.n_layers))
        self.norm = nn.LayerNorm(d)
        self.out_x = nn.Linear(d, cfg.num_ops)
        if cfg.generate_edges:
            self.out_a = nn.Sequential(nn.Linear(2 * d + 1, d), nn.GELU(), nn.Linear(d, 1))
            self.register_buffer("fixed_adj", torch.zeros(cfg.num_nodes, cfg.num_nodes), persistent=False)
            self.register_buffer(
                "dag_mask", torch.ones(cfg.num_nodes, cfg.num_nodes, dtype=torch.bool), persistent=False
            )
        else:
            adj = torch.as_tensor(
                fixed_adjacency, dtype=torch.float32
            ).clone()  # not a view of the training data
            self.register_buffer("fixed_adj", adj, persistent=False)
            self.register_buffer("dag_mask", dag_attention_mask(adj), persistent=False)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(
        self, x_t: torch.Tensor, t: torch.Tensor, node_mask: torch.Tensor, a_t: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Predict the clean graph.

        Args:
            x_t: ``B x N x V`` noisy operations.
            t: ``B`` timesteps (integers in ``0..T-1``; floats allowed).
            node_mask: ``B x N`` bool, existing nodes.
            a_t: ``B x N x N`` noisy adjacency in ``{-1, 1}`` scale (generated topology only).

        Returns:
            ``(op_logits, edge_logits)``: ``B x N x V`` and ``B x N x N`` (strict upper triangle meaningful) or
            ``None``.
        """
        b, n, _ = x_t.shape
        if self.cfg.generate_edges:
            if a_t is None:
                raise ValueError("a_t: required when the denoiser generates edges")
            adj = (a_t + 1) / 2 * torch.triu(torch.ones(n, n, device=x_t.device), 1)
        else:
            adj = self.fixed_adj.expand(b, n, n)
        allowed = self.dag_mask.unsqueeze(0) & node_mask.unsqueeze(1)
        allowed = allowed | torch.eye(n, dtype=torch.bool, device=x_t.device).unsqueeze(0)
        temb = self.temb(timestep_embedding(t, self.cfg.d_model))
        h = self.inp(x_t) + self.pos[:n].unsqueeze(0)
        for blk in self.blocks:
            h = blk(h, temb, adj, allowed)
        h = self.norm(h)
        eps_x = self.out_x(h)
        eps_a = None
        if self.cfg.generate_edges:
            pair = torch.cat(
                [h.unsqueeze(2).expand(b, n, n, -1), h.unsqueeze(1).expand(b, n, n, -1), a_t.unsqueeze(-1)],
                -1,
            )
            eps_a = self.out_a(pair).squeeze(-1)
        return eps_x, eps_a
