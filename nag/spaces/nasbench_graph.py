"""NAS-Bench-Graph: 26,206 graph-neural-network architectures with varying DAG topology and operations.

Qin, Zhang, Wang, Zhang & Zhu, "NAS-Bench-Graph: Benchmarking Graph Neural Architecture Search", NeurIPS 2022
Datasets and Benchmarks track; data and code in the PyPI package ``nas-bench-graph`` (1.4.0).

**Native form** (the package's own convention, `NBGArch`): four computing nodes, numbered 1..4, each with one input
and one operation. ``links[i]`` is the node that computing node ``i + 1`` reads (0 = the raw input, ``k`` = computing
node ``k``), so ``0 <= links[i] <= i`` and ``links[0] == 0``: 1 x 2 x 3 x 4 = 24 link lists. ``ops[i]`` is the
operation of computing node ``i + 1``, one of `GNN_OPS` (``gat gcn gin cheb sage arma graph fc skip``; ``fc`` is a
linear layer, ``skip`` the identity, ``graph`` the k-GNN layer). Every computing node without a successor (a *leaf*)
feeds the output, which combines them. Several link lists describe the same DAG under another numbering of the
computing nodes, and ``skip`` nodes make further architectures equal; the package reduces each to one representative
(``Arch.valid_hash``: ``regularize`` maps the 24 link lists onto the 9 of `LINK_STRUCTURES`, ``move_skip_op`` moves
skip nodes forward, ``equalpart_sort`` sorts the ops of interchangeable nodes) and keys its tables by the hash of
that representative: ``key = s * 10**4 + sum(op_index(ops[i]) * 10**(3 - i))`` where ``s`` indexes the structure in
`LINK_STRUCTURES` and ``op_index`` the op in `GNN_OPS` (so the key's decimal digits spell the representative). The
all-``skip`` network is the identity and is not in the benchmark. This leaves 26,206 classes (the paper's count);
`NASBenchGraphSpace.enumerate` lists their representatives in ascending key order, the order of `index`.

**Text form** (`NASBenchGraphSpace.parse` / `format`): ``links=[0,0,1,2];ops=[gcn,gat,sage,gin]`` (spaces and
quotes around names tolerated, names case-insensitive); a JSON object ``{"links": [0, 0, 1, 2], "ops": ["gcn", ...]}``
is accepted too. Any of the 24 link lists is accepted; `canonical` and `representative` reduce it.

**ArchGraph encoding** (operations on nodes, ``N = 6`` nodes, vocabulary `GRAPH_OPS` = ``input``, the nine GNN ops,
``output``, so ``V = 11``; every graph has all six nodes, so ``mask`` is all ``True``):

* node 0 = ``input``; node ``i + 1`` (``i = 0..3``) = computing node ``i + 1`` with operation ``ops[i]``;
  node 5 = ``output``;
* one edge ``links[i] -> i + 1`` per computing node (its only in-edge), and an edge ``j -> 5`` exactly for the leaf
  computing nodes ``j`` (no edge ``j -> k`` with ``1 <= k <= 4``); no other edges (in particular none ``0 -> 5``).

Since ``links[i] <= i`` the adjacency is strictly upper-triangular. The map is a bijection between the
24 x 9**4 native forms and the graphs that satisfy these rules, so ``decode(encode(a)) == a`` for every native form
(not only representatives), and a discrete graph that breaks any rule (wrong op on nodes 0 or 5, ``input``/``output``
on a computing node, a computing node with zero or two in-edges, an edge into the input or out of the output, a
missing or extra edge to the output, an edge below the diagonal, fewer than six nodes) or that encodes the all-``skip``
network decodes to ``None``. The topology varies between architectures; relabelling the computing nodes of a graph
(another topological order) decodes to another native form of the same class, so `canonical` is unchanged.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np
import torch

from nag.errors import InvalidArchitectureError
from nag.graph import ArchGraph
from nag.spaces.base import EnumerableSpace, StructuredDecodeSpace
from nag.typing import SeedLike, as_rng

__all__ = [
    "NBGArch",
    "NASBenchGraphSpace",
    "GNN_OPS",
    "PROTEINS_OPS",
    "LINK_STRUCTURES",
    "ALL_LINKS",
    "GRAPH_OPS",
    "NUM_ARCHS",
    "bench_key",
]

#: Candidate operations, in the package's order (``nas_bench_graph.gnn_list``); the hash digits index this tuple.
GNN_OPS: tuple[str, ...] = ("gat", "gcn", "gin", "cheb", "sage", "arma", "graph", "fc", "skip")
#: The reduced operation set of the ogbn-proteins table (``nas_bench_graph.gnn_list_proteins``).
PROTEINS_OPS: tuple[str, ...] = ("gcn", "sage", "arma", "fc", "skip")
#: The 9 non-isomorphic link structures (``nas_bench_graph.link_list``); the hash's leading digit indexes this tuple.
LINK_STRUCTURES: tuple[tuple[int, int, int, int], ...] = (
    (0, 0, 0, 0),
    (0, 0, 0, 1),
    (0, 0, 1, 1),
    (0, 0, 1, 2),
    (0, 0, 1, 3),
    (0, 1, 1, 1),
    (0, 1, 1, 2),
    (0, 1, 2, 2),
    (0, 1, 2, 3),
)
#: Every link list the package accepts (``links[i]`` in ``0..i``): 24, in lexicographic order.
ALL_LINKS: tuple[tuple[int, ...], ...] = tuple(itertools.product(range(1), range(2), range(3), range(4)))
#: Node vocabulary of the ArchGraph encoding.
GRAPH_OPS: tuple[str, ...] = ("input", *GNN_OPS, "output")
#: Unique architectures (the paper's count; `NASBenchGraphSpace.size` recomputes it).
NUM_ARCHS = 26206

_NODES = 6  # input, four computing nodes, output
_OUT = _NODES - 1
_OUT_OP = len(GRAPH_OPS) - 1
_SKIP = GNN_OPS.index("skip")
_OP_INDEX = {o: i for i, o in enumerate(GNN_OPS)}
_KEY_BASE = len(GNN_OPS) + 1  # the package hashes with base len(gnn_list) + 1
_STRIDE = _KEY_BASE**4
_TEXT_RE = re.compile(
    r"^\s*links\s*=\s*\[(?P<links>[^\[\]]*)\]\s*;\s*ops\s*=\s*\[(?P<ops>[^\[\]]*)\]\s*$", re.IGNORECASE
)
_FORMAT_HINT = "expected 'links=[0,0,1,2];ops=[gcn,gat,sage,gin]' or a JSON object with 'links' and 'ops'"


@dataclass(frozen=True)
class NBGArch:
    """A NAS-Bench-Graph architecture in the package's convention (any of its equivalent native forms).

    Args:
        links: 4 ints; computing node ``i + 1`` reads node ``links[i]`` (0 = input), ``0 <= links[i] <= i``.
        ops: 4 operation names from `GNN_OPS`; ``ops[i]`` is the operation of computing node ``i + 1``.

    Lists are stored as tuples so the object is hashable. The constructor neither validates nor reduces; use
    `NASBenchGraphSpace.validate` and `NASBenchGraphSpace.representative` (``parse`` validates).
    """

    links: tuple[int, ...]
    ops: tuple[str, ...]

    def __post_init__(self) -> None:
        links = tuple(int(v) if isinstance(v, np.integer) else v for v in self.links)
        object.__setattr__(self, "links", links)
        object.__setattr__(self, "ops", tuple(self.ops))

    def __str__(self) -> str:
        return f"links=[{','.join(str(v) for v in self.links)}];ops=[{','.join(str(o) for o in self.ops)}]"


@lru_cache(maxsize=1 << 18)
def _package_hash(links: tuple[int, ...], ops: tuple[str, ...]) -> int:
    # the package imports only the standard library; imported here so this module never needs it at import time
    from nas_bench_graph.architecture import Arch

    return int(Arch(list(links), list(ops)).valid_hash())


def bench_key(arch: NBGArch) -> int:
    """The package's key of ``arch`` (``Arch(links, ops).valid_hash()``), the key of its ``.bench`` tables.

    ``arch`` must be valid (see `NASBenchGraphSpace.validate`); the package's hash is undefined otherwise.
    """
    return _package_hash(arch.links, arch.ops)


def _arch_of_key(key: int) -> NBGArch:
    """The representative whose package hash is ``key`` (its digits spell the structure and the ops)."""
    s, rest = divmod(key, _STRIDE)
    digits = [(rest // _KEY_BASE ** (3 - i)) % _KEY_BASE for i in range(4)]
    return NBGArch(LINK_STRUCTURES[s], tuple(GNN_OPS[d] for d in digits))


class NASBenchGraphSpace(EnumerableSpace[NBGArch], StructuredDecodeSpace[NBGArch]):
    """The NAS-Bench-Graph search space (see the module docstring for the native form and the graph encoding)."""

    name = "nasbench_graph"
    ops = GRAPH_OPS
    max_nodes = _NODES
    fixed_topology = False

    # ------------------------------------------------------------------ text
    def parse(self, text: str) -> NBGArch:
        """Read ``links=[...];ops=[...]`` or the equivalent JSON object; the result is validated.

        Raises:
            InvalidArchitectureError: malformed text or an invalid architecture; the message names the problem.
        """
        if not isinstance(text, str):
            raise InvalidArchitectureError("arch", text, f"expected a string, got {type(text).__name__}")
        s = text.strip()
        if s.startswith("{"):
            try:
                obj = json.loads(s)
            except json.JSONDecodeError as e:
                raise InvalidArchitectureError("arch", text, f"invalid JSON ({e.msg})") from None
            if not isinstance(obj, dict) or set(obj) != {"links", "ops"}:
                raise InvalidArchitectureError(
                    "arch", text, "a JSON object needs exactly the keys 'links' and 'ops'"
                )
            raw_links, raw_ops = obj["links"], obj["ops"]
            if not isinstance(raw_links, list) or not isinstance(raw_ops, list):
                raise InvalidArchitectureError("arch", text, "'links' and 'ops' must be JSON lists")
            if not all(type(v) is int for v in raw_links):
                raise InvalidArchitectureError("arch", text, "'links' must hold integers")
            if not all(isinstance(o, str) for o in raw_ops):
                raise InvalidArchitectureError("arch", text, "'ops' must hold strings")
            links = tuple(raw_links)
            ops = tuple(o.strip().lower() for o in raw_ops)
        else:
            m = _TEXT_RE.match(s)
            if m is None:
                raise InvalidArchitectureError("arch", text, _FORMAT_HINT)
            try:
                links = tuple(int(v) for v in m["links"].split(",") if v.strip())
            except ValueError:
                raise InvalidArchitectureError("arch", text, "links must be integers") from None
            ops = tuple(o.strip().strip("'\"").strip().lower() for o in m["ops"].split(",") if o.strip())
        arch = NBGArch(links, ops)
        reasons = self.validate(arch)
        if reasons:
            raise InvalidArchitectureError("arch", text, "; ".join(reasons))
        return arch

    def format(self, arch: NBGArch) -> str:
        """``links=[0,0,1,2];ops=[gcn,gat,sage,gin]`` (no spaces)."""
        return str(arch)

    def validate(self, arch: NBGArch) -> list[str]:
        """Reasons why ``arch`` is not a member: link list out of range, unknown op, wrong lengths, all ``skip``."""
        errs = self._structural_errors(arch)
        if not errs and all(o == "skip" for o in arch.ops):
            errs.append("all four ops are 'skip': the identity network is not part of NAS-Bench-Graph")
        return errs

    @staticmethod
    def _structural_errors(arch: NBGArch) -> list[str]:
        """What keeps ``arch`` from forming a graph of the encoding (everything `validate` checks but all-skip)."""
        if not isinstance(arch, NBGArch):
            return [f"expected an NBGArch, got {type(arch).__name__}"]
        errs = []
        if len(arch.links) != 4:
            errs.append(f"links needs 4 entries (one input per computing node), got {len(arch.links)}")
        for i, v in enumerate(arch.links[:4]):
            if type(v) is not int or not 0 <= v <= i:
                errs.append(
                    f"links[{i}]={v!r} not allowed: computing node {i + 1} reads node 0..{i} "
                    "(0 = input, k = computing node k)"
                )
        if len(arch.ops) != 4:
            errs.append(f"ops needs 4 entries (one per computing node), got {len(arch.ops)}")
        for i, o in enumerate(arch.ops):
            if not isinstance(o, str) or o not in _OP_INDEX:
                errs.append(f"ops[{i}]={o!r} unknown; accepted: {', '.join(GNN_OPS)}")
        return errs

    def _require_valid(self, arch: NBGArch) -> None:
        reasons = self.validate(arch)
        if reasons:
            raise InvalidArchitectureError("arch", arch, "; ".join(reasons))

    # ------------------------------------------------------------------ graphs
    def _arrays(self, archs: Sequence[NBGArch]) -> tuple[np.ndarray, np.ndarray]:
        """``B x 4`` link and ``B x 4`` op-index arrays; raises for archs that do not form a graph.

        The all-``skip`` network forms a well-shaped graph (it decodes to ``None``), so it is not rejected here.
        """
        links = np.zeros((len(archs), 4), dtype=np.int64)
        ops = np.zeros((len(archs), 4), dtype=np.int64)
        for b, a in enumerate(archs):
            reasons = self._structural_errors(a)
            if reasons:
                raise InvalidArchitectureError("arch", a, "; ".join(reasons))
            links[b] = a.links
            ops[b] = [_OP_INDEX[o] for o in a.ops]
        return links, ops

    @staticmethod
    def _dense(links: np.ndarray, ops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Node op indices ``B x 6`` and adjacency ``B x 6 x 6`` (float32) from ``B x 4`` links and op indices."""
        b = links.shape[0]
        rows = np.arange(b)[:, None]
        adj = np.zeros((b, _NODES, _NODES), dtype=np.float32)
        adj[rows, links, np.arange(1, 5)[None, :]] = 1.0  # links[i] -> computing node i + 1
        has_child = adj[:, 1:5, 1:5].any(axis=2)
        adj[:, 1:5, _OUT] = ~has_child  # leaves feed the output
        node_ops = np.concatenate(
            [np.zeros((b, 1), np.int64), ops + 1, np.full((b, 1), _OUT_OP, np.int64)], axis=1
        )
        return node_ops, adj

    def graph_of(self, arch: NBGArch) -> tuple[list[int], np.ndarray]:
        """Node op indices (6) and the ``6 x 6`` adjacency of ``arch`` (see the module docstring)."""
        node_ops, adj = self._dense(*self._arrays([arch]))
        return node_ops[0].tolist(), adj[0]

    @staticmethod
    def _archs_of(node_ops: np.ndarray, adj: np.ndarray) -> list[NBGArch | None]:
        """Vectorised inverse of `_dense`: ``B x 6`` op indices, ``B x 6 x 6`` bool adjacency -> archs or ``None``."""
        ok = (node_ops[:, 0] == 0) & (node_ops[:, _OUT] == _OUT_OP)
        comp = node_ops[:, 1:5] - 1
        ok &= ((comp >= 0) & (comp < len(GNN_OPS))).all(axis=1)
        ok &= ~(adj & np.tril(np.ones((_NODES, _NODES), dtype=bool))).any(axis=(1, 2))
        parents = adj[:, :5, 1:5]  # rows: nodes 0..4, columns: computing nodes 1..4
        ok &= (parents.sum(axis=1) == 1).all(axis=1)
        ok &= ~adj[:, 0, _OUT]
        leaf = ~adj[:, 1:5, 1:5].any(axis=2)
        ok &= (adj[:, 1:5, _OUT] == leaf).all(axis=1)
        ok &= ~(comp == _SKIP).all(axis=1)
        links = parents.argmax(axis=1)
        return [
            NBGArch(tuple(int(v) for v in links[b]), tuple(GNN_OPS[o] for o in comp[b])) if ok[b] else None
            for b in range(len(ok))
        ]

    def arch_of(self, op_indices: Sequence[int], adjacency: np.ndarray) -> NBGArch | None:
        """The architecture of one discrete graph (6 op indices, ``6 x 6`` adjacency), or ``None``."""
        if len(op_indices) != _NODES:
            return None
        adj = np.asarray(adjacency, dtype=np.float64)
        if adj.shape != (_NODES, _NODES):
            return None
        return self._archs_of(np.asarray([op_indices], dtype=np.int64), adj[None] > 0.5)[0]

    def encode(self, archs: Sequence[NBGArch]) -> ArchGraph:
        """Vectorised encoding: ``X: B x 6 x 11``, ``A: B x 6 x 6`` (upper-triangular), ``mask: B x 6`` all ``True``.

        Raises:
            InvalidArchitectureError: an architecture has malformed links or unknown ops.
        """
        node_ops, adj = self._dense(*self._arrays(archs))
        b = len(archs)
        x = np.zeros((b, _NODES, len(GRAPH_OPS)), dtype=np.float32)
        np.put_along_axis(x, node_ops[:, :, None], 1.0, axis=2)
        return ArchGraph(
            X=torch.from_numpy(x),
            A=torch.from_numpy(adj),
            mask=torch.ones(b, _NODES, dtype=torch.bool),
            ops=self.ops,
        )

    def decode(self, graph: ArchGraph) -> list[NBGArch | None]:
        """Vectorised decoding; relaxed inputs are discretised first (arg-max op, adjacency > 0.5).

        Args:
            graph: a batch with ``X: B x N x 11``; graphs with other than 6 existing nodes decode to ``None``.

        Returns:
            ``B`` architectures (native forms, not reduced), ``None`` where a graph encodes none.
        """
        if graph.ops != self.ops:
            raise ValueError(f"graph.ops {graph.ops} does not match space {self.name!r} ops {self.ops}")
        g = graph.discretize()
        b = g.batch_size
        if g.num_nodes < _NODES:
            return [None] * b
        mask = g.mask.cpu().numpy()
        exists = mask[:, :_NODES].all(axis=1) & ~mask[:, _NODES:].any(axis=1)
        node_ops = g.op_indices().cpu().numpy()[:, :_NODES]
        adj = g.A.cpu().numpy()[:, :_NODES, :_NODES] > 0.5
        out = self._archs_of(node_ops, adj)
        return [a if e else None for a, e in zip(out, exists, strict=True)]

    # ------------------------------------------------------------------ equivalence
    def decode_scores(
        self, op_scores: torch.Tensor, edge_scores: torch.Tensor, num_nodes: int
    ) -> NBGArch | None:
        """Valid by construction: computing node ``i + 1`` reads the predecessor ``j <= i`` with the highest edge
        score into it, takes its best-scoring GNN operation, and leaves feed the output (as the rules say). If all
        four picks are ``skip`` (the identity network, not in the benchmark), the node whose runner-up op is closest
        gets it. Returns the benchmark's representative of the class (the form the training graphs have).

        Args:
            op_scores: ``6 x 11`` node-operation scores; edge_scores: ``6 x 6``; num_nodes: must be 6.
        """
        if num_nodes != _NODES:
            return None
        gnn = op_scores[1:_OUT, 1:_OUT_OP].float()  # computing nodes x GNN ops
        links = tuple(int(edge_scores[: i + 1, i + 1].argmax()) for i in range(4))
        order = gnn.argsort(dim=-1, descending=True)
        picks = order[:, 0].tolist()
        if all(p == _SKIP for p in picks):
            gap = gnn.gather(1, order[:, :1]).squeeze(1) - gnn.gather(1, order[:, 1:2]).squeeze(1)
            k = int(gap.argmin())
            picks[k] = int(order[k, 1])
        return self.representative(NBGArch(links, tuple(GNN_OPS[p] for p in picks)))

    def bench_key(self, arch: NBGArch) -> int:
        """The package's hash of ``arch`` (its ``.bench`` key); raises `InvalidArchitectureError` if invalid."""
        self._require_valid(arch)
        return bench_key(arch)

    def representative(self, arch: NBGArch) -> NBGArch:
        """The package's representative of the class of ``arch`` (the member `enumerate` yields)."""
        return _arch_of_key(self.bench_key(arch))

    def canonical(self, arch: NBGArch) -> str:
        """The text form of the representative: equal exactly when the package's hashes are equal."""
        return str(self.representative(arch))

    def equivalents(self, arch: NBGArch) -> list[NBGArch]:
        """Every native form (any of the 24 link lists) of the class of ``arch``, sorted.

        The package's reduction re-links and reorders nodes but never changes an op (the tests check all 157,440
        forms), so the members are found among the 24 link lists x the permutations of the ops.
        """
        key = self.bench_key(arch)
        members = (
            NBGArch(lk, ops)
            for lk in ALL_LINKS
            for ops in set(itertools.permutations(arch.ops))
            if _package_hash(lk, ops) == key
        )
        return sorted(members, key=lambda a: (a.links, a.ops))

    # ------------------------------------------------------------------ sampling and neighbourhoods
    def sample(self, n: int, seed: SeedLike = None) -> list[NBGArch]:
        """``n`` representatives drawn uniformly over the 26,206 unique architectures (i.i.d.)."""
        idx = as_rng(seed).integers(0, self.size, size=n)
        reps = self._representatives
        return [reps[i] for i in idx]

    def neighbours(self, arch: NBGArch) -> list[NBGArch]:
        """Representatives of the classes one edit away from the class of ``arch``, in `index` order.

        An edit changes one op, or rewires one computing node to another allowed input (one ``links`` entry to
        another value in ``0..i``). It is applied to every native form of the class (`equivalents`), so the
        result depends only on the class, the relation is symmetric, and the class of ``arch`` is excluded.
        """
        own = self.bench_key(arch)
        keys: set[int] = set()
        for m in self.equivalents(arch):
            for i in range(4):
                for op in GNN_OPS:
                    if op != m.ops[i]:
                        ops = m.ops[:i] + (op,) + m.ops[i + 1 :]
                        if any(o != "skip" for o in ops):
                            keys.add(_package_hash(m.links, ops))
            for i in range(1, 4):
                for v in range(i + 1):
                    if v != m.links[i]:
                        keys.add(_package_hash(m.links[:i] + (v,) + m.links[i + 1 :], m.ops))
        keys.discard(own)
        return [_arch_of_key(k) for k in sorted(keys)]

    # ------------------------------------------------------------------ enumeration and index
    @cached_property
    def _keys(self) -> tuple[int, ...]:
        """Sorted package keys of all classes (each class has a native form on a `LINK_STRUCTURES` link list)."""
        keys = {
            _package_hash(lk, ops)
            for lk in LINK_STRUCTURES
            for ops in itertools.product(GNN_OPS, repeat=4)
            if any(o != "skip" for o in ops)
        }
        return tuple(sorted(keys))

    @cached_property
    def _representatives(self) -> tuple[NBGArch, ...]:
        return tuple(_arch_of_key(k) for k in self._keys)

    @cached_property
    def _index_of_key(self) -> dict[int, int]:
        return {k: i for i, k in enumerate(self._keys)}

    @property
    def size(self) -> int:
        """26,206."""
        return len(self._keys)

    def enumerate(self) -> Iterator[NBGArch]:
        """The representative of every class, in ascending package-key order (index 0..26205)."""
        return iter(self._representatives)

    def keys(self) -> tuple[int, ...]:
        """The package key of every class, in `enumerate` order."""
        return self._keys

    def index(self, arch: NBGArch) -> int:
        """Position 0..26205 of the class of ``arch`` in `enumerate` order."""
        return self._index_of_key[self.bench_key(arch)]

    def from_index(self, index: int) -> NBGArch:
        """The representative at position ``index`` of `enumerate`."""
        self.check_index(index)
        return self._representatives[index]

    def in_proteins_space(self, arch: NBGArch) -> bool:
        """``True`` when every op of ``arch`` is in `PROTEINS_OPS` (the ogbn-proteins table covers only these)."""
        return all(o in PROTEINS_OPS for o in arch.ops)
