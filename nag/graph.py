"""Architectures as batched directed acyclic graphs with operations on nodes.

`ArchGraph` is the one currency between search spaces, predictors, the diffusion generator and the search loops
(see ``DESIGN.md``). A batch of ``B`` architectures of a space with at most ``N`` nodes and an operation
vocabulary of size ``V`` is stored as

* ``X``    — ``B x N x V`` float, one-hot operation per node (relaxed values are allowed during diffusion),
* ``A``    — ``B x N x N`` float, adjacency with ``A[b, i, j] = 1`` for an edge ``i -> j``; strictly upper-triangular
  because nodes are kept in a topological order,
* ``mask`` — ``B x N`` bool, ``True`` for the nodes that exist (smaller graphs are padded at the end).

Conversion to and from PyTorch Geometric ``Data``/``Batch`` and networkx ``DiGraph`` lives here too, so every other
module can pick the representation its library wants.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np
import torch

__all__ = ["ArchGraph", "GraphValidityError", "is_dag_upper_triangular", "reachable_from", "reaching"]


class GraphValidityError(ValueError):
    """Raised when tensors do not form a well-shaped `ArchGraph`."""


@dataclass(frozen=True)
class ArchGraph:
    """A batch of architecture DAGs with one operation per node.

    Args:
        X: ``B x N x V`` node-operation one-hot (or relaxed) matrix.
        A: ``B x N x N`` adjacency, ``A[b, i, j] = 1`` for an edge ``i -> j`` (upper-triangular for DAGs in
            topological order).
        mask: ``B x N`` bool, ``True`` where a node exists.
        ops: the operation vocabulary, ``len(ops) == V``; ``X[..., k]`` is operation ``ops[k]``.
    """

    X: torch.Tensor
    A: torch.Tensor
    mask: torch.Tensor
    ops: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.X.dim() != 3:
            raise GraphValidityError(f"X must be B x N x V, got shape {tuple(self.X.shape)}")
        b, n, v = self.X.shape
        if tuple(self.A.shape) != (b, n, n):
            raise GraphValidityError(f"A must be {b} x {n} x {n} to match X, got {tuple(self.A.shape)}")
        if tuple(self.mask.shape) != (b, n):
            raise GraphValidityError(f"mask must be {b} x {n} to match X, got {tuple(self.mask.shape)}")
        if self.mask.dtype != torch.bool:
            raise GraphValidityError(f"mask must be torch.bool, got {self.mask.dtype}")
        if len(self.ops) != v:
            raise GraphValidityError(f"ops has {len(self.ops)} names but X has V={v} operation channels")

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_dense(
        cls,
        op_indices: Sequence[Sequence[int]] | torch.Tensor,
        adjacencies: Sequence[np.ndarray | torch.Tensor | Sequence[Sequence[int]]],
        ops: Sequence[str],
        num_nodes: int | None = None,
    ) -> ArchGraph:
        """Build a batch from per-graph operation indices and adjacency matrices.

        Args:
            op_indices: ``B`` lists of node operation indices into ``ops`` (graph ``b`` has ``n_b`` nodes).
            adjacencies: ``B`` matrices of shape ``n_b x n_b``.
            ops: operation vocabulary.
            num_nodes: pad every graph to this many nodes (default: the largest ``n_b``).

        Returns:
            An `ArchGraph` with ``X: B x N x V``, ``A: B x N x N`` and ``mask: B x N``.
        """
        if len(op_indices) != len(adjacencies):
            raise GraphValidityError(
                f"op_indices has {len(op_indices)} graphs but adjacencies has {len(adjacencies)}"
            )
        sizes = [len(o) for o in op_indices]
        n = num_nodes if num_nodes is not None else max(sizes, default=0)
        if any(s > n for s in sizes):
            raise GraphValidityError(f"a graph has {max(sizes)} nodes, more than num_nodes={n}")
        b, v = len(sizes), len(ops)
        X = torch.zeros(b, n, v)
        A = torch.zeros(b, n, n)
        mask = torch.zeros(b, n, dtype=torch.bool)
        for i, (o, a) in enumerate(zip(op_indices, adjacencies, strict=True)):
            s = sizes[i]
            o_t = torch.as_tensor(list(o), dtype=torch.long)
            if s and (o_t.min() < 0 or o_t.max() >= v):
                raise GraphValidityError(
                    f"graph {i}: operation index out of range 0..{v - 1}: {o_t.tolist()}"
                )
            a_t = torch.as_tensor(np.asarray(a), dtype=torch.float32)
            if tuple(a_t.shape) != (s, s):
                raise GraphValidityError(f"graph {i}: adjacency is {tuple(a_t.shape)}, expected {s} x {s}")
            X[i, torch.arange(s), o_t] = 1.0
            A[i, :s, :s] = a_t
            mask[i, :s] = True
        return cls(X=X, A=A, mask=mask, ops=tuple(ops))

    @classmethod
    def cat(cls, graphs: Sequence[ArchGraph]) -> ArchGraph:
        """Concatenate batches with the same vocabulary, padding to the largest node count."""
        if not graphs:
            raise GraphValidityError("cannot concatenate an empty list of ArchGraphs")
        ops = graphs[0].ops
        if any(g.ops != ops for g in graphs):
            raise GraphValidityError("cannot concatenate ArchGraphs with different operation vocabularies")
        n = max(g.num_nodes for g in graphs)
        return cls(
            X=torch.cat([g.pad_to(n).X for g in graphs]),
            A=torch.cat([g.pad_to(n).A for g in graphs]),
            mask=torch.cat([g.pad_to(n).mask for g in graphs]),
            ops=ops,
        )

    def pad_to(self, num_nodes: int) -> ArchGraph:
        """Pad (never truncate) every graph to ``num_nodes`` nodes."""
        extra = num_nodes - self.num_nodes
        if extra < 0:
            raise GraphValidityError(f"cannot pad {self.num_nodes} nodes down to {num_nodes}")
        if extra == 0:
            return self
        pad = torch.nn.functional.pad
        return ArchGraph(
            X=pad(self.X, (0, 0, 0, extra)),
            A=pad(self.A, (0, extra, 0, extra)),
            mask=pad(self.mask, (0, extra), value=False),
            ops=self.ops,
        )

    # ------------------------------------------------------------------ basic properties
    @property
    def batch_size(self) -> int:
        """``B``."""
        return int(self.X.shape[0])

    @property
    def num_nodes(self) -> int:
        """``N`` (padded node count)."""
        return int(self.X.shape[1])

    @property
    def num_ops(self) -> int:
        """``V``."""
        return int(self.X.shape[2])

    def __len__(self) -> int:
        return self.batch_size

    def __getitem__(self, idx: int | slice | torch.Tensor | Sequence[int]) -> ArchGraph:
        """Select graphs; an integer keeps the batch dimension (``1 x N x V``)."""
        if isinstance(idx, int):
            idx = slice(idx, idx + 1) if idx != -1 else slice(-1, None)
        return ArchGraph(X=self.X[idx], A=self.A[idx], mask=self.mask[idx], ops=self.ops)

    def to(self, device: torch.device | str) -> ArchGraph:
        """Move tensors to ``device``."""
        return ArchGraph(X=self.X.to(device), A=self.A.to(device), mask=self.mask.to(device), ops=self.ops)

    def op_indices(self) -> torch.Tensor:
        """``B x N`` long: the arg-max operation of every node, ``-1`` on padding."""
        idx = self.X.argmax(dim=-1)
        return torch.where(self.mask, idx, torch.full_like(idx, -1))

    def num_edges(self) -> torch.Tensor:
        """``B`` long: the edge count of each graph (entries > 0.5 between existing nodes)."""
        m = self.mask.unsqueeze(-1) & self.mask.unsqueeze(-2)
        return ((self.A > 0.5) & m).sum(dim=(-1, -2))

    def discretize(self) -> ArchGraph:
        """Round relaxed values: one-hot of the arg-max operation, adjacency thresholded at 0.5."""
        X = torch.nn.functional.one_hot(self.X.argmax(-1), self.num_ops).to(self.X.dtype)
        X = X * self.mask.unsqueeze(-1)
        m = self.mask.unsqueeze(-1) & self.mask.unsqueeze(-2)
        A = ((self.A > 0.5) & m).to(self.A.dtype)
        return ArchGraph(X=X, A=A, mask=self.mask, ops=self.ops)

    # ------------------------------------------------------------------ validity helpers
    def structural_errors(self) -> list[list[str]]:
        """Per graph, the structural problems found (empty list = well formed).

        Checks: node masks are a prefix, rows of ``X`` on existing nodes are one-hot, ``A`` is binary, strictly
        upper-triangular (acyclic in the stored order) and has no edge touching a padding node.
        """
        out: list[list[str]] = []
        for b in range(self.batch_size):
            errs: list[str] = []
            m = self.mask[b]
            s = int(m.sum())
            if not bool(m[:s].all()):
                errs.append("mask is not a prefix of the nodes")
            x = self.X[b, :s]
            if not bool(((x == 0) | (x == 1)).all()) or not bool((x.sum(-1) == 1).all()):
                errs.append("X rows are not one-hot")
            a = self.A[b]
            if not bool(((a == 0) | (a == 1)).all()):
                errs.append("A is not binary")
            if bool(torch.tril(a).any()):
                errs.append("A is not strictly upper-triangular")
            if bool(a[s:].any()) or bool(a[:, s:].any()):
                errs.append("an edge touches a padding node")
            out.append(errs)
        return out

    def is_well_formed(self) -> torch.Tensor:
        """``B`` bool: `structural_errors` is empty for the graph."""
        return torch.tensor([not e for e in self.structural_errors()], dtype=torch.bool)

    # ------------------------------------------------------------------ conversions
    def to_pyg(self):
        """Convert to a PyTorch Geometric ``Batch`` (one ``Data`` per graph).

        Each ``Data`` has ``x: n_b x V`` (float), ``op: n_b`` (long), ``edge_index: 2 x E_b`` in the
        direction of data flow, and ``num_nodes = n_b``; padding nodes are dropped.
        """
        from torch_geometric.data import Batch

        return Batch.from_data_list(self.to_pyg_list())

    def to_pyg_list(self) -> list:
        """Like `to_pyg` but a plain list of ``Data`` objects."""
        from torch_geometric.data import Data

        data = []
        for b in range(self.batch_size):
            s = int(self.mask[b].sum())
            x = self.X[b, :s]
            ei = (self.A[b, :s, :s] > 0.5).nonzero().t().contiguous()
            data.append(Data(x=x, op=x.argmax(-1), edge_index=ei, num_nodes=s))
        return data

    @classmethod
    def from_pyg(cls, data, ops: Sequence[str], num_nodes: int | None = None) -> ArchGraph:
        """Inverse of `to_pyg`: accepts a ``Batch``, a ``Data`` or a list of ``Data`` with ``x`` or ``op``."""
        items = data.to_data_list() if hasattr(data, "to_data_list") else data
        if not isinstance(items, list | tuple):
            items = [items]
        op_idx, adjs = [], []
        for d in items:
            s = int(d.num_nodes)
            op = d.op if getattr(d, "op", None) is not None else d.x.argmax(-1)
            a = torch.zeros(s, s)
            if d.edge_index.numel():
                a[d.edge_index[0], d.edge_index[1]] = 1.0
            op_idx.append(op.tolist())
            adjs.append(a)
        return cls.from_dense(op_idx, adjs, ops, num_nodes=num_nodes)

    def to_networkx(self, b: int = 0) -> nx.DiGraph:
        """Graph ``b`` as a networkx ``DiGraph`` with node attribute ``op`` (operation name)."""
        s = int(self.mask[b].sum())
        g = nx.DiGraph()
        ops = self.X[b, :s].argmax(-1).tolist()
        for i, o in enumerate(ops):
            g.add_node(i, op=self.ops[o])
        for i, j in (self.A[b, :s, :s] > 0.5).nonzero().tolist():
            g.add_edge(i, j)
        return g

    @classmethod
    def from_networkx(
        cls, graphs: Sequence[nx.DiGraph], ops: Sequence[str], num_nodes: int | None = None
    ) -> ArchGraph:
        """Build a batch from DiGraphs with node attribute ``op``; nodes are put in topological order.

        Ties in the topological order are broken by the original node labels, so a graph already in order keeps it.
        """
        index = {o: k for k, o in enumerate(ops)}
        op_idx, adjs = [], []
        for g in graphs:
            if not nx.is_directed_acyclic_graph(g):
                raise GraphValidityError("graph has a cycle; ArchGraph holds DAGs only")
            order = list(nx.lexicographical_topological_sort(g))
            pos = {v: i for i, v in enumerate(order)}
            try:
                op_idx.append([index[g.nodes[v]["op"]] for v in order])
            except KeyError as e:
                raise GraphValidityError(f"unknown op {e.args[0]!r}; accepted: {', '.join(ops)}") from None
            a = np.zeros((len(order), len(order)), dtype=np.float32)
            for u, v in g.edges:
                a[pos[u], pos[v]] = 1.0
            adjs.append(a)
        return cls.from_dense(op_idx, adjs, ops, num_nodes=num_nodes)


def is_dag_upper_triangular(adj: np.ndarray) -> bool:
    """True when the square 0/1 matrix ``adj`` (``n x n``) has edges only above the diagonal."""
    adj = np.asarray(adj)
    return adj.ndim == 2 and adj.shape[0] == adj.shape[1] and not np.tril(adj).any()


def reachable_from(adj: np.ndarray, source: int = 0) -> np.ndarray:
    """``n`` bool: nodes reachable from ``source`` in an upper-triangular adjacency ``n x n``."""
    adj = np.asarray(adj) > 0
    seen = np.zeros(adj.shape[0], dtype=bool)
    seen[source] = True
    for i in range(source, adj.shape[0]):  # topological order: one sweep suffices
        if seen[i]:
            seen |= adj[i]
    return seen


def reaching(adj: np.ndarray, target: int = -1) -> np.ndarray:
    """``n`` bool: nodes from which ``target`` is reachable in an upper-triangular adjacency ``n x n``."""
    adj = np.asarray(adj) > 0
    n = adj.shape[0]
    target = target % n
    seen = np.zeros(n, dtype=bool)
    seen[target] = True
    for i in range(target, -1, -1):
        if adj[i][seen].any():
            seen[i] = True
    return seen
