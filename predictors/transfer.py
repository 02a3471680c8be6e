"""Transferable accuracy priors: what other tasks' tables say about a new task, adapted from its first queries.

A *task* is one (search space, dataset) pair with a labelled metric (NAS-Bench-201: a dataset's 12-epoch validation
accuracy over all 15,625 cells; NAS-Bench-Graph: a dataset's validation performance). A transfer prior is built from
*source* tasks' whole tables (prior knowledge, charged once as ``build_s``) and adapted to a *target* task from the
``k`` architectures queried on it so far; the target's own table is never read. Every prior gives a predictive mean
and variance in the target's unit, for any cell of the space (``posterior_indices``) and, differentiably, for
(relaxed) `ArchGraph` batches (``posterior_graph``, for guidance). `bo.transfer.TransferSurrogate` wraps them in the
`bo.surrogate.Surrogate` interface.

Three priors are compared (``experiments/transfer_nb201.py --part prior``):

* `MetaGraphPrior` (a) — the meta-learned Bayesian linear head of `predictors.latency.MetaLatencyPrior`, applied to
  accuracy: each source's standardised column is ridge-regressed on differentiable graph features
  (`graph_basis`); the target's weights get the prior ``N(mean_t w_t, Cov_t(w_t) + jitter)``.
* `RGPE` (b) — the ranking-weighted Gaussian-process ensemble of Feurer, Letham & Bakshy ("Scalable Meta-Learning
  for Bayesian Optimization using Ranking-Weighted Gaussian Process Ensembles", AutoML 2018): per-source base models
  (here the source tables themselves, standardised) and a target model (Bayesian linear on the graph features), each
  weighted by how often it has the lowest pairwise ranking loss on the target's queried points (posterior samples,
  leave-one-out for the target model).
* `SourceValuePrior` (d, kept as the default) — hierarchical Bayesian linear regression whose features are the source
  tasks' standardised values of the cell plus the graph features for what they miss:
  ``y = a + s · (Σ_t b_t z_t(x) + g(x) · w) + ε``. The prior on ``(b, w)`` is meta-learnt by leave-one-source-out:
  each source is regressed on the others and the graph features; the mean and spread of those fits give the prior
  mean (equal source weights summing to the typical total weight) and covariance. On graphs (no table row) the
  source values are replaced by each source's ridge model on the graph features. A second, *target-only* hypothesis
  (prior probability `SourceValuePrior.target_only_prior`, 0.1: the sources say nothing, a broad prior on the graph
  features alone) competes by marginal likelihood, so that labels an unrelated source does not explain hand the
  posterior to the target's own data (`SourceValuePrior.source_weight`; diffusion-BO's ``transfer_fallback``).
  With two or more sources, one more hypothesis per source — the target follows that source alone (prior mass
  `SourceValuePrior.single_source_prior` = 0.25 of the transfer hypotheses', split evenly) — lets Thompson draws try
  the source the pooled consensus outvotes (`SourceValuePrior.hypothesis_weights`). NB201 leave-one-dataset-out, 10
  seeds, 12-epoch maximum within 5 queries: CIFAR-10 / CIFAR-100 / ImageNet16-120 9 / 3 / 10 (without: 10 / 0 / 9;
  share 0.5: 10 / 4 / 8), mean queries to it 4.3 / 9.6 / 3.7 (5.0 / 13.7 / 3.8). NAS-Bench-Graph (8 sources) pick@10
  equal or higher on 6 of 9 targets, 4 of 9 within 0.1 either way; TransNAS micro pick@20 within 0.04 of the
  pooled-only prior on every task; guided generation ImageNet16-120 k = 5 top-5% share 0.897 (0.905 without)
  (`experiments/transfer_*.py --single-source-prior`).

Why (d): NB201 leave-one-dataset-out, 10 draws of k random target labels (``experiments/transfer_nb201.py --part
prior``), Spearman at k = 0 / 20 over all 15,625 cells: (d) .968/.969 CIFAR-10, .971/.972 CIFAR-100, .945/.943
ImageNet16-120, share within 2 sd .91-.94 at k = 20; (a) only .86/.85/.85 (a linear head on graph features loses
what the source tables know exactly), top-5% recall .66-.76 against (d)'s .90-.92; (b) ranks like (d) (.973/.973/.937
at k = 20) but its variance is the target model's alone, weighted by its share (0 while sources win): within 2 sd
0-5%, unusable as a BO posterior. (c) BoTorch ``MultiTaskGP`` was not run (an exact GP over 2 x 15,625 source points
needs subsampling); (d) is its linear-kernel analogue with the source tasks as complete observations.

Every prior averages its predictions over a grid of (target scale ``s``, prior scale ``c``, noise ``σ²``) weighted by
the marginal likelihood of the ``k`` target points (Bayesian model averaging); the intercept ``a`` has a broad
Gaussian prior around the sources' mean. With ``k = 0`` the mean is the sources' consensus and the variance the
prior's. The grid's small ``c`` (0.01, 0.0625) lets a few noisy labels set the level and scale without bending the
sources' ranking of the top: share of the prior's top 100 NB201 cells in ImageNet16-120's true top 5% after 5 random
12-epoch labels 0.82 (worst draw 0.26) with ``c`` from 0.25 up, 0.89 (0.55) with them; CIFAR-100 0.94 → 0.98.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import torch

from nag.errors import InvalidChoiceError

__all__ = [
    "TransferTask",
    "PRIORS",
    "DEFAULT_PRIOR",
    "source_metric",
    "check_sources",
    "graph_basis",
    "space_basis",
    "TransferPrior",
    "MetaGraphPrior",
    "RGPE",
    "SourceValuePrior",
    "build_prior",
    "evaluate_prior",
]

#: The priors `build_prior` knows, by name.
PRIORS: tuple[str, ...] = ("source", "meta", "rgpe")
#: The prior kept for search and generation (see the module docstring and ``experiments/transfer_nb201.py``).
DEFAULT_PRIOR = "source"

_SCALE_GRID = (0.5, 0.71, 1.0, 1.41, 2.0)  # target sd relative to the sources' median sd
_C_GRID = (0.01, 0.0625, 0.25, 1.0, 4.0)  # small c: k labels may not bend the sources' top ranking
_NOISE_GRID = (0.01, 0.03, 0.1, 0.3, 1.0)  # noise variance in units of s²
_INTERCEPT_SD = 3.0  # intercept prior sd in units of the sources' median sd


# ---------------------------------------------------------------------------------------------------------- tasks
def source_metric(space: str) -> str:
    """The labelled metric a task of ``space`` is read by: the benchmark's default search signal (NAS-Bench-201
    ``val_acc_hp12``, NAS-Bench-Graph ``val_perf``)."""
    from nag.benchmarks import get_spec

    spec = get_spec(space)
    return spec.signals[spec.default_signal][1]


@dataclass(frozen=True)
class TransferTask:
    """One labelled column of a benchmark: a source or target task.

    Attributes:
        space: search space name (``nb201``, ``nasbench_graph``, ``transnas101_micro``, ...).
        dataset: the benchmark's dataset name.
        metric: the column (default: `source_metric`).
    """

    space: str
    dataset: str
    metric: str = ""

    def __post_init__(self) -> None:
        if not self.metric:
            object.__setattr__(self, "metric", source_metric(self.space))

    def values(self) -> np.ndarray:
        """The column over the space's enumeration (float64, NaN where unlabelled).

        A benchmark whose columns run over the task's labelled architectures (`BenchmarkSpec.index` ``"labelled"``,
        e.g. TransNAS-Bench-101's 711 of 4,096 micro cells) is scattered to their `index` in the enumeration.
        """
        from nag.benchmarks import get_benchmark

        bench = get_benchmark(self.space)
        if bench.spec.index != "labelled":
            return np.asarray(bench.column(self.dataset, self.metric), dtype=np.float64)
        from nag.spaces import get_space

        sp = get_space(self.space)
        out = np.full(sp.size, np.nan)
        idx = np.array([sp.index(a) for a in bench.labelled(self.dataset)], dtype=np.int64)
        out[idx] = bench.labelled_column(self.dataset, self.metric)
        return out

    def __str__(self) -> str:
        return f"{self.space}/{self.dataset}/{self.metric}"


def check_sources(space: str, target: str | None, sources: Sequence[str] | str) -> list[str]:
    """Resolve source dataset names of ``space`` for a target, with one-line errors naming ``transfer_from``.

    Args:
        space: the search space.
        target: the target dataset (``None``: no target to exclude).
        sources: dataset names or aliases (a list, or comma-separated text).

    Returns:
        The resolved source dataset names, in order, without duplicates.

    Raises:
        InvalidChoiceError: (field ``transfer_from``) no source, an unknown name, a dataset of another space, or the
            target itself.
    """
    from nag.benchmarks import BENCHMARKS, get_benchmark

    bench = get_benchmark(space)
    tgt = bench.resolve_dataset(target) if target is not None else None
    accepted = [d for d in bench.datasets() if d != tgt]
    if isinstance(sources, str):
        sources = [s.strip() for s in sources.split(",") if s.strip()]
    if not sources:
        raise InvalidChoiceError("transfer_from", "", accepted)
    out: list[str] = []
    for s in sources:
        try:
            d = bench.resolve_dataset(s)
        except InvalidChoiceError:
            other = [sp for sp in BENCHMARKS if sp != space and _has_dataset(sp, s)]
            value = f"{s} (a {other[0]} task, not {space})" if other else s
            raise InvalidChoiceError("transfer_from", value, accepted) from None
        if d == tgt:
            raise InvalidChoiceError("transfer_from", f"{s} (the target itself)", accepted)
        if d not in out:
            out.append(d)
    return out


def _has_dataset(space: str, name: str) -> bool:
    from nag.benchmarks import get_spec

    try:
        spec = get_spec(space)
        names = {n.lower() for n in (*spec.datasets, *dict(spec.dataset_aliases))}
        return name.lower() in names
    except Exception:  # a benchmark without a spec entry for datasets: not this one
        return False


# ---------------------------------------------------------------------------------------------------------- features
def graph_basis(space: str, X: torch.Tensor, A: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Differentiable ``B x P`` features of (relaxed) architecture graphs of ``space``.

    NAS-Bench-201: `predictors.latency.nb201_latency_features` of order 2 (intercept, per-edge operation, pairwise
    edge-operation products; 265 columns). Other spaces: ``[1, masked op one-hots (N·V), upper adjacency]``.
    """
    if space == "nb201":
        from predictors.latency import nb201_latency_features

        return nb201_latency_features(X, 2)
    b, n, _ = X.shape
    Xm = X * mask[..., None].to(X.dtype)
    iu = torch.triu_indices(n, n, 1, device=A.device)
    return torch.cat([torch.ones(b, 1, dtype=X.dtype, device=X.device), Xm.reshape(b, -1),
                      A[:, iu[0], iu[1]].to(X.dtype)], 1)  # fmt: skip


@cache
def _space_basis(space: str) -> np.ndarray:
    from nag.spaces import get_space

    sp = get_space(space)
    archs = list(sp.enumerate())
    out = []
    for i in range(0, len(archs), 4096):
        g = sp.encode(archs[i : i + 4096])
        out.append(graph_basis(space, g.X.double(), g.A.double(), g.mask).numpy())
    F = np.concatenate(out)
    F.flags.writeable = False
    return F


def space_basis(space: str) -> np.ndarray:
    """`graph_basis` of every architecture of an enumerable space, in enumeration (table) order (cached)."""
    return _space_basis(space)


def _ridge(F: np.ndarray, y: np.ndarray, ridge: float) -> np.ndarray:
    pen = np.full(F.shape[1], ridge * len(y))
    pen[0] = 0.0  # column 0 is the intercept
    return np.linalg.solve(F.T @ F + np.diag(pen), F.T @ y)


@dataclass(frozen=True)
class _Source:
    """A source task read once: standardised values over the space (imputed where unlabelled) and its ridge model."""

    task: TransferTask
    z: np.ndarray  # n, standardised (NaN rows imputed by the ridge model)
    labelled: np.ndarray  # n booleans: rows the source's table labels (the others are imputed)
    w: np.ndarray  # P ridge weights of z on the graph basis
    mean: float
    sd: float


@cache
def _read_source(task: TransferTask, ridge: float = 1e-4) -> _Source:
    F = space_basis(task.space)
    v = task.values()
    ok = np.isfinite(v)
    mean, sd = float(v[ok].mean()), float(v[ok].std()) or 1.0
    z = (v - mean) / sd
    w = _ridge(F[ok], z[ok], ridge)
    z = np.where(ok, z, F @ w)
    z.flags.writeable = False
    ok.flags.writeable = False
    return _Source(task, z, ok, w, mean, sd)


# ---------------------------------------------------------------------------------------------------------- GP core
class _LinearGP:
    """A Bayesian linear model ``y = a + s·(φ m_h + φ u) + ε``, ``u ~ N(0, c·C_h)``, ``a ~ N(a0, A²)``,
    ``ε ~ N(0, s²σ²)``, in function space, averaged over hypotheses ``h`` (each a prior mean ``m_h`` and factor
    ``L_h``, ``C_h = L_h L_hᵀ``, with a prior probability) and a (s, c, σ²) grid by marginal likelihood.

    ``φ`` is any feature map (given per call as matrices). With one hypothesis this is the plain hierarchical model;
    `SourceValuePrior` adds one hypothesis per source (the target follows that source) and a *target-only*
    hypothesis (the sources say nothing: a broad prior on the graph features alone), so that a source that does not
    rank the target is outweighed by the target's own labels instead of steering the search (negative transfer
    bounded). ``fallbacks`` (indices into the hypotheses, 0 = the model as built) are drawn by `sample` only while
    the labels favour them most.
    """

    def __init__(
        self,
        m: np.ndarray,
        L: np.ndarray,
        a0: float,
        s0: float,
        alternatives: Sequence[tuple[np.ndarray, np.ndarray, float]] = (),
        fallbacks: Sequence[int] = (),
    ) -> None:
        rest = sum(pr for _, _, pr in alternatives)
        if not 0.0 <= rest < 1.0:
            raise ValueError(f"alternatives: prior probabilities must sum below 1, got {rest}")
        self.hyps = [(m, L, 1.0 - rest), *alternatives]
        # hypotheses `sample` draws from only while they are the most probable
        self.fallbacks = frozenset(fallbacks)
        self.m, self.L, self.a0, self.s0 = m, L, a0, s0
        self.A2 = (_INTERCEPT_SD * s0) ** 2
        self.grid = [(h, s * s0, c, n) for h in range(len(self.hyps)) for s in _SCALE_GRID for c in _C_GRID
                     for n in _NOISE_GRID]  # fmt: skip
        self.Phi_t = np.zeros((0, len(m)))
        self.y = np.zeros(0)
        self._fit: list[tuple[float, np.ndarray, np.ndarray]] = []  # (log weight, alpha, K^-1) per grid point

    def fit(self, Phi_t: np.ndarray, y: np.ndarray) -> _LinearGP:
        self.Phi_t, self.y = Phi_t, y
        k = len(y)
        per_h = []
        for m, L, _ in self.hyps:
            TL = Phi_t @ L
            per_h.append((TL @ TL.T if k else np.zeros((0, 0)), Phi_t @ m))
        fits = []
        for h, s, c, n2 in self.grid:
            if k == 0:
                fits.append((math.log(self.hyps[h][2]), np.zeros(0), np.zeros((0, 0))))
                continue
            G, mu = per_h[h]
            K = s * s * (c * G + n2 * np.eye(k)) + self.A2
            Lk = np.linalg.cholesky(K)
            Kinv = np.linalg.solve(Lk.T, np.linalg.solve(Lk, np.eye(k)))
            r = y - self.a0 - s * mu
            alpha = Kinv @ r
            lw = -0.5 * r @ alpha - np.log(np.diag(Lk)).sum() + math.log(self.hyps[h][2])
            fits.append((float(lw), alpha, Kinv))
        lw = np.array([f[0] for f in fits])
        p = np.exp(lw - lw.max())
        self.p = p / p.sum()
        self._fit = fits
        return self

    def hypothesis_weights(self) -> np.ndarray:
        """Posterior probability of each hypothesis (the first: the model as built; then the alternatives)."""
        w = np.zeros(len(self.hyps))
        for (h, *_), pg in zip(self.grid, self.p, strict=True):
            w[h] += pg
        return w

    def sample(
        self, Phi: np.ndarray, rng: np.random.Generator, n: int = 1, temperature: float = 1.0
    ) -> np.ndarray:
        """``n x R`` joint posterior draws of the function at rows ``Phi`` (``R x D``), in weight space: a hypothesis
        and grid point by posterior weight, then ``(a, v)`` from their Gaussian posterior (``u = sqrt(c) L v``).
        ``temperature`` scales each draw's deviation from its grid point's posterior mean (0: the mean).

        A fallback hypothesis is drawn only while it is the most probable one, and then alone: a 10 % target-only
        draw at k = 0 would be a flat mean (an arbitrary query), and a transfer draw once the labels reject the
        sources a wasted one. Otherwise the draw is among the other hypotheses by their posterior weight (Thompson
        sampling over which sources the target follows)."""
        out = np.empty((n, len(Phi)))
        k = len(self.y)
        cache: dict[int, tuple[np.ndarray, ...]] = {}
        best = int(np.argmax(self.hypothesis_weights()))
        allowed = {best} if best in self.fallbacks else set(range(len(self.hyps))) - self.fallbacks
        p = np.where([g[0] in allowed for g in self.grid], self.p, 0.0)
        p = p / p.sum()
        for j in range(n):
            h, s, c, n2 = self.grid[rng.choice(len(self.grid), p=p)]
            if h not in cache:
                m, L, _ = self.hyps[h]
                d = L.shape[1]
                TL = self.Phi_t @ L if k else np.zeros((0, d))
                tm = self.Phi_t @ m if k else np.zeros(0)
                cache[h] = (Phi @ L, Phi @ m, TL, tm)
            PL, mu, TL, tm = cache[h]
            d = PL.shape[1]
            # z = (a, v): prior N((a0, 0), diag(A2, I)); y = a + s (tm + sqrt(c) TL v) + eps, eps ~ N(0, s^2 n2)
            H = np.concatenate([np.ones((k, 1)), s * math.sqrt(c) * TL], 1)
            prec = np.diag(np.concatenate([[1.0 / self.A2], np.ones(d)]))
            rhs = np.concatenate([[self.a0 / self.A2], np.zeros(d)])
            if k:
                prec = prec + H.T @ H / (s * s * n2)
                rhs = rhs + H.T @ (self.y - s * tm) / (s * s * n2)
            Lp = np.linalg.cholesky(prec)
            mean = np.linalg.solve(Lp.T, np.linalg.solve(Lp, rhs))
            z = mean + temperature * np.linalg.solve(Lp.T, rng.standard_normal(d + 1))
            out[j] = z[0] + s * (mu + math.sqrt(c) * PL @ z[1:])
        return out

    def predict(self, Phi: np.ndarray | torch.Tensor) -> tuple[Any, Any]:
        """Mixture mean and variance at rows ``Phi`` (numpy, or torch: differentiable)."""
        tt = isinstance(Phi, torch.Tensor)
        lib = torch if tt else np

        def T(a: np.ndarray) -> Any:
            return torch.as_tensor(a, dtype=Phi.dtype, device=Phi.device) if tt else a

        per_h: dict[int, tuple[Any, ...]] = {}
        means, m2 = 0.0, 0.0
        for (h, s, c, n2), pg, (_, alpha, Kinv) in zip(self.grid, self.p, self._fit, strict=True):
            if pg < 1e-6:
                continue
            if h not in per_h:
                m, L, _ = self.hyps[h]
                PL = Phi @ T(L)
                Kct = PL @ T((self.Phi_t @ L).T) if len(self.y) else None
                per_h[h] = ((PL * PL).sum(1), Phi @ T(m), Kct)
            kdiag, mu, Kct = per_h[h]
            mean = self.a0 + s * mu
            var = s * s * (c * kdiag + n2) + self.A2
            if Kct is not None:
                Kx = s * s * c * Kct + self.A2
                mean = mean + Kx @ T(alpha)
                var = var - ((Kx @ T(Kinv)) * Kx).sum(1)
            var = lib.clip(var, 1e-12, None) if not tt else var.clamp(min=1e-12)
            means = means + pg * mean
            m2 = m2 + pg * (var + mean * mean)
        var = m2 - means * means
        return means, (var.clamp(min=1e-12) if tt else np.clip(var, 1e-12, None))


# ---------------------------------------------------------------------------------------------------------- priors
class TransferPrior(ABC):
    """A prior over a target task's metric built from source tasks of the same space, adapted from ``k`` labels.

    Attributes:
        space: the search space.
        sources: the source tasks.
        build_s: seconds spent reading the sources and meta-learning (prior knowledge, charged once).
    """

    name: str

    def __init__(self, space: str, sources: Sequence[TransferTask]) -> None:
        if not sources:
            raise InvalidChoiceError("transfer_from", "", ["at least one source task"])
        for t in sources:
            if t.space != space:
                raise InvalidChoiceError("transfer_from", f"{t} (another space)", [f"a {space} task"])
        t0 = time.perf_counter()
        self.space = space
        self.sources = list(sources)
        self.src = [_read_source(t) for t in self.sources]
        self.F = space_basis(space)
        self.s0 = float(np.median([s.sd for s in self.src]))
        self.a0 = float(np.mean([s.mean for s in self.src]))
        self._build()
        self.fit_indices(np.zeros(0, dtype=np.int64), np.zeros(0))
        self.build_s = time.perf_counter() - t0

    @abstractmethod
    def _build(self) -> None:
        """Meta-learn from ``self.src`` (never from the target)."""

    @abstractmethod
    def fit_indices(self, idx: np.ndarray, y: np.ndarray) -> TransferPrior:
        """Adapt to the target from ``k`` labelled cells (enumeration indices ``idx``, values ``y``)."""

    @abstractmethod
    def posterior_indices(self, idx: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(mean, variance)`` at enumeration indices (``None``: every cell), in the target's unit."""

    @abstractmethod
    def posterior_graph(
        self, X: torch.Tensor, A: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mean, variance)`` (``B`` each) at (relaxed) graphs, differentiable in ``X`` and ``A``."""

    def sample_indices(
        self, idx: np.ndarray | None, rng: np.random.Generator, n: int = 1, temperature: float = 1.0
    ) -> np.ndarray:
        """``n x R`` joint posterior draws at enumeration indices (``None``: every cell), for Thompson sampling.

        Raises:
            NotImplementedError: a prior without a joint posterior (`RGPE`).
        """
        gp = getattr(self, "gp", None)
        if gp is None:
            raise NotImplementedError(f"{type(self).__name__} has no joint posterior to sample")
        return gp.sample(self._phi(idx), rng, n, temperature)

    def _phi(self, idx: np.ndarray | None) -> np.ndarray:
        return self.F if idx is None else self.F[np.asarray(idx, dtype=np.int64)]

    def describe(self) -> dict[str, Any]:
        """What the prior was built from: its kind, the source tasks and the build time (for reports)."""
        return {"prior": self.name, "sources": [str(t) for t in self.sources], "build_s": self.build_s}


def _factor(cov: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh((cov + cov.T) / 2)
    return vecs * np.sqrt(np.clip(vals, 0.0, None))


def _jittered_cov(W: np.ndarray, jitter_share: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean and ``cov + diag(jitter)`` of the rows of ``W`` (``T x P``); jitter = share of the mean variance, never 0."""
    mean = W.mean(0)
    D = W - mean
    cov = D.T @ D / max(len(W) - 1, 1)
    scale = float(np.mean(np.diag(cov))) or float(np.mean(W**2)) or 1.0
    return mean, cov + np.eye(W.shape[1]) * jitter_share * scale


class MetaGraphPrior(TransferPrior):
    """(a) Meta-learned Bayesian linear head on `graph_basis` (as `predictors.latency.MetaLatencyPrior`)."""

    name = "meta"

    def _build(self, jitter_share: float = 0.1) -> None:
        W = np.stack([s.w for s in self.src])
        m, cov = _jittered_cov(W, jitter_share)
        self.gp = _LinearGP(m, _factor(cov), self.a0, self.s0)

    def fit_indices(self, idx: np.ndarray, y: np.ndarray) -> MetaGraphPrior:
        self.gp.fit(self.F[np.asarray(idx, dtype=np.int64)], np.asarray(y, dtype=np.float64))
        return self

    def posterior_indices(self, idx: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        return self.gp.predict(self.F if idx is None else self.F[np.asarray(idx, dtype=np.int64)])

    def posterior_graph(self, X, A, mask):
        return self.gp.predict(graph_basis(self.space, X.double(), A.double(), mask))


_TARGET_ONLY = "target only"  # `SourceValuePrior`'s name for the hypothesis that no source transfers


class SourceValuePrior(TransferPrior):
    """(d) Hierarchical Bayesian linear regression on the sources' standardised values plus the graph basis."""

    name = "source"
    #: Prior probability of the target-only hypothesis (no source transfers); 0 turns it off.
    target_only_prior: float = 0.1
    #: Share of the transfer hypotheses' prior probability on "the target follows one source" (split evenly over the
    #: sources; the rest on the pooled model); 0 turns them off. Only with two or more sources. 0.25: measured best
    #: of 0 / 0.25 / 0.5 / 0.75 over the NB201, NAS-Bench-Graph and TransNAS leave-one-out studies (module docstring).
    single_source_prior: float = 0.25

    @classmethod
    def settings(cls) -> dict[str, float]:
        """The class-level settings a run depends on (experiments key their caches by them)."""
        return {"target_only_prior": cls.target_only_prior, "single_source_prior": cls.single_source_prior}

    def _build(self, jitter_share: float = 0.1, ridge: float = 1e-3) -> None:
        S = len(self.src)
        Z = np.stack([s.z for s in self.src], 1)  # n x S
        P = self.F.shape[1]
        if S >= 2:  # leave one source out: how a task is explained by the others and the graph
            totals, resid = [], []
            # labelled by every source: none imputed
            rows = np.logical_and.reduce([s.labelled for s in self.src])
            Fr, Zr = self.F[rows], Z[rows]
            for t in range(S):
                others = [j for j in range(S) if j != t]
                D = np.concatenate([Fr[:, :1], Zr[:, others], Fr[:, 1:]], 1)
                coef = _ridge(D, Zr[:, t], ridge)
                totals.append(coef[1 : 1 + len(others)].sum())
                resid.append(np.concatenate([coef[:1], coef[1 + len(others) :]]))
            total = float(np.clip(np.mean(totals), 0.5, 1.0))
            mw, covw = _jittered_cov(np.stack(resid), jitter_share)
        else:
            total = 1.0
            mw = np.zeros(P)
            covw = np.eye(P) * jitter_share * float(np.mean(self.src[0].w[1:] ** 2))
        mb = np.full(S, total / S)
        covb = np.eye(S) * (total / S) ** 2  # each source's weight may move by its own size
        m = np.concatenate([mb, mw])
        cov = np.zeros((S + P, S + P))
        cov[:S, :S] = covb
        cov[S:, S:] = covw
        self.Z = Z
        if not 0.0 <= self.single_source_prior < 1.0:
            raise ValueError(f"single_source_prior: a share in [0, 1), got {self.single_source_prior}")
        L = _factor(cov)
        alternatives = []
        self._hypotheses = ["pooled"]  # names of the hypotheses, in `_LinearGP` order
        if (
            S >= 2 and self.single_source_prior > 0
        ):  # the target follows one source (Thompson draws pick which)
            share = (1.0 - self.target_only_prior) * self.single_source_prior / S
            for t, task in enumerate(self.sources):
                mt = m.copy()
                mt[:S] = 0.0
                mt[t] = total
                alternatives.append((mt, L, share))
                self._hypotheses.append(f"only {task}")
        if self.target_only_prior > 0:  # the sources say nothing: a broad prior on the graph features alone
            Fg = self.F[:, 1:]
            scale = 1.0 / max(float(np.mean((Fg * Fg).sum(1))), 1e-12)  # prior variance of φ·u ≈ 1 (units s²)
            L0 = np.zeros((S + P, S + P))
            L0[S + 1 :, S + 1 :] = np.eye(P - 1) * math.sqrt(scale)
            alternatives.append((np.zeros(S + P), L0, self.target_only_prior))
            self._hypotheses.append(_TARGET_ONLY)
        fallbacks = [i for i, name in enumerate(self._hypotheses) if name == _TARGET_ONLY]
        self.gp = _LinearGP(m, L, self.a0, self.s0, alternatives, fallbacks)

    def source_weight(self) -> float:
        """Posterior probability that the sources transfer (1 − the target-only hypothesis's), given the labels."""
        return 1.0 - self.hypothesis_weights().get(_TARGET_ONLY, 0.0)

    def hypothesis_weights(self) -> dict[str, float]:
        """Posterior probability of each hypothesis, by name: ``pooled`` (every source), ``only <task>`` (the
        target follows that source), ``target only`` (no source transfers)."""
        return dict(zip(self._hypotheses, map(float, self.gp.hypothesis_weights()), strict=True))

    def _phi(self, idx: np.ndarray | None) -> np.ndarray:
        if idx is None:
            return np.concatenate([self.Z, self.F], 1)
        idx = np.asarray(idx, dtype=np.int64)
        return np.concatenate([self.Z[idx], self.F[idx]], 1)

    def fit_indices(self, idx: np.ndarray, y: np.ndarray) -> SourceValuePrior:
        self.gp.fit(self._phi(idx), np.asarray(y, dtype=np.float64))
        return self

    def posterior_indices(self, idx: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        return self.gp.predict(self._phi(idx))

    def posterior_graph(self, X, A, mask):
        G = graph_basis(self.space, X.double(), A.double(), mask)
        W = torch.as_tensor(np.stack([s.w for s in self.src], 1), dtype=G.dtype, device=G.device)
        return self.gp.predict(torch.cat([G @ W, G], 1))  # source values from each source's ridge model


class RGPE(TransferPrior):
    """(b) Ranking-weighted ensemble of the per-source models and a target model (Feurer et al., 2018).

    Base models are the standardised source tables (no posterior spread) and a Bayesian linear model on the graph
    basis fitted to the target's points; weights are the share of ``n_samples`` posterior draws in which a model
    has the fewest misranked pairs of target points (the target model by leave-one-out). Models whose median loss
    exceeds the target model's 95th percentile get no weight (Feurer's weight-dilution rule).
    """

    name = "rgpe"
    n_samples = 256

    def _build(self) -> None:
        P = self.F.shape[1]
        scale = float(np.mean(np.stack([s.w for s in self.src])[:, 1:] ** 2))
        self.target = _LinearGP(np.zeros(P), np.eye(P) * math.sqrt(scale), self.a0, self.s0)
        self.Z = np.stack([s.z for s in self.src], 1)
        self.weights = np.full(len(self.src) + 1, 1.0 / len(self.src))
        self.weights[-1] = 0.0

    def fit_indices(self, idx: np.ndarray, y: np.ndarray) -> RGPE:
        idx = np.asarray(idx, dtype=np.int64)
        y = np.asarray(y, dtype=np.float64)
        k = len(y)
        self.idx, self.y = idx, y
        self.ymean = float(y.mean()) if k else self.a0
        self.ysd = float(y.std()) if k >= 2 and y.std() > 0 else self.s0
        self.target.fit(self.F[idx], y)
        S = len(self.src)
        w = np.zeros(S + 1)
        if k < 3:
            w[:S] = 1.0 / S
        else:
            rng = np.random.default_rng(k)
            pairs = y[:, None] < y[None, :]
            losses = np.zeros((self.n_samples, S + 1))
            for t in range(S):
                z = self.Z[idx, t]
                losses[:, t] = ((z[:, None] < z[None, :]) ^ pairs).sum()
            loo_m, loo_v = np.zeros(k), np.zeros(k)
            for i in range(k):  # leave-one-out predictions of the target model
                keep = np.arange(k) != i
                gp = _LinearGP(self.target.m, self.target.L, self.a0, self.s0).fit(self.F[idx[keep]], y[keep])
                m, v = gp.predict(self.F[idx[i : i + 1]])
                loo_m[i], loo_v[i] = m[0], v[0]
            draws = loo_m + np.sqrt(loo_v) * rng.standard_normal((self.n_samples, k))
            losses[:, S] = ((draws[:, :, None] < draws[:, None, :]) ^ pairs).sum((1, 2))
            noise = rng.random(losses.shape) * 1e-3  # ties broken at random
            best = np.argmin(losses + noise, 1)
            w = np.bincount(best, minlength=S + 1).astype(float) / self.n_samples
            cut = np.percentile(losses[:, S], 95)
            w[:S][np.median(losses[:, :S], 0) > cut] = 0.0
            w = w / w.sum() if w.sum() > 0 else np.eye(S + 1)[S]
        self.weights = w
        return self

    def _combine(self, zs: Any, tm: Any, tv: Any) -> tuple[Any, Any]:
        S = len(self.src)
        mean = sum(self.weights[t] * (self.ymean + self.ysd * zs[t]) for t in range(S)) + self.weights[S] * tm
        return mean, self.weights[S] ** 2 * tv + 1e-12

    def posterior_indices(self, idx: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        rows = slice(None) if idx is None else np.asarray(idx, dtype=np.int64)
        tm, tv = self.target.predict(self.F[rows])
        return self._combine([self.Z[rows, t] for t in range(len(self.src))], tm, tv)

    def posterior_graph(self, X, A, mask):
        G = graph_basis(self.space, X.double(), A.double(), mask)
        tm, tv = self.target.predict(G)
        zs = [G @ torch.as_tensor(s.w, dtype=G.dtype) for s in self.src]
        return self._combine(zs, tm, tv)


_KINDS: dict[str, type[TransferPrior]] = {"source": SourceValuePrior, "meta": MetaGraphPrior, "rgpe": RGPE}


def build_prior(
    space: str, sources: Sequence[str] | str, target: str | None = None, kind: str = DEFAULT_PRIOR
) -> TransferPrior:
    """A transfer prior for ``space`` from source datasets (the function ``nag ... --transfer-from`` calls).

    Args:
        space: the search space (``nb201``, ``nasbench_graph``, ...).
        sources: source dataset names (list or comma-separated); each must differ from ``target``.
        target: the target dataset (checked against the sources; its table is not read).
        kind: one of `PRIORS`.

    Raises:
        InvalidChoiceError: a bad source (`check_sources`) or ``kind``.
    """
    if kind not in _KINDS:
        raise InvalidChoiceError("prior", kind, PRIORS)
    names = check_sources(space, target, sources)
    return _KINDS[kind](space, [TransferTask(space, d) for d in names])


def evaluate_prior(
    prior: TransferPrior, target: np.ndarray, k: int, seed: int, top: float = 0.05
) -> dict[str, float]:
    """Adapt ``prior`` to ``k`` uniformly drawn labelled cells of ``target`` and score it on every labelled cell.

    Args:
        prior: the prior (built without the target).
        target: the target's column over the space (NaN where unlabelled) — read by the evaluation only.
        k: number of labelled target cells the prior sees.
        seed: seed of the draw.
        top: the share defining the top set.

    Returns:
        ``spearman``; ``top_recall`` (share of the true top ``top`` among the predicted top ``top``); ``within_2sd``
        (share of cells whose true value lies within two predictive standard deviations: 0.95 when calibrated);
        ``z_sd`` (sd of the standardised errors: 1 when calibrated); ``rmse`` (in the target's unit).
    """
    from scipy.stats import spearmanr

    ok = np.flatnonzero(np.isfinite(target))
    idx = np.random.default_rng(seed).choice(ok, size=k, replace=False) if k else np.zeros(0, dtype=np.int64)
    prior.fit_indices(idx, target[idx])
    mean, var = prior.posterior_indices(ok)
    y = target[ok]
    n_top = max(1, int(round(top * len(ok))))
    true_top = set(np.argsort(-y)[:n_top].tolist())
    pred_top = np.argsort(-mean)[:n_top].tolist()
    z = (y - mean) / np.sqrt(var)
    return {
        "spearman": float(spearmanr(mean, y)[0]),
        "top_recall": len(true_top.intersection(pred_top)) / n_top,
        "within_2sd": float((np.abs(z) <= 2).mean()),
        "z_sd": float(z.std()),
        "rmse": float(np.sqrt(np.mean((y - mean) ** 2))),
    }
