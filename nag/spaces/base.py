"""The `SearchSpace` interface every search space implements, plus optional mixins.

A search space owns its native architecture objects (immutable and hashable, e.g. a frozen dataclass), their text
form (``parse``/``format``), and the conversion to and from `ArchGraph`. Subclasses implement a handful of abstract
methods; batching, decoding with validity checks and mutation come from here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from typing import Generic, TypeVar

import numpy as np
import torch

from nag.graph import ArchGraph
from nag.typing import SeedLike, as_rng

__all__ = [
    "SearchSpace",
    "EnumerableSpace",
    "ModuleSpace",
    "StructuredDecodeSpace",
    "ArchT",
    "sample_distinct",
]

ArchT = TypeVar("ArchT")


class SearchSpace(ABC, Generic[ArchT]):
    """A search space of neural architectures.

    Class attributes:
        name: registry name (e.g. ``"nb201"``).
        ops: node-operation vocabulary of its `ArchGraph` encoding (``V = len(ops)``).
        max_nodes: node count ``N`` of the encoding (graphs with fewer nodes are padded and masked).
        fixed_topology: ``True`` when every architecture has the same adjacency (only operations vary).
    """

    name: str
    ops: tuple[str, ...]
    max_nodes: int
    fixed_topology: bool = False

    # ------------------------------------------------------------------ abstract
    @abstractmethod
    def parse(self, text: str) -> ArchT:
        """Read the space's native text notation; raises `InvalidArchitectureError` naming the problem."""

    @abstractmethod
    def format(self, arch: ArchT) -> str:
        """The native text notation of ``arch`` (inverse of `parse`)."""

    @abstractmethod
    def validate(self, arch: ArchT) -> list[str]:
        """Reasons why ``arch`` is not a valid member of the space (empty when valid)."""

    @abstractmethod
    def graph_of(self, arch: ArchT) -> tuple[list[int], np.ndarray]:
        """Node operation indices (length ``n``) and ``n x n`` upper-triangular adjacency of one architecture."""

    @abstractmethod
    def arch_of(self, op_indices: Sequence[int], adjacency: np.ndarray) -> ArchT | None:
        """Inverse of `graph_of`: the architecture of a discrete graph, or ``None`` if it encodes none."""

    @abstractmethod
    def sample(self, n: int, seed: SeedLike = None) -> list[ArchT]:
        """``n`` architectures drawn uniformly at random (i.i.d., so duplicates are possible)."""

    @abstractmethod
    def canonical(self, arch: ArchT) -> str:
        """A string equal for exactly the architectures that compute the same function (isomorphism class)."""

    @abstractmethod
    def neighbours(self, arch: ArchT) -> list[ArchT]:
        """All valid architectures one edit away (one operation changed, or one edge toggled where allowed)."""

    # ------------------------------------------------------------------ provided
    def disconnected(self, arch: ArchT) -> bool:
        """Whether the architecture's output ignores its input (no path of non-zero operations from input to
        output): a network of it learns a constant. Default: never (a space whose graphs always connect)."""
        return False

    def is_valid(self, arch: ArchT) -> bool:
        """``True`` when `validate` finds nothing wrong."""
        return not self.validate(arch)

    def encode(self, archs: Sequence[ArchT]) -> ArchGraph:
        """Encode architectures as one `ArchGraph` batch (``X: B x N x V``, ``A: B x N x N``, ``mask: B x N``)."""
        pairs = [self.graph_of(a) for a in archs]
        return ArchGraph.from_dense(
            [p[0] for p in pairs], [p[1] for p in pairs], self.ops, num_nodes=self.max_nodes
        )

    def posterior_on_support(self, probs: torch.Tensor) -> torch.Tensor:
        """Condition per-node operation probabilities on the space's support.

        A denoiser predicts each node's clean operation independently (``probs``: ``B x N x V``, rows summing to 1
        over ``self.ops``). Where a space's valid graphs couple nodes (MobileNetV3: a stage's layers beyond its depth
        are all ``skip``), the product of those marginals gives mass to invalid graphs that the data never holds;
        a space overrides this to return the marginals of that product distribution *conditioned on validity*
        (same shape), which is what the diffusion model's posterior mean uses. Default: unchanged.
        """
        return probs

    def decode(self, graph: ArchGraph) -> list[ArchT | None]:
        """Decode every graph of the batch; ``None`` where it is not a valid architecture of this space.

        Relaxed inputs are discretised first (arg-max operation, adjacency > 0.5).
        """
        if graph.ops != self.ops:
            raise ValueError(f"graph.ops {graph.ops} does not match space {self.name!r} ops {self.ops}")
        g = graph.discretize()
        op_idx = g.op_indices().cpu().numpy()
        adj = g.A.cpu().numpy()
        sizes = g.mask.sum(-1).cpu().numpy()
        out: list[ArchT | None] = []
        for b in range(g.batch_size):
            s = int(sizes[b])
            if not g.mask[b, :s].all():
                out.append(None)
                continue
            arch = self.arch_of(op_idx[b, :s].tolist(), adj[b, :s, :s])
            out.append(arch if arch is not None and self.is_valid(arch) else None)
        return out

    def mutate(self, arch: ArchT, seed: SeedLike = None) -> ArchT:
        """One random neighbour of ``arch`` (uniform over `neighbours`)."""
        nbrs = self.neighbours(arch)
        if not nbrs:
            raise ValueError(f"architecture {self.format(arch)!r} has no valid neighbour in {self.name}")
        return nbrs[int(as_rng(seed).integers(len(nbrs)))]

    def unique(self, archs: Sequence[ArchT]) -> list[ArchT]:
        """Drop architectures whose `canonical` form was already seen (keeps the first of each class)."""
        seen: set[str] = set()
        out = []
        for a in archs:
            c = self.canonical(a)
            if c not in seen:
                seen.add(c)
                out.append(a)
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, V={len(self.ops)}, N={self.max_nodes})"


class EnumerableSpace(SearchSpace[ArchT]):
    """Mixin base for finite spaces that can list every member."""

    @abstractmethod
    def enumerate(self) -> Iterator[ArchT]:
        """Every architecture of the space, each once, in the space's canonical index order."""

    @property
    @abstractmethod
    def size(self) -> int:
        """Number of architectures `enumerate` yields."""

    def check_index(self, index: int) -> int:
        """``index`` when it is a position of `enumerate` (``0 .. size - 1``), for ``from_index``.

        Raises:
            InvalidArchitectureError: field ``index``, with the accepted range.
        """
        if not 0 <= index < self.size:
            from nag.errors import InvalidArchitectureError

            raise InvalidArchitectureError("index", index, f"must be in 0..{self.size - 1}")
        return index


class ModuleSpace(SearchSpace[ArchT]):
    """Mixin base for spaces that define a real PyTorch network per architecture."""

    @abstractmethod
    def to_module(self, arch: ArchT, **kwargs) -> torch.nn.Module:
        """Build the untrained network of ``arch`` (keyword options are space-specific, e.g. ``num_classes``)."""


class StructuredDecodeSpace(SearchSpace[ArchT]):
    """Mixin base for spaces whose rules a generator can satisfy by construction when decoding relaxed graphs.

    Instead of thresholding edges independently (which may break rules such as "exactly one in-edge per node"),
    `decode_scores` picks the best-scoring architecture that obeys the rules.
    """

    @abstractmethod
    def decode_scores(
        self, op_scores: torch.Tensor, edge_scores: torch.Tensor, num_nodes: int
    ) -> ArchT | None:
        """The valid architecture that best matches relaxed scores.

        Args:
            op_scores: ``N x V`` per-node operation scores (larger = more likely).
            edge_scores: ``N x N`` edge scores (larger = more likely; upper triangle used).
            num_nodes: nodes that exist (the first ``num_nodes`` rows).
        """


def sample_distinct(
    draw: Callable[[], Sequence[ArchT]],
    key: Callable[[ArchT], Hashable],
    n: int,
    *,
    seen: Iterable[Hashable] = (),
    max_draws: int,
) -> list[ArchT]:
    """The one rejection loop for distinct architectures: call ``draw()`` until ``n`` architectures with new
    ``key`` s are collected (in the order first drawn) or ``max_draws`` architectures have been drawn.

    Args:
        draw: returns a batch of architectures (its size sets the granularity, and so the random stream).
        key: identity (``space.canonical``, a domain's query key, ...).
        n: how many to collect.
        seen: keys that do not count as new (e.g. queried architectures).
        max_draws: give up after this many draws; fewer than ``n`` come back only when the domain is (nearly)
            exhausted.
    """
    seen_keys = set(seen)
    out: list[ArchT] = []
    drawn = 0
    while len(out) < n and drawn < max_draws:
        batch = draw()
        drawn += len(batch)
        for a in batch:
            k = key(a)
            if k not in seen_keys:
                seen_keys.add(k)
                out.append(a)
                if len(out) == n:
                    break
    return out


def parse_codes(text: str, expected: str) -> list[int]:
    """The integers of a code tuple such as ``"(1, 0, 0, 2, 1, 0)"`` (brackets optional) — the text form NASLib
    and TransNAS-Bench-101 give architectures.

    Raises:
        InvalidArchitectureError: a part is not an integer (field ``arch``; ``expected`` says what is accepted).
    """
    from nag.errors import InvalidArchitectureError

    try:
        return [int(c) for c in text.strip().strip("()[] ").split(",") if c.strip()]
    except ValueError:
        raise InvalidArchitectureError("arch", text, expected) from None
