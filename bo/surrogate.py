"""Surrogates for Bayesian optimisation over architectures (BoTorch / GPyTorch).

* `graph_features` — the path-free encoding of an `ArchGraph`: op one-hots of every node and the strict upper
  triangle of the adjacency (``B x D``), differentiable in ``X`` and ``A`` so a GP on it can guide the sampler.
* `GPSurrogate` — an exact GP (`botorch.models.SingleTaskGP`: Matérn-5/2 ARD kernel, standardised outcomes) on any
  feature matrix: on `graph_features` (a GP on the adjacency/one-hot encoding, White et al. 2021 "How powerful are
  performance predictors"), with training-free metrics appended as extra columns, or on a predictor's learnt
  embedding (a deep-kernel GP, Wilson et al. 2016, with the network trained first and then frozen).
* `EnsembleSurrogate` — a deep ensemble of GNN predictors (`predictors.accuracy.EnsemblePredictor`): mean and spread
  of the members, the surrogate of BANANAS (White et al., AAAI 2021).

All return ``(mean, std)`` over ``B`` architectures in the signal's unit.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch
from botorch.exceptions.errors import ModelFittingError
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.transforms import Standardize
from gpytorch.mlls import ExactMarginalLogLikelihood

from nag.graph import ArchGraph

__all__ = ["graph_features", "GPSurrogate", "EnsembleSurrogate", "ucb"]


def graph_features(graph: ArchGraph) -> torch.Tensor:
    """``B x (N·V + N(N-1)/2)``: node op one-hots (zero rows on padding) and the strict upper adjacency triangle.

    Differentiable in ``graph.X`` and ``graph.A``; relaxed graphs (probabilities) give relaxed features.
    """
    b, n, _ = graph.X.shape
    X = graph.X * graph.mask[..., None].to(graph.X.dtype)
    iu = torch.triu_indices(n, n, 1, device=graph.A.device)
    return torch.cat([X.reshape(b, -1), graph.A[:, iu[0], iu[1]].to(X.dtype)], 1)


def ucb(mean: torch.Tensor, std: torch.Tensor, beta: float) -> torch.Tensor:
    """Upper confidence bound ``mean + sqrt(beta) · std`` (BoTorch's convention for ``beta``)."""
    return mean + beta**0.5 * std


class GPSurrogate:
    """Exact GP on a feature matrix (Matérn-5/2 with ARD, outcome standardised; BoTorch defaults).

    With ``n_linear > 0`` the last ``n_linear`` feature columns (e.g. training-free metrics) enter through a linear
    kernel instead, added to the Matérn kernel on the others: ``k = s1·<z, z'> + s2·Matérn(g, g')``, i.e. Bayesian
    linear regression on the metrics plus a GP on the architecture encoding for what they miss. Linear in the
    metrics, the model extrapolates their ranking beyond the observed points, where an ARD Matérn reverts to the
    mean.

    Constant feature columns (fixed parts of the encoding) are dropped at `fit`, so ARD lengthscales are learnt only
    for features that vary among the observed architectures... and, to keep a gradient for guidance, the kept
    column indices are applied to any new features, relaxed or not.

    Args:
        maxiter: L-BFGS iterations of the marginal-likelihood fit (BoTorch's default is larger; small GPs converge
            early and the fit dominates a BO step on a CPU otherwise).
    """

    def __init__(self, maxiter: int = 200, n_linear: int = 0) -> None:
        if n_linear < 0:
            raise ValueError(f"n_linear: must be >= 0, got {n_linear}")
        self.maxiter = maxiter
        self.n_linear = n_linear
        self.fitted = False  # hyper-parameters fitted (False: the GP kept its priors after a failed fit)
        self.model: SingleTaskGP | None = None
        self.columns: torch.Tensor | None = None
        self.lo: torch.Tensor | None = None
        self.span: torch.Tensor | None = None

    def _prep(self, F: torch.Tensor) -> torch.Tensor:
        return (F.double()[:, self.columns] - self.lo) / self.span

    def fit(self, F: torch.Tensor, y: torch.Tensor) -> GPSurrogate:
        """Fit on ``B x D`` features and ``B`` targets (finite; larger is better).

        Raises:
            ValueError: fewer than two observations or non-finite targets.
        """
        F, y = torch.as_tensor(F).double(), torch.as_tensor(y).double().flatten()
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
        X = self._prep(F)
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

    def posterior(self, F: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mean, std)`` (``B`` each) at ``B x D`` features; differentiable in ``F``.

        Marginals only: each row is its own batch (``B x 1 x D``), so no ``B x B`` covariance is formed and a whole
        enumerable space (NB201's 15,625 cells) is scored in a few hundred milliseconds.
        """
        if self.model is None:
            raise ValueError("posterior: fit the surrogate first")
        post = self.model.posterior(self._prep(F).unsqueeze(-2))
        return post.mean.reshape(-1), post.variance.clamp(min=1e-12).sqrt().reshape(-1)

    @property
    def train_inputs(self) -> torch.Tensor:
        return self.model.train_inputs[0]


class EnsembleSurrogate:
    """Deep ensemble of GNN accuracy predictors (BANANAS' surrogate): member mean and standard deviation.

    Args:
        ops: the space's op vocabulary.
        seed: seeds the members.
        **config: overrides of `predictors.accuracy.AccuracyPredictorConfig` (e.g. ``ensemble=5``, ``max_epochs``).
    """

    def __init__(self, ops: tuple[str, ...], seed: int = 0, **config) -> None:
        from predictors.accuracy import AccuracyPredictorConfig, EnsemblePredictor

        self.predictor = EnsemblePredictor(AccuracyPredictorConfig(ops=tuple(ops), seed=seed, **config))

    def fit(self, graphs: ArchGraph, y: torch.Tensor) -> EnsembleSurrogate:
        self.predictor.fit(graphs, torch.as_tensor(y, dtype=torch.float32))
        return self

    def posterior(self, graphs: ArchGraph) -> tuple[torch.Tensor, torch.Tensor]:
        p = self.predictor.predict(graphs)
        std = p.std if p.std is not None else torch.zeros_like(p.mean)
        return p.mean.double(), std.double()

    def embed(self, graphs: ArchGraph) -> torch.Tensor:
        """Member-0 penultimate features (``B x H``) for a deep-kernel GP."""
        return self.predictor.embed(graphs)

    def differentiable(self) -> Callable[[ArchGraph], torch.Tensor]:
        """``graph -> B`` standardised ensemble mean, differentiable (for guidance on denoised graphs)."""
        return self.predictor.as_objective()
