"""TransNAS-Bench-101 spaces: micro (cell-level, 4,096 cells of 6 edges x 4 operations) and macro (network-level,
3,256 sequences of 4 to 6 residual blocks).

Duan et al., "TransNAS-Bench-101: Improving Transferability and Generalizability of Cross-Task Neural Architecture
Search", CVPR 2021.

Micro
-----

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

Macro
-----
A network is a sequence of 4 to 6 residual blocks (over a fixed cell); each block either keeps the resolution and the
channels (code 1), doubles the channels (2), halves the resolution (3) or both (4). A valid sequence downsamples 1 to
4 times and doubles the channels 1 to 3 times: 3,256 networks. Checked on the data: codes 2 and 4 raise the parameter
count, codes 3 and 4 cut the FLOPs.

Notation: NASLib's key, the codes padded with zeros to six, e.g. ``"(1, 2, 4, 2, 0, 0)"``; ``parse`` also reads the
unpadded tuple and TransNAS-Bench's ``"64-1242-basic"``.

ArchGraph: a chain input → block … block → output (6 to 8 nodes, padded to 8 and masked).

Identity: every sequence is its own network (``canonical`` = ``format``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

from nag.errors import InvalidArchitectureError
from nag.spaces.base import EnumerableSpace, StructuredDecodeSpace, parse_codes
from nag.spaces.nb201 import CellSpace
from nag.typing import SeedLike, as_rng

__all__ = [
    "TNBMicroArch",
    "TransNASMicroSpace",
    "MICRO_OPS",
    "MICRO_GRAPH_OPS",
    "TNBMacroArch",
    "TransNASMacroSpace",
    "MACRO_BLOCKS",
    "MACRO_GRAPH_OPS",
]

#: Candidate operations; the position is TransNAS-Bench's op code.
MICRO_OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3")
#: Node vocabulary of the ArchGraph encoding.
MICRO_GRAPH_OPS: tuple[str, ...] = ("input", *MICRO_OPS, "output")
_N_EDGES = 6


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


class TransNASMicroSpace(CellSpace[TNBMicroArch], EnumerableSpace[TNBMicroArch]):
    """TransNAS-Bench-101 micro space: NAS-Bench-201's cell (`CellSpace`: validation, encoding, sampling,
    neighbours, isomorphism key) over four operations, with TransNAS-Bench's code tuples as its notation."""

    name = "transnas101_micro"
    ops = MICRO_GRAPH_OPS
    cell_ops = MICRO_OPS
    arch_cls = TNBMicroArch

    # ------------------------------------------------------------------ text
    def parse(self, text: str) -> TNBMicroArch:
        """Read a code tuple such as ``"(1, 0, 0, 2, 1, 0)"`` (brackets optional)."""
        s = text.strip()
        codes = parse_codes(s, "expected a tuple of 6 op codes 0..3, e.g. '(1, 0, 0, 2, 1, 0)'")
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
        self.check_index(index)
        codes = [(index // 4**p) % 4 for p in range(_N_EDGES - 1, -1, -1)]
        return TNBMicroArch(tuple(MICRO_OPS[c] for c in codes))  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------------------- macro
#: Block kinds; the position + 1 is TransNAS-Bench's code (1 keep, 2 channels x2, 3 stride 2, 4 both).
MACRO_BLOCKS: tuple[str, ...] = ("block", "block_c2", "block_s2", "block_c2_s2")
#: Node vocabulary of the ArchGraph encoding.
MACRO_GRAPH_OPS: tuple[str, ...] = ("input", *MACRO_BLOCKS, "output")
_MIN_BLOCKS, _MAX_BLOCKS = 4, 6
_DOWN = (3, 4)  # codes that halve the resolution
_DOUBLE = (2, 4)  # codes that double the channels


@dataclass(frozen=True)
class TNBMacroArch:
    """A TransNAS-Bench-101 macro network: its block codes (1..4), 4 to 6 of them."""

    codes: tuple[int, ...]

    @property
    def key(self) -> str:
        """NASLib's table key: the codes padded with zeros to six, e.g. ``"(1, 2, 4, 2, 0, 0)"``."""
        return str(tuple(self.codes) + (0,) * (_MAX_BLOCKS - len(self.codes)))

    @property
    def transnas_str(self) -> str:
        """TransNAS-Bench's architecture string, e.g. ``"64-1242-basic"``."""
        return f"64-{''.join(map(str, self.codes))}-basic"

    def __str__(self) -> str:
        return self.key


def _macro_errors(codes: Sequence[int]) -> list[str]:
    errs = []
    if not _MIN_BLOCKS <= len(codes) <= _MAX_BLOCKS:
        errs.append(f"needs 4 to 6 blocks, got {len(codes)}")
    bad = [c for c in codes if c not in (1, 2, 3, 4)]
    if bad:
        errs.append(f"block codes must be 1..4 ({', '.join(MACRO_BLOCKS)}), got {bad}")
    down = sum(c in _DOWN for c in codes)
    double = sum(c in _DOUBLE for c in codes)
    if not 1 <= down <= 4:
        errs.append(f"needs 1 to 4 downsampling blocks (codes 3, 4), got {down}")
    if not 1 <= double <= 3:
        errs.append(f"needs 1 to 3 channel-doubling blocks (codes 2, 4), got {double}")
    return errs


def _chain(n: int) -> np.ndarray:
    """``n x n`` adjacency of a chain 0 → 1 → … → n-1."""
    return np.eye(n, k=1, dtype=np.float32)


class TransNASMacroSpace(EnumerableSpace[TNBMacroArch], StructuredDecodeSpace[TNBMacroArch]):
    """TransNAS-Bench-101 macro space (a chain of blocks, 6 to 8 nodes)."""

    name = "transnas101_macro"
    ops = MACRO_GRAPH_OPS
    max_nodes = _MAX_BLOCKS + 2
    fixed_topology = False

    # ------------------------------------------------------------------ text
    def parse(self, text: str) -> TNBMacroArch:
        """Read NASLib's key ``"(1, 2, 4, 2, 0, 0)"`` (padding optional) or ``"64-1242-basic"``."""
        s = text.strip()
        if s.count("-") == 2 and s.split("-")[1].isdigit():
            codes = [int(c) for c in s.split("-")[1]]
        else:
            codes = parse_codes(s, "expected block codes such as '(1, 2, 4, 2, 0, 0)' or '64-1242-basic'")
            while codes and codes[-1] == 0:
                codes.pop()
        errs = _macro_errors(codes)
        if errs:
            raise InvalidArchitectureError("arch", text, "; ".join(errs))
        return TNBMacroArch(tuple(codes))

    def format(self, arch: TNBMacroArch) -> str:
        return arch.key

    def validate(self, arch: TNBMacroArch) -> list[str]:
        return _macro_errors(arch.codes)

    # ------------------------------------------------------------------ graphs
    def graph_of(self, arch: TNBMacroArch) -> tuple[list[int], np.ndarray]:
        idx = [0, *arch.codes, len(MACRO_GRAPH_OPS) - 1]  # code c is vocabulary entry c
        return idx, _chain(len(idx))

    def arch_of(self, op_indices: Sequence[int], adjacency: np.ndarray) -> TNBMacroArch | None:
        n = len(op_indices)
        a = np.asarray(adjacency)
        if not _MIN_BLOCKS + 2 <= n <= self.max_nodes or a.shape != (n, n):
            return None
        if not np.array_equal(a > 0.5, _chain(n) > 0.5):
            return None
        last = len(MACRO_GRAPH_OPS) - 1
        inner = [int(i) for i in op_indices[1:-1]]
        if int(op_indices[0]) != 0 or int(op_indices[-1]) != last or any(not 1 <= i < last for i in inner):
            return None
        arch = TNBMacroArch(tuple(inner))
        return None if self.validate(arch) else arch

    def decode_scores(
        self, op_scores: torch.Tensor, edge_scores: torch.Tensor, num_nodes: int
    ) -> TNBMacroArch | None:
        """Valid by construction: the chain of ``num_nodes`` nodes (edges are implied by the order) whose block kinds
        maximise the summed node scores among the sequences that obey the downsampling / channel-doubling counts.

        Args:
            op_scores: ``N x V`` node scores over `MACRO_GRAPH_OPS`; edge_scores: ``N x N`` (unused: a chain);
            num_nodes: nodes that exist (6..8); ``None`` outside that range.
        """
        n = int(num_nodes)
        if not _MIN_BLOCKS + 2 <= n <= self.max_nodes:
            return None
        codes = self._valid_codes[n - 2]  # K x L, every valid sequence of L blocks
        s = op_scores[1 : n - 1].detach().double().cpu().numpy()  # L x V
        total = s[np.arange(n - 2)[None, :], codes].sum(1)  # vocabulary entry c is block code c
        return TNBMacroArch(tuple(int(c) for c in codes[int(np.argmax(total))]))

    @cached_property
    def _valid_codes(self) -> dict[int, np.ndarray]:
        """Block count -> ``K x L`` codes of the valid sequences of that length (`enumerate` order)."""
        return {
            n: np.array([a.codes for a in self._all if len(a.codes) == n], dtype=np.int64)
            for n in range(_MIN_BLOCKS, _MAX_BLOCKS + 1)
        }

    # ------------------------------------------------------------------ sampling and neighbourhoods
    @cached_property
    def _all(self) -> list[TNBMacroArch]:
        out = []
        for n in range(_MIN_BLOCKS, _MAX_BLOCKS + 1):
            for codes in itertools.product((1, 2, 3, 4), repeat=n):
                if not _macro_errors(codes):
                    out.append(TNBMacroArch(codes))
        return out

    @cached_property
    def _index_of(self) -> dict[TNBMacroArch, int]:
        return {a: i for i, a in enumerate(self._all)}

    def sample(self, n: int, seed: SeedLike = None) -> list[TNBMacroArch]:
        """``n`` networks drawn uniformly from the 3,256 (i.i.d.)."""
        idx = as_rng(seed).integers(0, len(self._all), size=n)
        return [self._all[int(i)] for i in idx]

    def neighbours(self, arch: TNBMacroArch) -> list[TNBMacroArch]:
        """Valid networks one edit away: one block's kind changed, one block inserted or one removed."""
        c = arch.codes
        cands = [c[:k] + (v,) + c[k + 1 :] for k in range(len(c)) for v in (1, 2, 3, 4) if v != c[k]]
        cands += [c[:k] + (v,) + c[k:] for k in range(len(c) + 1) for v in (1, 2, 3, 4)]
        cands += [c[:k] + c[k + 1 :] for k in range(len(c))]
        out = dict.fromkeys(TNBMacroArch(x) for x in cands if x != c and not _macro_errors(x))
        return list(out)

    def canonical(self, arch: TNBMacroArch) -> str:
        """`format`: every block sequence is its own network."""
        return arch.key

    # ------------------------------------------------------------------ enumeration and index
    @property
    def size(self) -> int:
        return len(self._all)

    def enumerate(self) -> Iterator[TNBMacroArch]:
        """All 3,256 networks: by block count (4, 5, 6), then codes in lexicographic order."""
        return iter(self._all)

    def index(self, arch: TNBMacroArch) -> int:
        """Position in `enumerate`."""
        return self._index_of[arch]

    def from_index(self, index: int) -> TNBMacroArch:
        """Network at position ``index`` of `enumerate`."""
        self.check_index(index)
        return self._all[index]
