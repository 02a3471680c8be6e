"""Candidate generation for BO: the guided diffusion sampler proposes, the acquisition picks (``diffusion-bo``).

Each step of `DiffusionBO`:

1. fits the surrogate (`bo.surrogate`) on every queried architecture and its signal;
2. builds a pool of candidates with its `PoolStrategy`: samples of the trained graph diffusion model **guided by the
   surrogate's upper confidence bound** — the GP posterior evaluated on the denoiser's posterior graph at every
   step (`nag.guidance.on_denoised`), so the guidance is refit on the queried set every round — (`GuidedDiffusionPool`),
   mutations of the best queried (`MutationPool`, BANANAS), uniform samples (`RandomPool`) or every unqueried
   architecture of an enumerable domain (`SpacePool`); plus the one-edit neighbours of the best queried
   architectures (cheap exploitation, White et al. 2021);
3. drops candidates the `FeasibilityModel` deems unlikely to meet the oracle's constraints;
4. scores the pool with the acquisition (`bo.acquisition`: UCB, or log expected improvement — ``qLogEI`` with
   sequential greedy selection for batches, Ament et al. 2023) and returns the best ``q``. On NAS-Bench-201 the
   scoring GP also sees each candidate's training-free metrics, in an additive linear kernel
   (`bo.surrogate.MetricFeatures`).

Its options are one frozen `DiffusionBOConfig` (the single source of defaults; `bo.loop.get_method` and the CLI build
it from ``method_options``); BANANAS (`Bananas`) is the preset `BananasConfig` of the same method.

The first ``n_init`` queries are unguided samples of the generator (its learnt prior over valid architectures).
Only the one-off cost of training the generator (read from the checkpoint manifest) is charged separately; the
surrogate is refit every step and its time is part of ``propose_s``.
"""

from __future__ import annotations

import copy
import json
import math
import warnings
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bo.acquisition import ACQUISITIONS, probability_of_feasibility, select, ucb_objective
from bo.live_metrics import LiveMetricFeatures, LiveMetrics, supports_live_metrics
from bo.loop import BOState
from bo.oracles import Domain, Evaluation, Oracle
from bo.surrogate import (
    CachedFeatures,
    EnsembleSurrogate,
    Featuriser,
    GPSurrogate,
    GraphFeatures,
    MetricFeatures,
    OpCountFeatures,
    Surrogate,
)
from nag.checkpoint import default_checkpoint, missing_generator_error
from nag.config import Config
from nag.diffusion.schedules import DEFAULT_SOLVER, DEFAULT_STEPS
from nag.errors import InvalidChoiceError

__all__ = [
    "DiffusionBOConfig",
    "BananasConfig",
    "DiffusionBO",
    "Bananas",
    "PoolRequest",
    "PoolStrategy",
    "GuidedDiffusionPool",
    "MutationPool",
    "RandomPool",
    "SpacePool",
    "FeasibilityModel",
    "ConstraintScreen",
    "ACQUISITIONS",
    "SURROGATES",
    "PROPOSALS",
    "TRANSFER_DEFAULTS",
    "ZC_KERNELS",
    "default_checkpoint",
]

Arch = Any

SURROGATES: tuple[str, ...] = ("gp", "ensemble")
#: With cheap constraints, candidates proposed after the chosen ``q`` (next best by UCB), tried in order by the harness
#: where a measurement rules a chosen one out (`bo.loop.step`).
ALTERNATES = 64
#: The same for the initial design (unguided samples).
INITIAL_ALTERNATES = 32
#: `DiffusionBOConfig.min_feasibility` by default on a real-training oracle, and on a benchmark table.
REAL_MIN_FEASIBILITY, TABLE_MIN_FEASIBILITY = 0.1, 0.5
#: Where candidate pools come from: the guided generator, or (ablations, BANANAS) mutations / uniform samples, or
#: every unqueried architecture of an enumerable domain ("space": the acquisition maximised exactly).
PROPOSALS: tuple[str, ...] = ("diffusion", "mutation", "random", "space")
#: Defaults of a search with ``transfer_from`` (`DiffusionBOConfig.from_options`, hence ``nag search
#: --transfer-from``), where the option is not given: the prior's exact maximiser over the listable space, picked by
#: Thompson sampling over its hyper-parameters (``thompson=0``: the posterior mean of a grid point drawn by its
#: marginal likelihood, and over which source the target follows) so that seeds differ. Measured on NB201
#: leave-one-dataset-out, 10 seeds (``experiments/transfer_nb201.py --part variants``): signal max within 5 queries
#: 9/10, 3/10, 10/10 (CIFAR-10, CIFAR-100, ImageNet16-120; mean queries 4.3, 9.6, 3.7); without the prior's
#: one-source hypotheses (``--single-source-prior 0``) 10/10, 0/10, 9/10 (5.0, 13.7, 3.8); the posterior mean with
#: ``beta=0`` (the same run for every seed) 10/10, 0/10, 10/10 (5, 7, 5); a random tie-break of width 0.25 sd 7/10,
#: 4/10, 7/10.
TRANSFER_DEFAULTS: dict[str, Any] = {"proposals": "space", "beta": 0.0, "thompson": 0.0}
#: How training-free metrics enter the pool-scoring GP: extra ARD Matérn dimensions, or an additive linear kernel.
ZC_KERNELS: tuple[str, ...] = ("ard", "linear")


def _train_seconds(path: Path) -> float | None:
    try:
        manifest = json.loads((path.parent / "MANIFEST.json").read_text())
        return float(manifest[path.name]["metrics"]["train_seconds"])
    except (OSError, KeyError, ValueError, TypeError):
        return None


def _zc_kernel(space_name: str) -> bool:
    """Whether the space's benchmark offers ``zc_*`` columns for the GP kernel (`BenchmarkSpec.zc_kernel`)."""
    from nag.benchmarks import find_spec

    spec = find_spec(space_name)
    return spec is not None and spec.zc_kernel


# ---------------------------------------------------------------------------------------------------------- config
@dataclass(frozen=True)
class DiffusionBOConfig(Config):
    """Every option of `DiffusionBO` (``nag search -o KEY=VALUE``), with its default; checked on construction.

    Attributes:
        checkpoint: the generator (default: the shipped one of the space).
        n_init: unguided generator samples (random samples without a generator) queried before the surrogate takes
            over.
        pool: candidates generated per step.
        neighbours_of: how many of the best queried architectures contribute all their one-edit neighbours.
        acquisition: ``"ucb"`` or ``"logei"`` (`bo.acquisition.ACQUISITIONS`; ``logei`` needs the GP).
        beta: UCB's ``beta`` (``mean + sqrt(beta) * std``), for the acquisition and the guidance.
        surrogate: ``"gp"`` (exact GP on `bo.surrogate.graph_features`) or ``"ensemble"`` (GNN deep ensemble;
            slower).
        guidance_scale / schedule: the guidance term's scale and scale schedule (`nag.guidance.SCHEDULES`).
        constraint_scale: scale of a local latency model's constraint term (`FeasibilityModel.local_terms`; its
            values are ms over the bound), multiplied by 5 while fewer than a quarter of the last 20 measured
            candidates met the bound (a tight bound). Measured on MobileNetV3 (200 samples, bound at the 2nd / 10th
            percentile of unguided samples): share predicted within the bound 0.00 / 0.10 at scale 3, 0.28 / 0.73
            at 20, 0.99 / 1.00 at 100 (all distinct); under a loose bound a strong term only pushes the candidates
            deeper inside, away from the larger networks just under it. Default 3, the acquisition's own scale:
            in the equal-wall-clock real searches (`experiments/real_search.py`, 3 seeds, best feasible test) 20
            kept every NB201 candidate far inside the bound, without a 3x3 convolution (67.80 vs 69.43 at 3 with
            ``min_feasibility`` 0.1; random search 68.60), while MobileNetV3 moved within its seed noise (72.80 vs
            71.77, sd 2-3; random 72.07).
        steps / solver: the sampler.
        proposals: ``"diffusion"`` (guided generator), ``"mutation"`` (mutations of the best queried, BANANAS) or
            ``"random"`` (uniform samples) — the pool the acquisition scores — or ``"space"``: every unqueried
            architecture of an enumerable domain (up to 100,000), the acquisition's exact maximiser.
        zc: ``None`` (default): on where the surrogate is the GP and either the space has precomputed metric tables
            (NAS-Bench-201) or the oracle trains on a task (live metrics, below: on a tiny Fashion-MNIST task they
            lift a 20-query GP's held-out Spearman ρ from -0.05 to 0.52; `experiments/live_zc_nb201.py`). ``True``: append training-free metrics (NAS-Bench-201: NAS-Bench-Suite-Zero's 13, each
            rank-transformed over the space; CIFAR-10's for CIFAR-100) to the GP features that score the pool;
            guidance then uses a second GP on the graph features alone (metrics do not exist for noisy graphs).
            Every distinct cell whose metrics were read (candidates and queries) is charged NASLib's mean compute
            time per cell (``one_off_cost_s["training_free_metrics_s"]``). On a real-training oracle
            (`bo.oracles.TrainingOracle`) the metrics are the task's own: computed live on a seeded minibatch of its
            training split (`bo.live_metrics`), cached per architecture in the run's state, charged their measured
            seconds; no benchmark table is read.
        zc_metrics: which metrics (names without ``zc_``, a list or comma-separated text; default all 13; live:
            `bo.live_metrics.DEFAULT_LIVE_METRICS`): a cheap subset (e.g. ``synflow,params,flops``, ~1.2 s per cell
            instead of ~7.3 s) cuts the metric cost.
        zc_top: metrics are read (computed) only for the ``zc_top`` candidates of each step's pool with the highest
            UCB under the graph-only GP, and the metric GP picks among them (plus the queried cells' metrics, which
            train it): the metrics' gain where it pays, at a bounded bill. ``None``: for the whole pool (the former
            default, ~1,900 cells per 20-query NB201 run).
        zc_kernel: how the metrics enter that GP: ``"ard"`` (more Matérn dimensions) or ``"linear"`` (an additive
            linear kernel on the metrics plus the Matérn kernel on the graph features; `bo.surrogate.GPSurrogate`).
        gp_maxiter: L-BFGS iterations of each GP hyper-parameter fit.
        beta_decay: shrink ``beta`` linearly with the remaining budget (pure exploitation at the last query).
        min_feasibility: with constraints in the oracle, candidates whose modelled probability of meeting them all
            (`FeasibilityModel`) is below this are not queried. ``None`` (default): 0.1 on a real-training oracle
            (a measurement here settles every candidate before training, in a fraction of a second, and the best
            networks sit at the bound, where the model says about 0.5), 0.5 on a benchmark table.
        transfer_from: source datasets of the same space (a list or comma-separated text): a transfer prior
            (`bo.transfer.TransferSurrogate`, built from their tables) replaces the GP from query 0 — no unguided
            initial design; the guidance and the acquisition use it; training-free metrics are then off unless
            ``zc=True``. The target's own table is never read except through queries.
        transfer_prior: which prior (`predictors.transfer.PRIORS`).
        tie_break: candidates whose UCB lies within ``tie_break`` x the pool's median posterior sd of each other are
            ordered at random (seeded by the run): a uniform draw of that width is added to the UCB before ranking.
            ``0``: ties go to the pool's order (a search over ``proposals="space"`` is then the same run for every
            seed).
        thompson: with ``transfer_from``: pick by Thompson sampling from the prior's posterior instead of the
            acquisition — each pick the argmax of one seeded joint draw (a hyper-parameter grid point drawn by its
            marginal likelihood, then the weights), the draw's deviation from that grid point's mean scaled by this
            temperature (``0``: the mean of a drawn grid point). ``None``: the acquisition.
        transfer_fallback: with ``transfer_from``, from ``n_init`` queries on: a step where the target's labels
            leave the sources less than this posterior probability of transferring (the prior's target-only
            hypothesis wins, `predictors.transfer.SourceValuePrior.source_weight`) is the step of a search without
            transfer — the GP on the queried architectures, UCB with the default ``beta``. ``0`` (default) never
            falls back: the prior's own target-only hypothesis already takes over from an unrelated source
            (NAS-Bench-Graph, each target with its least-correlated source, 20 queries, 10 seeds,
            ``experiments/transfer_nbgraph.py --part negative``: 2 of 9 targets worse than without transfer by more
            than 0.2 points without the fallback, 5 of 9 with ``0.5`` — the GP then starts from the sources'
            clustered first picks instead of a spread-out initial design).
        distinct: candidates computing the same function as a queried architecture (equal `SearchSpace.canonical`)
            or ignoring their input (`SearchSpace.disconnected`: a network of it learns a constant) are not
            proposed, unless nothing else is. ``None`` (default): on where a query trains a network (a real-training
            oracle: such a query spends a training on a known or a constant function; `experiments/real_search.py`),
            off on a benchmark table (each isomorphic cell has its own, differently seeded entry there).
    """

    checkpoint: str | None = None
    n_init: int = 6
    pool: int = 128
    neighbours_of: int = 3
    acquisition: str = "ucb"
    beta: float = 4.0
    surrogate: str = "gp"
    guidance_scale: float = 3.0
    constraint_scale: float = 3.0
    schedule: str = "cosine"
    steps: int = DEFAULT_STEPS
    solver: str = DEFAULT_SOLVER
    proposals: str = "diffusion"
    zc: bool | None = None
    zc_kernel: str = "linear"
    zc_metrics: tuple[str, ...] | str | None = None
    zc_top: int | None = 16
    gp_maxiter: int = 75
    beta_decay: bool = False
    min_feasibility: float | None = None
    transfer_from: tuple[str, ...] | str | None = None
    transfer_prior: str = "source"
    tie_break: float = 0.0
    thompson: float | None = None
    transfer_fallback: float = 0.0
    distinct: bool | None = None

    def __post_init__(self) -> None:
        if self.acquisition not in ACQUISITIONS:
            raise InvalidChoiceError("acquisition", self.acquisition, ACQUISITIONS)
        if self.surrogate not in SURROGATES:
            raise InvalidChoiceError("surrogate", self.surrogate, SURROGATES)
        if self.proposals not in PROPOSALS:
            raise InvalidChoiceError("proposals", self.proposals, PROPOSALS)
        if self.zc_kernel not in ZC_KERNELS:
            raise InvalidChoiceError("zc_kernel", self.zc_kernel, ZC_KERNELS)
        if self.min_feasibility is not None and not 0.0 <= self.min_feasibility < 1.0:
            raise InvalidChoiceError("min_feasibility", self.min_feasibility, ["a number in [0, 1)"])
        if self.zc_top is not None and (isinstance(self.zc_top, bool) or self.zc_top < 1):
            raise InvalidChoiceError("zc_top", self.zc_top, ["an integer >= 1", "None (the whole pool)"])
        for name in ("n_init", "pool", "steps", "gp_maxiter"):
            if getattr(self, name) < 1:
                raise InvalidChoiceError(name, getattr(self, name), ["an integer >= 1"])
        for name in ("neighbours_of", "beta", "guidance_scale", "constraint_scale", "tie_break"):
            v = getattr(self, name)
            if not (v >= 0 and math.isfinite(v)):
                raise InvalidChoiceError(name, v, ["a finite number >= 0"])
        if not 0.0 <= self.transfer_fallback <= 1.0:
            raise InvalidChoiceError("transfer_fallback", self.transfer_fallback, ["a number in [0, 1]"])
        if self.thompson is not None and not (self.thompson >= 0 and math.isfinite(self.thompson)):
            raise InvalidChoiceError("thompson", self.thompson, ["a finite number >= 0", "None"])
        metrics = self.zc_metrics
        if isinstance(metrics, str):
            metrics = [m.strip() for m in metrics.split(",") if m.strip()]
        object.__setattr__(self, "zc_metrics", tuple(metrics) if metrics else None)
        sources = self.transfer_from
        if isinstance(sources, str):
            sources = [m.strip() for m in sources.split(",") if m.strip()]
        object.__setattr__(self, "transfer_from", tuple(sources) if sources else None)
        from predictors.transfer import PRIORS

        if self.transfer_prior not in PRIORS:
            raise InvalidChoiceError("transfer_prior", self.transfer_prior, PRIORS)

    @classmethod
    def from_options(cls, **options: Any) -> DiffusionBOConfig:
        """The configuration with ``options`` (a run's ``method_options``) replacing the defaults.

        Raises:
            InvalidChoiceError: an unknown option (field ``option``, listing the accepted ones) or a bad value.
        """
        names = [f.name for f in fields(cls)]
        for k in options:
            if k not in names:
                raise InvalidChoiceError("option", k, names)
        if options.get("transfer_from"):  # the transfer search's own defaults, where not given
            options = {**TRANSFER_DEFAULTS, **options}
        return cls(**options)


@dataclass(frozen=True)
class BananasConfig(DiffusionBOConfig):
    """BANANAS (White et al., AAAI 2021) as a preset of `DiffusionBOConfig`: a deep ensemble of GNN predictors as
    surrogate, candidate pools from mutations of the best queried architectures, UCB over the ensemble's mean and
    spread (the paper's independent Thompson sampling is replaced by UCB; same ensemble), 10 random initial queries,
    no training-free metrics. Every other option keeps diffusion-BO's default and may be overridden."""

    n_init: int = 10
    pool: int = 100
    surrogate: str = "ensemble"
    proposals: str = "mutation"
    zc: bool | None = False


# ---------------------------------------------------------------------------------------------------------- pools
@dataclass
class PoolRequest:
    """What a pool strategy may use to build one step's candidates.

    Attributes:
        state: the search state (the method may record in ``state.method_state``).
        archs: queried architectures with a finite signal (the surrogate's training set, ``B``).
        y: ``B`` their signals (float64).
        queried: every queried architecture (candidates must be new).
        rng: the step's random generator.
        seed: a seed drawn from ``rng`` for the generator.
        guidance: guidance terms for a generator (`nag.diffusion.sampler.GuidanceTerm`; empty when not guided).
    """

    state: BOState
    archs: list[Arch]
    y: torch.Tensor
    queried: list[Arch]
    rng: np.random.Generator
    seed: int
    guidance: Sequence[Any] = ()


class PoolStrategy(ABC):
    """Where one proposal kind's candidates come from: `initial` designs, then a `pool` per BO step (`candidates`
    plus all one-edit neighbours of the ``neighbours_of`` best queried architectures).

    Attributes:
        name: the ``proposals`` option selecting it.
        guided: whether `candidates` uses ``PoolRequest.guidance`` (the method then builds it).
    """

    name: str
    guided: bool = False

    def __init__(self, domain: Domain, size: int, neighbours_of: int) -> None:
        self.domain, self.size, self.neighbours_of = domain, size, neighbours_of

    def initial(
        self, state: BOState, n: int, queried: list[Arch], seed: int, rng: np.random.Generator,
        terms: Sequence[Any] = (),
    ) -> list[Arch]:  # fmt: skip
        """Up to ``n`` new architectures before the surrogate takes over (default: uniform samples; ``terms``:
        guidance a generator may follow, ignored here)."""
        from bo.baselines import sample_new

        return sample_new(self.domain, state, n, rng)

    @abstractmethod
    def candidates(self, req: PoolRequest) -> list[Arch]:
        """New architectures (not in ``req.queried``) for the acquisition to score."""

    def pool(self, req: PoolRequest) -> list[Arch]:
        """`candidates`, then the unseen one-edit neighbours of the ``neighbours_of`` best queried architectures."""
        pool = self.candidates(req)
        best = np.argsort(-req.y.numpy())[: self.neighbours_of]
        known = set(req.queried) | set(pool)
        for i in best:
            for nb in self.domain.neighbours(req.archs[int(i)]):
                if nb not in known:
                    known.add(nb)
                    pool.append(nb)
        return pool


class GuidedDiffusionPool(PoolStrategy):
    """Samples of the trained graph diffusion model, guided by ``PoolRequest.guidance`` (``proposals="diffusion"``);
    its initial design is unguided samples (the generator's learnt prior over valid architectures).

    Args:
        domain / size / neighbours_of: see `PoolStrategy`.
        model: the `nag.diffusion.model.GraphDiffusionModel`.
        steps / solver: the sampler.
    """

    name = "diffusion"
    guided = True

    def __init__(
        self, domain: Domain, size: int, neighbours_of: int, model: Any, steps: int, solver: str
    ) -> None:
        super().__init__(domain, size, neighbours_of)
        self.model, self.space, self.steps, self.solver = model, domain.space, steps, solver

    def initial(
        self, state: BOState, n: int, queried: list[Arch], seed: int, rng: np.random.Generator,
        terms: Sequence[Any] = (),
    ) -> list[Arch]:  # fmt: skip
        archs = self._generate(n, list(terms), queried, seed)
        if len(archs) < n:  # a domain the generator rarely hits (labelled cells only): top up uniformly
            from bo.baselines import sample_new

            known = set(archs)
            extra = [a for a in sample_new(self.domain, state, n, rng) if a not in known]
            archs += extra[: n - len(archs)]
        return archs

    def candidates(self, req: PoolRequest) -> list[Arch]:
        return self._generate(self.size, list(req.guidance), req.queried, req.seed)

    def _generate(self, n: int, terms, exclude: Sequence[Any], seed: int) -> list[Any]:
        from nag.guidance import guided_generate

        try:
            res = guided_generate(
                self.model, self.space, n, terms, exclude=exclude, seed=seed, steps=self.steps,
                solver=self.solver, max_rounds=8, feasible=self._in_domain,
            )  # fmt: skip
            archs = res.archs
        except RuntimeError:  # guidance concentrated on known architectures: take what is new from one round
            from nag.diffusion.sampler import sample

            out = sample(self.model, self.space, 4 * n, guidance=terms, seed=seed, steps=self.steps,
                         solver=self.solver)  # fmt: skip
            seen, archs = set(exclude), []
            for a in out.archs:
                if a is not None and a not in seen:
                    seen.add(a)
                    archs.append(a)
        return [a for a in archs if a in self.domain]

    def _in_domain(self, archs: Sequence[Any]) -> np.ndarray:
        """Which samples the search may query (a domain of labelled cells holds only part of the space): rounds
        continue until the pool holds ``n`` of them."""
        return np.array([a in self.domain for a in archs], dtype=bool)


class MutationPool(PoolStrategy):
    """``size`` new mutations of the 10 best queried architectures (BANANAS: each parent mutated repeatedly, one to
    two edits; ``proposals="mutation"``)."""

    name = "mutation"

    def _draw(self, parents: list[Arch], rng: np.random.Generator) -> Arch:
        a = parents[int(rng.integers(len(parents)))]
        for _ in range(1 + int(rng.integers(2))):
            a = self.domain.mutate(a, rng)
        return a

    def candidates(self, req: PoolRequest) -> list[Arch]:
        out: list[Arch] = []
        seen = set(req.queried)
        parents = [req.archs[int(i)] for i in np.argsort(-req.y.numpy())[:10]]
        for _ in range(20 * self.size):
            if len(out) >= self.size:
                break
            a = self._draw(parents, req.rng)
            if a not in seen:
                seen.add(a)
                out.append(a)
        return out


class RandomPool(MutationPool):
    """``size`` new uniform samples of the domain (``proposals="random"``)."""

    name = "random"

    def _draw(self, parents: list[Arch], rng: np.random.Generator) -> Arch:
        return self.domain.sample(1, rng)[0]


class SpacePool(PoolStrategy):
    """Every unqueried architecture of an enumerable domain (``proposals="space"``): the acquisition's exact maximiser.
    No neighbours are added (they are in the pool already).

    Raises:
        InvalidChoiceError: the domain cannot be listed (field ``proposals``).
    """

    name = "space"

    def __init__(self, domain: Domain) -> None:
        super().__init__(domain, 0, 0)
        enumeration = domain.enumerate()
        if enumeration is None:
            raise InvalidChoiceError("proposals", self.name, [p for p in PROPOSALS if p != "space"])
        self.enumeration: list[Arch] = enumeration

    def candidates(self, req: PoolRequest) -> list[Arch]:
        seen = set(req.queried)
        return [a for a in self.enumeration if a not in seen]


# ---------------------------------------------------------------------------------------------------------- feasibility
class FeasibilityModel:
    """The probability that an architecture meets every constraint of the oracle, learnt from the queries.

    Per constraint with >= 2 measured values, a GP — a linear kernel on how many nodes carry each operation (latency,
    energy and size are close to additive in the operations) plus a Matérn kernel on the graph features
    (`bo.surrogate.OpCountFeatures`) — is fitted to the values the queried architectures returned (the oracle
    reports them with every query) and to the cheap measurements of rejected candidates; nothing is read from a
    table. With cheap constraints it only steers the pool (guidance, and dropping candidates unlikely to pass); the
    harness's measurement settles each candidate exactly before a query.

    A ``latency:local`` constraint on a space with a local latency model (`predictors.local_latency`: NB201's
    meta-learned device prior, MobileNetV3's per-block table) is modelled by that model instead of a GP, refitted on
    every measurement: ``P(feasible) = Φ((log bound - log prediction) / σ)`` with ``σ`` the robust (MAD) spread of
    the fit's relative residuals (0.15 before three networks are measured). The MobileNetV3 table predicts before any network is
    measured, so it steers the initial design too (`order_initial`, `local_terms`).

    Args:
        constraints: the oracle's constraints (``metric``, ``op``, ``bound`` each).
        space: the search space (reads the queried architectures' text).
        featuriser: the cost features (`OpCountFeatures`).
        gp_maxiter: L-BFGS iterations of each GP fit.
        min_probability: candidates below it are dropped by `feasible_part`.
        local_model: zero-argument callable returning the oracle's unfitted local latency model or ``None``
            (`bo.oracles.TrainingOracle.local_latency_model`), called at the first `fit` that needs it.
    """

    #: Relative spread of a local latency model's error before three networks are measured.
    LOCAL_SIGMA0 = 0.15
    #: Floor of that spread (two measurements of one network differ by a few %).
    LOCAL_SIGMA_MIN = 0.03

    def __init__(
        self,
        constraints: Sequence[Any],
        space: Any,
        featuriser: Featuriser,
        gp_maxiter: int,
        min_probability: float,
        local_model: Any = None,
    ) -> None:
        self.constraints = tuple(constraints)
        self.space = space
        self.featuriser = featuriser
        self.gp_maxiter = gp_maxiter
        self.min_probability = min_probability
        self.local_model = local_model
        #: ``(constraint, GP, spread of the measured values)`` per modelled constraint (after `fit`).
        self.models: list[tuple[Any, GPSurrogate, float]] = []
        #: ``(constraint, fitted local latency model, relative σ)`` per constraint a local model serves (after `fit`).
        self.local: list[tuple[Any, Any, float]] = []

    def _local_for(self, c: Any) -> Any:
        if c.metric != "latency_local" or self.local_model is None:
            return None
        return self.local_model()

    def _fit_local(self, c: Any, lm: Any, xs: list[str], vs: list[float]) -> tuple[Any, Any, float] | None:
        from predictors.local_latency import NB201LocalLatency

        measured = dict(zip(xs, vs, strict=True))
        if isinstance(lm, NB201LocalLatency) and len(measured) < 2:
            return None  # the device prior predicts in ms only once adapted to two cells
        lm.fit(measured)
        sigma = self.LOCAL_SIGMA0
        if len(measured) >= 3:
            sigma = lm.relative_error(xs, vs, floor=self.LOCAL_SIGMA_MIN)
        return (c, lm, sigma)

    def fit(self, state: BOState, gps: bool = True) -> FeasibilityModel:
        """A copy fitted on the queries of ``state`` and on every cheap-constraint measurement the harness made
        (rejected candidates included: they teach the model where the bound lies); this one is left as it is."""
        fitted = copy.copy(self)
        fitted.models, fitted.local = [], []
        records = {m["arch"]: m["values"] for m in state.measured.values()}
        for text, rep in zip(state.archs, state.reports, strict=True):
            records.setdefault(text, rep)
        for c in self.constraints:
            xs, vs = [], []
            for text, rep in records.items():
                v = rep.get(c.metric)
                if v is not None and math.isfinite(v) and v > 0:
                    xs.append(text)
                    vs.append(float(v))
            lm = self._local_for(c)
            if lm is not None:
                entry = self._fit_local(c, lm, xs, vs)
                if entry is not None:
                    fitted.local.append(entry)
                continue
            if len(xs) < 2 or not gps:
                continue
            gp = GPSurrogate(self.featuriser, maxiter=self.gp_maxiter)
            gp.fit([self.space.parse(t) for t in xs], torch.tensor(vs))
            fitted.models.append((c, gp, float(np.std(vs)) or 1.0))
        return fitted

    def probability(self, pool: Sequence[Arch]) -> np.ndarray | None:
        """``B``: probability that each architecture meets every constraint (1 where none is modelled yet), or
        ``None`` when the oracle has no constraints."""
        if not self.constraints:
            return None
        prob = np.ones(len(pool))
        if not pool:
            return prob
        for c, gp, _ in self.models:
            with torch.no_grad():
                m, var = gp.posterior(pool)
            prob *= probability_of_feasibility(m, var, c.bound, c.op)
        from scipy.stats import norm

        for c, lm, sigma in self.local:
            z = (math.log(c.bound) - np.log(np.maximum(lm.predict(list(pool)), 1e-9))) / sigma
            prob *= norm.cdf(z if c.op in ("<=", "<") else -z)
        return prob

    def _local_only(self) -> FeasibilityModel:
        """This model without its GPs: the local latency models alone."""
        only = copy.copy(self)
        only.models = []
        return only

    def order_initial(self, archs: list[Arch]) -> list[Arch]:
        """An initial draw reordered so that the harness measures the likely feasible first (in their drawn order,
        which keeps the design diverse), then the rest by falling probability; unchanged without a fitted model."""
        if not self.local or not archs:
            return archs
        prob = self._local_only().probability(archs)
        assert prob is not None
        likely = [a for a, p in zip(archs, prob, strict=True) if p >= self.min_probability]
        rest = [
            archs[int(i)] for i in np.argsort(-prob, kind="stable") if prob[int(i)] < self.min_probability
        ]
        return likely + rest

    def feasible_part(self, pool: list[Arch], q: int) -> list[Arch]:
        """The candidates likely feasible (probability >= ``min_probability``); the ``q`` most likely where none
        is; the whole pool without constraints."""
        prob = self.probability(pool)
        if prob is None:
            return pool
        keep = [a for a, p in zip(pool, prob, strict=True) if p >= self.min_probability]
        if keep:
            return keep
        return [pool[int(i)] for i in np.argsort(-prob)[:q]]

    def local_terms(self, model: Any, local_scale: float, schedule: Any) -> list[Any]:
        """The local latency models' guidance terms alone (see `guidance_terms`): what steers the initial design."""
        return self._local_only().guidance_terms(model, 0.0, schedule, local_scale)

    def guidance_terms(
        self, model: Any, scale: float, schedule: Any, local_scale: float | None = None
    ) -> list[Any]:
        """Guidance terms keeping generated graphs inside each modelled constraint (softplus penalties on the GP mean
        of the denoiser's posterior graph, in units of the measured values' spread)."""
        from nag.guidance import constraint, on_denoised

        terms = []
        for c, gp, spread in self.models:

            def fn(g, gp=gp, spread=spread):
                return gp.posterior(g)[0] / spread

            op = "<=" if c.op in ("<=", "<") else ">="
            terms.append(constraint(on_denoised(model, fn), c.bound / spread, op, width=0.1,
                                    scale=scale, schedule=schedule, name=f"feasible {c}"))  # fmt: skip
        for c, lm, _ in self.local:
            op = "<=" if c.op in ("<=", "<") else ">="
            # the model's ms over the bound, aimed at the bound itself, not inside it: the harness settles every
            # candidate by a measurement that costs a fraction of a second, while the most accurate feasible
            # networks sit just under the bound
            terms.append(constraint(lm.guide(model, per=c.bound), 1.0, op, width=0.05,
                                    scale=scale if local_scale is None else local_scale,
                                    schedule=schedule, name=f"feasible {c} (local model)"))  # fmt: skip
        return terms


class ConstraintScreen:
    """A linear model of each cheap constraint's metric on operation counts, learnt online from the measurements,
    that rules a candidate out *without measuring it* when its predicted value breaks the bound by more than ``z``
    residual standard deviations. Used where a method walks a long ranking (RoBoT: a weight's top-1 feasible cell),
    so that clearly infeasible cells cost no measurement; borderline ones are still measured exactly.

    Args:
        constraints: the cheap constraints (``metric``, ``op``, ``bound``).
        space: the search space (operation counts come from its `ArchGraph` encoding).
        min_points: measurements needed before the model screens anything.
        z: margin, in residual standard deviations (leave-one-out), by which a prediction must break the bound.
        ridge: the ridge penalty of the linear fit.
    """

    def __init__(
        self, constraints: Sequence[Any], space: Any, min_points: int = 10, z: float = 4.0, ridge: float = 0.1
    ) -> None:
        self.constraints = tuple(constraints)
        graph = GraphFeatures(space)
        self.counts = OpCountFeatures(graph, space.max_nodes, len(space.ops))
        self.min_points, self.z, self.ridge = min_points, z, ridge
        self.x: list[np.ndarray] = []
        self.values: list[dict[str, float]] = []
        self._fits: list[tuple[Any, np.ndarray, float]] | None = None
        self._features: dict[Any, np.ndarray] = {}

    def features(self, arch: Arch) -> np.ndarray:
        """``N·V + V + 1``: which operation each node carries (one-hot), the operation counts, and a constant
        (memoised: a cell is screened and then, when measured, added)."""
        if arch in self._features:
            return self._features[arch]
        F = self.counts([arch])[0].numpy()
        nv = self.counts.num_nodes * self.counts.num_ops
        self._features[arch] = np.concatenate([F[:nv], F[-self.counts.n_linear :], [1.0]])
        return self._features[arch]

    def add(self, arch: Arch, values: dict[str, float]) -> None:
        """Record one measurement (the model is refit on the next `rules_out`)."""
        self.x.append(self.features(arch))
        self.values.append(values)
        self._fits = None

    def _fit(self) -> list[tuple[Any, np.ndarray, float]]:
        fits = []
        X_all = np.stack(self.x)
        for c in self.constraints:
            rows = [i for i, v in enumerate(self.values) if math.isfinite(v.get(c.metric, math.nan))]
            if len(rows) < self.min_points:
                continue
            X, y = X_all[rows], np.array([self.values[i][c.metric] for i in rows])
            A = X.T @ X + self.ridge * np.eye(X.shape[1])
            w = np.linalg.solve(A, X.T @ y)
            H = np.einsum("ij,jk,ik->i", X, np.linalg.inv(A), X)  # leverages
            loo = (y - X @ w) / np.clip(1.0 - H, 1e-3, None)
            fits.append((c, w, float(np.sqrt(np.mean(loo**2)))))
        return fits

    def rules_out(self, arch: Arch) -> bool:
        """Whether ``arch`` is predicted to break a bound by more than the margin (no measurement needed)."""
        if len(self.x) < self.min_points:
            return False
        if self._fits is None:
            self._fits = self._fit()
        f = self.features(arch)
        for c, w, sd in self._fits:
            pred, margin = float(f @ w), self.z * sd
            if (c.op in ("<=", "<") and pred > c.bound + margin) or (
                c.op in (">=", ">") and pred < c.bound - margin
            ):
                return True
        return False


def _select_thompson(
    surrogate: Any, pool: list[Arch], q: int, temperature: float, rng: np.random.Generator
) -> list[int]:
    """Indices of ``q`` distinct candidates, each the argmax of its own joint posterior draw (Thompson sampling)."""
    draws = surrogate.sample(pool, rng, q, temperature)
    out: list[int] = []
    for d in draws:
        for i in np.argsort(-d, kind="stable"):
            if int(i) not in out:
                out.append(int(i))
                break
    return out


def _select_tie_break(
    surrogate: Surrogate, pool: list[Arch], q: int, beta: float, width: float, rng: np.random.Generator
) -> list[int]:
    """Indices of the ``q`` best of ``pool`` by UCB plus a uniform draw in ``[0, width x median sd)``: near-ties
    (within that width) are broken at random, clear winners keep their rank."""
    from bo.acquisition import ucb

    with torch.no_grad():
        mean, var = surrogate.posterior(pool)
        score = ucb(mean, var, beta).double().numpy()
    sd = float(np.median(np.sqrt(np.clip(var.double().numpy(), 0.0, None))))
    score = score + rng.random(len(score)) * width * sd
    return np.argsort(-score, kind="stable")[:q].tolist()


# ---------------------------------------------------------------------------------------------------------- method
class DiffusionBO:
    """Bayesian optimisation with the guided diffusion generator as candidate generator (``diffusion-bo``).

    Args:
        domain: where the search may look.
        oracle: the oracle (only described, never called; its constraints are modelled).
        config: the options (`DiffusionBOConfig`; default: `config_type`'s defaults).

    Raises:
        InvalidChoiceError: a checkpoint that does not exist or is of another space, ``proposals="space"`` on a
            domain that cannot be listed, training-free metrics where the space has none.
    """

    name = "diffusion-bo"
    #: The configuration class `bo.loop.get_method` and the CLI build from ``method_options``.
    config_type: type[DiffusionBOConfig] = DiffusionBOConfig

    def __init__(self, domain: Domain, oracle: Oracle, config: DiffusionBOConfig | None = None) -> None:
        from nag.diffusion.model import GraphDiffusionModel
        from nag.guidance import scale_schedule

        config = self.config_type() if config is None else config
        if not isinstance(config, DiffusionBOConfig):
            raise InvalidChoiceError("config", type(config).__name__, ["DiffusionBOConfig"])
        self.config = config
        self.domain, self.oracle = domain, oracle
        self.space = domain.space
        zc, checkpoint = config.zc, config.checkpoint
        trains = supports_live_metrics(oracle)  # a real-training oracle (the defaults below differ there)
        self.transfer = None
        if config.transfer_from:  # the prior replaces the GP from query 0 (`bo.transfer`)
            from bo.transfer import transfer_surrogate

            target = oracle.describe().get("dataset")
            self.transfer = transfer_surrogate(
                self.space, config.transfer_from, target, config.transfer_prior
            )
        if zc is None:
            # a benchmark's metric table describes the benchmark's task, not the images a training oracle learns:
            # there the metrics are computed live on the task (`bo.live_metrics`); with a transfer prior the source
            # tables inform the surrogate instead
            zc = (
                config.surrogate == "gp"
                and self.transfer is None
                and ((_zc_kernel(self.space.name) and hasattr(oracle, "benchmark")) or trains)
            )
        self.zc_metrics = list(config.zc_metrics) if config.zc_metrics else None
        self.live: LiveMetricFeatures | None = None
        # on a real-training oracle: the task's own metrics, computed live; never another task's table
        if zc and trains:
            live = LiveMetrics(oracle, self.zc_metrics)
            self.live = LiveMetricFeatures(GraphFeatures(self.space), live, config.zc_kernel == "linear")
        self.zc = self._zc_matrix(oracle) if zc and self.live is None else None
        self.path = Path(checkpoint) if checkpoint else default_checkpoint(self.space.name)
        self.model = None
        if config.proposals == "diffusion":
            if not self.path.is_file() and checkpoint:
                raise InvalidChoiceError(
                    "checkpoint", str(self.path), ["an existing model file (RUN_DIR/model.pt)"]
                )
            if not self.path.is_file():
                raise missing_generator_error(self.space.name, self.path)
            self.model = GraphDiffusionModel.load(self.path, user_given=bool(checkpoint))
            if self.model.space_name != self.space.name:
                raise InvalidChoiceError("checkpoint", f"{self.path} (a {self.model.space_name} model)",
                                         [f"a generator trained on {self.space.name}"])  # fmt: skip
        self.schedule = scale_schedule(
            config.schedule, 1000 if self.model is None else self.model.schedule.num_train_timesteps
        )
        self.pools = self._pool_strategy()
        graph = GraphFeatures(self.space)
        if isinstance(self.pools, SpacePool):  # the whole domain is scored every step: featurise it once
            graph = CachedFeatures(graph, self.pools.enumeration)
        self.graph_features: Featuriser = graph
        self.scoring_features: Featuriser = graph
        if self.zc is not None:
            metric = MetricFeatures(
                GraphFeatures(self.space), self.zc, self.space.index, config.zc_kernel == "linear"
            )
            self.scoring_features = (
                CachedFeatures(metric, self.pools.enumeration)
                if isinstance(self.pools, SpacePool)
                else metric
            )
        elif self.live is not None:  # computed per candidate on demand: never for a whole enumeration at once
            self.scoring_features = self.live
        self.distinct = trains if config.distinct is None else bool(config.distinct)
        self.feasibility = FeasibilityModel(
            getattr(oracle, "constraints", ()) or (),
            self.space,
            OpCountFeatures(graph, self.space.max_nodes, len(self.space.ops)),
            config.gp_maxiter,
            config.min_feasibility
            if config.min_feasibility is not None
            else (REAL_MIN_FEASIBILITY if trains else TABLE_MIN_FEASIBILITY),
            getattr(oracle, "local_latency_model", None),
        )

    def _pool_strategy(self) -> PoolStrategy:
        cfg = self.config
        if cfg.proposals == "space":
            return SpacePool(self.domain)
        if cfg.proposals == "diffusion":
            return GuidedDiffusionPool(
                self.domain, cfg.pool, cfg.neighbours_of, self.model, cfg.steps, cfg.solver
            )
        kind = MutationPool if cfg.proposals == "mutation" else RandomPool
        return kind(self.domain, cfg.pool, cfg.neighbours_of)

    @property
    def initial_design(self) -> tuple[str, int]:
        """The unguided initial queries (`bo.loop.initial_design`): a budget within them never uses the surrogate."""
        return ("n_init", 0 if self.transfer is not None else self.config.n_init)

    # ------------------------------------------------------------------ helpers
    def _zc_matrix(self, oracle: Oracle) -> np.ndarray:
        """``15625 x M`` rank-transformed training-free metrics of every NB201 cell (index order)."""
        from scipy.stats import rankdata

        from nag.benchmarks import get_benchmark

        if not _zc_kernel(self.space.name):
            raise InvalidChoiceError("zc", True, [False])
        bench = get_benchmark(self.space.name)
        ds = bench.resolve_dataset(oracle.describe().get("dataset", "cifar10"))
        names = [m for m in bench.metrics(ds) if m.startswith("zc_")] or [
            m for m in bench.metrics("cifar10") if m.startswith("zc_")
        ]
        src = ds if any(m.startswith("zc_") for m in bench.metrics(ds)) else "cifar10"
        if self.zc_metrics is not None:
            known = [m[3:] for m in names]
            bad = [m for m in self.zc_metrics if m not in known]
            if bad:
                raise InvalidChoiceError("zc_metrics", ",".join(bad), known)
            names = [f"zc_{m}" for m in self.zc_metrics]
        self.zc_cell_s = bench.zc_seconds_per_cell(src, [m[3:] for m in names])
        cols = []
        for m in names:
            v = bench.column(src, m)
            if np.isnan(v).all() or np.nanstd(v) == 0:
                continue
            r = rankdata(np.nan_to_num(v, nan=np.nanmin(v)), method="average") / len(v)
            cols.append(r)
        return np.stack(cols, 1)

    def training_set(self, state: BOState) -> tuple[list[Arch], torch.Tensor]:
        """The queried architectures with a finite signal and their signals (``B``, float64), in query order."""
        archs, ys = [], []
        for text, s in zip(state.archs, state.signals, strict=True):
            if s is not None and math.isfinite(s):
                archs.append(self.space.parse(text))
                ys.append(float(s))
        return archs, torch.tensor(ys, dtype=torch.float64)

    def fit_surrogate(self, archs: list[Arch], y: torch.Tensor, with_metrics: bool = False) -> Surrogate:
        """The configured surrogate fitted on ``B`` architectures and ``y`` (``B``); ``with_metrics``: the GP that
        scores the pool, on the training-free metrics too (where they are used)."""
        cfg = self.config
        if cfg.surrogate == "gp":
            feats = self.scoring_features if with_metrics else self.graph_features
            if with_metrics and self.live is not None:  # one metric transform for training and candidate rows
                self.live.set_reference(archs)
            return GPSurrogate(feats, maxiter=cfg.gp_maxiter).fit(archs, y)
        return EnsembleSurrogate(self.space, seed=len(archs), ensemble=5, max_epochs=200, min_epochs=50).fit(
            archs, y
        )

    # ------------------------------------------------------------------ SearchMethod
    def propose(self, state: BOState, q: int, rng: np.random.Generator) -> list[Arch]:
        from nag.guidance import objective, on_denoised

        cfg = self.config
        if self.model is not None and "generator_training_s" not in state.one_off_cost_s:
            state.one_off_cost_s["generator_training_s"] = _train_seconds(self.path)
        seed = int(rng.integers(2**31 - 1))
        # candidates must be new: neither queried nor ruled out by a cheap measurement
        queried = [self.space.parse(t) for t in [*state.archs, *state.rejected_archs]]
        # the functions known from a query (a candidate a measurement rejected was not trained)
        trained = queried[: len(state.archs)]
        archs, y = self.training_set(state)
        alternates = ALTERNATES if self.oracle.cheap_constraints else 0
        if self.transfer is None and (state.n_queries < cfg.n_init or len(archs) < 2):
            state.method_state["phase"] = "init"
            n = min(q, cfg.n_init - state.n_queries) or q
            if not alternates:
                extra = INITIAL_ALTERNATES if self.distinct else 0  # spares for the draws `_distinct` drops
                return self._distinct(self.pools.initial(state, n + extra, queried, seed, rng), trained)[:n]
            # a measurement may rule some out: draw more, in the order the harness should try them; a local latency
            # model (the MobileNetV3 table predicts before anything is measured) guides the draw into the bound
            # and puts the likely feasible first
            feasibility = self._feasibility(state, gps=False)
            terms = (
                feasibility.local_terms(self.model, self._constraint_scale(state), self.schedule)
                if self.model
                else []
            )
            draw = self.pools.initial(state, q + INITIAL_ALTERNATES, queried, seed, rng, terms)
            return feasibility.order_initial(self._distinct(draw, trained))
        state.method_state["phase"] = "bo"
        beta = cfg.beta
        if cfg.beta_decay:
            beta = cfg.beta * max(state.config.budget - state.n_queries - 1, 0) / max(state.config.budget, 1)
        fallback = False
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            feasibility = self._feasibility(state)
            with_zc = self._zc_on(state) and len(archs) > 1
            scorer = self.fit_surrogate(archs, y, with_metrics=True) if with_zc else None
            if self.transfer is not None:  # prior-guided from query 0 (k = len(archs) >= 0)
                state.one_off_cost_s["transfer_prior_s"] = self.transfer.build_s
                state.method_state["transfer_from"] = list(self.transfer.prior.describe()["sources"])
                guide = self.transfer.fit(archs, y)
                fallback = self._transfer_rejected(state, len(archs))
                if fallback:  # the target's labels reject the sources: this step is a search without transfer
                    guide = self.fit_surrogate(archs, y)  # graph alone: the guidance's
                    beta = DiffusionBOConfig.beta
            # the guidance needs a surrogate of the graph alone (no metrics for noisy graphs)
            elif scorer is None or self.pools.guided:
                guide = self.fit_surrogate(archs, y)
            else:
                guide = scorer
            scorer = scorer or guide
            guidance: list[Any] = []
            if self.pools.guided:
                spread = float(y.std()) if len(y) > 1 else 0.0
                spread = spread or (self.transfer.prior.s0 if self.transfer else 1.0)
                acq_fn = ucb_objective(guide, beta, spread)
                term = objective(on_denoised(self.model, acq_fn), scale=cfg.guidance_scale,
                                 schedule=self.schedule, name="acquisition")  # fmt: skip
                guidance = [term, *feasibility.guidance_terms(self.model, cfg.guidance_scale, self.schedule,
                                                              self._constraint_scale(state))]  # fmt: skip
            pool = self._distinct(self.pools.pool(PoolRequest(state, archs, y, queried, rng, seed, guidance)),
                                  trained)  # fmt: skip
            if not pool:
                state.method_state["phase"] = "random"
                return self.domain.sample(q, rng)
            pool = feasibility.feasible_part(pool, q)
            best_f = float(y.max()) if len(y) else -math.inf
            if self._zc_on(state):
                if cfg.zc_top is not None and len(pool) > cfg.zc_top:
                    # metrics only for the part of the pool that can win: the top of the graph-only GP's UCB
                    graph_gp = guide if guide is not scorer else self.fit_surrogate(archs, y)
                    top = select("ucb", graph_gp, pool, cfg.zc_top, beta=beta, best_f=best_f)
                    pool = [pool[i] for i in top]
                self._charge_zc(state, pool + archs)
            if self.transfer is not None and cfg.thompson is not None and not fallback:
                chosen = _select_thompson(self.transfer, pool, q + alternates, cfg.thompson, rng)[:q]
            elif cfg.tie_break > 0 and cfg.acquisition == "ucb":
                chosen = _select_tie_break(scorer, pool, q + alternates, beta, cfg.tie_break, rng)[:q]
            else:
                chosen = select(cfg.acquisition, scorer, pool, q, beta=beta, best_f=best_f)
            if alternates:  # the next best by UCB, tried where a measurement rules a chosen one out
                ranked = select("ucb", scorer, pool, len(pool), beta=beta, best_f=best_f)
                chosen += [i for i in ranked if i not in set(chosen)][:alternates]
            return [pool[i] for i in chosen]

    def _distinct(self, archs: list[Arch], queried: Sequence[Arch]) -> list[Arch]:
        """``archs`` without those computing the function of a ``queried`` architecture or of an earlier one in the
        list, and without disconnected ones (`DiffusionBOConfig.distinct`); all of ``archs`` where that leaves
        nothing or the option is off."""
        if not self.distinct:
            return archs
        seen = {self.space.canonical(a) for a in queried}
        out = []
        for a in archs:
            key = self.space.canonical(a)
            if key not in seen and not self.space.disconnected(a):
                seen.add(key)
                out.append(a)
        return out or archs

    def _transfer_rejected(self, state: BOState, k: int) -> bool:
        """Whether this step falls back to the search without transfer (`DiffusionBOConfig.transfer_fallback`);
        the sources' posterior weight and the steps that fell back are kept in ``state.method_state``."""
        weight = getattr(self.transfer.prior, "source_weight", None)
        if weight is None:  # a prior without a target-only hypothesis
            return False
        w = float(weight())
        state.method_state["source_weight"] = w
        fallback = k >= self.config.n_init and w < self.config.transfer_fallback
        if fallback:
            state.method_state["phase"] = "bo (no transfer)"
            state.method_state["fallback_steps"] = state.method_state.get("fallback_steps", 0) + 1
        return fallback

    def _constraint_scale(self, state: BOState) -> float:
        """`DiffusionBOConfig.constraint_scale`, times 5 while under a quarter of the last 20 measured candidates
        met the cheap constraints (with none measured yet: the plain scale)."""
        recent = [m["feasible"] for m in list(state.measured.values())[-20:]]
        tight = len(recent) >= 4 and sum(bool(f) for f in recent) < 0.25 * len(recent)
        return self.config.constraint_scale * (5.0 if tight else 1.0)

    def _feasibility(self, state: BOState, gps: bool = True) -> FeasibilityModel:
        """The feasibility model fitted on ``state`` (``gps=False``: the local latency models only); a local
        latency model's one-off cost (the MobileNetV3 table's measurement) is charged as ``local_latency_model_s``."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fitted = self.feasibility.fit(state, gps)
        cost = getattr(self.oracle, "local_model_s", None)
        if fitted.local and cost is not None:
            state.one_off_cost_s["local_latency_model_s"] = float(cost)
        return fitted

    def _zc_on(self, state: BOState) -> bool:
        """Whether training-free metrics are used; live metrics first take the records a resumed run saved."""
        if self.live is not None:
            self.live.live.load(state.method_state.get("zc_live"))
        return self.zc is not None or self.live is not None

    def _charge_zc(self, state: BOState, archs: list[Any]) -> None:
        """Charge the training-free metrics of every distinct cell they were read for (candidates and queried):
        ``training_free_metrics_s`` = cells × NASLib's mean seconds per cell (`zc_seconds_per_cell`); live metrics:
        the seconds each cell's computation took, its record kept in ``method_state["zc_live"]``."""
        if self.live is not None:
            live = self.live.live
            live.ensure(archs)
            keys = set((state.method_state.get("zc_live") or {}).get("records", {})) & set(live.records)
            keys |= {live.key(a) for a in archs}
            state.method_state["zc_live"] = live.dump(sorted(keys))
            state.one_off_cost_s["training_free_metrics_s"] = sum(live.records[k]["time_s"] for k in keys)
            return
        scored = set(state.method_state.get("zc_scored", []))
        n0 = len(scored)
        scored.update(self.space.index(a) for a in archs)
        if len(scored) > n0:
            state.method_state["zc_scored"] = sorted(scored)
            state.one_off_cost_s["training_free_metrics_s"] = len(scored) * self.zc_cell_s

    def observe(self, state: BOState, archs: Sequence[Arch], evaluations: Sequence[Evaluation]) -> None:
        """Nothing to remember: the surrogate is refit on ``state`` at every step."""


class Bananas(DiffusionBO):
    """BANANAS (White et al., AAAI 2021) in this harness: `DiffusionBO` with the `BananasConfig` preset."""

    name = "bananas"
    config_type = BananasConfig
