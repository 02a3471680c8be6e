"""Surrogates for Bayesian optimisation over architectures (BoTorch / GPyTorch), behind one interface.

`Surrogate` is the BoTorch shape: ``fit(x, y)`` then ``posterior(x) -> (mean, variance)``, where ``x`` is a list of a
space's architectures or an `ArchGraph` (relaxed graphs too, for guidance) and the model owns its featuriser, so
callers never build features or reach into a model:

* `GPSurrogate` — an exact GP (`botorch.models.SingleTaskGP`: Matérn-5/2 ARD kernel, standardised outcomes) on the
  features of a `Featuriser`: `GraphFeatures` (a GP on the adjacency/one-hot encoding, White et al. 2021 "How
  powerful are performance predictors"), `MetricFeatures` (training-free metrics appended as extra columns),
  `OpCountFeatures` (operation counts appended, for near-additive costs such as latency).
* `EnsembleSurrogate` — a deep ensemble of GNN predictors (`predictors.accuracy.EnsemblePredictor`): mean and spread
  of the members, the surrogate of BANANAS (White et al., AAAI 2021).

All return ``(mean, variance)`` over ``B`` architectures in the signal's unit (variance in its square).
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from botorch.exceptions.errors import ModelFittingError
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.transforms import Standardize
from gpytorch.mlls import ExactMarginalLogLikelihood

from bo.acquisition import ucb
from nag.graph import ArchGraph

__all__ = [
    "graph_features",
    "Featuriser",
    "GraphFeatures",
    "MetricFeatures",
    "OpCountFeatures",
    "CachedFeatures",
    "Surrogate",
    "BoTorchSurrogate",
    "GPSurrogate",
    "EnsembleSurrogate",
]

#: What a surrogate takes: a list of a space's architectures, or their (possibly relaxed) graphs.
Inputs = Sequence[Any] | ArchGraph


def graph_features(graph: ArchGraph) -> torch.Tensor:
    """``B x (N·V + N(N-1)/2)``: node op one-hots (zero rows on padding) and the strict upper adjacency triangle.

    Differentiable in ``graph.X`` and ``graph.A``; relaxed graphs (probabilities) give relaxed features.
    """
    b, n, _ = graph.X.shape
    X = graph.X * graph.mask[..., None].to(graph.X.dtype)
    iu = torch.triu_indices(n, n, 1, device=graph.A.device)
    return torch.cat([X.reshape(b, -1), graph.A[:, iu[0], iu[1]].to(X.dtype)], 1)


# ---------------------------------------------------------------------------------------------------- featurisers
class Featuriser(ABC):
    """Maps architectures (or their graphs) to a ``B x D`` feature matrix a surrogate models.

    Attributes:
        n_linear: how many trailing columns are meant for a linear kernel (`GPSurrogate` reads it).
    """

    n_linear: int = 0

    @abstractmethod
    def __call__(self, x: Inputs) -> torch.Tensor:
        """``B x D`` features of ``B`` architectures (a list) or graphs (an `ArchGraph`)."""


class GraphFeatures(Featuriser):
    """`graph_features` of a space's architectures (encoded with ``space.encode``) or of graphs as given."""

    def __init__(self, space: Any) -> None:
        self.space = space

    def __call__(self, x: Inputs) -> torch.Tensor:
        g = x if isinstance(x, ArchGraph) else self.space.encode(list(x))
        return graph_features(g)


class MetricFeatures(Featuriser):
    """``B x (D + M)``: a base featuriser's columns (as float64), then each architecture's row of a metric table.

    Args:
        base: featurises the architecture itself.
        table: ``S x M`` values per architecture of the space, in ``index(arch)`` order (e.g. rank-transformed
            training-free metrics, one row per NB201 cell).
        index: the architecture's row in ``table`` (``space.index``).
        linear: the metric columns go to a linear kernel (`GPSurrogate`) rather than the Matérn kernel.
    """

    def __init__(
        self, base: Featuriser, table: np.ndarray, index: Callable[[Any], int], linear: bool
    ) -> None:
        self.base, self.table, self.index = base, table, index
        self.n_linear = table.shape[1] if linear else 0

    def __call__(self, x: Inputs) -> torch.Tensor:
        if isinstance(x, ArchGraph):
            raise ValueError(
                "x: training-free metrics exist for architectures, not for (noisy) graphs; accepted: a list of "
                "architectures"
            )
        x = list(x)
        z = self.table[[self.index(a) for a in x]]
        return torch.cat([self.base(x).double(), torch.as_tensor(z, dtype=torch.float64)], 1)


class OpCountFeatures(Featuriser):
    """``B x (D + V)``: `graph_features` (``B x D``), then how many nodes carry each of the ``V`` operations — read
    off the one-hot block, so relaxed graphs stay differentiable. The counts enter a linear kernel: latency, energy
    and size are close to additive in the operations.

    Args:
        base: a featuriser whose first ``N·V`` columns are the op one-hots (`GraphFeatures`, or a cache of it).
        num_nodes / num_ops: ``N`` and ``V``.
    """

    def __init__(self, base: Featuriser, num_nodes: int, num_ops: int) -> None:
        self.base, self.num_nodes, self.num_ops = base, num_nodes, num_ops
        self.n_linear = num_ops

    def __call__(self, x: Inputs) -> torch.Tensor:
        F = self.base(x)
        counts = (
            F[:, : self.num_nodes * self.num_ops].reshape(F.shape[0], self.num_nodes, self.num_ops).sum(1)
        )
        return torch.cat([F.double(), counts.double()], 1)


class CachedFeatures(Featuriser):
    """A featuriser's rows of a whole enumerable domain, computed once (on first use) and indexed afterwards;
    graphs pass through to the base featuriser.

    Args:
        base: the featuriser cached.
        domain: every architecture that will be asked for (e.g. NB201's 15,625 cells).
    """

    def __init__(self, base: Featuriser, domain: Sequence[Any]) -> None:
        self.base, self.domain = base, domain
        self.n_linear = base.n_linear
        self._F: torch.Tensor | None = None
        self._row: dict[Any, int] = {}

    def __call__(self, x: Inputs) -> torch.Tensor:
        if isinstance(x, ArchGraph):
            return self.base(x)
        if self._F is None:
            self._row = {a: i for i, a in enumerate(self.domain)}
            self._F = self.base(self.domain)
        return self._F[torch.tensor([self._row[a] for a in x], dtype=torch.long)]


# ---------------------------------------------------------------------------------------------------- surrogates
class Surrogate(ABC):
    """A probabilistic model of a signal over architectures (the BoTorch shape).

    ``fit`` on ``B`` architectures (a list, or their `ArchGraph`) and ``B`` finite targets (larger is better);
    ``posterior`` gives the marginal mean and variance at new ones. The model owns its featuriser.
    """

    @abstractmethod
    def fit(self, x: Inputs, y: torch.Tensor) -> Surrogate:
        """Fit on ``B`` architectures and ``y`` (``B``); returns ``self``."""

    @abstractmethod
    def posterior(self, x: Inputs) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mean, variance)``, ``B`` each, at ``B`` architectures or graphs."""

    def objective(self, beta: float, scale: float = 1.0) -> Callable[[ArchGraph], torch.Tensor]:
        """A differentiable ``graph -> B`` to guide a generator: the UCB (`bo.acquisition.ucb`) divided by
        ``scale``. Requires `posterior` to be differentiable in the graph (override otherwise)."""

        def fn(g: ArchGraph) -> torch.Tensor:
            mean, var = self.posterior(g)
            return ucb(mean, var, beta) / scale

        return fn


@runtime_checkable
class BoTorchSurrogate(Protocol):
    """A surrogate backed by a BoTorch model, for BoTorch's acquisition functions (`bo.acquisition.select_qlogei`).

    Attributes:
        model: the fitted ``botorch.models.model.Model``.
    """

    model: Any

    def model_inputs(self, x: Inputs) -> torch.Tensor:
        """``B x D'``: ``x`` in the model's own input space (features after the surrogate's transforms)."""
        ...


class GPSurrogate(Surrogate):
    """Exact GP on a featuriser's features (Matérn-5/2 with ARD, outcome standardised; BoTorch defaults).

    With ``n_linear > 0`` the last ``n_linear`` feature columns (e.g. training-free metrics) enter through a linear
    kernel instead, added to the Matérn kernel on the others: ``k = s1·<z, z'> + s2·Matérn(g, g')``, i.e. Bayesian
    linear regression on the metrics plus a GP on the architecture encoding for what they miss. Linear in the
    metrics, the model extrapolates their ranking beyond the observed points, where an ARD Matérn reverts to the
    mean.

    Constant feature columns (fixed parts of the encoding) are dropped at `fit`, so ARD lengthscales are learnt only
    for features that vary among the observed architectures... and, to keep a gradient for guidance, the kept
    column indices are applied to any new features, relaxed or not.

    Args:
        featuriser: maps architectures / graphs to ``B x D`` features; ``None``: inputs are ``B x D`` feature
            tensors already.
        maxiter: L-BFGS iterations of the marginal-likelihood fit (BoTorch's default is larger; small GPs converge
            early and the fit dominates a BO step on a CPU otherwise).
        n_linear: trailing columns in the linear kernel (default: the featuriser's ``n_linear``, else 0).
    """

    def __init__(
        self, featuriser: Featuriser | None = None, maxiter: int = 200, n_linear: int | None = None
    ) -> None:
        if n_linear is None:
            n_linear = featuriser.n_linear if featuriser is not None else 0
        if n_linear < 0:
            raise ValueError(f"n_linear: must be >= 0, got {n_linear}")
        self.featuriser = featuriser
        self.maxiter = maxiter
        self.n_linear = n_linear
        self.fitted = False  # hyper-parameters fitted (False: the GP kept its priors after a failed fit)
        self.model: SingleTaskGP | None = None
        self.columns: torch.Tensor | None = None
        self.lo: torch.Tensor | None = None
        self.span: torch.Tensor | None = None

    def features(self, x: Inputs | torch.Tensor) -> torch.Tensor:
        """``B x D`` features of ``x`` (the featuriser's; a tensor passes through without one)."""
        if self.featuriser is None:
            if not isinstance(x, torch.Tensor):
                raise ValueError(
                    f"x: a GPSurrogate without a featuriser takes a B x D feature tensor, got {type(x).__name__}"
                )
            return x
        return self.featuriser(x)

    def model_inputs(self, x: Inputs | torch.Tensor) -> torch.Tensor:
        """``B x D'`` (float64): the varying columns of ``x``'s features, scaled to the training range's unit box —
        the GP's own inputs (differentiable in ``x``)."""
        if self.columns is None:
            raise ValueError("model_inputs: fit the surrogate first")
        return (self.features(x).double()[:, self.columns] - self.lo) / self.span

    def fit(self, x: Inputs | torch.Tensor, y: torch.Tensor) -> GPSurrogate:
        """Fit on ``B`` architectures (or a ``B x D`` feature tensor without featuriser) and ``B`` finite targets.

        Raises:
            ValueError: fewer than two observations or non-finite targets.
        """
        F, y = torch.as_tensor(self.features(x)).double(), torch.as_tensor(y).double().flatten()
        if F.shape[0] < 2 or F.shape[0] != y.shape[0]:
            raise ValueError(f"F/y: need >= 2 matching rows, got {F.shape[0]} and {y.shape[0]}")
        if not bool(torch.isfinite(y).all()):
            raise ValueError("y: GP targets must be finite")
        varying = (F.max(0).values - F.min(0).values) > 1e-9
        if not bool(varying.any()):
            varying[0] = True
        self.columns = varying.nonzero().flatten()
        self.lo = F[:, self.columns].min(0).values
        self.span = (F[:, self.columns].max(0).values - self.lo).clamp(min=1e-9)
        X = (F[:, self.columns] - self.lo) / self.span
        covar = None
        if self.n_linear:
            from gpytorch.kernels import AdditiveKernel, LinearKernel, MaternKernel, ScaleKernel
            from gpytorch.priors import GammaPrior

            lin = (self.columns >= F.shape[1] - self.n_linear).nonzero().flatten().tolist()
            rest = (self.columns < F.shape[1] - self.n_linear).nonzero().flatten().tolist()
            parts = []
            if lin:
                parts.append(ScaleKernel(LinearKernel(active_dims=lin)))
            if rest:
                parts.append(ScaleKernel(MaternKernel(
                    nu=2.5, ard_num_dims=len(rest), active_dims=rest, lengthscale_prior=GammaPrior(3.0, 6.0)
                )))  # fmt: skip
            covar = AdditiveKernel(*parts)
        self.model = SingleTaskGP(X, y[:, None], covar_module=covar, outcome_transform=Standardize(m=1))
        mll = ExactMarginalLogLikelihood(self.model.likelihood, self.model)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                fit_gpytorch_mll(mll, optimizer_kwargs={"options": {"maxiter": self.maxiter}})
                self.fitted = True
            except ModelFittingError:  # keep the prior hyper-parameters: still a valid GP
                self.fitted = False
        self.model.eval()
        return self

    def posterior(self, x: Inputs | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mean, variance)`` (``B`` each; variance floored at ``1e-12``) at ``B`` architectures or graphs;
        differentiable in the graph (or features).

        Marginals only: each row is its own batch (``B x 1 x D``), so no ``B x B`` covariance is formed and a whole
        enumerable space (NB201's 15,625 cells) is scored in a few hundred milliseconds.
        """
        if self.model is None:
            raise ValueError("posterior: fit the surrogate first")
        post = self.model.posterior(self.model_inputs(x).unsqueeze(-2))
        return post.mean.reshape(-1), post.variance.clamp(min=1e-12).reshape(-1)

    @property
    def train_inputs(self) -> torch.Tensor:
        """``B x D'`` training inputs of the fitted GP (in `model_inputs`' space)."""
        if self.model is None:
            raise ValueError("train_inputs: fit the surrogate first")
        return self.model.train_inputs[0]


class EnsembleSurrogate(Surrogate):
    """Deep ensemble of GNN accuracy predictors (BANANAS' surrogate): member mean and variance.

    An adapter of `predictors.accuracy.EnsemblePredictor` (whose featuriser is the space's graph encoding).

    Args:
        space: the search space (its ``encode`` and op vocabulary).
        seed: seeds the members.
        **config: overrides of `predictors.accuracy.AccuracyPredictorConfig` (e.g. ``ensemble=5``, ``max_epochs``).
    """

    def __init__(self, space: Any, seed: int = 0, **config: Any) -> None:
        from predictors.accuracy import AccuracyPredictorConfig, EnsemblePredictor

        self.space = space
        self.predictor = EnsemblePredictor(AccuracyPredictorConfig(ops=tuple(space.ops), seed=seed, **config))

    def _graph(self, x: Inputs) -> ArchGraph:
        return x if isinstance(x, ArchGraph) else self.space.encode(list(x))

    def fit(self, x: Inputs, y: torch.Tensor) -> EnsembleSurrogate:
        """Train the members on ``B`` architectures and ``y`` (``B``)."""
        self.predictor.fit(self._graph(x), torch.as_tensor(y, dtype=torch.float32))
        return self

    def posterior(self, x: Inputs) -> tuple[torch.Tensor, torch.Tensor]:
        """Member mean and variance (``B`` each, float64; zero variance with one member); not differentiable."""
        p = self.predictor.predict(self._graph(x))
        std = p.std if p.std is not None else torch.zeros_like(p.mean)
        return p.mean.double(), std.double().square()

    def embed(self, x: Inputs) -> torch.Tensor:
        """Member-0 penultimate features (``B x H``) for a deep-kernel GP."""
        return self.predictor.embed(self._graph(x))

    def objective(self, beta: float, scale: float = 1.0) -> Callable[[ArchGraph], torch.Tensor]:
        """``graph -> B``: the standardised ensemble mean, differentiable in the graph (`posterior` is not: the
        predictor runs without gradients). ``beta`` and ``scale`` do not apply: the mean is already standardised."""
        return self.predictor.as_objective()
