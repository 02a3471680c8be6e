"""NAS-Bench-201 (NATS-Bench topology space): 15,625 cells of 6 edges x 5 operations.

Dong & Yang, "NAS-Bench-201: Extending the Scope of Reproducible Neural Architecture Search", ICLR 2020.

Notations handled here (see ``shared/data/README.md`` and ``shared/PROTOCOL.md``):

* **arch string** ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``; its edges, in order, are
  (0→1), (0→2), (1→2), (0→3), (1→3), (2→3) between the cell's four nodes. `NB201Arch.ops` uses this order.
* **NASLib tuple** ``(4, 3, 3, 0, 0, 0)``: edge order (0→1), (0→2), (0→3), (1→2), (1→3), (2→3) and op codes
  0 skip_connect, 1 none, 2 nor_conv_3x3, 3 nor_conv_1x1, 4 avg_pool_3x3.
* **index** 0..15624: the official benchmark order, read from the NB201 table through the data resolver.
* **ArchGraph** (operations on nodes): 8 nodes, 0 = input, 7 = output and node ``k`` (1..6) = the ``k``-th edge of the
  arch string. An edge-op node feeds every edge-op node leaving the cell node it enters, so the adjacency is
  0→{1,2,4}, 1→{3,5}, 2→{6}, 3→{6}, 4→{7}, 5→{7}, 6→{7}.

`NB201Space.canonical` is the benchmark's own isomorphism key (``CellStructure.to_unique_str(consider_zero=True)``
of the official API): 6,466 classes over the 15,625 cells. It treats ``none`` as zero and ``skip_connect`` as
identity but keeps a zero term inside a sum as a token, so it splits some functionally equal cells (dropping zero
terms from sums gives 5,390 classes); we keep the official key so classes match the published count.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TypeVar

import numpy as np
import torch
from torch import nn

from nag.errors import InvalidArchitectureError
from nag.graph import ArchGraph
from nag.spaces.base import EnumerableSpace, ModuleSpace, SearchSpace, parse_codes
from nag.typing import SeedLike, as_rng

__all__ = ["NB201Arch", "NB201Space", "CellSpace", "NB201Network", "OPS", "EDGES", "NASLIB_CODES"]

CellT = TypeVar("CellT")

#: Candidate operations, in the benchmark's order.
OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
#: Cell edges (from, to) in arch-string order.
EDGES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
#: NASLib's edge order, as (from, to).
NASLIB_EDGES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3))
#: NASLib op code -> op name.
NASLIB_CODES: dict[int, str] = {
    0: "skip_connect",
    1: "none",
    2: "nor_conv_3x3",
    3: "nor_conv_1x1",
    4: "avg_pool_3x3",
}
_NASLIB_OF_OP = {v: k for k, v in NASLIB_CODES.items()}
#: position in NASLib's tuple of each arch-string edge.
_TO_NASLIB = tuple(NASLIB_EDGES.index(e) for e in EDGES)

#: Node vocabulary of the ArchGraph encoding.
GRAPH_OPS: tuple[str, ...] = ("input", *OPS, "output")


def _fixed_adjacency() -> np.ndarray:
    """8 x 8 adjacency of the operations-on-nodes cell (derived from `EDGES`, never typed by hand)."""
    a = np.zeros((8, 8), dtype=np.float32)
    for k, (src, dst) in enumerate(EDGES, start=1):
        if src == 0:
            a[0, k] = 1  # the input node feeds every edge leaving cell node 0
        for k2, (src2, _) in enumerate(EDGES, start=1):
            if src2 == dst:
                a[k, k2] = 1  # edge k enters cell node dst; every edge leaving dst reads it
        if dst == 3:
            a[k, 7] = 1  # edges entering the last cell node feed the output
    return a


ADJACENCY: np.ndarray = _fixed_adjacency()
_ARCH_RE = re.compile(r"^\|[^|]+~0\|\+\|[^|]+~0\|[^|]+~1\|\+\|[^|]+~0\|[^|]+~1\|[^|]+~2\|$")


@dataclass(frozen=True)
class NB201Arch:
    """A NAS-Bench-201 cell: the operation on each of the six edges, in arch-string edge order."""

    ops: tuple[str, str, str, str, str, str]

    @property
    def arch_str(self) -> str:
        """``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``."""
        o = self.ops
        return f"|{o[0]}~0|+|{o[1]}~0|{o[2]}~1|+|{o[3]}~0|{o[4]}~1|{o[5]}~2|"

    @property
    def naslib_tuple(self) -> tuple[int, ...]:
        """NASLib's encoding: its edge order and op codes."""
        out = [0] * 6
        for k, op in enumerate(self.ops):
            out[_TO_NASLIB[k]] = _NASLIB_OF_OP[op]
        return tuple(out)

    @classmethod
    def from_naslib(cls, codes: Sequence[int]) -> NB201Arch:
        """Inverse of `naslib_tuple`."""
        if len(codes) != 6:
            raise InvalidArchitectureError("naslib_tuple", tuple(codes), "needs 6 op codes")
        bad = [c for c in codes if int(c) not in NASLIB_CODES]
        if bad:
            raise InvalidArchitectureError("naslib_tuple", tuple(codes), f"op codes must be 0..4, got {bad}")
        return cls(tuple(NASLIB_CODES[int(codes[_TO_NASLIB[k]])] for k in range(6)))  # type: ignore[arg-type]

    def __str__(self) -> str:
        return self.arch_str


class CellSpace(SearchSpace[CellT]):
    """Mixin base for NAS-Bench-201-style cell spaces: one operation on each of the six edges (`EDGES`) between a
    cell's four nodes, encoded as operations on nodes 1..6 of the fixed 8-node `ADJACENCY`.

    Class attributes:
        cell_ops: the edge operations (``none`` is the zero operation, ``skip_connect`` the identity).
        arch_cls: builds an architecture from its six operations (a tuple in `EDGES` order).
    """

    cell_ops: tuple[str, ...]
    arch_cls: Callable[[tuple[str, ...]], CellT]
    max_nodes = 8
    fixed_topology = True

    def validate(self, arch: CellT) -> list[str]:
        errs = []
        if len(arch.ops) != 6:  # type: ignore[attr-defined]
            errs.append(f"needs 6 edge ops, got {len(arch.ops)}")  # type: ignore[attr-defined]
        errs += [
            f"unknown op {o!r}; accepted: {', '.join(self.cell_ops)}"
            for o in arch.ops  # type: ignore[attr-defined]
            if o not in self.cell_ops
        ]
        return errs

    # ------------------------------------------------------------------ graphs
    def graph_of(self, arch: CellT) -> tuple[list[int], np.ndarray]:
        idx = [0] + [self.ops.index(o) for o in arch.ops] + [len(self.ops) - 1]  # type: ignore[attr-defined]
        return idx, ADJACENCY.copy()

    def arch_of(self, op_indices: Sequence[int], adjacency: np.ndarray) -> CellT | None:
        if len(op_indices) != 8 or not np.array_equal(np.asarray(adjacency) > 0.5, ADJACENCY > 0.5):
            return None
        names = [self.ops[i] for i in op_indices]
        if names[0] != "input" or names[7] != "output" or any(n not in self.cell_ops for n in names[1:7]):
            return None
        return self.arch_cls(tuple(names[1:7]))

    # ------------------------------------------------------------------ sampling and neighbourhoods
    def sample(self, n: int, seed: SeedLike = None) -> list[CellT]:
        codes = as_rng(seed).integers(0, len(self.cell_ops), size=(n, 6))
        return [self.arch_cls(tuple(self.cell_ops[c] for c in row)) for row in codes]

    def neighbours(self, arch: CellT) -> list[CellT]:
        """The ``6 (|cell_ops| - 1)`` cells differing from ``arch`` in exactly one edge operation (24 on NB201)."""
        ops = arch.ops  # type: ignore[attr-defined]
        out = []
        for k in range(6):
            for op in self.cell_ops:
                if op != ops[k]:
                    out.append(self.arch_cls(ops[:k] + (op,) + ops[k + 1 :]))
        return out

    def canonical(self, arch: CellT) -> str:
        """The official isomorphism key (``to_unique_str(consider_zero=True)``); see the module docstring."""
        node = {0: "0"}
        for dst in (1, 2, 3):
            terms = []
            for k, (src, d) in enumerate(EDGES):
                if d != dst:
                    continue
                op = arch.ops[k]  # type: ignore[attr-defined]
                if op == "none" or node[src] == "#":
                    terms.append("#")
                elif op == "skip_connect":
                    terms.append(node[src])
                else:
                    terms.append(f"({node[src]})@{op}")
            node[dst] = "+".join(sorted(terms))
        return node[3]

    def disconnected(self, arch: CellT) -> bool:
        """No path of non-zero operations from the cell's input to its output (341 of the 15,625 cells): the
        isomorphism key names the input (``0``) nowhere."""
        return "0" not in self.canonical(arch)


class NB201Space(CellSpace[NB201Arch], EnumerableSpace[NB201Arch], ModuleSpace[NB201Arch]):
    """NAS-Bench-201 search space (operations on nodes, fixed 8-node topology)."""

    name = "nb201"
    ops = GRAPH_OPS
    cell_ops = OPS
    arch_cls = NB201Arch

    # ------------------------------------------------------------------ text
    def parse(self, text: str) -> NB201Arch:
        """Accept an arch string or a NASLib tuple such as ``"(4, 3, 3, 0, 0, 0)"``."""
        s = text.strip()
        if s.startswith("(") or s.startswith("["):
            return NB201Arch.from_naslib(parse_codes(s, "a NASLib tuple holds 6 integers 0..4"))
        if not _ARCH_RE.match(s):
            raise InvalidArchitectureError(
                "arch",
                text,
                "expected '|op~0|+|op~0|op~1|+|op~0|op~1|op~2|' or a NASLib tuple '(a, b, c, d, e, f)'",
            )
        ops = tuple(tok.split("~")[0] for tok in s.replace("+", "").split("|") if tok)
        bad = [o for o in ops if o not in OPS]
        if bad:
            raise InvalidArchitectureError("arch", text, f"unknown op {bad[0]!r}; accepted: {', '.join(OPS)}")
        return NB201Arch(ops)  # type: ignore[arg-type]

    def format(self, arch: NB201Arch) -> str:
        return arch.arch_str

    # ------------------------------------------------------------------ enumeration and index
    @property
    def size(self) -> int:
        return len(OPS) ** 6

    @cached_property
    def _official_order(self) -> list[NB201Arch]:
        from nag.benchmarks.nb201 import load_arch_strings

        return [self.parse(s) for s in load_arch_strings()]

    @cached_property
    def _index_of(self) -> dict[NB201Arch, int]:
        return {a: i for i, a in enumerate(self._official_order)}

    def enumerate(self) -> Iterator[NB201Arch]:
        """All 15,625 cells in the official benchmark index order (read from the NB201 table)."""
        return iter(self._official_order)

    def enumerate_product(self) -> Iterator[NB201Arch]:
        """All 15,625 cells in itertools.product order of `OPS` (needs no data file)."""
        for ops in itertools.product(OPS, repeat=6):
            yield NB201Arch(ops)  # type: ignore[arg-type]

    def index(self, arch: NB201Arch) -> int:
        """Official benchmark index 0..15624."""
        return self._index_of[arch]

    def from_index(self, index: int) -> NB201Arch:
        """Cell at official benchmark index ``index``."""
        self.check_index(index)
        return self._official_order[index]

    # ------------------------------------------------------------------ networks
    def to_module(self, arch: NB201Arch, num_classes: int = 10, C: int = 16, N: int = 5) -> NB201Network:
        """The benchmark's cell network (``TinyNetwork``/``InferCell`` of the official code).

        Args:
            arch: the cell.
            num_classes: 10 (CIFAR-10), 100 (CIFAR-100) or 120 (ImageNet16-120).
            C: channels of the first stage (16 in the benchmark).
            N: cells per stage (5 in the benchmark).
        """
        return NB201Network(arch, num_classes=num_classes, C=C, N=N)

    def num_params(
        self, archs: Sequence[NB201Arch], num_classes: int = 10, C: int = 16, N: int = 5
    ) -> np.ndarray:
        """Parameter counts of `to_module` for many cells at once (``B`` int64), without building each network.

        The count is additive over edges: every edge of every cell holds its own operation module, and within a cell
        all six edges see the same channel count. So ``count(arch) = count(all-none) + Σ_edges δ(op)`` with
        ``δ(op) = (count(all-op) - count(all-none)) / 6``, each term measured on real networks built by
        `to_module`. The tests check this against full builds and against the benchmark's ``params_mb_*``.
        """
        key = (num_classes, C, N)
        cache = self.__dict__.setdefault("_param_deltas", {})
        if key not in cache:
            counts = {
                op: sum(
                    p.numel() for p in self.to_module(NB201Arch((op,) * 6), num_classes, C, N).parameters()
                )
                for op in OPS
            }
            deltas = {op: (counts[op] - counts["none"]) // 6 for op in OPS}
            cache[key] = (counts["none"], deltas)
        base, deltas = cache[key]
        return np.array([base + sum(deltas[o] for o in a.ops) for a in archs], dtype=np.int64)

    def soft_num_params(
        self, graph: ArchGraph, num_classes: int = 10, C: int = 16, N: int = 5
    ) -> torch.Tensor:
        """Parameter count in millions as a differentiable function of the op scores (``B``).

        Linear in ``graph.X`` (``B x 8 x V``, one-hot or soft): ``count(all-none) + Σ_nodes Σ_op X[node, op] δ(op)``
        with the `num_params` deltas; equal to ``num_params / 1e6`` on one-hot encodings. Guidance uses it for
        ``params <= p`` constraints.
        """
        self.num_params([NB201Arch(("none",) * 6)], num_classes, C, N)  # fills the delta cache
        base, deltas = self.__dict__["_param_deltas"][(num_classes, C, N)]
        col = {op: graph.ops.index(op) for op in OPS}
        w = torch.zeros(len(graph.ops), dtype=graph.X.dtype, device=graph.X.device)
        for op in OPS:
            w[col[op]] = deltas[op]
        cells = graph.X[:, 1:7, :]
        return (base + (cells * w).sum((1, 2))) / 1e6


# ---------------------------------------------------------------------- the real network
class _ReLUConvBN(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, k: int, stride: int, padding: int) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, k, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(c_out),
        )


class _Zero(nn.Module):
    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0) if self.stride == 1 else x[:, :, :: self.stride, :: self.stride].mul(0.0)


def _edge_op(name: str, c: int) -> nn.Module:
    """One edge operation inside a normal cell (stride 1, ``c`` channels in and out)."""
    if name == "none":
        return _Zero(1)
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return _ReLUConvBN(c, c, 1, 1, 0)
    if name == "nor_conv_3x3":
        return _ReLUConvBN(c, c, 3, 1, 1)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"op: unknown value {name!r}; accepted: {', '.join(OPS)}")


class NB201Cell(nn.Module):
    """A cell: node ``j`` = Σ_{i<j} op_{i→j}(node ``i``); returns node 3.

    Shapes: ``B x C x H x W`` in and out.
    """

    def __init__(self, arch: NB201Arch, c: int) -> None:
        super().__init__()
        self.edges = nn.ModuleList(_edge_op(op, c) for op in arch.ops)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for dst in (1, 2, 3):
            nodes.append(sum(self.edges[k](nodes[src]) for k, (src, d) in enumerate(EDGES) if d == dst))
        return nodes[3]


class _ResidualReduction(nn.Module):
    """``ResNetBasicblock`` with stride 2: two ReLU-conv3x3-BN and an avg-pool + 1x1-conv shortcut."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = _ReLUConvBN(c_in, c_out, 3, 2, 1)
        self.conv_b = _ReLUConvBN(c_out, c_out, 3, 1, 1)
        self.downsample = nn.Sequential(
            nn.AvgPool2d(kernel_size=2, stride=2, padding=0), nn.Conv2d(c_in, c_out, 1, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


class NB201Network(nn.Module):
    """The NAS-Bench-201 macro skeleton: stem, 3 stages x ``N`` cells with residual reductions, head.

    Shapes: input ``B x 3 x H x W`` (32 x 32 for CIFAR, 16 x 16 for ImageNet16-120); output logits
    ``B x num_classes``. ``forward_features`` returns the pooled ``B x 4C`` features.
    """

    def __init__(self, arch: NB201Arch, num_classes: int = 10, C: int = 16, N: int = 5) -> None:
        super().__init__()
        self.arch = arch
        self.stem = nn.Sequential(nn.Conv2d(3, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
        layers: list[nn.Module] = []
        c_prev = C
        for stage, c in enumerate((C, 2 * C, 4 * C)):
            if stage > 0:
                layers.append(_ResidualReduction(c_prev, c))
            layers.extend(NB201Cell(arch, c) for _ in range(N))
            c_prev = c
        self.cells = nn.Sequential(*layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(c_prev), nn.ReLU(inplace=True))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``B x 3 x H x W`` -> ``B x 4C`` pooled features."""
        out = self.lastact(self.cells(self.stem(x)))
        return self.global_pooling(out).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``B x 3 x H x W`` -> ``B x num_classes`` logits."""
        return self.classifier(self.forward_features(x))
