"""Candidate generation for BO: the guided diffusion sampler proposes, the acquisition picks (``diffusion-bo``).

Each step of `DiffusionBO`:

1. fits the surrogate (`bo.surrogate`) on every queried architecture and its signal;
2. samples a pool of new architectures from the trained graph diffusion model, **guided by the surrogate's upper
   confidence bound** — the GP posterior evaluated on the denoiser's posterior graph at every step
   (`nag.guidance.on_denoised`), so the guidance is refit on the queried set every round — plus the one-edit
   neighbours of the best queried architectures (cheap exploitation, White et al. 2021);
3. scores the pool with the acquisition (UCB, or log expected improvement — ``qLogEI`` with sequential greedy
   selection for batches, Ament et al. 2023) and returns the best ``q``. On NAS-Bench-201 the scoring GP also sees
   each candidate's training-free metrics, in an additive linear kernel (`bo.surrogate.GPSurrogate` ``n_linear``).

The first ``n_init`` queries are unguided samples of the generator (its learnt prior over valid architectures).
Only the one-off cost of training the generator (read from the checkpoint manifest) is charged separately; the
surrogate is refit every step and its time is part of ``propose_s``.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bo.loop import BOState
from bo.oracles import Domain, Evaluation, Oracle
from bo.surrogate import EnsembleSurrogate, GPSurrogate, graph_features, ucb
from nag.checkpoint import default_checkpoint, missing_generator_error
from nag.errors import InvalidChoiceError

__all__ = [
    "DiffusionBO",
    "bananas",
    "ACQUISITIONS",
    "SURROGATES",
    "PROPOSALS",
    "ZC_KERNELS",
    "default_checkpoint",
]

ACQUISITIONS: tuple[str, ...] = ("ucb", "logei")
SURROGATES: tuple[str, ...] = ("gp", "ensemble")
#: Where candidate pools come from: the guided generator, or (ablations, BANANAS) mutations / uniform samples, or
#: every unqueried architecture of an enumerable domain ("space": the acquisition maximised exactly).
PROPOSALS: tuple[str, ...] = ("diffusion", "mutation", "random", "space")
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


class DiffusionBO:
    """Bayesian optimisation with the guided diffusion generator as candidate generator (``diffusion-bo``).

    Args:
        domain: where the search may look.
        oracle: the oracle (only described, never called).
        checkpoint: the generator (default: the shipped one of the space).
        n_init: unguided generator samples queried before the surrogate takes over.
        pool: guided candidates generated per step.
        neighbours_of: how many of the best queried architectures contribute all their one-edit neighbours.
        acquisition: ``"ucb"`` or ``"logei"``.
        beta: UCB's ``beta`` (``mean + sqrt(beta) * std``), for the acquisition and the guidance.
        surrogate: ``"gp"`` (exact GP on `graph_features`) or ``"ensemble"`` (GNN deep ensemble; slower).
        guidance_scale / schedule: the guidance term's scale and scale schedule (`nag.guidance.SCHEDULES`).
        steps / solver: the sampler.
        proposals: ``"diffusion"`` (guided generator), ``"mutation"`` (mutations of the best queried, BANANAS) or
            ``"random"`` (uniform samples) — the pool the acquisition scores — or ``"space"``: every unqueried
            architecture of an enumerable domain (up to 100,000), the acquisition's exact maximiser.
        zc: ``None`` (default): on where the space has precomputed metric tables (NAS-Bench-201) and the surrogate is
            the GP. ``True``: append training-free metrics (NAS-Bench-201: NAS-Bench-Suite-Zero's 13, each rank-transformed over the
            space; CIFAR-10's for CIFAR-100) to the GP features that score the pool; guidance then uses a second GP
            on the graph features alone (metrics do not exist for noisy graphs). Every distinct cell whose metrics
            were read (candidates and queries) is charged NASLib's mean
            compute time per cell (``one_off_cost_s["training_free_metrics_s"]``).
        zc_metrics: which metrics (names without ``zc_``, a list or comma-separated text; default all 13): a cheap
            subset (e.g. ``synflow,params,flops``, ~1.2 s per cell instead of ~7.3 s) cuts the metric cost.
        zc_kernel: how the metrics enter that GP: ``"ard"`` (more Matérn dimensions) or ``"linear"`` (an additive
            linear kernel on the metrics plus the Matérn kernel on the graph features; `bo.surrogate.GPSurrogate`).
        gp_maxiter: L-BFGS iterations of each GP hyper-parameter fit.
        beta_decay: shrink ``beta`` linearly with the remaining budget (pure exploitation at the last query).
        min_feasibility: with constraints in the oracle, candidates whose modelled probability of meeting them all
            (`feasibility`) is below this are not queried.
    """

    name = "diffusion-bo"

    def __init__(
        self,
        domain: Domain,
        oracle: Oracle,
        *,
        checkpoint: str | None = None,
        n_init: int = 6,
        pool: int = 128,
        neighbours_of: int = 3,
        acquisition: str = "ucb",
        beta: float = 4.0,
        surrogate: str = "gp",
        guidance_scale: float = 3.0,
        schedule: str = "cosine",
        steps: int = 10,
        solver: str = "dpm",
        proposals: str = "diffusion",
        zc: bool | None = None,
        zc_kernel: str = "linear",
        zc_metrics: Sequence[str] | str | None = None,
        gp_maxiter: int = 75,
        beta_decay: bool = False,
        min_feasibility: float = 0.5,
    ) -> None:
        from nag.diffusion.model import GraphDiffusionModel
        from nag.guidance import scale_schedule

        if acquisition not in ACQUISITIONS:
            raise InvalidChoiceError("acquisition", acquisition, ACQUISITIONS)
        if surrogate not in SURROGATES:
            raise InvalidChoiceError("surrogate", surrogate, SURROGATES)
        if proposals not in PROPOSALS:
            raise InvalidChoiceError("proposals", proposals, PROPOSALS)
        if zc_kernel not in ZC_KERNELS:
            raise InvalidChoiceError("zc_kernel", zc_kernel, ZC_KERNELS)
        self.proposals = proposals
        self.zc_kernel = zc_kernel
        self._space_pool: list[Any] | None = None
        self._space_F: dict[bool, torch.Tensor] = {}
        self._space_row: dict[Any, int] = {}
        if proposals == "space":
            self._space_pool = domain.enumerate()
            if self._space_pool is None:
                raise InvalidChoiceError("proposals", proposals, [p for p in PROPOSALS if p != "space"])
        self.gp_maxiter = gp_maxiter
        if not 0.0 <= min_feasibility < 1.0:
            raise InvalidChoiceError("min_feasibility", min_feasibility, ["a number in [0, 1)"])
        self.min_feasibility = min_feasibility
        self.constraints = tuple(getattr(oracle, "constraints", ()) or ())
        self.beta_decay = beta_decay
        self.domain, self.oracle = domain, oracle
        self.space = domain.space
        if zc is None:
            zc = surrogate == "gp" and _zc_kernel(self.space.name)
        if isinstance(zc_metrics, str):
            zc_metrics = [m.strip() for m in zc_metrics.split(",") if m.strip()]
        self.zc_metrics = list(zc_metrics) if zc_metrics else None
        self.zc = self._zc_matrix(oracle) if zc else None
        self.path = Path(checkpoint) if checkpoint else default_checkpoint(self.space.name)
        self.model = None
        if proposals == "diffusion":
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
        self.n_init, self.pool, self.neighbours_of = n_init, pool, neighbours_of
        self.acquisition, self.beta, self.surrogate_kind = acquisition, beta, surrogate
        self.guidance_scale = guidance_scale
        self.schedule = scale_schedule(
            schedule, 1000 if self.model is None else self.model.schedule.num_train_timesteps
        )
        self.steps, self.solver = steps, solver

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

    def _features(self, archs: list[Any], with_zc: bool) -> torch.Tensor:
        """``B x D`` surrogate features (rows of a cached whole-domain matrix under ``proposals="space"``)."""
        if self._space_pool is not None:
            if not self._space_F:
                self._space_row = {a: i for i, a in enumerate(self._space_pool)}
                self._space_F[False] = self._raw_features(self._space_pool, False)
                if self.zc is not None:
                    self._space_F[True] = self._raw_features(self._space_pool, True)
            rows = torch.tensor([self._space_row[a] for a in archs], dtype=torch.long)
            return self._space_F[with_zc and self.zc is not None][rows]
        return self._raw_features(archs, with_zc)

    def _raw_features(self, archs: list[Any], with_zc: bool) -> torch.Tensor:
        F = graph_features(self.space.encode(archs))
        if with_zc and self.zc is not None:
            z = self.zc[[self.space.index(a) for a in archs]]
            F = torch.cat([F.double(), torch.as_tensor(z, dtype=torch.float64)], 1)
        return F

    def _generate(self, n: int, terms, exclude: Sequence[Any], seed: int) -> list[Any]:
        from nag.guidance import guided_generate

        try:
            res = guided_generate(
                self.model, self.space, n, terms, exclude=exclude, seed=seed, steps=self.steps,
                solver=self.solver, max_rounds=8,
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

    def _training_set(self, state: BOState) -> tuple[list[Any], torch.Tensor]:
        archs, ys = [], []
        for text, s in zip(state.archs, state.signals, strict=True):
            if s is not None and math.isfinite(s):
                archs.append(self.space.parse(text))
                ys.append(float(s))
        return archs, torch.tensor(ys, dtype=torch.float64)

    def _fit(self, archs: list[Any], y: torch.Tensor, with_zc: bool = False):
        g = self.space.encode(archs)
        if self.surrogate_kind == "gp":
            n_lin = self.zc.shape[1] if with_zc and self.zc is not None and self.zc_kernel == "linear" else 0
            return GPSurrogate(maxiter=self.gp_maxiter, n_linear=n_lin).fit(self._features(archs, with_zc), y)
        return EnsembleSurrogate(g.ops, seed=len(archs), ensemble=5, max_epochs=200, min_epochs=50).fit(g, y)

    # ------------------------------------------------------------------ SearchMethod
    def propose(self, state: BOState, q: int, rng: np.random.Generator) -> list[Any]:
        from nag.guidance import objective, on_denoised

        if self.model is not None and "generator_training_s" not in state.one_off_cost_s:
            state.one_off_cost_s["generator_training_s"] = _train_seconds(self.path)
        seed = int(rng.integers(2**31 - 1))
        queried = [self.space.parse(t) for t in state.archs]
        archs, y = self._training_set(state)
        if state.n_queries < self.n_init or len(archs) < 2:
            state.method_state["phase"] = "init"
            n = min(q, self.n_init - state.n_queries) or q
            if self.model is None:
                from bo.baselines import sample_new

                return sample_new(self.domain, state, n, rng)
            return self._generate(n, [], queried, seed)[:q]
        state.method_state["phase"] = "bo"
        beta = self.beta
        if self.beta_decay:
            beta = self.beta * max(state.config.budget - state.n_queries - 1, 0) / max(state.config.budget, 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            models = self.constraint_models(state)
            scorer = self._fit(archs, y, with_zc=True) if self.zc is not None else None
            # the guidance needs a surrogate of the graph alone (no metrics for noisy graphs)
            sur = self._fit(archs, y) if scorer is None or self.proposals == "diffusion" else scorer
            scorer = scorer or sur
            y_std = float(y.std()) or 1.0

            if isinstance(sur, GPSurrogate):

                def acq_fn(g):
                    m, s = sur.posterior(graph_features(g))
                    return ucb(m, s, beta) / y_std
            else:
                acq_fn = sur.differentiable()
            if self.proposals == "space":
                seen = set(queried)
                pool = [a for a in self._space_pool if a not in seen]
            elif self.proposals == "diffusion":
                term = objective(on_denoised(self.model, acq_fn), scale=self.guidance_scale,
                                 schedule=self.schedule, name="acquisition")  # fmt: skip
                pool = self._generate(self.pool, [term, *self._constraint_terms(models)], queried, seed)
            else:
                pool = self._pool_without_generator(archs, y, set(queried), rng)
            best = np.argsort(-y.numpy())[: self.neighbours_of if self.proposals != "space" else 0]
            known = set(queried) | set(pool)
            for i in best:
                for nb in self.domain.neighbours(archs[int(i)]):
                    if nb not in known:
                        known.add(nb)
                        pool.append(nb)
            if not pool:
                state.method_state["phase"] = "random"
                return self.domain.sample(q, rng)
            pool = self._feasible_part(state, pool, q, models)
            if self.zc is not None:
                self._charge_zc(state, pool + archs)
            return [pool[i] for i in self._select(scorer, pool, y, q, beta)]

    def _charge_zc(self, state: BOState, archs: list[Any]) -> None:
        """Charge the training-free metrics of every distinct cell they were read for (candidates and queried):
        ``training_free_metrics_s`` = cells × NASLib's mean seconds per cell (`zc_seconds_per_cell`)."""
        scored = set(state.method_state.get("zc_scored", []))
        n0 = len(scored)
        scored.update(self.space.index(a) for a in archs)
        if len(scored) > n0:
            state.method_state["zc_scored"] = sorted(scored)
            state.one_off_cost_s["training_free_metrics_s"] = len(scored) * self.zc_cell_s

    def constraint_models(self, state: BOState) -> list[tuple[Any, GPSurrogate, float]]:
        """Per constraint of the oracle with >= 2 measured values: ``(constraint, GP, spread of the values)``.

        The GP — a linear kernel on how many nodes carry each operation (latency, energy and size are close to additive
        in the operations) plus a Matérn kernel on the graph features — is fitted to the values the queried
        architectures returned (the oracle reports them with every query); nothing is read from a table."""
        out = []
        for c in self.constraints:
            xs, vs = [], []
            for text, rep in zip(state.archs, state.reports, strict=True):
                v = rep.get(c.metric)
                if v is not None and math.isfinite(v):
                    xs.append(self.space.parse(text))
                    vs.append(float(v))
            if len(xs) < 2:
                continue
            gp = GPSurrogate(maxiter=self.gp_maxiter, n_linear=len(self.space.ops))
            gp.fit(self._cost_features(xs), torch.tensor(vs))
            out.append((c, gp, float(np.std(vs)) or 1.0))
        return out

    def feasibility(
        self, state: BOState, pool: list[Any], models: list[tuple[Any, GPSurrogate, float]] | None = None
    ) -> np.ndarray | None:
        """Probability that each pool architecture meets every constraint of the oracle (``B``) under
        `constraint_models` (``models``, fitted here when not given), or ``None`` without constraints."""
        if not self.constraints:
            return None
        from scipy.stats import norm

        models = self.constraint_models(state) if models is None else models
        prob = np.ones(len(pool))
        if not models or not pool:
            return prob
        F = self._cost_features(pool)
        for c, gp, _ in models:
            with torch.no_grad():
                m, sd = gp.posterior(F)
            z = ((c.bound - m) / sd).numpy()
            prob *= norm.cdf(z) if c.op in ("<=", "<") else norm.cdf(-z)
        return prob

    def _constraint_terms(self, models: list[tuple[Any, GPSurrogate, float]]) -> list[Any]:
        """Guidance terms keeping generated graphs inside each modelled constraint (softplus penalties on the GP mean
        of the denoiser's posterior graph, in units of the measured values' spread)."""
        from nag.guidance import constraint, on_denoised

        terms = []
        for c, gp, spread in models:

            def fn(g, gp=gp, spread=spread):
                return gp.posterior(self._cost_features_graph(g))[0] / spread

            op = "<=" if c.op in ("<=", "<") else ">="
            terms.append(constraint(on_denoised(self.model, fn), c.bound / spread, op, width=0.1,
                                    scale=self.guidance_scale, schedule=self.schedule, name=f"feasible {c}"))  # fmt: skip
        return terms

    def _with_counts(self, F: torch.Tensor) -> torch.Tensor:
        """``B x (D + V)``: graph features (`graph_features`, ``B x D``), then how many nodes carry each operation —
        read off their one-hot block, so relaxed graphs stay differentiable."""
        n, v = self.space.max_nodes, len(self.space.ops)
        counts = F[:, : n * v].reshape(F.shape[0], n, v).sum(1)
        return torch.cat([F.double(), counts.double()], 1)

    def _cost_features_graph(self, g) -> torch.Tensor:
        """`_cost_features` of an `ArchGraph` (relaxed graphs too; differentiable in ``X`` and ``A``)."""
        return self._with_counts(graph_features(g))

    def _cost_features(self, archs: list[Any]) -> torch.Tensor:
        """``B x (D + V)``: the graph features, then how many nodes carry each operation (the linear part)."""
        return self._with_counts(self._features(archs, False))

    def _feasible_part(
        self,
        state: BOState,
        pool: list[Any],
        q: int,
        models: list[tuple[Any, GPSurrogate, float]] | None = None,
    ) -> list[Any]:
        """The pool's candidates likely feasible (probability >= ``min_feasibility``); the ``q`` most likely where none
        is."""
        prob = self.feasibility(state, pool, models)
        if prob is None:
            return pool
        keep = [a for a, p in zip(pool, prob, strict=True) if p >= self.min_feasibility]
        if keep:
            return keep
        return [pool[int(i)] for i in np.argsort(-prob)[:q]]

    def _pool_without_generator(
        self, archs: list[Any], y: torch.Tensor, queried: set, rng: np.random.Generator
    ) -> list[Any]:
        """``pool`` new architectures: uniform samples, or mutations of the 10 best queried (BANANAS: each parent
        mutated repeatedly, one to two edits)."""
        out: list[Any] = []
        seen = set(queried)
        parents = [archs[int(i)] for i in np.argsort(-y.numpy())[:10]]
        for _ in range(20 * self.pool):
            if len(out) >= self.pool:
                break
            if self.proposals == "random":
                a = self.domain.sample(1, rng)[0]
            else:
                a = parents[int(rng.integers(len(parents)))]
                for _ in range(1 + int(rng.integers(2))):
                    a = self.domain.mutate(a, rng)
            if a not in seen:
                seen.add(a)
                out.append(a)
        return out

    def _select(self, sur, pool: list[Any], y: torch.Tensor, q: int, beta: float) -> list[int]:
        g = None if isinstance(sur, GPSurrogate) else self.space.encode(pool)
        with torch.no_grad():
            if self.acquisition == "ucb" or not isinstance(sur, GPSurrogate):
                m, s = (
                    sur.posterior(self._features(pool, self.zc is not None))
                    if isinstance(sur, GPSurrogate)
                    else sur.posterior(g)
                )
                score = ucb(m, s, beta)
                return torch.argsort(score, descending=True)[:q].tolist()
        from botorch.acquisition.logei import qLogExpectedImprovement
        from botorch.optim import optimize_acqf_discrete

        acq = qLogExpectedImprovement(sur.model, best_f=float(y.max()))
        X = sur._prep(self._features(pool, self.zc is not None))
        chosen, _ = optimize_acqf_discrete(acq, q=min(q, len(pool)), choices=X, unique=True)
        rows = {tuple(r.tolist()): i for i, r in enumerate(X)}
        return [rows[tuple(r.tolist())] for r in chosen]

    def observe(self, state: BOState, archs: Sequence[Any], evaluations: Sequence[Evaluation]) -> None:
        """Nothing to remember: the surrogate is refit on ``state`` at every step."""


def bananas(domain: Domain, oracle: Oracle, **options: Any) -> DiffusionBO:
    """BANANAS (White et al., AAAI 2021) in this harness: a deep ensemble of GNN predictors as surrogate, candidate
    pools from mutations of the best queried architectures, UCB over the ensemble's mean and spread (the paper's
    independent Thompson sampling is replaced by UCB; same ensemble), 10 random initial queries. Options override."""
    cfg: dict[str, Any] = {
        "surrogate": "ensemble",
        "proposals": "mutation",
        "n_init": 10,
        "pool": 100,
        "zc": False,
    }
    cfg.update(options)
    method = DiffusionBO(domain, oracle, **cfg)
    method.name = "bananas"
    return method
