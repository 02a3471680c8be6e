"""TransNAS-Bench-101 micro (cell-level) space: 4,096 cells of 6 edges x 4 operations.

Duan et al., "TransNAS-Bench-101: Improving Transferability and Generalizability of Cross-Task Neural Architecture
Search", CVPR 2021.

The cell is NAS-Bench-201's: four nodes, every node summing one operation on each edge from every earlier node. The
operations are ``none``, ``skip_connect``, ``nor_conv_1x1``, ``nor_conv_3x3`` (NAS-Bench-201's without the pooling).

Notation (NASLib's key of its TransNAS-Bench-101 tables, TransNAS-Bench's own ``a_bc_def`` code): a tuple of six op
codes such as ``"(1, 0, 0, 2, 1, 0)"``, edges in the order (0→1), (0→2), (1→2), (0→3), (1→3), (2→3) (NAS-Bench-201's
arch-string order) and codes 0 ``none``, 1 ``skip_connect``, 2 ``nor_conv_1x1``, 3 ``nor_conv_3x3``. Checked on the
data: the 20 cells whose output no non-``none`` path reaches under this reading are exactly the 20 that score the
floor value (14.15 on ``class_scene``) and whose ``jacov`` failed; code 3 adds about 11x the parameters of code 2
(a 3x3 against a 1x1 convolution). ``parse`` also reads the tuple without spaces or brackets' style variations.

ArchGraph (operations on nodes): NAS-Bench-201's 8-node layout (`nag.spaces.nb201.ADJACENCY`), 0 = input,
7 = output, node ``k`` (1..6) = the ``k``-th edge.

Identity: NASLib's tables hold one row per code tuple (isomorphic cells were trained separately), so a search keys
queries by `format`; `canonical` is NAS-Bench-201's isomorphism key over these operations.

The macro (network-level) space of TransNAS-Bench-101 is not registered yet.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from nag.errors import InvalidArchitectureError
from nag.spaces.base import EnumerableSpace
from nag.spaces.nb201 import ADJACENCY, NB201Space
from nag.typing import SeedLike, as_rng

__all__ = ["TNBMicroArch", "TransNASMicroSpace", "MICRO_OPS", "MICRO_GRAPH_OPS"]

#: Candidate operations; the position is TransNAS-Bench's op code.
MICRO_OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3")
#: Node vocabulary of the ArchGraph encoding.
MICRO_GRAPH_OPS: tuple[str, ...] = ("input", *MICRO_OPS, "output")
_N_EDGES = 6
_NB201 = NB201Space()  # its `canonical` only reads ``arch.ops`` (no data)


@dataclass(frozen=True)
class TNBMicroArch:
    """A TransNAS-Bench-101 micro cell: the operation on each of the six edges, (0→1), (0→2), (1→2), (0→3), (1→3),
    (2→3)."""

    ops: tuple[str, str, str, str, str, str]

    @property
    def codes(self) -> tuple[int, ...]:
        """TransNAS-Bench op codes (0 none, 1 skip_connect, 2 nor_conv_1x1, 3 nor_conv_3x3), edge order above."""
        return tuple(MICRO_OPS.index(o) for o in self.ops)

    @property
    def key(self) -> str:
        """NASLib's table key, e.g. ``"(1, 0, 0, 2, 1, 0)"``."""
        return str(self.codes)

    def __str__(self) -> str:
        return self.key


class TransNASMicroSpace(EnumerableSpace[TNBMicroArch]):
    """TransNAS-Bench-101 micro space (operations on nodes, NAS-Bench-201's fixed 8-node topology)."""

    name = "transnas101_micro"
    ops = MICRO_GRAPH_OPS
    max_nodes = 8
    fixed_topology = True

    # ------------------------------------------------------------------ text
    def parse(self, text: str) -> TNBMicroArch:
        """Read a code tuple such as ``"(1, 0, 0, 2, 1, 0)"`` (brackets optional)."""
        s = text.strip()
        try:
            codes = [int(c) for c in s.strip("()[] ").split(",") if c.strip()]
        except ValueError:
            raise InvalidArchitectureError(
                "arch", text, "expected a tuple of 6 op codes 0..3, e.g. '(1, 0, 0, 2, 1, 0)'"
            ) from None
        if len(codes) != _N_EDGES:
            raise InvalidArchitectureError("arch", text, f"needs 6 op codes 0..3, got {len(codes)}")
        bad = [c for c in codes if not 0 <= c < len(MICRO_OPS)]
        if bad:
            raise InvalidArchitectureError(
                "arch", text, f"op codes must be 0..3 ({', '.join(MICRO_OPS)}), got {bad}"
            )
        return TNBMicroArch(tuple(MICRO_OPS[c] for c in codes))  # type: ignore[arg-type]

    def format(self, arch: TNBMicroArch) -> str:
        return arch.key

    def validate(self, arch: TNBMicroArch) -> list[str]:
        errs = []
        if len(arch.ops) != _N_EDGES:
            errs.append(f"needs 6 edge ops, got {len(arch.ops)}")
        errs += [
            f"unknown op {o!r}; accepted: {', '.join(MICRO_OPS)}" for o in arch.ops if o not in MICRO_OPS
        ]
        return errs

    # ------------------------------------------------------------------ graphs
    def graph_of(self, arch: TNBMicroArch) -> tuple[list[int], np.ndarray]:
        idx = [0] + [MICRO_GRAPH_OPS.index(o) for o in arch.ops] + [len(MICRO_GRAPH_OPS) - 1]
        return idx, ADJACENCY.copy()

    def arch_of(self, op_indices: Sequence[int], adjacency: np.ndarray) -> TNBMicroArch | None:
        if len(op_indices) != 8 or not np.array_equal(np.asarray(adjacency) > 0.5, ADJACENCY > 0.5):
            return None
        names = [MICRO_GRAPH_OPS[i] for i in op_indices]
        if names[0] != "input" or names[7] != "output" or any(n not in MICRO_OPS for n in names[1:7]):
            return None
        return TNBMicroArch(tuple(names[1:7]))  # type: ignore[arg-type]

    # ------------------------------------------------------------------ sampling and neighbourhoods
    def sample(self, n: int, seed: SeedLike = None) -> list[TNBMicroArch]:
        codes = as_rng(seed).integers(0, len(MICRO_OPS), size=(n, _N_EDGES))
        return [TNBMicroArch(tuple(MICRO_OPS[c] for c in row)) for row in codes]  # type: ignore[misc]

    def neighbours(self, arch: TNBMicroArch) -> list[TNBMicroArch]:
        """The 18 cells differing from ``arch`` in exactly one edge operation."""
        out = []
        for k in range(_N_EDGES):
            for op in MICRO_OPS:
                if op != arch.ops[k]:
                    out.append(TNBMicroArch(arch.ops[:k] + (op,) + arch.ops[k + 1 :]))  # type: ignore[arg-type]
        return out

    def canonical(self, arch: TNBMicroArch) -> str:
        """NAS-Bench-201's isomorphism key (`NB201Space.canonical`): the cell algebra is the same (``none`` is zero,
        ``skip_connect`` identity, convolutions opaque), only the operation set is smaller."""
        return NB201Space.canonical(_NB201, arch)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ enumeration and index
    @property
    def size(self) -> int:
        return len(MICRO_OPS) ** _N_EDGES

    def enumerate(self) -> Iterator[TNBMicroArch]:
        """All 4,096 cells in TransNAS-Bench's order: code tuples in lexicographic order (index = base-4 number)."""
        for ops in itertools.product(MICRO_OPS, repeat=_N_EDGES):
            yield TNBMicroArch(ops)  # type: ignore[arg-type]

    def index(self, arch: TNBMicroArch) -> int:
        """Position in `enumerate` (the code tuple read as a base-4 number)."""
        i = 0
        for c in arch.codes:
            i = 4 * i + c
        return i

    def from_index(self, index: int) -> TNBMicroArch:
        """Cell at position ``index`` of `enumerate`."""
        if not 0 <= index < self.size:
            raise InvalidArchitectureError("index", index, f"must be in 0..{self.size - 1}")
        codes = [(index // 4**p) % 4 for p in range(_N_EDGES - 1, -1, -1)]
        return TNBMicroArch(tuple(MICRO_OPS[c] for c in codes))  # type: ignore[arg-type]
