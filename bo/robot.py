"""RoBoT: Bayesian optimisation over combinations of training-free metrics, then greedy exploitation.

Implements He et al., "Robustifying and Boosting Training-Free Neural Architecture Search", ICLR 2024
(reference code: ``hzf1174/RoBoT``, ``search_nb201.py``) with BoTorch instead of ``bayes_opt``.

Given ``M`` training-free metrics over ``K`` architectures (an ``M x K`` matrix) and a search signal (``K``
validation accuracies the search may query), RoBoT

1. **explores** (phase 1): Gaussian-process BO over combination weights ``w in [-1, 1]^M``. The objective of ``w`` is
   the signal of the top-1 architecture under the combined score ``sum_m w_m * normalised_metric_m``. Querying an
   architecture already queried is free (it costs no budget), so ``T0`` (distinct architectures seen in phase 1) is
   usually smaller than the number of BO iterations;
2. **exploits** (phase 2): walks down the ranking of the best weight found, querying architectures not seen yet,
   until the budget ``T`` distinct queries is spent.

The final pick is the queried architecture with the best signal.

**Collapse and the defaults.** With the reference's settings (`REFERENCE_OPTIONS`) one seed in ten collapses on
NAS-Bench-201 at ``T = 20`` (e.g. CIFAR-10 signal, seed 4: pick 86.82 % on CIFAR-10, 28.02 % on ImageNet16-120).
Measured per seed, the cause is phase 1, not the top-1 objective: the good weights (synflow and jacob_cov positive,
about 9 % of ``[-1, 1]^6``) are never evaluated, BO settles on a synflow-negative mode whose best top-1 is 73.9
(CIFAR-10 signal; 84.7 elsewhere), and phase 2 walks that mode's ranking, which holds nothing better. Two things
make it likely: (1) ``T`` evaluations of which most re-hit a known top-1 (6 to 9 distinct cells in phase 1), and a
single random start; (2) failed metric values (jacob_cov on the 341 cells whose output is disconnected) normalised
to 0, which is the *best* value under a negative weight: such weights spend queries on chance-level cells, and a
best weight with jacob_cov < 0 makes phase 2 walk the broken cells (ImageNet16-120, target signal, seed 6: 13 of
its 20 queries at 0.83 %). The defaults therefore start phase 1 with each metric alone (``init="metrics"``) and
``n_init = 5`` random weights, run ``2T`` evaluations, and count a failed value as the worst under its weight's
sign (``failed="worst"``); `experiments/robot_collapse.py` has the table.

Training-free metric tables for NAS-Bench-201 come from NAS-Bench-Suite-Zero (the benchmark's ``zc_*`` values): see
`nb201_metric_matrix`.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable, Generator
from dataclasses import dataclass, field

import numpy as np
import torch
from botorch.acquisition import UpperConfidenceBound
from botorch.exceptions.errors import ModelFittingError
from botorch.fit import fit_gpytorch_mll
from botorch.generation import gen_candidates_scipy
from botorch.models import SingleTaskGP
from botorch.models.transforms import Normalize, Standardize
from botorch.optim import optimize_acqf
from gpytorch.mlls import ExactMarginalLogLikelihood
from gpytorch.utils.warnings import NumericalWarning

from nag.errors import InvalidChoiceError

__all__ = [
    "ROBOT_METRICS",
    "NORMALISATIONS",
    "ACQ_OPTIMISERS",
    "FAILED_POLICIES",
    "INITS",
    "REFERENCE_OPTIONS",
    "GP_MODELS",
    "SIGNALS",
    "Query",
    "RobotResult",
    "normalise",
    "combined_score",
    "nb201_metric_matrix",
    "nb201_signal",
    "robot_search",
    "robot_steps",
    "signal_ceiling",
    "signal_maximisers",
    "source_weights",
]

#: The six metrics of RoBoT's NAS-Bench-201 runs, and the NAS-Bench-Suite-Zero name of each (``zc_<name>``).
ROBOT_METRICS: dict[str, str] = {
    "grad_norm": "grad_norm",
    "snip": "snip",
    "grasp": "grasp",
    "fisher": "fisher",
    "synflow": "synflow",
    "jacob_cov": "jacov",
}
NORMALISATIONS: tuple[str, ...] = ("minmax", "log", "rank")
ACQ_OPTIMISERS: tuple[str, ...] = ("random_lbfgs", "sobol", "optimize_acqf")
#: ``"reference"``: the GP of the reference's ``bayes_opt`` 1.2.0 (scikit-learn ``GaussianProcessRegressor``:
#: isotropic Matern-5/2, no output scale, standardised targets, fixed noise 1e-6, zero mean; length scale by maximum
#: likelihood in ``[1e-5, 1e5]``), see `_ReferenceGP`; ``"botorch"``: BoTorch's default ``SingleTaskGP`` (ARD,
#: priors, learned noise).
GP_MODELS: tuple[str, ...] = ("reference", "botorch")
#: How a failed metric value (NaN, e.g. jacob_cov on a cell whose output is disconnected from its input) enters the
#: combined score. ``"zero"``: normalised to 0 whatever the sign of its weight (the reference, which skips NaN terms
#: in ``sum_m w_m * metric_m``): under a negative weight a failed value is then the metric's *best*, so such weights
#: rank broken, chance-level cells first. ``"worst"``: the worst value under the weight's sign (0 for ``w_m >= 0``,
#: 1 for ``w_m < 0``), so a failed metric never helps a cell. See `combined_score`.
FAILED_POLICIES: tuple[str, ...] = ("zero", "worst")
#: Phase 1's initial design, see `robot_search`.
INITS: tuple[str, ...] = ("random", "metrics")
#: `robot_search` options that reproduce the reference (``hzf1174/RoBoT``, ``bayes_opt`` 1.2.0) exactly: one random
#: weight, ``T`` BO evaluations, failed values as 0. The defaults differ (``init="metrics"``, ``n_init=5``, ``2T``
#: evaluations, ``failed="worst"``): with the reference's settings one seed in ten collapses, see `robot_search`.
REFERENCE_OPTIONS: dict[str, object] = {
    "normalisation": "minmax",
    "beta": 6.64,
    "n_init": 1,
    "bo_iters_factor": 1.0,
    "acq_optimiser": "random_lbfgs",
    "n_candidates": 10_000,
    "gp": "reference",
    "failed": "zero",
    "init": "random",
}
#: ``"cifar10"``: the RoBoT protocol (CIFAR-10 12-epoch validation accuracy for every target dataset);
#: ``"target"``: the target dataset's own 12-epoch validation accuracy.
SIGNALS: tuple[str, ...] = ("cifar10", "target")


# ---------------------------------------------------------------------------------------------------------- metrics
def nb201_metric_matrix(
    dataset: str = "cifar10",
    metrics: tuple[str, ...] = tuple(ROBOT_METRICS),
    benchmark: object | None = None,
) -> np.ndarray:
    """Training-free metric values of all 15,625 NAS-Bench-201 cells (``M x 15625``, index order; raw values).

    Values are NAS-Bench-Suite-Zero's (``NB201Benchmark`` ``zc_<name>``), looked up by the cell with unreachable
    edges set to ``none`` (the key of its 9,445-row tables). Only CIFAR-10 and ImageNet16-120 have complete tables;
    ``cifar100`` uses the CIFAR-10 values (the metrics are computed on an untrained network, and the two networks
    differ only in the classifier width). Failed values (NAS-Bench-Suite-Zero's -1e8 code, e.g. jacob_cov on the
    341 cells whose output is disconnected from the input) are NaN here; `normalise` sets them to the worst value.

    Args:
        dataset: ``cifar10``, ``cifar100`` or ``ImageNet16-120`` (aliases accepted).
        metrics: names from `ROBOT_METRICS` keys, or any NAS-Bench-Suite-Zero name (``nwot``, ``zen``, ``epe_nas``,
            ``flops``, ``params``, ``l2_norm``, ``plain``).
        benchmark: an ``NB201Benchmark`` to reuse (one is built if None).

    Returns:
        ``M x 15625`` float64 array, NaN where the source has no value.
    """
    from nag.benchmarks import get_benchmark

    bench = benchmark if benchmark is not None else get_benchmark("nb201")
    names = [ROBOT_METRICS.get(m, m) for m in metrics]
    try:
        return bench.metric_matrix(dataset, names)  # type: ignore[attr-defined]
    except InvalidChoiceError as e:  # name the metrics as given, and RoBoT's spellings among the choices
        unknown = [m for m, n in zip(metrics, names, strict=True) if n in e.value]
        raise InvalidChoiceError("metrics", unknown, [*ROBOT_METRICS, *e.accepted]) from None


def nb201_signal(dataset: str, signal: str = "cifar10", benchmark: object | None = None) -> np.ndarray:
    """The search signal for ``dataset`` (``15625`` float64): 12-epoch validation accuracy (%).

    Args:
        dataset: the target dataset.
        signal: ``"cifar10"`` (RoBoT protocol: CIFAR-10 12-epoch validation, ``cifar10valid_val_acc_hp12``, for
            every dataset) or ``"target"`` (the target dataset's own ``val_acc_hp12``).
        benchmark: an ``NB201Benchmark`` to reuse.
    """
    from nag.benchmarks.nb201 import NB201Benchmark

    if signal not in SIGNALS:
        raise InvalidChoiceError("signal", signal, SIGNALS)
    bench = benchmark if benchmark is not None else NB201Benchmark()
    return bench.column("cifar10" if signal == "cifar10" else dataset, "val_acc_hp12")  # type: ignore[attr-defined]


def signal_maximisers(signal: np.ndarray, atol: float = 1e-6) -> np.ndarray:
    """Indices whose ``signal`` is within ``atol`` of its maximum (ascending).

    The tables store accuracies with representation noise (``61.32`` next to ``61.31999993`` for CIFAR-100's two
    best 12-epoch cells), so equal accuracies must be compared with a tolerance.
    """
    sig = np.asarray(signal, dtype=np.float64)
    return np.flatnonzero(sig >= np.nanmax(sig) - atol)


def signal_ceiling(signal: np.ndarray, report: np.ndarray, atol: float = 1e-6) -> tuple[int, float]:
    """An index maximising ``signal`` over the whole space and its ``report`` value (what the signal allows).

    Ties (within ``atol``, see `signal_maximisers`) go to the lowest index.
    """
    i = int(signal_maximisers(signal, atol)[0])
    return i, float(report[i])


def normalise(metrics: np.ndarray, how: str = "minmax") -> np.ndarray:
    """Normalise each metric (row) of an ``M x K`` matrix to ``[0, 1]``.

    * ``"minmax"``: ``(x - min) / (max - min)`` on raw values, as RoBoT's ``search_nb201.py`` does (a constant
      row is left at 0). The reference reads its values from the zero-cost-nas pickles' ``logmeasures`` entry,
      which is where ``nasbench2_pred.py`` stores the raw ``find_measures`` output ("logged measures", no log
      transform), so raw min-max is the reference's preprocessing.
    * ``"log"``: signed log ``sign(x) * log1p(|x|)`` first (tames heavy tails such as grasp and jacob_cov; not
      the reference), then min-max.
    * ``"rank"``: quantile ``rank / (K - 1)`` (average rank for ties): robust to any monotone transform.

    NaN policy: a missing value is the metric's worst, i.e. it becomes 0 after normalisation. The reference skips
    NaN terms when it sums ``w_m * metric_m``, which is the same as a normalised 0 whatever the sign of ``w_m``.

    Args:
        metrics: ``M x K`` raw values (NaN allowed).
        how: one of `NORMALISATIONS`.

    Returns:
        ``M x K`` float64 array in ``[0, 1]``, finite.
    """
    if how not in NORMALISATIONS:
        raise InvalidChoiceError("normalisation", how, NORMALISATIONS)
    x = np.array(metrics, dtype=np.float64, ndmin=2)
    out = np.zeros_like(x)
    for m, row in enumerate(x):
        ok = np.isfinite(row)
        if not ok.any():
            continue
        v = row[ok]
        if how == "log":
            v = np.sign(v) * np.log1p(np.abs(v))
        if how == "rank":
            from scipy.stats import rankdata

            r = rankdata(v, method="average") - 1.0
            out[m, ok] = r / max(len(v) - 1, 1)
            continue
        lo, hi = v.min(), v.max()
        out[m, ok] = (v - lo) / (hi - lo) if hi > lo else 0.0
    return out


def combined_score(
    weights: np.ndarray, normalised: np.ndarray, failed: np.ndarray | None = None
) -> np.ndarray:
    """RoBoT's combined score ``sum_m w_m * normalised_m`` (``K``) for weights ``w`` (``M``).

    Args:
        weights: ``M`` combination weights.
        normalised: ``M x K`` normalised metric values (failed values already 0, see `normalise`).
        failed: optional ``M x K`` boolean mask of failed values (``"worst"`` in `FAILED_POLICIES`): a failed value
            counts as the worst under its weight's sign, 0 for ``w_m >= 0`` and 1 for ``w_m < 0``, i.e. it adds
            ``min(w_m, 0)``. None: failed values stay 0 (the reference).

    Returns:
        ``K`` float64 scores.
    """
    w = np.asarray(weights, dtype=np.float64)
    score = w @ normalised
    if failed is not None:
        score = score + np.minimum(w, 0.0) @ failed
    return score


def _ranking(score: np.ndarray) -> np.ndarray:
    """Indices by descending score; ties go to the lowest index (stable)."""
    return np.argsort(-score, kind="stable")


def source_weights(
    metrics: list[np.ndarray],
    signals: list[np.ndarray],
    n: int = 3,
    seed: int = 0,
    n_candidates: int = 2048,
    normalisation: str = "minmax",
    failed: str = "worst",
) -> np.ndarray:
    """The ``n`` metric-combination weights whose top-1 is best on source tasks (RoBoT's transfer start).

    Each candidate (the ``M`` single-metric axes and ``n_candidates`` uniform weights in ``[-1, 1]^M``, drawn with
    ``seed``) is scored by the mean over sources of the standardised source signal at its top-1 architecture under
    that source's own metric matrix: the weights that would have found a good architecture at once on the other
    tasks. Weights whose top-1s on every source repeat a better weight's are skipped. The source tables are prior knowledge; the target's signal is not read.

    Args:
        metrics: per source, its ``M x K`` raw metric matrix.
        signals: per source, its ``K`` signal (NaN allowed: never a top-1's value).
        n: weights returned, best first.

    Returns:
        ``n x M`` float64 weights.
    """
    rng = np.random.default_rng(seed)
    m = metrics[0].shape[0]
    cand = np.concatenate([np.eye(m), rng.uniform(-1.0, 1.0, (n_candidates, m))])
    score = np.zeros(len(cand))
    tops = np.zeros((len(cand), len(metrics)), dtype=np.int64)
    for s, (raw, sig) in enumerate(zip(metrics, signals, strict=True)):
        raw = np.asarray(raw, dtype=np.float64)
        z = normalise(raw, normalisation)
        fail = ~np.isfinite(raw) if failed == "worst" and not np.isfinite(raw).all() else None
        sig = np.asarray(sig, dtype=np.float64)
        ok = np.isfinite(sig)
        zs = np.where(ok, (sig - np.nanmean(sig)) / (np.nanstd(sig) or 1.0), np.nanmin(sig) - 10.0)
        for i in range(0, len(cand), 256):
            w = cand[i : i + 256]
            sc = w @ z + (np.minimum(w, 0.0) @ fail if fail is not None else 0.0)
            top = np.argmax(sc, 1)
            tops[i : i + 256, s] = top
            score[i : i + 256] += zs[top] / len(metrics)
    out, seen = [], set()
    for j in np.argsort(-score, kind="stable"):  # distinct top-1s: a repeat would be a free re-query
        key = tuple(tops[j])
        if key not in seen:
            seen.add(key)
            out.append(cand[j])
        if len(out) == n:
            break
    return np.stack(out)


# ---------------------------------------------------------------------------------------------------------- search
@dataclass(frozen=True)
class Query:
    """One distinct architecture queried: its index, signal, the number of distinct queries so far, and phase."""

    index: int
    signal: float
    n_queries: int
    phase: str  # "bo" or "greedy"


@dataclass
class RobotResult:
    """Everything a RoBoT run did and found.

    Attributes:
        queries: the distinct architectures queried, in order (``len(queries) <= budget``).
        best_so_far: best signal after each distinct query (``len(queries)``).
        pick: index of the queried architecture with the best signal (first queried on ties).
        pick_signal: its signal.
        weights: ``n_bo_evals x M`` weights evaluated by BO, in order; ``bo_values`` their objective values.
        best_weights: the weight vector with the best objective (the latest on ties, as the reference).
        t0: distinct architectures queried in phase 1 (BO).
        query_cost_s: sum of the per-architecture query cost (``cost`` argument) over queried architectures.
        metric_cost_s: training-free metric compute time for the whole space, or 0.0 when unknown.
        metric_cost_known: whether ``metric_cost_s`` is a real figure.
        rejected: ``(index, queries made before)`` of each architecture ``allowed`` ruled out, in the order it was
            checked (never queried; a search with cheap constraints measures each of them once).
    """

    queries: list[Query]
    best_so_far: list[float]
    pick: int
    pick_signal: float
    weights: np.ndarray
    bo_values: np.ndarray
    best_weights: np.ndarray
    t0: int
    query_cost_s: float = 0.0
    metric_cost_s: float = 0.0
    metric_cost_known: bool = False
    rejected: list[tuple[int, int]] = field(default_factory=list)

    @property
    def queried(self) -> list[int]:
        """Indices of the queried architectures, in order."""
        return [q.index for q in self.queries]

    @property
    def total_cost_s(self) -> float:
        """Query cost plus metric cost (the latter 0 when unknown)."""
        return self.query_cost_s + self.metric_cost_s


class _ReferenceGP:
    """The GP of ``bayes_opt`` 1.2.0, written out in torch (float64): the reference's surrogate, exactly specified.

    ``bayes_opt`` uses scikit-learn's ``GaussianProcessRegressor(kernel=Matern(nu=2.5), alpha=1e-6,
    normalize_y=True, n_restarts_optimizer=5, random_state=<the optimiser's RandomState>)``: zero mean on targets
    standardised with their (population) mean and std; one length scale ``l`` for all inputs and no output scale,
    ``k(r) = (1 + √5 r/l + 5r²/3l²) exp(−√5 r/l)``; ``1e-6`` added to the diagonal; ``θ = log l`` maximising the log
    marginal likelihood by L-BFGS-B within ``[log 1e-5, log 1e5]`` from ``θ = 0`` and from 5 starts drawn uniformly
    from the shared random state (drawn here in the same order, so the stream stays in step with the reference).
    Predictions are the noise-free posterior of ``f`` in the data's units.

    Shapes: ``x``: ``n x M``, ``y``: ``n``; `predict` maps ``q x M`` to mean and std, each ``q``.
    """

    BOUNDS = (math.log(1e-5), math.log(1e5))

    def __init__(
        self, x: torch.Tensor, y: torch.Tensor, rs: np.random.RandomState, alpha: float = 1e-6
    ) -> None:
        from scipy.optimize import minimize

        self.x = x.to(torch.float64)
        y = y.to(torch.float64)
        self.mu = float(y.mean())
        sd = float(y.std(unbiased=False))
        self.sd = sd if math.isfinite(sd) and sd > 0 else 1.0
        self.z = (y - self.mu) / self.sd
        self.alpha = alpha
        self.d2 = torch.cdist(self.x, self.x).pow(2)
        starts = [0.0] + [float(rs.uniform(*self.BOUNDS)) for _ in range(5)]
        best_theta, best_ll = 0.0, self._log_ml(0.0)
        for t0 in starts:
            res = minimize(
                lambda t: -self._log_ml(float(t[0])), [t0], bounds=[self.BOUNDS], method="L-BFGS-B"
            )
            if math.isfinite(float(res.fun)) and -float(res.fun) > best_ll:
                best_theta, best_ll = float(res.x[0]), -float(res.fun)
        self.theta = best_theta
        k = self._k(self.d2, best_theta) + alpha * torch.eye(len(self.z), dtype=torch.float64)
        self.chol = torch.linalg.cholesky(k)
        self.weights = torch.cholesky_solve(self.z.unsqueeze(-1), self.chol).squeeze(-1)

    @staticmethod
    def _k(d2: torch.Tensor, theta: float) -> torch.Tensor:
        r = torch.sqrt(d2.clamp_min(0.0) + 1e-300) * (math.sqrt(5.0) / math.exp(theta))
        return (1.0 + r + r.pow(2) / 3.0) * torch.exp(-r)

    def _log_ml(self, theta: float) -> float:
        n = len(self.z)
        k = self._k(self.d2, theta) + self.alpha * torch.eye(n, dtype=torch.float64)
        chol, info = torch.linalg.cholesky_ex(k)
        if int(info) != 0:
            return -math.inf
        w = torch.cholesky_solve(self.z.unsqueeze(-1), chol).squeeze(-1)
        return float(
            -0.5 * (self.z @ w) - torch.log(torch.diagonal(chol)).sum() - 0.5 * n * math.log(2 * math.pi)
        )

    def predict(self, xq: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and standard deviation of ``f`` at ``xq`` (``q x M`` -> ``q``, ``q``)."""
        ks = self._k(torch.cdist(xq, self.x).pow(2), self.theta)
        mean = ks @ self.weights
        v = torch.linalg.solve_triangular(self.chol, ks.T, upper=False)
        var = (1.0 - v.pow(2).sum(0)).clamp_min(0.0)
        return self.mu + self.sd * mean, self.sd * var.sqrt()


def _reference_next_weight(
    x: torch.Tensor, y: torch.Tensor, kappa: float, rs: np.random.RandomState, n_warmup: int = 10_000
) -> np.ndarray:
    """``bayes_opt`` 1.2.0 ``suggest``: fit `_ReferenceGP`, then ``acq_max`` of UCB ``mean + kappa * std``.

    ``acq_max``: the best of ``n_warmup`` uniform random points in ``[-1, 1]^M``, then L-BFGS-B from 10 uniform
    random starts, whose result replaces it when at least as good; clipped to the bounds. Every random number comes
    from ``rs`` in the reference's order (GP restarts, warm-up points, starts).
    """

    with _one_blas_thread():  # multi-threaded BLAS inside L-BFGS-B is far slower on these tiny problems
        return _reference_acq_max(x, y, kappa, rs, n_warmup)


def _reference_acq_max(
    x: torch.Tensor, y: torch.Tensor, kappa: float, rs: np.random.RandomState, n_warmup: int
) -> np.ndarray:
    from scipy.optimize import minimize

    m = x.shape[-1]
    gp = _ReferenceGP(x, y, rs)

    def ucb(w: torch.Tensor) -> torch.Tensor:
        mean, std = gp.predict(w)
        return mean + kappa * std

    pool = rs.uniform(-1.0, 1.0, size=(n_warmup, m))
    with torch.no_grad():
        vals = ucb(torch.as_tensor(pool))
    i = int(torch.argmax(vals))
    best, best_v = pool[i], float(vals[i])
    starts = rs.uniform(-1.0, 1.0, size=(10, m))

    def neg(w: np.ndarray) -> tuple[float, np.ndarray]:
        t = torch.tensor(w, dtype=torch.float64, requires_grad=True)
        v = ucb(t.unsqueeze(0))[0]
        (g,) = torch.autograd.grad(v, t)
        return -float(v.detach()), -g.numpy()

    for w0 in starts:
        res = minimize(neg, w0, jac=True, bounds=[(-1.0, 1.0)] * m, method="L-BFGS-B")
        if res.success and -float(res.fun) >= best_v:
            best, best_v = res.x, -float(res.fun)
    return np.clip(best, -1.0, 1.0)


def _one_blas_thread():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl ships with scipy's usual installs
        from contextlib import nullcontext

        return nullcontext()
    return threadpool_limits(limits=1)


def _next_weight(
    x: torch.Tensor,
    y: torch.Tensor,
    beta: float,
    acq_optimiser: str,
    n_candidates: int,
    seed: int,
) -> torch.Tensor:
    """Fit BoTorch's ``SingleTaskGP`` to ``(x, y)`` (``n x M``, ``n``); return the UCB maximiser in ``[-1, 1]^M``."""
    m = x.shape[-1]
    bounds = torch.stack([-torch.ones(m, dtype=x.dtype), torch.ones(m, dtype=x.dtype)])
    # the objective is piecewise constant in w (many weights share a top-1), so tiny negative posterior variances
    # are common and harmless; gpytorch rounds them up to 1e-10
    with torch.random.fork_rng(), warnings.catch_warnings():
        warnings.simplefilter("ignore", NumericalWarning)
        torch.manual_seed(seed)
        model = SingleTaskGP(
            x,
            y.unsqueeze(-1),
            input_transform=Normalize(d=m, bounds=bounds),
            outcome_transform=Standardize(m=1),
        )
        mll = ExactMarginalLogLikelihood(model.likelihood, model)
        try:
            fit_gpytorch_mll(mll)
        except ModelFittingError:  # tiny or flat data: keep the prior hyper-parameters
            logging.getLogger(__name__).debug("GP fit failed on %d points; keeping the prior", len(x))
        acq = UpperConfidenceBound(model, beta=beta)
        if acq_optimiser == "optimize_acqf":
            cand, _ = optimize_acqf(
                acq, bounds=bounds, q=1, num_restarts=4, raw_samples=max(n_candidates, 16)
            )
            return cand.squeeze(0).detach()
        if acq_optimiser == "random_lbfgs":
            # as ``bayes_opt`` 1.2.0 ``acq_max`` (see `_reference_next_weight`), on the BoTorch model
            gen = torch.Generator().manual_seed(seed)
            pool = torch.rand(n_candidates, m, generator=gen, dtype=x.dtype) * 2.0 - 1.0
            with torch.no_grad():
                vals = acq(pool.unsqueeze(1))
            i = int(torch.argmax(vals))
            best, best_v = pool[i], float(vals[i])
            starts = torch.rand(10, 1, m, generator=gen, dtype=x.dtype) * 2.0 - 1.0
            cands, cvals = gen_candidates_scipy(starts, acq, lower_bounds=-1.0, upper_bounds=1.0)
            j = int(torch.argmax(cvals))
            if float(cvals[j]) >= best_v:
                best = cands[j].reshape(m)
            return best.detach().clamp(-1.0, 1.0)
        sobol = torch.quasirandom.SobolEngine(m, scramble=True, seed=seed)
        pool = sobol.draw(n_candidates, dtype=x.dtype) * 2.0 - 1.0
        with torch.no_grad():
            vals = acq(pool.unsqueeze(1))
        return pool[int(torch.argmax(vals))]


def robot_search(
    metrics: np.ndarray,
    signal: np.ndarray,
    budget: int,
    seed: int = 0,
    bo_iters: int | None = None,
    normalisation: str = "minmax",
    beta: float = 6.64,
    n_init: int = 5,
    acq_optimiser: str = "random_lbfgs",
    n_candidates: int = 10_000,
    gp: str = "reference",
    cost: np.ndarray | None = None,
    metric_cost_s: float | None = None,
    normalised: bool = False,
    names: tuple[str, ...] | None = None,
    failed: str = "worst",
    bo_iters_factor: float = 2.0,
    init: str = "metrics",
    allowed: Callable[[int], bool | None] | None = None,
    init_weights: np.ndarray | None = None,
) -> RobotResult:
    """Run RoBoT: BO over metric-combination weights, then greedy exploitation; pick the best signal.

    Args:
        metrics: ``M x K`` raw training-free metric values (NaN allowed), or already normalised values when
            ``normalised`` is True.
        signal: ``K`` search signal (e.g. 12-epoch validation accuracy); higher is better; queried by index.
        budget: ``T``, the number of distinct architectures that may be queried (re-queries are free).
        seed: seeds the initial weights, the GP fit and the acquisition's random points; a run is deterministic per
            seed. With the reference GP every random number comes from ``numpy.random.RandomState(seed)`` in
            ``bayes_opt`` 1.2.0's order (initial point, then per iteration 5 GP restarts, 10,000 warm-up points,
            10 L-BFGS-B starts), so seed ``s`` here is the reference's ``random_state=s``.
        bo_iters: objective evaluations in phase 1 (``n_init`` random + GP-guided), stopping early if ``budget``
            distinct architectures are reached. None = ``round(bo_iters_factor * budget)``.
        normalisation: `NORMALISATIONS` entry, see `normalise`.
        beta: UCB's ``beta`` (BoTorch: ``mean + sqrt(beta) * std``); 6.64 = the reference's ``kappa = 2.576``
            squared.
        n_init: random weights (uniform in ``[-1, 1]^M``) before the GP takes over (the reference: 1).
        acq_optimiser: ``"random_lbfgs"`` (the reference's ``bayes_opt`` ``acq_max``: best of ``n_candidates``
            uniform random points, then L-BFGS-B from 10 random starts), ``"sobol"`` (argmax of UCB over
            ``n_candidates`` scrambled Sobol points) or ``"optimize_acqf"`` (BoTorch's multi-start L-BFGS-B).
        n_candidates: random points / Sobol candidates / raw samples for the acquisition optimisation (10,000 =
            ``bayes_opt``'s ``n_warmup``).
        gp: `GP_MODELS` entry: ``"reference"`` (``bayes_opt`` 1.2.0's GP and ``acq_max``, the default; needs
            ``acq_optimiser="random_lbfgs"``) or ``"botorch"`` (BoTorch ``SingleTaskGP`` + ``UpperConfidenceBound``).
        cost: ``K`` per-architecture query cost in seconds (e.g. ``cost_hp12_s``); NaN entries count 0.
        metric_cost_s: time to compute the metrics for the whole space, if known (else reported as 0, unknown).
        normalised: ``metrics`` is already normalised; skip `normalise`.
        names: the metric name of each row. ``bayes_opt`` orders its dimensions by sorted name, which decides
            which random number goes to which weight; with the reference GP, rows are visited in that order.
            ``None``: row order. Reported weights are always in row order.
        failed: `FAILED_POLICIES` entry: how a failed (NaN) metric value enters the combined score; ``"zero"`` is
            the reference, ``"worst"`` never lets a failed value raise a cell (see `combined_score`).
        init: `INITS` entry: ``"random"`` (the reference: ``n_init`` uniform weights) or ``"metrics"`` (first the
            ``M`` weights ``e_m`` of each metric alone, every training-free metric being "higher is better" by
            construction, then ``n_init`` uniform weights); these count among the ``bo_iters`` evaluations.
        allowed: ``index -> bool | None``, whether an architecture meets the cheap constraints (called at most once
            per architecture, lazily, as a measurement would be made): a weight's top-1 is then its best-ranked
            allowed architecture and exploitation skips the others; those measured and ruled out (``False``) are in
            `RobotResult.rejected`, those a model ruled out without a measurement (``None``) are skipped silently.
            ``None``: every architecture is allowed.
        init_weights: ``J x M`` weights evaluated first, before ``init``'s design (e.g. the best weights on source
            tasks, `source_weights`); they count among the ``bo_iters`` evaluations and train the GP like any other.
        bo_iters_factor: phase-1 evaluations per unit of budget when ``bo_iters`` is None; 1.0 is the reference
            (``bayes_opt`` with one random point and ``T - 1`` UCB iterations). An evaluation whose top-1 is
            already queried costs no budget, so the reference often ends phase 1 having seen only 6-9 cells.

    Returns:
        A `RobotResult`.
    """
    sig = np.asarray(signal, dtype=np.float64)
    k = np.asarray(metrics).shape[1] if np.ndim(metrics) == 2 else -1
    if sig.shape != (k,):
        raise ValueError(f"signal: expected shape ({k},), got {sig.shape}")
    if not np.isfinite(sig).all():
        raise ValueError("signal: must be finite for every architecture")
    steps = robot_steps(
        metrics, budget, seed=seed, bo_iters=bo_iters, normalisation=normalisation, beta=beta, n_init=n_init,
        acq_optimiser=acq_optimiser, n_candidates=n_candidates, gp=gp, normalised=normalised, names=names,
        failed=failed, bo_iters_factor=bo_iters_factor, init=init, allowed=allowed, init_weights=init_weights,
    )  # fmt: skip
    try:
        i, _ = next(steps)
        while True:
            i, _ = steps.send(float(sig[i]))
    except StopIteration as stop:
        res: RobotResult = stop.value
    if cost is not None:
        res.query_cost_s = float(np.nansum(np.asarray(cost, dtype=np.float64)[res.queried]))
    res.metric_cost_s = float(metric_cost_s) if metric_cost_s is not None else 0.0
    res.metric_cost_known = metric_cost_s is not None
    return res


def robot_steps(
    metrics: np.ndarray,
    budget: int,
    seed: int = 0,
    bo_iters: int | None = None,
    normalisation: str = "minmax",
    beta: float = 6.64,
    n_init: int = 5,
    acq_optimiser: str = "random_lbfgs",
    n_candidates: int = 10_000,
    gp: str = "reference",
    normalised: bool = False,
    names: tuple[str, ...] | None = None,
    failed: str = "worst",
    bo_iters_factor: float = 2.0,
    init: str = "metrics",
    allowed: Callable[[int], bool | None] | None = None,
    init_weights: np.ndarray | None = None,
) -> Generator[tuple[int, str], float, RobotResult]:
    """RoBoT as a coroutine: yields ``(index, phase)`` of each distinct architecture to query and is sent back its
    signal; returns the `RobotResult` (``query_cost_s`` / ``metric_cost_s`` left at 0). `robot_search` drives it on
    a signal table; `bo.baselines.RobotMethod` drives it online, one trained query at a time. Arguments as in
    `robot_search`; every random number comes from ``seed``, so the same signals give the same run.
    """
    if budget < 1:
        raise ValueError(f"budget: must be >= 1, got {budget}")
    if acq_optimiser not in ACQ_OPTIMISERS:
        raise InvalidChoiceError("acq_optimiser", acq_optimiser, ACQ_OPTIMISERS)
    if gp not in GP_MODELS:
        raise InvalidChoiceError("gp", gp, GP_MODELS)
    if gp == "reference" and acq_optimiser != "random_lbfgs":
        raise InvalidChoiceError("acq_optimiser (with gp='reference')", acq_optimiser, ("random_lbfgs",))
    if init not in INITS:
        raise InvalidChoiceError("init", init, INITS)
    if failed not in FAILED_POLICIES:
        raise InvalidChoiceError("failed", failed, FAILED_POLICIES)
    raw = np.asarray(metrics, dtype=np.float64)
    z = np.nan_to_num(raw, nan=0.0) if normalised else normalise(raw, normalisation)
    fail_mask = ~np.isfinite(raw) if failed == "worst" and not np.isfinite(raw).all() else None
    n_metrics, k = z.shape
    if names is not None and len(names) != n_metrics:
        raise ValueError(f"names: expected {n_metrics} names, got {len(names)}")
    budget = min(budget, k)
    if bo_iters_factor <= 0 or not math.isfinite(bo_iters_factor):
        raise ValueError(f"bo_iters_factor: must be a finite number > 0, got {bo_iters_factor}")
    n_evals = max(1, round(bo_iters_factor * budget)) if bo_iters is None else bo_iters
    rng = np.random.default_rng(seed)
    rs = np.random.RandomState(seed)  # the reference's stream (bayes_opt random_state=seed)
    order = np.argsort(np.asarray(names), kind="stable") if names is not None else np.arange(n_metrics)

    queries: list[Query] = []
    seen: set[int] = set()
    checked: dict[int, bool] = {}
    rejected: list[tuple[int, int]] = []

    def ok(i: int) -> bool:
        if allowed is None:
            return True
        if i not in checked:
            verdict = allowed(i)
            checked[i] = bool(verdict)
            if verdict is False:
                rejected.append((i, len(queries)))
        return checked[i]

    def top_of(score: np.ndarray) -> int | None:
        for i in _ranking(score):
            if ok(int(i)):
                return int(i)
        return None

    known: dict[int, float] = {}  # re-queries are free: a queried architecture's signal is remembered

    ws: list[np.ndarray] = []
    ys: list[float] = []
    best_w, best_y = None, -math.inf
    n_axes = n_metrics if init == "metrics" else 0
    pre = np.zeros((0, n_metrics)) if init_weights is None else np.asarray(init_weights, dtype=np.float64)
    if pre.ndim != 2 or pre.shape[1] != n_metrics:
        raise ValueError(f"init_weights: expected shape (J, {n_metrics}), got {pre.shape}")
    for step in range(n_evals):
        if len(seen) >= budget:
            break
        it = step - len(pre)  # the index in ``init``'s design and the GP's iterations
        if it < 0:
            w = pre[step]
        elif it < n_axes:  # each metric alone, higher is better: the single-metric rankings
            w = np.eye(n_metrics)[it]
        elif (
            gp == "reference"
        ):  # weights live in bayes_opt's dimension order (``order``), reported in row order
            if it < n_axes + n_init:
                w_bo = rs.uniform(-1.0, 1.0, n_metrics)
            else:
                x = torch.as_tensor(np.stack(ws)[:, order], dtype=torch.float64)
                y = torch.as_tensor(ys, dtype=torch.float64)
                w_bo = _reference_next_weight(x, y, math.sqrt(beta), rs, n_candidates)
            w = np.empty(n_metrics)
            w[order] = w_bo
        elif it < n_axes + n_init:
            w = rng.uniform(-1.0, 1.0, n_metrics)
        else:
            x = torch.as_tensor(np.stack(ws), dtype=torch.float64)
            y = torch.as_tensor(ys, dtype=torch.float64)
            w = _next_weight(x, y, beta, acq_optimiser, n_candidates, seed * 100_003 + step).numpy()
        top = top_of(combined_score(w, z, fail_mask))
        if top is None:  # nothing meets the constraints
            break
        if top not in seen:
            seen.add(top)
            known[top] = float((yield top, "bo"))
            queries.append(Query(top, known[top], len(queries) + 1, "bo"))
        val = known[top]
        ws.append(w)
        ys.append(val)
        if val >= best_y:  # the latest best on ties, as the reference
            best_w, best_y = w, val
    t0 = len(seen)

    if best_w is None:  # no BO evaluation (bo_iters == 0): exploit the equal-weight combination
        best_w = np.ones(n_metrics)
    for i in _ranking(combined_score(best_w, z, fail_mask)):
        if len(seen) >= budget:
            break
        if ok(int(i)) and int(i) not in seen:
            seen.add(int(i))
            known[int(i)] = float((yield int(i), "greedy"))
            queries.append(Query(int(i), known[int(i)], len(queries) + 1, "greedy"))
    if not queries:
        raise ValueError("allowed: no architecture meets the constraints")

    best_so_far = np.maximum.accumulate([q.signal for q in queries]).tolist()
    pick = max(queries, key=lambda q: q.signal)  # first queried on ties
    return RobotResult(
        queries=queries,
        best_so_far=best_so_far,
        pick=pick.index,
        pick_signal=pick.signal,
        weights=np.stack(ws) if ws else np.zeros((0, n_metrics)),
        bo_values=np.asarray(ys),
        best_weights=np.asarray(best_w),
        t0=t0,
        rejected=rejected,
    )
