"""A transfer prior (`predictors.transfer`) behind the `bo.surrogate.Surrogate` interface.

`TransferSurrogate` is what diffusion-BO's ``transfer_from`` option uses in place of its GP: built once from the
source tasks' tables (prior knowledge, `TransferSurrogate.build_s`), refit on the target's queried architectures at
every step (``k >= 0``: from query 0 it ranks by the sources' consensus), its posterior differentiable in a (relaxed)
graph for guidance. It never reads the target's table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from bo.surrogate import Inputs, Surrogate
from nag.graph import ArchGraph
from predictors.transfer import DEFAULT_PRIOR, TransferPrior, build_prior

__all__ = ["TransferSurrogate", "transfer_surrogate"]


class TransferSurrogate(Surrogate):
    """Posterior of a `predictors.transfer.TransferPrior` adapted to the architectures it is fitted on.

    Args:
        space: the search space object (``index``, ``encode``).
        prior: the transfer prior (built from source tasks of the same space).
    """

    def __init__(self, space: Any, prior: TransferPrior) -> None:
        self.space, self.prior = space, prior

    @property
    def build_s(self) -> float:
        """Seconds spent reading the source tables and meta-learning (charged once, as prior knowledge)."""
        return self.prior.build_s

    def _indices(self, x: Sequence[Any]) -> np.ndarray:
        return np.array([self.space.index(a) for a in x], dtype=np.int64)

    def fit(self, x: Inputs, y: torch.Tensor) -> TransferSurrogate:
        """Adapt to ``B >= 0`` queried architectures (a list) and their signals ``y`` (``B``)."""
        if isinstance(x, ArchGraph):
            raise ValueError("x: a TransferSurrogate is fitted on queried architectures (a list), not graphs")
        y = torch.as_tensor(y, dtype=torch.float64).flatten().numpy()
        self.prior.fit_indices(self._indices(list(x)), y)
        return self

    def posterior(self, x: Inputs) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mean, variance)`` (``B`` each, float64): exact source values for architectures, the sources' graph
        models for (relaxed) graphs (differentiable in ``X`` and ``A``)."""
        if isinstance(x, ArchGraph):
            return self.prior.posterior_graph(x.X, x.A, x.mask)
        m, v = self.prior.posterior_indices(self._indices(list(x)))
        return torch.as_tensor(m, dtype=torch.float64), torch.as_tensor(v, dtype=torch.float64)

    def sample(
        self, x: Sequence[Any], rng: np.random.Generator, n: int = 1, temperature: float = 1.0
    ) -> np.ndarray:
        """``n x B`` joint posterior draws at architectures ``x`` (Thompson sampling; `TransferPrior.sample_indices`)."""
        return self.prior.sample_indices(self._indices(list(x)), rng, n, temperature)


def transfer_surrogate(
    space: Any, sources: Sequence[str] | str, target: str | None, kind: str = DEFAULT_PRIOR
) -> TransferSurrogate:
    """The surrogate for a search on ``target`` transferring from ``sources`` (what ``--transfer-from`` calls).

    Raises:
        InvalidChoiceError: (field ``transfer_from``) a source equal to the target, of another space, or unknown.
    """
    return TransferSurrogate(space, build_prior(space.name, sources, target, kind))
