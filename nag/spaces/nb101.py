"""NAS-Bench-101: cells of at most 7 vertices and 9 edges, with three candidate operations.

Ying et al., "NAS-Bench-101: Towards Reproducible Neural Architecture Search", ICML 2019
(reference code: github.com/google-research/nasbench, ``nasbench/lib/{model_spec,graph_util,model_builder}.py``
and ``nasbench/api.py``).

A cell is a DAG given by an upper-triangular 0/1 adjacency matrix ``n x n`` (``n <= 7``) and one operation per vertex:
vertex 0 is ``input``, vertex ``n - 1`` is ``output`` and the others are ``conv3x3-bn-relu``, ``conv1x1-bn-relu`` or
``maxpool3x3``. Vertices on no input -> output path are *extraneous* and removed by `prune`; the benchmark's rules (at
most 7 vertices, at most 9 edges, input reaches output) apply to the pruned cell. The pruned cell is this space's
representation: ``parse``, ``arch_of``, ``sample`` and ``neighbours`` return pruned cells, and ``validate`` flags an
unpruned `NB101Arch`.

Notations handled here:

* **native text** ``{"matrix":[[0,1],[0,0]],"ops":["input","output"]}`` (compact JSON, the pruned cell).
* **NASLib tuple** ``(m00, m01, ..., m66, o0, ..., o6)``: the ``n x n`` adjacency flattened row-major followed by ``n``
  op codes 0 ``input``, 1 ``output``, 2 ``maxpool3x3``, 3 ``conv1x1-bn-relu``, 4 ``conv3x3-bn-relu``
  (``naslib/search_spaces/nasbench101/conversions.py``; checked against the parameter counts NASLib stored for its 500
  cells). NASLib keeps the cell as sampled (7 x 7, unpruned); `NB101Space.parse` prunes it.
* **ArchGraph** (operations on nodes): vocabulary `GRAPH_OPS`, 7 nodes, smaller cells padded and masked.

`NB101Space.canonical` is the benchmark's own isomorphism hash (`graph_hash`), so it is also the key of the official
``nasbench_*.tfrecord`` data and of NASLib's NAS-Bench-101 records.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from nag.errors import InvalidArchitectureError
from nag.spaces.base import ModuleSpace, StructuredDecodeSpace
from nag.typing import SeedLike, as_rng

__all__ = [
    "NB101Arch",
    "NB101Space",
    "NB101Network",
    "NB101Cell",
    "prune",
    "graph_hash",
    "hash_module",
    "compute_vertex_channels",
    "GRAPH_OPS",
    "AVAILABLE_OPS",
    "NASLIB_CODES",
    "INPUT",
    "OUTPUT",
    "CONV3X3",
    "CONV1X1",
    "MAXPOOL3X3",
    "MAX_VERTICES",
    "MAX_EDGES",
]

INPUT = "input"
OUTPUT = "output"
CONV3X3 = "conv3x3-bn-relu"
CONV1X1 = "conv1x1-bn-relu"
MAXPOOL3X3 = "maxpool3x3"

#: Intermediate operations in the benchmark's ``config['available_ops']`` order; the hash labels index this tuple.
AVAILABLE_OPS: tuple[str, ...] = (CONV3X3, CONV1X1, MAXPOOL3X3)
#: Node vocabulary of the ArchGraph encoding.
GRAPH_OPS: tuple[str, ...] = (INPUT, CONV1X1, CONV3X3, MAXPOOL3X3, OUTPUT)
#: NASLib op code -> op name.
NASLIB_CODES: dict[int, str] = {0: INPUT, 1: OUTPUT, 2: MAXPOOL3X3, 3: CONV1X1, 4: CONV3X3}
_NASLIB_OF_OP = {v: k for k, v in NASLIB_CODES.items()}
MAX_VERTICES = 7
MAX_EDGES = 9
_KERNEL = {CONV3X3: 3, CONV1X1: 1}  # kernel size of the convolution vertices (max-pool has no parameters)
_HASH_LABEL = {INPUT: -1, OUTPUT: -2, **{op: i for i, op in enumerate(AVAILABLE_OPS)}}


@dataclass(frozen=True)
class NB101Arch:
    """A NAS-Bench-101 cell: ``matrix`` (``n x n`` upper-triangular 0/1, as nested tuples) and ``ops`` (``n`` names).

    Lists and arrays are accepted and stored as tuples of ints / strings, so instances are hashable. Build cells with
    `prune` (or `NB101Space.parse`/`arch_of`) to get the pruned, canonical representation; a cell constructed
    directly is taken as given and `NB101Space.validate` reports anything wrong with it.
    """

    matrix: tuple[tuple[int, ...], ...]
    ops: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "matrix", tuple(tuple(int(v) for v in row) for row in self.matrix))
        object.__setattr__(self, "ops", tuple(str(o) for o in self.ops))

    @property
    def num_vertices(self) -> int:
        """``n``."""
        return len(self.ops)

    @property
    def num_edges(self) -> int:
        """Number of ones in the adjacency matrix."""
        return int(sum(sum(r) for r in self.matrix))

    def adjacency(self) -> np.ndarray:
        """The ``n x n`` adjacency as an int64 array."""
        return np.asarray(self.matrix, dtype=np.int64).reshape(self.num_vertices, self.num_vertices)

    @property
    def naslib_tuple(self) -> tuple[int, ...]:
        """NASLib's key: flattened ``n x n`` adjacency + ``n`` op codes (of this, pruned, cell)."""
        return tuple(int(v) for v in self.adjacency().ravel()) + tuple(_NASLIB_OF_OP[o] for o in self.ops)

    def __str__(self) -> str:
        return json.dumps(
            {"matrix": [list(r) for r in self.matrix], "ops": list(self.ops)}, separators=(",", ":")
        )


# ---------------------------------------------------------------------- graph helpers (nasbench semantics)
def _is_upper_triangular(m: np.ndarray) -> bool:
    return not np.tril(m).any()


def _on_io_path(m: np.ndarray) -> np.ndarray:
    """``n`` bool: vertices reachable from the input and reaching the output (``m`` upper-triangular ``n x n``)."""
    edges = np.asarray(m) != 0
    n = edges.shape[0]
    fwd = np.zeros(n, dtype=bool)
    fwd[0] = True
    for i in range(n):  # vertices are in topological order: one sweep each way suffices
        if fwd[i]:
            fwd |= edges[i]
    bwd = np.zeros(n, dtype=bool)
    bwd[n - 1] = True
    for i in range(n - 1, -1, -1):
        if edges[i][bwd].any():
            bwd[i] = True
    return fwd & bwd


def prune(matrix: np.ndarray | Sequence[Sequence[int]], ops: Sequence[str]) -> NB101Arch | None:
    """Remove the extraneous vertices of a cell (``ModelSpec._prune`` of the benchmark).

    A vertex is kept when it lies on a path from the input (vertex 0) to the output (vertex ``n - 1``); the kept
    vertices stay in their order.

    Args:
        matrix: ``n x n`` upper-triangular 0/1 adjacency.
        ops: ``n`` operation names (first ``input``, last ``output``; not checked here).

    Returns:
        The pruned cell, or ``None`` when the input does not reach the output.

    Raises:
        ValueError: ``matrix`` is not square, not upper-triangular, or does not match ``len(ops)``.
    """
    m = np.asarray(matrix)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"matrix: must be square, got shape {m.shape}")
    n = m.shape[0]
    if n != len(ops):
        raise ValueError(f"ops: has {len(ops)} names but matrix is {n} x {n}")
    if not _is_upper_triangular(m):
        raise ValueError("matrix: must be strictly upper-triangular (an edge i -> j needs i < j)")
    if n < 2:
        return None
    keep = np.flatnonzero(_on_io_path(m))
    if len(keep) < 2:  # the input is on a path to the output only if the output is too
        return None
    return NB101Arch(matrix=(m[np.ix_(keep, keep)] != 0).astype(np.int64), ops=tuple(ops[i] for i in keep))


def hash_module(matrix: np.ndarray, labeling: Sequence[int]) -> str:
    """The benchmark's isomorphism-invariant MD5 fingerprint of a labelled DAG (``graph_util.hash_module``).

    Every vertex starts from the MD5 of ``(out-degree, in-degree, label)``; then, ``n`` times, each vertex hash becomes
    the MD5 of its sorted in-neighbour hashes, its sorted out-neighbour hashes and its own hash. The fingerprint is the
    MD5 of the sorted final hashes, so it depends on the labelled graph only, not on the vertex order.

    Args:
        matrix: ``n x n`` 0/1 adjacency (any vertex order).
        labeling: ``n`` integer labels (-1 input, -2 output, else the index in `AVAILABLE_OPS`).

    Returns:
        32 hex digits.
    """
    adj = np.asarray(matrix) != 0
    n = adj.shape[0]
    if len(labeling) != n:
        raise ValueError(f"labeling: has {len(labeling)} labels but matrix is {n} x {n}")
    indeg = adj.sum(axis=0).tolist()
    outdeg = adj.sum(axis=1).tolist()

    def md5(s: str) -> str:
        return hashlib.md5(s.encode("utf-8")).hexdigest()

    # str() of a Python int tuple, exactly as the reference formats it, e.g. "(2, 0, -1)"
    h = [md5(str((int(o), int(i), int(lab)))) for o, i, lab in zip(outdeg, indeg, labeling, strict=True)]
    preds = [np.flatnonzero(adj[:, v]).tolist() for v in range(n)]
    succs = [np.flatnonzero(adj[v]).tolist() for v in range(n)]
    for _ in range(n):
        h = [
            md5(
                "".join(sorted(h[w] for w in preds[v]))
                + "|"
                + "".join(sorted(h[w] for w in succs[v]))
                + "|"
                + h[v]
            )
            for v in range(n)
        ]
    return md5(str(sorted(h)))


def graph_hash(matrix: np.ndarray | Sequence[Sequence[int]], ops: Sequence[str]) -> str:
    """The NAS-Bench-101 hash of a cell (``ModelSpec.hash_spec(available_ops)``), on the cell as given.

    Hash the pruned cell to get the benchmark's key (`NB101Space.canonical` does).
    """
    try:
        labels = [_HASH_LABEL[o] for o in ops]
    except KeyError as e:
        raise InvalidArchitectureError(
            "ops", tuple(ops), f"unknown op {e.args[0]!r}; accepted: {', '.join(GRAPH_OPS)}"
        ) from None
    return hash_module(np.asarray(matrix), labels)


def compute_vertex_channels(in_channels: int, out_channels: int, matrix: np.ndarray) -> list[int]:
    """Channels of every vertex of a pruned cell (``model_builder.compute_vertex_channels``).

    The output channels are split evenly over the vertices feeding the output (the first ``out % k`` of them get one
    extra); every other interior vertex gets the largest channel count among its interior successors.

    Args:
        in_channels: channels of the cell input.
        out_channels: channels of the cell output.
        matrix: ``n x n`` pruned adjacency.

    Returns:
        ``n`` channel counts; entry 0 is ``in_channels`` and entry ``n - 1`` is ``out_channels``.
    """
    m = np.asarray(matrix) != 0
    n = m.shape[0]
    ch = [0] * n
    ch[0], ch[n - 1] = in_channels, out_channels
    if n == 2:
        return ch
    fan_in = int(m[1:, n - 1].sum())  # the input's own edge to the output is a projection, not a share
    base, extra = divmod(out_channels, fan_in)
    for v in range(1, n - 1):
        if m[v, n - 1]:
            ch[v] = base + (1 if extra > 0 else 0)
            extra = max(extra - 1, 0)
    for v in range(n - 3, 0, -1):
        if not m[v, n - 1]:
            ch[v] = max([ch[v]] + [ch[d] for d in range(v + 1, n - 1) if m[v, d]])
    if any(c <= 0 for c in ch[1:-1]):
        raise ValueError(f"matrix: an interior vertex got no channels ({ch}); is the cell pruned?")
    return ch


# ---------------------------------------------------------------------- the search space
class NB101Space(ModuleSpace[NB101Arch], StructuredDecodeSpace[NB101Arch]):
    """NAS-Bench-101 search space (operations on nodes, variable topology, at most 7 nodes)."""

    name = "nb101"
    ops = GRAPH_OPS
    max_nodes = MAX_VERTICES
    fixed_topology = False
    #: Unique cells (isomorphism classes of valid pruned graphs) as published by Ying et al., ICML 2019.
    size = 423_624

    # ------------------------------------------------------------------ text
    def parse(self, text: str) -> NB101Arch:
        """Read the native JSON ``{"matrix": [[...]], "ops": [...]}`` or a NASLib tuple ``"(0, 1, ..., 4, 1)"``.

        The cell is pruned when the matrix is upper-triangular and the input reaches the output; otherwise it is
        returned as given, and `validate` says what is wrong. Malformed text raises `InvalidArchitectureError`.
        """
        s = text.strip() if isinstance(text, str) else ""
        if not s:
            raise InvalidArchitectureError(
                "arch", text, 'empty; expected {"matrix": [[...]], "ops": [...]} or a NASLib tuple'
            )
        if s[0] == "(" or (s[0] == "[" and not s[1:].lstrip().startswith("[")) or s[0].isdigit():
            return self._parse_naslib(text, s)
        try:
            obj = json.loads(s)
        except json.JSONDecodeError:
            raise InvalidArchitectureError(
                "arch", text, 'not JSON; expected {"matrix": [[...]], "ops": [...]} or a NASLib tuple'
            ) from None
        if not isinstance(obj, dict) or set(obj) != {"matrix", "ops"}:
            raise InvalidArchitectureError(
                "arch", text, 'expected a JSON object with exactly the keys "matrix" and "ops"'
            )
        matrix, ops = obj["matrix"], obj["ops"]
        if not isinstance(ops, list) or not all(isinstance(o, str) for o in ops):
            raise InvalidArchitectureError("arch", text, '"ops" must be a list of operation names')
        if (
            not isinstance(matrix, list)
            or not all(isinstance(r, list) and len(r) == len(matrix) for r in matrix)
            or not all(type(v) is int and v in (0, 1) for r in matrix for v in r)
        ):
            raise InvalidArchitectureError(
                "arch", text, '"matrix" must be a square list of lists of 0/1 integers'
            )
        if len(matrix) != len(ops):
            raise InvalidArchitectureError(
                "arch", text, f'"matrix" is {len(matrix)} x {len(matrix)} but "ops" has {len(ops)} names'
            )
        return self._pruned_or_raw(matrix, ops)

    def _parse_naslib(self, text: str, s: str) -> NB101Arch:
        try:
            vals = [int(c) for c in s.strip("()[] ").split(",") if c.strip()]
        except ValueError:
            raise InvalidArchitectureError("arch", text, "a NASLib tuple holds n*n + n integers") from None
        n = (math.isqrt(1 + 4 * len(vals)) - 1) // 2
        if n < 1 or n * n + n != len(vals):
            raise InvalidArchitectureError(
                "arch", text, f"a NASLib tuple holds n*n + n integers (56 for n = 7), got {len(vals)}"
            )
        flat, codes = vals[: n * n], vals[n * n :]
        if any(v not in (0, 1) for v in flat):
            raise InvalidArchitectureError("arch", text, "adjacency entries must be 0 or 1")
        bad = [c for c in codes if c not in NASLIB_CODES]
        if bad:
            raise InvalidArchitectureError("arch", text, f"op codes must be 0..4, got {bad}")
        return self._pruned_or_raw(np.asarray(flat).reshape(n, n), [NASLIB_CODES[c] for c in codes])

    @staticmethod
    def _pruned_or_raw(matrix, ops: Sequence[str]) -> NB101Arch:
        m = np.asarray(matrix, dtype=np.int64).reshape(len(ops), len(ops))
        if _is_upper_triangular(m):
            pruned = prune(m, ops)
            if pruned is not None:
                return pruned
        return NB101Arch(matrix=m, ops=tuple(ops))

    def format(self, arch: NB101Arch) -> str:
        """Compact JSON ``{"matrix":[[...]],"ops":[...]}``."""
        return str(arch)

    def validate(self, arch: NB101Arch) -> list[str]:
        """The benchmark's rules (``api.NASBench._check_spec`` and ``ModelSpec``), plus being pruned.

        Returns reasons such as ``"10 edges after pruning; at most 9"`` (empty when valid).
        """
        n = len(arch.ops)
        rows = arch.matrix
        if len(rows) != n or any(len(r) != n for r in rows):
            return [f"matrix must be {n} x {n} to match {n} ops, got row lengths {[len(r) for r in rows]}"]
        m = arch.adjacency()
        errs: list[str] = []
        binary = bool(((m == 0) | (m == 1)).all())
        upper = _is_upper_triangular(m)
        if not binary:
            errs.append("matrix entries must be 0 or 1")
        if n < 2:
            errs.append(f"needs at least 2 vertices (input and output), got {n}")
        if n > MAX_VERTICES:
            errs.append(f"{n} vertices; at most {MAX_VERTICES}")
        if n and arch.ops[0] != INPUT:
            errs.append(f"first op must be 'input', got {arch.ops[0]!r}")
        if n >= 2 and arch.ops[-1] != OUTPUT:
            errs.append(f"last op must be 'output', got {arch.ops[-1]!r}")
        bad = [o for o in arch.ops[1:-1] if o not in AVAILABLE_OPS]
        if bad:
            errs.append(f"unknown intermediate op {bad[0]!r}; accepted: {', '.join(AVAILABLE_OPS)}")
        if not upper:
            i, j = np.argwhere(np.tril(m))[0].tolist()
            errs.append(
                f"matrix is not strictly upper-triangular (edge {i} -> {j}): a cycle or vertices out of order"
            )
        if not (binary and upper and n >= 2):
            return errs  # pruning is undefined here
        pruned = prune(m, arch.ops)
        if pruned is None:
            return [*errs, "input does not reach output"]
        if pruned.num_edges > MAX_EDGES:
            errs.append(f"{pruned.num_edges} edges after pruning; at most {MAX_EDGES}")
        if pruned != arch:
            dropped = np.flatnonzero(~_on_io_path(m)).tolist()
            errs.append(f"not pruned: vertices {dropped} lie on no input -> output path (use prune())")
        return errs

    # ------------------------------------------------------------------ graphs
    def graph_of(self, arch: NB101Arch) -> tuple[list[int], np.ndarray]:
        try:
            idx = [GRAPH_OPS.index(o) for o in arch.ops]
        except ValueError:
            raise InvalidArchitectureError(
                "arch", str(arch), f"unknown op; accepted: {', '.join(GRAPH_OPS)}"
            ) from None
        return idx, arch.adjacency().astype(np.float32)

    def arch_of(self, op_indices: Sequence[int], adjacency: np.ndarray) -> NB101Arch | None:
        """The pruned cell of a discrete graph, or ``None`` if it is not a valid NAS-Bench-101 cell."""
        n = len(op_indices)
        a = np.asarray(adjacency)
        if (
            not 2 <= n <= MAX_VERTICES
            or a.shape != (n, n)
            or any(not 0 <= int(i) < len(GRAPH_OPS) for i in op_indices)
        ):
            return None
        arch = self._pruned_or_raw(a > 0.5, [GRAPH_OPS[int(i)] for i in op_indices])
        return None if self.validate(arch) else arch

    def decode_scores(
        self, op_scores: torch.Tensor, edge_scores: torch.Tensor, num_nodes: int
    ) -> NB101Arch | None:
        """Valid by construction where the rules allow: vertex 0 is ``input``, the last vertex ``output``, every other
        vertex takes its best-scoring operation; edges with a positive score are kept, and while the pruned cell has
        more than `MAX_EDGES` edges the weakest remaining edge is dropped. ``None`` only if the input cannot reach
        the output.

        Args:
            op_scores: ``N x V`` vertex-operation scores over `GRAPH_OPS`; edge_scores: ``N x N``;
            num_nodes: vertices that exist (2..7).
        """
        n = int(num_nodes)
        if not 2 <= n <= MAX_VERTICES:
            return None
        inner = [GRAPH_OPS.index(o) for o in AVAILABLE_OPS]
        ops = [GRAPH_OPS.index(INPUT)]
        ops += [inner[int(op_scores[i, inner].argmax())] for i in range(1, n - 1)]
        ops.append(GRAPH_OPS.index(OUTPUT))
        scores = edge_scores[:n, :n].float().numpy()
        adj = np.triu(scores > 0, 1)
        while True:
            arch = self.arch_of(ops, adj.astype(np.float32))
            if arch is not None:
                return arch
            if prune(adj.astype(np.int64), [GRAPH_OPS[i] for i in ops]) is None:
                return None  # the input cannot reach the output: dropping edges cannot help
            kept = np.argwhere(adj)
            i, j = min(kept.tolist(), key=lambda e: scores[e[0], e[1]])
            adj[i, j] = False

    # ------------------------------------------------------------------ sampling and neighbourhoods
    def sample(self, n: int, seed: SeedLike = None) -> list[NB101Arch]:
        """``n`` cells from the benchmark's ``random_spec`` procedure (i.i.d.; returned pruned).

        Each adjacency entry above the diagonal is 1 with probability 1/2 and each intermediate vertex gets a uniform
        operation; draws that are invalid after pruning are rejected. This is *not* uniform over the 423,624 unique
        cells: small cells are frequent (about 1 in 9 draws is the bare input -> output cell).
        """
        rng = as_rng(seed)
        out: list[NB101Arch] = []
        while len(out) < n:
            m = np.triu(rng.integers(0, 2, size=(MAX_VERTICES, MAX_VERTICES)), 1)
            codes = rng.integers(0, len(AVAILABLE_OPS), size=MAX_VERTICES - 2)
            ops = [INPUT, *(AVAILABLE_OPS[c] for c in codes), OUTPUT]
            arch = prune(m, ops)
            if arch is not None and arch.num_edges <= MAX_EDGES:
                out.append(arch)
        return out

    def neighbours(self, arch: NB101Arch) -> list[NB101Arch]:
        """Valid cells one edit away: one intermediate op changed or one edge toggled, then pruned.

        Duplicates and cells isomorphic to ``arch`` (same `canonical`) are dropped. The bare input -> output cell has
        no such neighbour, so for it alone the edit "put one vertex on the edge" is used: its neighbours are the three
        cells input -> op -> output.
        """
        m = arch.adjacency()
        n = arch.num_vertices
        own = self.canonical(arch)
        cands: list[NB101Arch | None] = []
        for v in range(1, n - 1):
            for op in AVAILABLE_OPS:
                if op != arch.ops[v]:
                    cands.append(NB101Arch(matrix=m, ops=arch.ops[:v] + (op,) + arch.ops[v + 1 :]))
        for i in range(n - 1):
            for j in range(i + 1, n):
                t = m.copy()
                t[i, j] = 1 - t[i, j]
                cands.append(prune(t, arch.ops))
        if n == 2:
            cands += [
                NB101Arch(matrix=[[0, 1, 0], [0, 0, 1], [0, 0, 0]], ops=(INPUT, op, OUTPUT))
                for op in AVAILABLE_OPS
            ]
        out: list[NB101Arch] = []
        seen = {arch}
        for c in cands:
            if c is None or c in seen or c.num_edges > MAX_EDGES or self.canonical(c) == own:
                continue
            seen.add(c)
            out.append(c)
        return out

    def canonical(self, arch: NB101Arch) -> str:
        """The benchmark's graph hash (`graph_hash`) of the pruned cell: 32 hex digits, equal for isomorphic cells."""
        m = arch.adjacency()
        if _is_upper_triangular(m) and len(arch.ops) >= 2:
            pruned = prune(m, arch.ops)
            if pruned is not None:
                return graph_hash(pruned.matrix, pruned.ops)
        return graph_hash(m, arch.ops)

    # ------------------------------------------------------------------ networks
    def _require_valid(self, arch: NB101Arch) -> None:
        errs = self.validate(arch)
        if errs:
            raise InvalidArchitectureError("arch", str(arch), "; ".join(errs))

    def to_module(
        self,
        arch: NB101Arch,
        num_classes: int = 10,
        stem_channels: int = 128,
        num_stacks: int = 3,
        num_modules_per_stack: int = 3,
    ) -> NB101Network:
        """The benchmark's network for ``arch`` (``model_builder.build_model_fn``); see `NB101Network`.

        Raises:
            InvalidArchitectureError: ``arch`` is not a valid, pruned cell.
        """
        self._require_valid(arch)
        return NB101Network(arch, num_classes, stem_channels, num_stacks, num_modules_per_stack)

    def num_params(
        self,
        arch: NB101Arch,
        num_classes: int = 10,
        stem_channels: int = 128,
        num_stacks: int = 3,
        num_modules_per_stack: int = 3,
    ) -> int:
        """Trainable parameters of `to_module`, counted in closed form without building the network.

        Every conv-BN-ReLU ``c_in -> c_out`` with a ``k x k`` kernel holds ``k*k*c_in*c_out + 2*c_out`` parameters
        (no conv bias; BN scale and shift); the classifier holds ``C*num_classes + num_classes``. The tests check this
        against the built module and the benchmark's ``trainable_parameters``.
        """
        self._require_valid(arch)
        m = arch.adjacency() != 0
        n = arch.num_vertices

        def cbr(c_in: int, c_out: int, k: int) -> int:
            return k * k * c_in * c_out + 2 * c_out

        total = cbr(3, stem_channels, 3)
        c = stem_channels
        for stack in range(num_stacks):
            c_in = c
            if stack > 0:
                c *= 2
            for _ in range(num_modules_per_stack):
                ch = compute_vertex_channels(c_in, c, m)
                total += sum(cbr(c_in, ch[t], 1) for t in range(1, n) if m[0, t])
                total += sum(
                    cbr(ch[t], ch[t], _KERNEL[arch.ops[t]]) for t in range(1, n - 1) if arch.ops[t] in _KERNEL
                )
                c_in = c
        return total + c * num_classes + num_classes


# ---------------------------------------------------------------------- the real network
_TRUNC_NORMAL_STD = 0.87962566103423978  # std of a unit normal truncated to [-2, 2]


class _ConvBnRelu(nn.Sequential):
    """``base_ops.conv_bn_relu``: conv (no bias, 'same' padding) -> batch norm -> ReLU; ``B x C_in x H x W -> B x C_out x H x W``."""

    def __init__(self, c_in: int, c_out: int, k: int) -> None:
        super().__init__(
            nn.Conv2d(c_in, c_out, k, padding=k // 2, bias=False),
            # TF's momentum 0.997 keeps 99.7% of the running value; PyTorch's momentum is the new sample's weight
            nn.BatchNorm2d(c_out, eps=1e-5, momentum=1 - 0.997),
            nn.ReLU(inplace=False),
        )


def _vertex_op(name: str, c: int) -> nn.Module:
    if name == CONV3X3:
        return _ConvBnRelu(c, c, 3)
    if name == CONV1X1:
        return _ConvBnRelu(c, c, 1)
    if name == MAXPOOL3X3:
        return nn.MaxPool2d(3, stride=1, padding=1)  # PyTorch pads with -inf, like TF 'same' max pooling
    raise ValueError(f"op: unknown value {name!r}; accepted: {', '.join(AVAILABLE_OPS)}")


class NB101Cell(nn.Module):
    """One module of the benchmark network (``model_builder.build_module``).

    Vertex ``t`` sums its interior predecessors (truncated to its channel count) and a 1x1 conv-BN-ReLU projection of
    the cell input when the input feeds it, then applies its operation. The output concatenates the vertices feeding
    it along channels and adds a projection of the input when the input feeds the output directly.

    Shapes: ``B x C_in x H x W`` -> ``B x C_out x H x W``.
    """

    def __init__(self, arch: NB101Arch, in_channels: int, out_channels: int) -> None:
        super().__init__()
        m = arch.adjacency() != 0
        n = arch.num_vertices
        self.n = n
        self.preds = [[s for s in range(1, t) if m[s, t]] for t in range(n)]
        self.from_input = [bool(m[0, t]) for t in range(n)]
        self.to_output = [t for t in range(1, n - 1) if m[t, n - 1]]
        self.channels = compute_vertex_channels(in_channels, out_channels, m)
        self.proj = nn.ModuleDict(
            {str(t): _ConvBnRelu(in_channels, self.channels[t], 1) for t in range(1, n) if self.from_input[t]}
        )
        self.vertex_ops = nn.ModuleDict(
            {str(t): _vertex_op(arch.ops[t], self.channels[t]) for t in range(1, n - 1)}
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``B x C_in x H x W`` -> ``B x C_out x H x W``."""
        n = self.n
        values: list[torch.Tensor] = [x]
        for t in range(1, n - 1):
            c = self.channels[t]
            # channels never grow along interior edges; a wider predecessor has one extra channel to drop
            terms = [values[s][:, :c] for s in self.preds[t]]
            if self.from_input[t]:
                terms.append(self.proj[str(t)](x))
            values.append(self.vertex_ops[str(t)](sum(terms[1:], terms[0])))
        if not self.to_output:
            return self.proj[str(n - 1)](x)
        out = (
            torch.cat([values[t] for t in self.to_output], dim=1)
            if len(self.to_output) > 1
            else values[self.to_output[0]]
        )
        if self.from_input[n - 1]:
            out = out + self.proj[str(n - 1)](x)
        return out


class NB101Network(nn.Module):
    """The NAS-Bench-101 network: stem, ``num_stacks`` stacks of cells, global average pool, dense classifier.

    Stem: 3x3 conv-BN-ReLU 3 -> ``stem_channels``. Each stack after the first starts with a 2x2 max-pool of stride 2
    and doubles the channels; every stack holds ``num_modules_per_stack`` `NB101Cell` s. The head averages over space
    and applies a dense layer with bias.

    Parameter convention: convolutions have no bias; every batch norm has a trainable scale and shift (TF's
    ``tf.layers.batch_normalization`` defaults ``center=True, scale=True``, like PyTorch's affine ``BatchNorm2d``);
    running statistics are buffers, not parameters. With the defaults the count equals the benchmark's
    ``trainable_parameters`` (checked on NASLib's 30 full records and its 500 cells). Initialisation follows the TF
    defaults: convolutions from a truncated normal with variance ``1 / fan_in`` (``variance_scaling_initializer``),
    the dense layer Glorot-uniform with zero bias.

    Shapes: input ``B x 3 x H x W`` (32 x 32 for CIFAR-10); output logits ``B x num_classes``.
    """

    def __init__(
        self,
        arch: NB101Arch,
        num_classes: int = 10,
        stem_channels: int = 128,
        num_stacks: int = 3,
        num_modules_per_stack: int = 3,
    ) -> None:
        super().__init__()
        self.arch = arch
        self.stem = _ConvBnRelu(3, stem_channels, 3)
        layers: list[nn.Module] = []
        c = stem_channels
        for stack in range(num_stacks):
            c_in = c
            if stack > 0:
                # TF 'same' 2x2/2 pooling pads odd sizes at the end: ceil_mode reproduces it
                layers.append(nn.MaxPool2d(2, stride=2, ceil_mode=True))
                c *= 2
            for _ in range(num_modules_per_stack):
                layers.append(NB101Cell(arch, c_in, c))
                c_in = c
        self.cells = nn.Sequential(*layers)
        self.classifier = nn.Linear(c, num_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """TF-default initialisation (see the class docstring)."""
        for mod in self.modules():
            if isinstance(mod, nn.Conv2d):
                fan_in = mod.in_channels * mod.kernel_size[0] * mod.kernel_size[1]
                std = math.sqrt(1.0 / fan_in) / _TRUNC_NORMAL_STD
                nn.init.trunc_normal_(mod.weight, std=std, a=-2 * std, b=2 * std)
            elif isinstance(mod, nn.BatchNorm2d):
                nn.init.ones_(mod.weight)
                nn.init.zeros_(mod.bias)
            elif isinstance(mod, nn.Linear):
                nn.init.xavier_uniform_(mod.weight)
                nn.init.zeros_(mod.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``B x 3 x H x W`` -> ``B x C`` spatially averaged features (``C = stem_channels * 2**(num_stacks - 1)``)."""
        return self.cells(self.stem(x)).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``B x 3 x H x W`` -> ``B x num_classes`` logits."""
        return self.classifier(self.forward_features(x))
