"""Generation-quality metrics: validity, uniqueness, novelty and distribution match of generated architectures.

``PROTOCOL.md`` ("Generation runs") judges a generator on batches of 1,000 samples with fixed seeds against the set
it was trained on. The definitions follow the graph-generation literature (validity / uniqueness / novelty as in
GraphVAE and DiGress, Vignac et al., "DiGress: Discrete Denoising diffusion for graph generation", ICLR 2023;
distribution match on graph statistics as in GraphRNN, You et al., ICML 2018, with total variation in place of MMD
because every statistic here is a small discrete histogram).

With ``n`` samples requested, of which the set ``S`` (a multiset, size ``|S|``) decodes to valid architectures, and a
training set ``T``:

* **validity** ``= |S| / n`` (a sample is valid when it is not ``None`` and `SearchSpace.is_valid` accepts it);
* **uniqueness** ``= |{canonical(a) : a in S}| / |S|``: distinct isomorphism classes among the valid samples
  (`SearchSpace.canonical`; for NB201 the official ``to_unique_str`` key, 6,466 classes);
* **unique_raw** ``= |{a : a in S}| / |S|``: distinct native architecture objects among the valid samples (for NB201
  the distinct arch strings; a uniform sampler reaches `expected_unique_fraction` ``(1000, 15625) ≈ 0.969``);
* **novelty** ``= |{a in S : canonical(a) not in canonical(T)}| / |S|`` (counted with multiplicity over valid
  samples); **novelty_raw** is the same on native objects;
* **distribution match**: total variation ``TV(p, q) = 0.5 * sum_k |p_k - q_k|`` (in ``[0, 1]``) between histograms
  of the samples and of a reference set (default: ``T``) — per-position operation frequencies (`op_frequency_tv`),
  and, for spaces whose topology varies, edge counts (`edge_count_tv`) and node in/out-degrees (`degree_tv`).

Uniqueness and novelty on canonical forms are the fair measure across spaces; the raw variants answer targets stated
on native objects (e.g. "raw uniqueness >= 96% on NB201").
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import numpy as np
import torch

from nag.graph import ArchGraph

if TYPE_CHECKING:
    from rich.table import Table

    from nag.spaces.base import SearchSpace

__all__ = [
    "GenerationReport",
    "degree_histograms",
    "degree_tv",
    "edge_count_histogram",
    "edge_count_tv",
    "expected_unique_fraction",
    "generation_report",
    "op_counts",
    "op_frequencies",
    "op_frequency_tv",
    "total_variation",
]

ArchT = TypeVar("ArchT", bound=Hashable)


# ---------------------------------------------------------------------- distances
def total_variation(p: np.ndarray | Sequence[float], q: np.ndarray | Sequence[float]) -> float:
    """Total-variation distance ``0.5 * sum_k |p_k - q_k|`` between two histograms over the same bins.

    Args:
        p: ``K_p`` non-negative counts or probabilities (normalised here).
        q: ``K_q`` non-negative counts or probabilities; the shorter histogram is zero-padded at the end.

    Returns:
        A value in ``[0, 1]``: 0 for equal distributions, 1 for disjoint supports.

    Raises:
        ValueError: if a histogram is not 1-D, has a negative entry or has zero total mass.
    """
    a = np.asarray(p, dtype=np.float64)
    b = np.asarray(q, dtype=np.float64)
    for name, h in (("p", a), ("q", b)):
        if h.ndim != 1:
            raise ValueError(f"{name}: a histogram must be 1-D, got shape {h.shape}")
        if (h < 0).any():
            raise ValueError(f"{name}: histogram entries must be >= 0, got min {h.min()}")
        if h.sum() <= 0:
            raise ValueError(f"{name}: histogram has zero total mass")
    k = max(a.size, b.size)
    a = np.pad(a, (0, k - a.size)) / a.sum()
    b = np.pad(b, (0, k - b.size)) / b.sum()
    return float(0.5 * np.abs(a - b).sum())


def _check_vocab(samples: ArchGraph, reference: ArchGraph) -> None:
    if samples.ops != reference.ops:
        raise ValueError(
            f"samples.ops {samples.ops} does not match reference.ops {reference.ops}; "
            "both batches must come from the same search space"
        )


# ---------------------------------------------------------------------- operations per position
def op_counts(graph: ArchGraph) -> np.ndarray:
    """How often each operation sits at each node position over the batch.

    Relaxed inputs count their arg-max operation (as `SearchSpace.decode` does); padding nodes are not counted.

    Args:
        graph: a batch with ``X: B x N x V`` and ``mask: B x N``.

    Returns:
        ``N x V`` int64 counts; row ``i`` sums to the number of graphs that have node ``i``.
    """
    idx = graph.op_indices().clamp(min=0)  # B x N; padding (-1) is zeroed by the mask below
    onehot = torch.nn.functional.one_hot(idx, graph.num_ops) * graph.mask.unsqueeze(-1)
    return onehot.sum(dim=0).cpu().numpy().astype(np.int64)


def op_frequencies(graph: ArchGraph) -> np.ndarray:
    """Per-position operation distribution over the batch.

    Row ``i`` is the distribution of the (arg-max) operation of node ``i`` over the graphs in which node ``i``
    exists (``mask[:, i]``); a position that no graph has gets an all-zero row.

    Args:
        graph: a batch with ``X: B x N x V`` and ``mask: B x N``.

    Returns:
        ``N x V`` float64; each row sums to 1, or to 0 where no graph has that node.
    """
    counts = op_counts(graph).astype(np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)


def op_frequency_tv(samples: ArchGraph, reference: ArchGraph) -> float:
    """Mean total variation between the per-position operation distributions of two batches.

    With ``p_i`` and ``q_i`` the `op_frequencies` rows of node position ``i`` in ``samples`` and ``reference``,
    ``TV_i = 0.5 * sum_v |p_i[v] - q_i[v]|`` and the result is the unweighted mean of ``TV_i`` over the positions
    that exist in at least one graph of *both* batches (the batches may be padded to different ``N``).
    Positions whose operation is fixed by the space (e.g. NB201's input and output nodes) count with ``TV_i = 0``.
    The finite-sample floor for two independent draws of size ``n`` of the same distribution is
    ``O(sqrt(V / n))`` per position (about 0.02 for NB201 with ``n = 1000`` against the whole space).

    Args:
        samples: generated batch, ``X: B_s x N_s x V``.
        reference: reference batch (usually the training set), ``X: B_r x N_r x V``, same vocabulary.

    Returns:
        The mean TV in ``[0, 1]``.

    Raises:
        ValueError: if the vocabularies differ or no node position exists in both batches.
    """
    _check_vocab(samples, reference)
    cs, cr = op_counts(samples), op_counts(reference)
    n = max(cs.shape[0], cr.shape[0])
    cs = np.pad(cs, ((0, n - cs.shape[0]), (0, 0)))
    cr = np.pad(cr, ((0, n - cr.shape[0]), (0, 0)))
    present = (cs.sum(axis=1) > 0) & (cr.sum(axis=1) > 0)
    if not present.any():
        raise ValueError("op_frequency_tv: no node position exists in both batches (is one of them empty?)")
    tvs = [total_variation(cs[i], cr[i]) for i in np.flatnonzero(present)]
    return float(np.mean(tvs))


# ---------------------------------------------------------------------- topology
def _binary_adjacency(graph: ArchGraph) -> torch.Tensor:
    """``B x N x N`` bool: edges (``A > 0.5``) between existing nodes."""
    m = graph.mask.unsqueeze(-1) & graph.mask.unsqueeze(-2)
    return (graph.A > 0.5) & m


def edge_count_histogram(graph: ArchGraph) -> np.ndarray:
    """Number of graphs with each edge count (``A > 0.5`` between existing nodes, as `ArchGraph.num_edges`).

    Args:
        graph: a batch with ``A: B x N x N`` and ``mask: B x N``.

    Returns:
        ``E + 1`` int64 counts, entry ``e`` = graphs with ``e`` edges, where ``E >= N (N - 1) / 2``.
    """
    n = graph.num_nodes
    edges = graph.num_edges().cpu().numpy().astype(np.int64)
    return np.bincount(edges, minlength=n * (n - 1) // 2 + 1).astype(np.int64)


def degree_histograms(graph: ArchGraph) -> tuple[np.ndarray, np.ndarray]:
    """In- and out-degree histograms pooled over every existing node of every graph in the batch.

    Args:
        graph: a batch with ``A: B x N x N`` and ``mask: B x N``.

    Returns:
        ``(in_counts, out_counts)``, each ``D + 1`` int64 with ``D >= N - 1``: entry ``d`` = number of existing nodes
        with in-degree (resp. out-degree) ``d``. Both sum to ``mask.sum()``.
    """
    a = _binary_adjacency(graph)
    in_deg = a.sum(dim=-2)[graph.mask].cpu().numpy().astype(np.int64)
    out_deg = a.sum(dim=-1)[graph.mask].cpu().numpy().astype(np.int64)
    n = max(graph.num_nodes, 1)
    return np.bincount(in_deg, minlength=n), np.bincount(out_deg, minlength=n)


def edge_count_tv(samples: ArchGraph, reference: ArchGraph) -> float:
    """Total variation between the edge-count distributions of two batches (see `edge_count_histogram`).

    Args:
        samples: generated batch, ``A: B_s x N_s x N_s``.
        reference: reference batch, ``A: B_r x N_r x N_r``.

    Returns:
        TV in ``[0, 1]``.

    Raises:
        ValueError: if a batch is empty.
    """
    return total_variation(edge_count_histogram(samples), edge_count_histogram(reference))


def degree_tv(
    samples: ArchGraph, reference: ArchGraph, direction: Literal["in", "out", "both"] = "both"
) -> float:
    """Total variation between the node-degree distributions of two batches (see `degree_histograms`).

    Args:
        samples: generated batch, ``A: B_s x N_s x N_s``, ``mask: B_s x N_s``.
        reference: reference batch, ``A: B_r x N_r x N_r``, ``mask: B_r x N_r``.
        direction: ``"in"`` or ``"out"`` for the TV of that degree's distribution; ``"both"`` for the mean of the two.

    Returns:
        TV in ``[0, 1]``.

    Raises:
        ValueError: for an unknown ``direction`` or a batch without nodes.
    """
    if direction not in ("in", "out", "both"):
        raise ValueError(f"direction: unknown value {direction!r}; accepted: in, out, both")
    s_in, s_out = degree_histograms(samples)
    r_in, r_out = degree_histograms(reference)
    tv_in, tv_out = total_variation(s_in, r_in), total_variation(s_out, r_out)
    return {"in": tv_in, "out": tv_out, "both": 0.5 * (tv_in + tv_out)}[direction]


# ---------------------------------------------------------------------- uniqueness reference
def expected_unique_fraction(n: int, population: int) -> float:
    """Expected share of distinct items among ``n`` i.i.d. uniform draws from ``population`` items.

    ``E[#distinct] = P (1 - (1 - 1/P)^n)`` (each item is missed by all ``n`` draws with probability
    ``(1 - 1/P)^n``), so the share is ``P (1 - (1 - 1/P)^n) / n``; computed as ``-P expm1(n log1p(-1/P)) / n`` to stay
    exact for huge ``P``. For NB201, ``n = 1000`` and ``P = 15625`` give 0.9687: the raw uniqueness of a perfect
    uniform sampler.

    Args:
        n: number of draws, ``>= 1``.
        population: number of equally likely items, ``>= 1``.

    Returns:
        The expected share in ``(0, 1]``.
    """
    if n < 1:
        raise ValueError(f"n: must be >= 1, got {n}")
    if population < 1:
        raise ValueError(f"population: must be >= 1, got {population}")
    if population == 1:
        return 1.0 / n
    p = float(population)
    return -p * math.expm1(n * math.log1p(-1.0 / p)) / n


# ---------------------------------------------------------------------- report
@dataclass(frozen=True)
class GenerationReport:
    """Quality figures of one batch of generated architectures (definitions in the module docstring).

    Shares whose denominator is empty (no valid sample, no reference) are ``None``; topology TVs are ``None`` for
    spaces with a fixed topology; throughput is ``None`` unless the sampling time was given.

    Attributes:
        space: search-space name.
        n_requested: samples asked of the generator (``n``), invalid ones and ``None`` included.
        n_valid: valid samples ``|S|``.
        n_unique: distinct canonical forms among the valid samples.
        n_unique_raw: distinct native architecture objects among the valid samples.
        n_novel: valid samples (with multiplicity) whose canonical form is not in the training set.
        validity: ``n_valid / n_requested``.
        uniqueness: ``n_unique / n_valid`` (isomorphism classes).
        unique_raw: ``n_unique_raw / n_valid`` (native objects, e.g. NB201 arch strings).
        novelty: ``n_novel / n_valid`` (isomorphism classes).
        novelty_raw: share of valid samples whose native object is not in the training set.
        op_freq_tv: `op_frequency_tv` of the valid samples against the reference.
        edge_count_tv: `edge_count_tv` against the reference (topology spaces only).
        in_degree_tv: `degree_tv` with ``direction="in"`` (topology spaces only).
        out_degree_tv: `degree_tv` with ``direction="out"`` (topology spaces only).
        degree_tv: mean of ``in_degree_tv`` and ``out_degree_tv`` (topology spaces only).
        expected_unique: `expected_unique_fraction` ``(n_valid, population)`` when a population was given: the
            uniqueness a perfect uniform sampler over that many items would reach, for comparison.
        n_train: size of the training set.
        n_reference: size of the reference set used for the TVs.
        elapsed_s: wall-clock seconds the caller spent sampling (as given).
        samples_per_s: ``n_requested / elapsed_s``.
    """

    space: str
    n_requested: int
    n_valid: int
    n_unique: int
    n_unique_raw: int
    n_novel: int
    validity: float
    uniqueness: float | None
    unique_raw: float | None
    novelty: float | None
    novelty_raw: float | None
    op_freq_tv: float | None
    edge_count_tv: float | None
    in_degree_tv: float | None
    out_degree_tv: float | None
    degree_tv: float | None
    expected_unique: float | None
    n_train: int
    n_reference: int
    elapsed_s: float | None
    samples_per_s: float | None

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict of every field."""
        return asdict(self)

    def to_rows(self) -> list[tuple[str, str]]:
        """``(metric, value)`` pairs, values formatted for display (``-`` where undefined)."""

        def pct(x: float | None) -> str:
            return "-" if x is None else f"{100 * x:.2f}%"

        def num(x: float | None, fmt: str = ".4f") -> str:
            return "-" if x is None else format(x, fmt)

        rows = [
            ("space", self.space),
            ("samples", str(self.n_requested)),
            ("validity", f"{pct(self.validity)} ({self.n_valid})"),
            ("uniqueness (canonical)", f"{pct(self.uniqueness)} ({self.n_unique})"),
            ("uniqueness (raw)", f"{pct(self.unique_raw)} ({self.n_unique_raw})"),
        ]
        if self.expected_unique is not None:
            rows.append(("uniqueness of a uniform sampler", pct(self.expected_unique)))
        rows += [
            ("novelty (canonical)", f"{pct(self.novelty)} ({self.n_novel})"),
            ("novelty (raw)", pct(self.novelty_raw)),
            ("op-frequency TV", num(self.op_freq_tv)),
        ]
        if self.edge_count_tv is not None or self.degree_tv is not None:
            rows += [
                ("edge-count TV", num(self.edge_count_tv)),
                ("in-degree TV", num(self.in_degree_tv)),
                ("out-degree TV", num(self.out_degree_tv)),
            ]
        rows += [("training set", str(self.n_train)), ("reference set", str(self.n_reference))]
        if self.elapsed_s is not None:
            rows += [("elapsed", f"{self.elapsed_s:.3f} s"), ("samples / s", num(self.samples_per_s, ".1f"))]
        return rows

    def to_table(self, title: str | None = "Generation quality") -> Table:
        """A two-column ``rich`` table of `to_rows` (print it with ``rich.console.Console().print``)."""
        from rich.table import Table

        table = Table(title=title)
        table.add_column("metric")
        table.add_column("value", justify="right")
        for k, v in self.to_rows():
            table.add_row(k, v)
        return table

    def __str__(self) -> str:
        width = max(len(k) for k, _ in self.to_rows())
        return "\n".join(f"{k:<{width}}  {v}" for k, v in self.to_rows())


def generation_report(
    space: SearchSpace[ArchT],
    archs: Sequence[ArchT | None],
    train: Sequence[ArchT],
    reference: Sequence[ArchT] | None = None,
    elapsed_s: float | None = None,
    population: int | None = None,
) -> GenerationReport:
    """Validity, uniqueness, novelty and distribution match of generated architectures.

    Args:
        space: the search space the architectures belong to.
        archs: the ``n`` generated architectures, ``None`` where a sample decoded to nothing
            (the output of `SearchSpace.decode`).
        train: the generator's training set (novelty is measured against it).
        reference: the set the distributions are compared with (default: ``train``).
        elapsed_s: seconds spent generating ``archs``, for ``samples_per_s``.
        population: if given, ``expected_unique`` is `expected_unique_fraction` ``(n_valid, population)``
            (e.g. ``space.size`` for NB201, whose `SearchSpace.sample` is uniform over its 15,625 native cells).

    Returns:
        A `GenerationReport`. Operation-frequency TV is computed on the valid samples; edge-count and degree TVs
        only when ``space.fixed_topology`` is false.

    Raises:
        ValueError: if ``archs`` is empty or ``elapsed_s`` is not positive.
    """
    n = len(archs)
    if n == 0:
        raise ValueError("archs: no samples to judge (empty sequence)")
    if elapsed_s is not None and not elapsed_s > 0:
        raise ValueError(f"elapsed_s: must be > 0 seconds, got {elapsed_s}")
    ref = train if reference is None else reference

    valid = [a for a in archs if a is not None and space.is_valid(a)]
    nv = len(valid)
    canon = [space.canonical(a) for a in valid]
    train_canon = {space.canonical(a) for a in train}
    train_raw = set(train)
    n_unique, n_unique_raw = len(set(canon)), len(set(valid))
    n_novel = sum(c not in train_canon for c in canon)
    n_novel_raw = sum(a not in train_raw for a in valid)

    def share(k: int) -> float | None:
        return k / nv if nv else None

    op_tv = edge_tv = in_tv = out_tv = None
    if nv and len(ref):
        gs, gr = space.encode(valid), space.encode(list(ref))
        op_tv = op_frequency_tv(gs, gr)
        if not space.fixed_topology:
            edge_tv = edge_count_tv(gs, gr)
            in_tv, out_tv = degree_tv(gs, gr, "in"), degree_tv(gs, gr, "out")

    return GenerationReport(
        space=space.name,
        n_requested=n,
        n_valid=nv,
        n_unique=n_unique,
        n_unique_raw=n_unique_raw,
        n_novel=n_novel,
        validity=nv / n,
        uniqueness=share(n_unique),
        unique_raw=share(n_unique_raw),
        novelty=share(n_novel),
        novelty_raw=share(n_novel_raw),
        op_freq_tv=op_tv,
        edge_count_tv=edge_tv,
        in_degree_tv=in_tv,
        out_degree_tv=out_tv,
        degree_tv=None if in_tv is None or out_tv is None else 0.5 * (in_tv + out_tv),
        expected_unique=expected_unique_fraction(nv, population) if population is not None and nv else None,
        n_train=len(train),
        n_reference=len(ref),
        elapsed_s=elapsed_s,
        samples_per_s=n / elapsed_s if elapsed_s is not None else None,
    )
